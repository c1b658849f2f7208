package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"entitled/models"
	"entitled/models/store"
)

// Config is every setting of entitled, from the environment (ENTITLED_*) with flags overriding.
// Defaults live in defaultConfig and nowhere else.
type Config struct {
	Addr              string
	BaseURL           string
	DataDir           string
	DatabaseURL       string
	Secret            Secret
	SMTPURL           Secret
	MailFrom          string
	TokenTTL          time.Duration
	RenewalWindowDays int
	RateAnonPerMin    int
	TrustedProxies    []string
	TokenAudiences    []string
	RenewalNoticeDays []int
	LogFormat         string
	LogLevel          string
	JWKSMaxAge        time.Duration
	StatusListTTL     int // ENTITLED_STATUS_LIST_TTL: seconds a verifier may cache a status list
	ShutdownTimeout   time.Duration
	JobPollInterval   time.Duration
	// DBMaxConns (ENTITLED_DB_MAX_CONNS) caps this process's database pool; 0 is the store's
	// default for the dialect (20 on PostgreSQL). Replicas × this (+1 each for the change
	// listener) must stay under PostgreSQL's max_connections.
	DBMaxConns int
	// WebhookAllowPrivate (ENTITLED_WEBHOOK_ALLOW_PRIVATE=true) lifts the webhook URL rules:
	// http:// and loopback, private, link-local addresses allowed (tests, on-premises receivers).
	WebhookAllowPrivate bool
	// DownloadsURL and CasesURL (ENTITLED_DOWNLOADS_URL, ENTITLED_CASES_URL) are the download
	// site and the case portal a license page links to where it shows them allowed; "" links
	// nowhere.
	DownloadsURL string
	CasesURL     string
	// Staff single sign-on (OpenID Connect), off without OIDCIssuer (ENTITLED_OIDC_ISSUER).
	// OIDCClientID and OIDCClientSecret are this server's client at the IdP (ENTITLED_OIDC_CLIENT_ID,
	// ENTITLED_OIDC_CLIENT_SECRET); OIDCName labels the button ("Sign in with SSO");
	// OIDCRolesClaim is the ID token's claim with the person's groups ("groups") and OIDCRoleMap
	// turns them into staff roles (ENTITLED_OIDC_ROLE_MAP, "idp-group=role,…").
	OIDCIssuer       string
	OIDCClientID     string
	OIDCClientSecret Secret
	OIDCName         string
	OIDCRolesClaim   string
	OIDCRoleMap      models.RoleMap
	// StaffMFA (ENTITLED_STAFF_MFA): required makes staff who sign in with a password add a
	// second factor before anything else works.
	StaffMFA models.StaffMFAPolicy
	// PprofAddr (ENTITLED_PPROF_ADDR) serves Go's profiler (/debug/pprof/) on a loopback address
	// of its own, apart from the API; "" (the default) serves none.
	PprofAddr string
}

// Secret is a string that is never printed in full: logs and error messages show it masked.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	if masked, _, ok := maskURL(string(s)); ok {
		return masked // a URL: only its passwords masked, so that the host stays visible
	}
	return "xxxxx"
}

// maskURL masks a URL's passwords — the userinfo's, and the password= and sslpassword= query
// parameters, which pgx reads too — and says whether it had one. ok is false when raw is not
// a URL with a scheme and a host (then nothing of it may be shown).
func maskURL(raw string) (masked string, hadPassword, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", false, false
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		hadPassword = true
	}
	if q := u.Query(); q.Has("password") || q.Has("sslpassword") {
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
		hadPassword = true
	}
	return u.String(), hadPassword, true
}

// LogValue keeps slog from printing the secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// GoString keeps %#v (which does not call String) from printing the secret.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

func defaultConfig() Config {
	return Config{
		Addr:              ":8080",
		BaseURL:           "http://localhost:8080",
		DataDir:           "./data",
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
		StaffMFA:          models.StaffMFAOptional,
	}
}

// loadCommandConfig is loadConfig for a command that takes no arguments besides its flags: any
// left over is a usage error that says noArgs and quotes them. It answers the configuration and
// the logger the command writes to stderr with.
func loadCommandConfig(name string, args, env []string, stderr io.Writer, noArgs string) (Config, *slog.Logger, error) {
	cfg, rest, err := loadConfig(name, args, env)
	if err != nil {
		return cfg, nil, err
	}
	if len(rest) > 0 {
		return cfg, nil, usageError{fmt.Sprintf("%s %q", noArgs, rest)}
	}
	return cfg, newLogger(cfg, stderr), nil
}

