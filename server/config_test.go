package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"entitled/models"
)

// With nothing set, the configuration is the documented defaults (README and contract).
func TestConfigDefaults(t *testing.T) {
	c, rest, err := loadConfig("serve", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 0 {
		t.Errorf("rest %q, want none", rest)
	}
	want := Config{
		Addr:              ":8080",
		BaseURL:           "http://localhost:8080",
		DataDir:           "./data",
		DatabaseURL:       "sqlite://data/entitled.db",
		MailFrom:          "entitled <no-reply@localhost>",
		TokenTTL:          15 * time.Minute,
		RenewalWindowDays: 90,
		RateAnonPerMin:    60,
		TokenAudiences:    []string{"support-portal", "downloads", "kb", "chat"},
		RenewalNoticeDays: []int{90, 60, 30, 7},
		LogFormat:         "text",
		LogLevel:          "info",
		JWKSMaxAge:        5 * time.Minute,
		StatusListTTL:     300,
		ShutdownTimeout:   20 * time.Second,
		JobPollInterval:   time.Second,
		OIDCName:          "SSO",
		OIDCRolesClaim:    "groups",
		StaffMFA:          "optional",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", c, want)
	}
}

// The environment overrides the defaults and flags override the environment; the database
// defaults to an SQLite file in whichever data directory wins.
func TestLoadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want func(c *Config) // edits the defaults into the expected configuration
		rest []string
	}{
		{
			name: "environment overrides every default",
			env: []string{
				"ENTITLED_ADDR=127.0.0.1:9000", "ENTITLED_BASE_URL=https://licenses.example.com/",
				"ENTITLED_DATA_DIR=/var/lib/entitled", "ENTITLED_SECRET=0123456789abcdef0123456789abcdef",
				"ENTITLED_SMTP_URL=smtp://mail.example.com:587", "ENTITLED_MAIL_FROM=Licensing <licensing@example.com>",
				"ENTITLED_TOKEN_TTL=5m", "ENTITLED_RENEWAL_WINDOW_DAYS=60", "ENTITLED_RATE_ANON_PER_MIN=10",
				"ENTITLED_TRUSTED_PROXIES=10.0.0.0/8, 192.168.0.0/16", "ENTITLED_TOKEN_AUDIENCES=kb,chat",
				"ENTITLED_RENEWAL_NOTICE_DAYS=30,7,1", "ENTITLED_LOG_FORMAT=json", "ENTITLED_LOG_LEVEL=debug",
				"ENTITLED_JWKS_MAX_AGE=1m", "ENTITLED_SHUTDOWN_TIMEOUT=3s", "ENTITLED_JOB_POLL_INTERVAL=250ms",
				"ENTITLED_STATUS_LIST_TTL=60",
			},
			want: func(c *Config) {
				c.Addr, c.BaseURL, c.DataDir = "127.0.0.1:9000", "https://licenses.example.com", "/var/lib/entitled"
				c.DatabaseURL = "sqlite:///var/lib/entitled/entitled.db"
				c.Secret, c.SMTPURL = "0123456789abcdef0123456789abcdef", "smtp://mail.example.com:587"
				c.MailFrom = "Licensing <licensing@example.com>"
				c.TokenTTL, c.RenewalWindowDays, c.RateAnonPerMin = 5*time.Minute, 60, 10
				c.TrustedProxies = []string{"10.0.0.0/8", "192.168.0.0/16"}
				c.TokenAudiences = []string{"kb", "chat"}
				c.RenewalNoticeDays = []int{30, 7, 1}
				c.LogFormat, c.LogLevel = "json", "debug"
				c.JWKSMaxAge, c.ShutdownTimeout, c.JobPollInterval = time.Minute, 3*time.Second, 250*time.Millisecond
				c.StatusListTTL = 60
			},
		},
		{
			name: "an explicit database URL is kept",
			env:  []string{"ENTITLED_DATA_DIR=/srv/e", "ENTITLED_DATABASE_URL=postgres://db.example.com/entitled"},
			want: func(c *Config) { c.DataDir, c.DatabaseURL = "/srv/e", "postgres://db.example.com/entitled" },
		},
		{
			name: "empty variables count as unset",
			env:  []string{"ENTITLED_ADDR=", "ENTITLED_TOKEN_TTL=", "ENTITLED_TOKEN_AUDIENCES="},
			want: func(c *Config) {},
		},
		{
			name: "log levels are slog's names, in any case",
			env:  []string{"ENTITLED_LOG_LEVEL=WARN"},
			want: func(c *Config) { c.LogLevel = "WARN" },
		},
		{
			name: "other variables are ignored",
			env:  []string{"ADDR=:1", "DATABASE_URL=postgres://elsewhere/db", "entitled_addr=:2"},
			want: func(c *Config) {},
		},
		{
			name: "flags override the environment",
			env: []string{
				"ENTITLED_ADDR=:1", "ENTITLED_BASE_URL=http://env.example", "ENTITLED_DATA_DIR=/env",
				"ENTITLED_DATABASE_URL=postgres://env/db", "ENTITLED_LOG_FORMAT=json",
			},
			args: []string{"--addr", ":2", "--base-url=http://flag.example", "--data-dir", "/flag", "--database-url", "sqlite:///flag/other.db", "--log-format", "text"},
			want: func(c *Config) {
				c.Addr, c.BaseURL, c.DataDir, c.DatabaseURL = ":2", "http://flag.example", "/flag", "sqlite:///flag/other.db"
			},
		},
		{
			name: "the data-dir flag moves the default database",
			env:  []string{"ENTITLED_DATA_DIR=/env"},
			args: []string{"--data-dir", "/flag"},
			want: func(c *Config) { c.DataDir, c.DatabaseURL = "/flag", "sqlite:///flag/entitled.db" },
		},
		{
			name: "arguments after the flags are returned",
			args: []string{"--addr", ":3", "up", "now"},
			// No ENTITLED_BASE_URL: the public URL follows the listen address.
			want: func(c *Config) { c.Addr, c.BaseURL = ":3", "http://localhost:3" },
			rest: []string{"up", "now"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, rest, err := loadConfig("serve", tc.args, tc.env)
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			want := defaultConfig()
			want.DatabaseURL = "sqlite://data/entitled.db"
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("\n got %+v\nwant %+v", got, want)
			}
			if !slices.Equal(rest, tc.rest) {
				t.Errorf("rest %q, want %q", rest, tc.rest)
			}
		})
	}
}

