package main

import (
	"bytes"
	"log/slog"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"entitled/models"
)

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