// loadConfig reads env (KEY=VALUE entries) over the defaults, then the flags in args over that.
// It returns the arguments left after the flags.
func loadConfig(name string, args, env []string) (Config, []string, error) {
	c := defaultConfig()
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "ENTITLED_") {
			vars[k] = v
		}
	}
	var errs []error
	str := func(key string, dst *string) {
		if v, ok := vars[key]; ok && v != "" {
			*dst = v
		}
	}
	dur := func(key string, dst *time.Duration) {
		if v, ok := vars[key]; ok && v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a positive Go duration such as 15m", key, v))
				return
			}
			*dst = d
		}
	}
	num := func(key string, dst *int, min int) {
		if v, ok := vars[key]; ok && v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < min {
				errs = append(errs, fmt.Errorf("%s=%q: want a whole number of at least %d", key, v, min))
				return
			}
			*dst = n
		}
	}
	list := func(key string, dst *[]string) {
		if v, ok := vars[key]; ok && v != "" {
			*dst = splitList(v)
		}
	}
	str("ENTITLED_ADDR", &c.Addr)
	str("ENTITLED_BASE_URL", &c.BaseURL)
	str("ENTITLED_DATA_DIR", &c.DataDir)
	str("ENTITLED_DATABASE_URL", &c.DatabaseURL)
	str("ENTITLED_MAIL_FROM", &c.MailFrom)
	str("ENTITLED_LOG_FORMAT", &c.LogFormat)
	str("ENTITLED_LOG_LEVEL", &c.LogLevel)
	str("ENTITLED_PPROF_ADDR", &c.PprofAddr)
	if c.PprofAddr != "" {
		if ap, err := netip.ParseAddrPort(c.PprofAddr); err != nil || !ap.Addr().IsLoopback() {
			errs = append(errs, fmt.Errorf("ENTITLED_PPROF_ADDR=%q: want a loopback address and port such as 127.0.0.1:6060 (the profiler is not for the network)", c.PprofAddr))
		}
	}
	c.Secret = Secret(vars["ENTITLED_SECRET"])
	c.SMTPURL = Secret(vars["ENTITLED_SMTP_URL"])
	str("ENTITLED_OIDC_ISSUER", &c.OIDCIssuer)
	str("ENTITLED_OIDC_CLIENT_ID", &c.OIDCClientID)
	c.OIDCClientSecret = Secret(vars["ENTITLED_OIDC_CLIENT_SECRET"])
	str("ENTITLED_OIDC_NAME", &c.OIDCName)
	str("ENTITLED_OIDC_ROLES_CLAIM", &c.OIDCRolesClaim)
	if v := vars["ENTITLED_OIDC_ROLE_MAP"]; v != "" {
		m, err := models.ParseRoleMap(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ENTITLED_OIDC_ROLE_MAP: %w", err))
		}
		c.OIDCRoleMap = m
	}
	if c.OIDCIssuer != "" {
		if u, err := url.Parse(c.OIDCIssuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("ENTITLED_OIDC_ISSUER=%q: want the identity provider's issuer URL, such as https://idp.example.com/realms/staff", c.OIDCIssuer))
		}
		if c.OIDCClientID == "" {
			errs = append(errs, errors.New("ENTITLED_OIDC_CLIENT_ID is required with ENTITLED_OIDC_ISSUER"))
		}
		if len(c.OIDCRoleMap) == 0 {
			errs = append(errs, errors.New("ENTITLED_OIDC_ROLE_MAP is required with ENTITLED_OIDC_ISSUER: say which IdP groups give which staff roles, such as entitled-admins=superadmin,renewals-team=renewals"))
		}
	}
	dur("ENTITLED_TOKEN_TTL", &c.TokenTTL)
	dur("ENTITLED_JWKS_MAX_AGE", &c.JWKSMaxAge)
	dur("ENTITLED_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
	dur("ENTITLED_JOB_POLL_INTERVAL", &c.JobPollInterval)
	num("ENTITLED_RENEWAL_WINDOW_DAYS", &c.RenewalWindowDays, 0)
	num("ENTITLED_RATE_ANON_PER_MIN", &c.RateAnonPerMin, 1)
	num("ENTITLED_DB_MAX_CONNS", &c.DBMaxConns, 0)
	num("ENTITLED_STATUS_LIST_TTL", &c.StatusListTTL, 1)
	if c.StatusListTTL > 43200 { // a served list is re-signed at half its 24 h life: no cache may outlive that
		errs = append(errs, fmt.Errorf("ENTITLED_STATUS_LIST_TTL=%q: want seconds from 1 to 43200 (12 hours)", vars["ENTITLED_STATUS_LIST_TTL"]))
	}
	list("ENTITLED_TRUSTED_PROXIES", &c.TrustedProxies)
	switch v := vars["ENTITLED_WEBHOOK_ALLOW_PRIVATE"]; v {
	case "", "false", "0":
	case "true", "1":
		c.WebhookAllowPrivate = true
	default:
		errs = append(errs, fmt.Errorf("ENTITLED_WEBHOOK_ALLOW_PRIVATE=%q: want true or false", v))
	}
	for key, dst := range map[string]*string{"ENTITLED_DOWNLOADS_URL": &c.DownloadsURL, "ENTITLED_CASES_URL": &c.CasesURL} {
		v := vars[key]
		if u, err := url.Parse(v); v != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
			errs = append(errs, fmt.Errorf("%s=%q: want an absolute http(s) URL", key, v))
			continue
		}
		*dst = v
	}
	list("ENTITLED_TOKEN_AUDIENCES", &c.TokenAudiences)
	if v := vars["ENTITLED_STAFF_MFA"]; v != "" {
		if pol, ok := models.ParseStaffMFAPolicy(v); ok {
			c.StaffMFA = pol
		} else {
			errs = append(errs, fmt.Errorf("ENTITLED_STAFF_MFA=%q: want optional or required", v))
		}
	}
	if v := vars["ENTITLED_RENEWAL_NOTICE_DAYS"]; v != "" {
		c.RenewalNoticeDays = nil
		for _, p := range splitList(v) {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("ENTITLED_RENEWAL_NOTICE_DAYS=%q: want days such as 90,60,30,7", v))
				break
			}
			c.RenewalNoticeDays = append(c.RenewalNoticeDays, n)
		}
	}

	_, baseURLSet := vars["ENTITLED_BASE_URL"]
	baseURLSet = baseURLSet && vars["ENTITLED_BASE_URL"] != ""

	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (ENTITLED_ADDR)")
	fs.StringVar(&c.BaseURL, "base-url", c.BaseURL, "public URL (ENTITLED_BASE_URL)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory (ENTITLED_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "sqlite://path or postgres://… (ENTITLED_DATABASE_URL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json (ENTITLED_LOG_FORMAT)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, nil, err
		}
		// One prefix: the command's name (main adds "entitled: "), and a hint where the flags are.
		msg := err.Error()
		if name != "entitled" && name != "" {
			msg = name + ": " + msg
		}
		return c, nil, usageError{msg + " (entitled " + helpTopic(name) + " --help lists the flags)"}
	}
	fs.Visit(func(f *flag.Flag) { baseURLSet = baseURLSet || f.Name == "base-url" })
	if !baseURLSet {
		// No public URL given: the listen address is the best guess, so that letters, the token
		// issuer and /openapi.json name the port the server really listens on.
		c.BaseURL = baseURLFromAddr(c.Addr)
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if v := vars["ENTITLED_FAILPOINT"]; v != "" && !store.FailpointsCompiled {
		// Refused rather than ignored: nobody must believe a crash test is armed in production.
		errs = append(errs, fmt.Errorf("ENTITLED_FAILPOINT=%q: failpoints exist only in test builds (go build -tags failpoint); unset it", v))
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite://" + filepath.Join(c.DataDir, "entitled.db")
	}
	if err := checkDatabaseURL(c.DatabaseURL); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("ENTITLED_LOG_FORMAT=%q: want text or json", c.LogFormat))
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("ENTITLED_LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel))
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("ENTITLED_BASE_URL=%q: want an http(s) URL", c.BaseURL))
	}
	return c, fs.Args(), errors.Join(errs...)
}

