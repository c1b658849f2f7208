package pages_test

// The portal's second factor and sessions: setting up an authenticator app on the Security page
// (QR code, key, confirmation, recovery codes shown once), the second sign-in page, ending a
// session from another browser, removing the app with the password, and ENTITLED_STAFF_MFA=required
// leading staff to the Security page.

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"entitled/handlers/handlerstest"
	"entitled/models"
)

var (
	secretRE   = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)
	mfaTokenRE = regexp.MustCompile(`name="mfa_token" value="([^"]+)"`)
	recoveryRE = regexp.MustCompile(`<li>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</li>`)
	revokeRE   = regexp.MustCompile(`action="(/account/security/sessions/\d+/revoke)"`)
)

func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setUpApp sets up an authenticator app for the signed-in browser and returns its key and the
// recovery codes the page showed.
func setUpApp(t *testing.T, a *testApp, b *handlerstest.Browser) (string, []string) {
	t.Helper()
	wantPage(t, b.Get(t, "/account/security"), http.StatusOK, "Set up an authenticator app")
	p := b.Follow(t, b.Submit(t, "/account/security/totp", nil))
	wantPage(t, p, http.StatusOK, `<img src="data:image/png;base64,`, "Turn it on")
	m := secretRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no key on the page:\n%s", p)
	}
	secret := m[1]
	wantPage(t, b.Submit(t, "/account/security/totp/confirm", url.Values{"code": {"000000"}}), http.StatusBadRequest, "not the current code")
	p = b.Submit(t, "/account/security/totp/confirm", url.Values{"code": {codeAt(t, secret, a.Clock.Now())}})
	wantPage(t, p, http.StatusOK, "Your recovery codes", "shown only this once")
	var codes []string
	for _, m := range recoveryRE.FindAllStringSubmatch(p.Body, -1) {
		codes = append(codes, m[1])
	}
	if len(codes) != models.RecoveryCodeCount {
		t.Fatalf("the page showed %d recovery codes, want %d:\n%s", len(codes), models.RecoveryCodeCount, p)
	}
	a.Clock.Advance(30 * time.Second)
	return secret, codes
}

// loginWithCode signs the browser in through both pages.
func loginWithCode(t *testing.T, b *handlerstest.Browser, email, password, code string) *handlerstest.Page {
	t.Helper()
	b.Get(t, "/login")
	p := b.Submit(t, "/login", url.Values{"email": {email}, "password": {password}, "next": {"/licenses"}})
	wantPage(t, p, http.StatusOK, "enter the 6-digit code")
	if cookieNamed(p.Cookies, sessionCookie) != nil {
		t.Fatal("the password alone set a session cookie: the second step was skipped")
	}
	m := mfaTokenRE.FindStringSubmatch(p.Body)
	if m == nil {
		t.Fatalf("no mfa_token in the second page:\n%s", p)
	}
	return b.Submit(t, "/login/mfa", url.Values{"mfa_token": {m[1]}, "code": {code}, "next": {"/licenses"}})
}

func TestPortal_AuthenticatorApp_SetUpSignInAndRemove(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.NewUser(t)
		b := a.Browser()
		b.Login(t, u.Email, u.Password)
		secret, codes := setUpApp(t, a, b)
		// Shown once: the page does not show them again.
		if p := b.Get(t, "/account/security"); recoveryRE.MatchString(p.Body) || !strings.Contains(p.Body, "10 unused recovery codes left") {
			t.Errorf("the Security page after confirming:\n%s", p)
		}

		// Another browser: password, then a wrong code, then the right one.
		other := a.Browser()
		p := loginWithCode(t, other, u.Email, u.Password, "123456")
		wantPage(t, p, http.StatusUnauthorized, "That code is wrong")
		m := mfaTokenRE.FindStringSubmatch(p.Body)
		p = other.Do(t, "POST", "/login/mfa", url.Values{"csrf_token": {other.CSRF}, "mfa_token": {m[1]}, "code": {codeAt(t, secret, a.Clock.Now())}, "next": {"/licenses"}})
		if p.Status != http.StatusSeeOther || p.Location != "/licenses" || cookieNamed(p.Cookies, sessionCookie) == nil {
			t.Fatalf("the right code answered %s, want a session and the way to /licenses", p)
		}
		// A recovery code works in place of the app's code, once.
		third := a.Browser()
		if p := loginWithCode(t, third, u.Email, u.Password, codes[0]); p.Status != http.StatusSeeOther {
			t.Fatalf("a recovery code answered %s", p)
		}
		if p := loginWithCode(t, a.Browser(), u.Email, u.Password, codes[0]); p.Status != http.StatusUnauthorized {
			t.Fatalf("a used recovery code answered %s", p)
		}

		// The first browser sees the others, and signs one out.
		a.Clock.Advance(2 * time.Minute)
		other.Get(t, "/licenses")
		wantPage(t, b.Get(t, "/account/security"), http.StatusOK, "this browser", "Where you are signed in")
		p = b.Get(t, "/account/security")
		var others []string
		rows := strings.Split(p.Body, "<tr>")
		for _, row := range rows {
			m := revokeRE.FindStringSubmatch(row)
			if m != nil && !strings.Contains(row, "this browser") {
				others = append(others, m[1])
			}
		}
		if len(others) != 3 { // the API session NewUser opened, the other browser, the third
			t.Fatalf("%d other sessions listed, want 3:\n%s", len(others), p)
		}
		for _, action := range others {
			wantPage(t, b.Follow(t, b.Submit(t, action, nil)), http.StatusOK, "That session is signed out.")
		}
		if p := other.Get(t, "/licenses"); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/login") {
			t.Errorf("the signed-out browser got %s, want the way to log in", p)
		}

		// Removing the app needs the password.
		b.Get(t, "/account/security")
		wantPage(t, b.Submit(t, "/account/security/totp/disable", url.Values{"password": {"not my password at all"}}), http.StatusBadRequest, "not your current password")
		wantPage(t, b.Follow(t, b.Submit(t, "/account/security/totp/disable", url.Values{"password": {u.Password}})), http.StatusOK,
			"The authenticator app is removed", "Set up an authenticator app")
		a.Browser().Login(t, u.Email, u.Password) // the password alone again
	})
}