// A setting that cannot be used is an error naming the variable, never silently the default;
// every bad setting is reported at once.
func TestLoadConfigRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want []string // each in the error
	}{
		{"duration without a unit", []string{"ENTITLED_TOKEN_TTL=15"}, nil, []string{"ENTITLED_TOKEN_TTL", `"15"`}},
		{"negative duration", []string{"ENTITLED_JOB_POLL_INTERVAL=-1s"}, nil, []string{"ENTITLED_JOB_POLL_INTERVAL"}},
		{"zero duration", []string{"ENTITLED_SHUTDOWN_TIMEOUT=0s"}, nil, []string{"ENTITLED_SHUTDOWN_TIMEOUT"}},
		{"duration that is not one", []string{"ENTITLED_JWKS_MAX_AGE=five minutes"}, nil, []string{"ENTITLED_JWKS_MAX_AGE"}},
		{"number that is not one", []string{"ENTITLED_RENEWAL_WINDOW_DAYS=ninety"}, nil, []string{"ENTITLED_RENEWAL_WINDOW_DAYS"}},
		{"negative window", []string{"ENTITLED_RENEWAL_WINDOW_DAYS=-1"}, nil, []string{"ENTITLED_RENEWAL_WINDOW_DAYS"}},
		{"zero rate", []string{"ENTITLED_RATE_ANON_PER_MIN=0"}, nil, []string{"ENTITLED_RATE_ANON_PER_MIN"}},
		{"zero status-list ttl", []string{"ENTITLED_STATUS_LIST_TTL=0"}, nil, []string{"ENTITLED_STATUS_LIST_TTL"}},
		{"downloads URL that is not one", []string{"ENTITLED_DOWNLOADS_URL=downloads.example.com"}, nil, []string{"ENTITLED_DOWNLOADS_URL"}},
		{"cases URL with another scheme", []string{"ENTITLED_CASES_URL=javascript:alert(1)"}, nil, []string{"ENTITLED_CASES_URL"}},
		{"status-list ttl past half a list's life", []string{"ENTITLED_STATUS_LIST_TTL=43201"}, nil, []string{"ENTITLED_STATUS_LIST_TTL", "43200"}},
		{"notice days that are not numbers", []string{"ENTITLED_RENEWAL_NOTICE_DAYS=90,soon"}, nil, []string{"ENTITLED_RENEWAL_NOTICE_DAYS"}},
		{"unknown log format", []string{"ENTITLED_LOG_FORMAT=xml"}, nil, []string{"ENTITLED_LOG_FORMAT", "xml"}},
		{"unknown log level", []string{"ENTITLED_LOG_LEVEL=verbose"}, nil, []string{"ENTITLED_LOG_LEVEL", "verbose", "debug, info, warn or error"}},
		{"unknown log format by flag", nil, []string{"--log-format", "yaml"}, []string{"ENTITLED_LOG_FORMAT", "yaml"}},
		{"base URL that is not http", []string{"ENTITLED_BASE_URL=ftp://example.com"}, nil, []string{"ENTITLED_BASE_URL"}},
		{"unknown flag", nil, []string{"--colour", "red"}, []string{"colour"}},
		{"unknown staff MFA policy", []string{"ENTITLED_STAFF_MFA=always"}, nil, []string{"ENTITLED_STAFF_MFA", "always"}},
		{
			"several at once",
			[]string{"ENTITLED_TOKEN_TTL=soon", "ENTITLED_RATE_ANON_PER_MIN=many", "ENTITLED_LOG_FORMAT=xml"},
			nil,
			[]string{"ENTITLED_TOKEN_TTL", "ENTITLED_RATE_ANON_PER_MIN", "ENTITLED_LOG_FORMAT"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := loadConfig("serve", tc.args, tc.env)
			if err == nil {
				t.Fatalf("loadConfig accepted %q %q", tc.env, tc.args)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

// Secrets never reach a log or a formatted string: not ENTITLED_SECRET, not the SMTP or database
// password. What is not secret (the hosts) stays visible, so the log still helps.
func TestSecretsAreMaskedInLogsAndStrings(t *testing.T) {
	const (
		secret      = "s3cret-0123456789abcdef0123456789abcdef"
		smtpPass    = "hunter2-smtp-pass"
		dbPass      = "db-pass-Xyz987"
		smtpURL     = "smtp://mailer:" + smtpPass + "@mail.example.test:587?starttls=mandatory"
		databaseURL = "postgres://app:" + dbPass + "@db.example.test:5432/entitled"
	)
	c, _, err := loadConfig("serve", nil, []string{
		"ENTITLED_SECRET=" + secret, "ENTITLED_SMTP_URL=" + smtpURL, "ENTITLED_DATABASE_URL=" + databaseURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Secret) != secret || string(c.SMTPURL) != smtpURL {
		t.Fatalf("the configuration lost the secrets' values")
	}
	never := []string{secret, smtpPass, dbPass}

	logged := map[string]*bytes.Buffer{"text": {}, "json": {}}
	slog.New(slog.NewTextHandler(logged["text"], nil)).Info("starting entitled", c.logAttrs()...)
	slog.New(slog.NewJSONHandler(logged["json"], nil)).Info("starting entitled", c.logAttrs()...)
	for format, buf := range logged {
		out := buf.String()
		for _, s := range never {
			if strings.Contains(out, s) {
				t.Errorf("the %s log shows %q:\n%s", format, s, out)
			}
		}
		for _, visible := range []string{"mail.example.test", "db.example.test"} {
			if !strings.Contains(out, visible) {
				t.Errorf("the %s log hides the host %s too:\n%s", format, visible, out)
			}
		}
	}

	for _, format := range []string{"%v", "%s", "%q", "%+v", "%#v", "%x"} {
		for name, s := range map[string]Secret{"secret": c.Secret, "smtp url": c.SMTPURL} {
			out := fmt.Sprintf(format, s)
			for _, n := range never {
				if strings.Contains(out, n) || strings.Contains(out, fmt.Sprintf("%x", n)) {
					t.Errorf("fmt %s of the %s shows it: %s", format, name, out)
				}
			}
		}
	}
	for _, format := range []string{"%v", "%+v"} {
		out := fmt.Sprintf(format, c)
		for _, n := range []string{secret, smtpPass} {
			if strings.Contains(out, n) {
				t.Errorf("fmt %s of the configuration shows %q: %s", format, n, out)
			}
		}
	}
	// pgx also takes the password as a query parameter.
	for _, u := range []string{"postgres://app@db.example.test/entitled?password=" + dbPass, "postgres://db.example.test/entitled?sslmode=verify-full&sslpassword=" + dbPass} {
		if out := Secret(u).String(); strings.Contains(out, dbPass) || !strings.Contains(out, "db.example.test") {
			t.Errorf("Secret(%q) = %q: want the password masked and the host shown", u, out)
		}
		if out, masked := maskPassword(u); strings.Contains(out, dbPass) || !masked {
			t.Errorf("maskPassword(%q) = %q, %v", u, out, masked)
		}
	}
}

// Staff single sign-on is off without ENTITLED_OIDC_ISSUER; with it, the client id and a role
// map are required, and a role map naming a role that does not exist stops the start.
func TestOIDCConfig(t *testing.T) {
	c, _, err := loadConfig("serve", nil, nil)
	if err != nil || c.OIDCIssuer != "" || c.OIDCName != "SSO" || c.OIDCRolesClaim != "groups" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	const secret = "oidc-client-secret-do-not-log"
	c, _, err = loadConfig("serve", nil, []string{
		"ENTITLED_OIDC_ISSUER=https://idp.example.test/realms/staff", "ENTITLED_OIDC_CLIENT_ID=entitled",
		"ENTITLED_OIDC_CLIENT_SECRET=" + secret, "ENTITLED_OIDC_NAME=Okta", "ENTITLED_OIDC_ROLES_CLAIM=roles",
		"ENTITLED_OIDC_ROLE_MAP=eng-admins=superadmin,cs=support,cs=renewals",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.OIDCName != "Okta" || c.OIDCRolesClaim != "roles" || !slices.Equal(c.OIDCRoleMap.Roles([]string{"cs"}), []string{models.RoleRenewals, models.RoleSupport}) {
		t.Fatalf("settings not read: %+v", c)
	}
	var log bytes.Buffer
	slog.New(slog.NewTextHandler(&log, nil)).Info("starting entitled", c.logAttrs()...)
	if strings.Contains(log.String(), secret) || !strings.Contains(log.String(), "idp.example.test") {
		t.Fatalf("the start-up log shows the client secret, or hides the issuer:\n%s", log.String())
	}

	for _, tc := range []struct {
		name string
		env  []string
		want []string
	}{
		{"unknown role", []string{"ENTITLED_OIDC_ISSUER=https://idp.example.test", "ENTITLED_OIDC_CLIENT_ID=x", "ENTITLED_OIDC_ROLE_MAP=eng=admin"},
			[]string{"ENTITLED_OIDC_ROLE_MAP", `"admin" is not a staff role`}},
		{"entry without a role", []string{"ENTITLED_OIDC_ROLE_MAP=eng"}, []string{"ENTITLED_OIDC_ROLE_MAP", "idp-group=role"}},
		{"no client id", []string{"ENTITLED_OIDC_ISSUER=https://idp.example.test", "ENTITLED_OIDC_ROLE_MAP=eng=ops"}, []string{"ENTITLED_OIDC_CLIENT_ID"}},
		{"no role map", []string{"ENTITLED_OIDC_ISSUER=https://idp.example.test", "ENTITLED_OIDC_CLIENT_ID=x"}, []string{"ENTITLED_OIDC_ROLE_MAP is required"}},
		{"issuer that is not a URL", []string{"ENTITLED_OIDC_ISSUER=idp.example.test", "ENTITLED_OIDC_CLIENT_ID=x", "ENTITLED_OIDC_ROLE_MAP=eng=ops"}, []string{"ENTITLED_OIDC_ISSUER"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := loadConfig("serve", nil, tc.env)
			if err == nil {
				t.Fatalf("loadConfig accepted %q", tc.env)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %s", err, w)
				}
			}
		})
	}
}

// A server whose identity provider is down at start-up starts all the same (discovery waits for
// the first sign-in), offers the button, and answers a sign-in with a page that says the IdP
// cannot be reached: never a server that will not start, never a 500.
func TestServeStartsWithTheIdPDown(t *testing.T) {
	down := "http://" + freeAddr(t) // nothing listens there
	s := setup{DataDir: t.TempDir()}
	p := startHealthy(t, s, "server", func(s setup) *process {
		cmd := exec.Command(binary, "serve")
		cmd.Env = append(s.processEnv(), "ENTITLED_OIDC_ISSUER="+down, "ENTITLED_OIDC_CLIENT_ID=entitled",
			"ENTITLED_OIDC_CLIENT_SECRET=shh", "ENTITLED_OIDC_NAME=Corp IdP", "ENTITLED_OIDC_ROLE_MAP=staff=support")
		p, _ := spawn(t, s, cmd)
		return p
	})
	if status, body := p.get("/login"); status != http.StatusOK || !strings.Contains(body, "Sign in with Corp IdP") {
		t.Fatalf("/login: %d without the single sign-on button:\n%s", status, body)
	}
	if status, body := p.get("/auth/oidc/start"); status != http.StatusBadGateway || !strings.Contains(body, "Corp IdP cannot be reached just now") {
		t.Fatalf("/auth/oidc/start with the IdP down: %d\n%s", status, body)
	}
	if strings.Contains(p.out.String(), "shh") {
		t.Fatalf("the client secret is in the log:\n%s", p.out.String())
	}
}

// ENTITLED_WEBHOOK_ALLOW_PRIVATE: off by default, true/1 turn it on, anything else is refused.
func TestLoadConfigWebhookAllowPrivate(t *testing.T) {
	for env, want := range map[string]bool{"": false, "ENTITLED_WEBHOOK_ALLOW_PRIVATE=": false, "ENTITLED_WEBHOOK_ALLOW_PRIVATE=false": false,
		"ENTITLED_WEBHOOK_ALLOW_PRIVATE=true": true, "ENTITLED_WEBHOOK_ALLOW_PRIVATE=1": true} {
		var vars []string
		if env != "" {
			vars = []string{env}
		}
		c, _, err := loadConfig("serve", nil, vars)
		if err != nil || c.WebhookAllowPrivate != want {
			t.Errorf("%q: %v %v, want %v", env, c.WebhookAllowPrivate, err, want)
		}
	}
	_, _, err := loadConfig("serve", nil, []string{"ENTITLED_WEBHOOK_ALLOW_PRIVATE=yes please"})
	if err == nil || !strings.Contains(err.Error(), "ENTITLED_WEBHOOK_ALLOW_PRIVATE") {
		t.Errorf("a bad value: %v", err)
	}
}

func TestLoadConfigPortalLinks(t *testing.T) {
	c, _, err := loadConfig("serve", nil, []string{"ENTITLED_DOWNLOADS_URL=https://downloads.example.com/", "ENTITLED_CASES_URL=https://cases.example.com/new"})
	if err != nil || c.DownloadsURL != "https://downloads.example.com/" || c.CasesURL != "https://cases.example.com/new" {
		t.Errorf("links: %q %q %v", c.DownloadsURL, c.CasesURL, err)
	}
	if c, _, err := loadConfig("serve", nil, nil); err != nil || c.DownloadsURL != "" || c.CasesURL != "" {
		t.Errorf("default: %q %q %v, want none", c.DownloadsURL, c.CasesURL, err)
	}
}