// baseURLFromAddr is the public URL when ENTITLED_BASE_URL is not set: http:// and the listen
// address, with localhost for an address that names no host or every interface (":8080",
// "0.0.0.0:8080", "[::]:8080"). An address it cannot read gives the documented default.
func baseURLFromAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return defaultConfig().BaseURL
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// helpTopic is the command a loadConfig name belongs to, for "entitled <topic> --help".
func helpTopic(name string) string {
	if name == "" || name == "entitled" {
		return ""
	}
	topic, _, _ := strings.Cut(name, " ")
	return topic
}

// checkDatabaseURL refuses a database URL of a scheme entitled does not speak, before anything
// else (the secret, the data directory) is asked for. The password never shows in the message.
func checkDatabaseURL(raw string) error {
	switch {
	case strings.HasPrefix(raw, "sqlite://"), strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return nil
	}
	scheme, _, found := strings.Cut(raw, "://")
	if !found || scheme == "" || strings.ContainsAny(scheme, "/@:?") {
		// Not echoed: a value without a scheme may be a key=value DSN with a password in it.
		return errors.New("ENTITLED_DATABASE_URL has no scheme: want sqlite://PATH or postgres://[user@]host[:port]/database")
	}
	return fmt.Errorf("ENTITLED_DATABASE_URL=%q: the scheme %q is not supported: want sqlite://PATH or postgres://[user@]host[:port]/database",
		Secret(raw).String(), scheme)
}

