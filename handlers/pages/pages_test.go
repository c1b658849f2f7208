package pages_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"entitled/mailer/mailtest"
)

// postForm submits a page's form as a browser does.
func (a *testApp) postForm(t *testing.T, path string, form url.Values) (int, string) {
	t.Helper()
	res, err := a.Srv.Client().PostForm(a.Srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (a *testApp) getPage(t *testing.T, path string) (int, string) {
	t.Helper()
	res, err := a.Srv.Client().Get(a.Srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	return res.StatusCode, string(b)
}

// Opening the letter's link only shows a button (a mail scanner fetching it verifies nothing);
// the button's POST verifies.
func TestVerifyPage_LinkShowsAButton_PostVerifies(t *testing.T) {
	a := newTestApp(t, "sqlite")
	email := a.Email("page")
	a.Signup(t, email, testPassword, "Page Person")
	tok := mailtest.LinkToken(t, a.Sink.WaitFor(t, email, 0, "/verify?token="))
	token := a.Login(t, email, testPassword)

	status, body := a.getPage(t, "/verify?token="+url.QueryEscape(tok))
	if status != http.StatusOK || !strings.Contains(body, `action="/verify"`) || !strings.Contains(body, tok) {
		t.Fatalf("GET /verify: %d\n%s", status, body)
	}
	if a.Me(t, token).Body["email_verified"] != false {
		t.Fatal("fetching the link verified the address")
	}
	status, body = a.postForm(t, "/verify", url.Values{"token": {tok}})
	if status != http.StatusOK || !strings.Contains(body, "confirmed") {
		t.Fatalf("POST /verify: %d\n%s", status, body)
	}
	// Verification ends every session of the account; the next login is verified.
	want(t, a.Do(t, "GET", "/v1/me", token, nil), http.StatusUnauthorized)
	if a.Me(t, a.Login(t, email, testPassword)).Body["email_verified"] != true {
		t.Fatal("the button did not verify the address")
	}
	status, body = a.postForm(t, "/verify", url.Values{"token": {tok}})
	if status != http.StatusBadRequest || !strings.Contains(body, "invalid") {
		t.Fatalf("second POST /verify: %d\n%s", status, body)
	}
}

func TestResetPasswordPage(t *testing.T) {
	a := newTestApp(t, "sqlite")
	u := a.NewUser(t)
	want(t, a.Do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": u.Email}), http.StatusAccepted)
	tok := mailtest.LinkToken(t, a.Sink.WaitFor(t, u.Email, 0, "/reset-password?token="))

	status, body := a.getPage(t, "/reset-password?token="+url.QueryEscape(tok))
	if status != http.StatusOK || !strings.Contains(body, `type="password"`) {
		t.Fatalf("GET /reset-password: %d\n%s", status, body)
	}
	status, body = a.postForm(t, "/reset-password", url.Values{"token": {tok}, "password": {"a new password 123"}, "password_confirm": {"another one 12345"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "differ") {
		t.Fatalf("mismatched passwords: %d\n%s", status, body)
	}
	status, body = a.postForm(t, "/reset-password", url.Values{"token": {tok}, "password": {"short"}, "password_confirm": {"short"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "at least 12") {
		t.Fatalf("short password: %d\n%s", status, body)
	}
	status, _ = a.postForm(t, "/reset-password", url.Values{"token": {tok}, "password": {"a new password 123"}, "password_confirm": {"a new password 123"}})
	if status != http.StatusOK {
		t.Fatalf("reset: %d", status)
	}
	a.Login(t, u.Email, "a new password 123")
	want(t, a.Do(t, "GET", "/v1/me", u.Token, nil), http.StatusUnauthorized)
}

// Signing up again before verifying sends a fresh verification link (the first may have
// expired); the answer is the same as for a new address. Following that link verifies the address
// with the password of the signup that sent it.
func TestSignup_RepeatBeforeVerifyingSendsAFreshLink(t *testing.T) {
	a := newTestApp(t, "sqlite")
	email := a.Email("again")
	first := a.Signup(t, email, testPassword, "First")
	a.Sink.WaitFor(t, email, 0, "/verify?token=")
	a.Clock.Advance(25 * 60 * 60 * 1e9) // the first link has expired
	second := a.Signup(t, email, "some other password 99", "Second")
	if string(first.Raw) != string(second.Raw) {
		t.Errorf("answers differ: %s vs %s", first, second)
	}
	tok := mailtest.LinkToken(t, a.Sink.WaitFor(t, email, 1, "/verify?token="))
	want(t, a.Do(t, "POST", "/v1/auth/verify", "", map[string]string{"token": tok}), http.StatusOK)
	a.Login(t, email, "some other password 99")
	want(t, a.Do(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": testPassword}), http.StatusUnauthorized)
}