func TestPortal_StaffMFARequired_LeadsStaffToTheSecurityPage(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		s := a.NewStaff(t, models.RoleSupport)
		b := a.Browser()
		b.Login(t, s.Email, s.Password)
		p := b.Get(t, "/staff/help")
		if p.Status != http.StatusSeeOther || p.Location != "/account/security" {
			t.Fatalf("staff without a factor got %s, want the way to /account/security", p)
		}
		wantPage(t, b.Follow(t, p), http.StatusOK, "requires staff to sign in with a second factor")
		setUpApp(t, a, b)
		wantPage(t, b.Get(t, "/staff/help"), http.StatusOK)

		// Customers are not held back.
		c := a.NewUser(t)
		cb := a.Browser()
		cb.Login(t, c.Email, c.Password)
		wantPage(t, cb.Get(t, "/licenses"), http.StatusOK)
	}, func(o *handlerstest.Options) { o.StaffMFA = models.StaffMFARequired })
}

func TestPortal_PasskeySignIn_RefusesWhatNoPasskeySigned(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.NewUser(t)
		// A passkey row as a registration leaves one (its key is nobody's: see the browser test
		// for a real one).
		q := "INSERT INTO passkeys (user_id, name, credential_id, credential, created_at) VALUES (?, 'laptop', ?, '{}', ?)"
		if a.Dialect == "postgres" {
			q = "INSERT INTO passkeys (user_id, name, credential_id, credential, created_at) VALUES ($1, 'laptop', $2, '{}', $3)"
		}
		if _, err := a.Store.SQLDB().Exec(q, u.ID, []byte("planted"), a.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		b := a.Browser()
		b.Get(t, "/login")
		p := b.Submit(t, "/login", url.Values{"email": {u.Email}, "password": {u.Password}})
		wantPage(t, p, http.StatusOK, "Use a passkey", `src="/static/passkeys.js"`)
		tok := mfaTokenRE.FindStringSubmatch(p.Body)[1]

		opts := b.Submit(t, "/login/mfa/passkey/options", url.Values{"mfa_token": {tok}})
		wantPage(t, opts, http.StatusOK, `"challenge":`, `"rpId":"entitled.example.test"`, `"allowCredentials"`)
		if cc := opts.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("options Cache-Control %q", cc)
		}
		// An answer that is not a signature of the challenge: refused, and a try spent.
		bad := b.Submit(t, "/login/mfa/passkey", url.Values{"mfa_token": {tok}, "credential": {`{"id":"cGxhbnRlZA","type":"public-key"}`}})
		wantPage(t, bad, http.StatusUnauthorized, `"code":"invalid_mfa_code"`)
		if cookieNamed(bad.Cookies, sessionCookie) != nil {
			t.Error("a refused passkey set a session cookie")
		}
		for range models.MFATokenTries - 1 {
			b.Submit(t, "/login/mfa/passkey", url.Values{"mfa_token": {tok}, "credential": {"{}"}})
		}
		wantPage(t, b.Submit(t, "/login/mfa/passkey/options", url.Values{"mfa_token": {tok}}), http.StatusUnauthorized, `"code":"mfa_token_invalid"`)
		// Without the page's CSRF token, nothing.
		if p := b.Do(t, "POST", "/login/mfa/passkey/options", url.Values{"mfa_token": {tok}}); p.Status != http.StatusForbidden {
			t.Errorf("options without a CSRF token answered %d", p.Status)
		}
	})
}