// databaseLabel names the effective database for the start-up log: the SQLite file's absolute
// path, or PostgreSQL's user, host and database, never its password or options.
func (c Config) databaseLabel() string {
	if c.isSQLite() {
		path, _, _ := strings.Cut(strings.TrimPrefix(c.DatabaseURL, "sqlite://"), "?")
		if abs, err := filepath.Abs(path); err == nil && path != ":memory:" {
			path = abs
		}
		return "sqlite " + path
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		return "postgres (unreadable URL)"
	}
	who := ""
	if u.User != nil && u.User.Username() != "" {
		who = u.User.Username() + "@"
	}
	host := u.Host
	if host == "" {
		host = "localhost"
	}
	return "postgres " + who + host + "/" + strings.TrimPrefix(u.Path, "/")
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isSQLite reports whether the configured database is the embedded one.
func (c Config) isSQLite() bool { return strings.HasPrefix(c.DatabaseURL, "sqlite://") }

// sqlitePathOf is the file a sqlite:// URL names ("" for another scheme or an in-memory
// database): what must exist before a command that only reads it opens it, since opening a
// missing one creates it empty.
func sqlitePathOf(databaseURL string) string {
	rest, ok := strings.CutPrefix(databaseURL, "sqlite://")
	if !ok {
		return ""
	}
	if p, _, _ := strings.Cut(rest, "?"); p != ":memory:" {
		return p
	}
	return ""
}

// mailDir is where letters go when no SMTP server is configured.
func (c Config) mailDir() string { return filepath.Join(c.DataDir, "mail") }

// ensureSecret makes sure the config has ENTITLED_SECRET. On the embedded database a missing
// secret is generated once into <data dir>/secret (0600) and reused; on PostgreSQL, where
// several replicas must share it, a missing secret is an error.
func (c *Config) ensureSecret(log *slog.Logger) error {
	if c.Secret != "" {
		if len(c.Secret) < 32 {
			return errors.New("ENTITLED_SECRET must be at least 32 characters")
		}
		return nil
	}
	if !c.isSQLite() {
		return errors.New("ENTITLED_SECRET is required when the database is PostgreSQL: every replica must use the same one (e.g. openssl rand -hex 32)")
	}
	path := filepath.Join(c.DataDir, "secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		c.Secret = Secret(strings.TrimSpace(string(b)))
		return nil
	}
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	secret := hex.EncodeToString(b)
	// O_EXCL: two processes starting at once must not each write a different secret.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return c.ensureSecret(log)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	log.Warn("ENTITLED_SECRET is not set: generated one into the data directory; set it explicitly in production", "path", path)
	c.Secret = Secret(secret)
	return nil
}

// logValue lists the configuration for the start-up log, secrets masked.
func (c Config) logAttrs() []any {
	return []any{
		"addr", c.Addr, "base_url", c.BaseURL, "data_dir", c.DataDir,
		"database", c.databaseLabel(), "database_url", Secret(c.DatabaseURL), "smtp_url", c.SMTPURL, "mail_from", c.MailFrom,
		"token_ttl", c.TokenTTL.String(), "renewal_window_days", c.RenewalWindowDays,
		"rate_anon_per_min", c.RateAnonPerMin, "trusted_proxies", c.TrustedProxies,
		"token_audiences", c.TokenAudiences, "renewal_notice_days", c.RenewalNoticeDays,
		"jwks_max_age", c.JWKSMaxAge.String(), "secret", c.Secret,
		"oidc_issuer", c.OIDCIssuer, "oidc_client_id", c.OIDCClientID, "oidc_client_secret", c.OIDCClientSecret,
		"oidc_roles_claim", c.OIDCRolesClaim,
		"staff_mfa", string(c.StaffMFA),
	}
}
