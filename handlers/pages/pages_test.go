package pages_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"entitled/mailer/mailtest"
	"entitled/models"
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

// A letter's link that is unknown, expired or used says so and offers the way to a new one: a
// fresh confirmation link (signing up again) or a new password-reset link.
func TestInvalidLinkPageOffersANewLink(t *testing.T) {
	a := newTestApp(t, "sqlite")
	status, body := a.postForm(t, "/verify", url.Values{"token": {"no-such-token"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "invalid, has expired or was used already") ||
		!strings.Contains(body, `href="/signup"`) || !strings.Contains(body, `href="/forgot-password"`) {
		t.Errorf("POST /verify with a bad token: %d\n%s", status, body)
	}
	status, body = a.postForm(t, "/reset-password", url.Values{"token": {"no-such-token"}, "password": {"a new password 123"}, "password_confirm": {"a new password 123"}})
	if status != http.StatusBadRequest || !strings.Contains(body, "invalid, has expired or was used already") ||
		!strings.Contains(body, `href="/forgot-password"`) {
		t.Errorf("POST /reset-password with a bad token: %d\n%s", status, body)
	}
}

// The staff pages for what only the API and the CLI did: the catalogue (ops); staff users, API
// keys and the audit log (superadmin).

// A superadmin manages staff users, API keys (the secret shown once) and reads the whole audit
// log from the portal; what the pages do, the API sees.
func TestAdminPages_StaffAPIKeysAndAudit(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		root := a.NewStaff(t, models.RoleSuperadmin)
		b := a.SignedIn(t, root)

		// Staff users: create one, change its roles, refuse a bad form.
		wantPage(t, b.Get(t, "/staff/users"), http.StatusOK, root.Email, `href="/staff/users" aria-current="page"`)
		newStaff := a.Email("rene")
		p := b.Submit(t, "/staff/users", url.Values{"email": {newStaff}, "name": {"Rene"}, "roles": {models.RoleRenewals}, "password": {"a long enough password"}})
		wantPage(t, b.Follow(t, p), http.StatusOK, "Staff user "+newStaff+" created with the roles: renewals.")
		p = b.Submit(t, "/staff/users", url.Values{"email": {newStaff}, "roles": {models.RoleRenewals, models.RoleOps}})
		wantPage(t, b.Follow(t, p), http.StatusOK, newStaff+" now has the roles: ops, renewals.")
		wantPage(t, b.Submit(t, "/staff/users", url.Values{"email": {a.Email("nopass")}, "roles": {models.RoleOps}}), http.StatusBadRequest, "password")
		tok := a.Login(t, newStaff, "a long enough password")
		if roles := a.Me(t, tok).List("staff_roles"); len(roles) != 2 {
			t.Errorf("the API sees roles %v", roles)
		}

		// API keys: the secret is shown once and works; revoking asks first, then the key is refused.
		p = b.Submit(t, "/staff/api-keys", url.Values{"name": {"CRM"}, "scopes": {models.ScopeRenewalsRead}})
		wantPage(t, p, http.StatusCreated, "is shown only this once", "CRM")
		secret := regexp.MustCompile(`<textarea id="api-key-secret"[^>]*>([^<]+)</textarea>`).FindStringSubmatch(p.Body)
		if secret == nil {
			t.Fatalf("no secret on the page:\n%s", p.Body)
		}
		want(t, a.Do(t, "GET", "/v1/renewals", secret[1], nil), http.StatusOK)
		list := b.Get(t, "/staff/api-keys")
		if strings.Contains(list.Body, secret[1]) {
			t.Fatal("the key list shows the secret again")
		}
		id := regexp.MustCompile(`action="/staff/api-keys/(\d+)/revoke"`).FindStringSubmatch(list.Body)
		if id == nil {
			t.Fatalf("no revoke form:\n%s", list.Body)
		}
		wantPage(t, b.Submit(t, "/staff/api-keys/"+id[1]+"/revoke", nil), http.StatusOK, "Yes, revoke")
		want(t, a.Do(t, "GET", "/v1/renewals", secret[1], nil), http.StatusOK) // asked, not yet done
		p = b.Submit(t, "/staff/api-keys/"+id[1]+"/revoke", url.Values{"confirm": {"yes"}})
		wantPage(t, b.Follow(t, p), http.StatusOK, "API key "+id[1]+" is revoked.", "revoked")
		want(t, a.Do(t, "GET", "/v1/renewals", secret[1], nil), http.StatusUnauthorized)
		wantPage(t, b.Submit(t, "/staff/api-keys", url.Values{"name": {"no scopes"}}), http.StatusBadRequest)

		// The audit log shows all of it, and filters.
		wantPage(t, b.Get(t, "/staff/audit"), http.StatusOK, "api_key.revoked", "api_key.created", newStaff)
		filtered := b.Get(t, "/staff/audit?action=api_key.created")
		wantPage(t, filtered, http.StatusOK, "api_key.created")
		if strings.Contains(filtered.Body, "api_key.revoked") {
			t.Error("the action filter lets other actions through")
		}
		wantPage(t, b.Get(t, "/staff/audit?since=yesterday"), http.StatusBadRequest, "Check the filters.")

		// Other staff see none of it.
		ops := a.SignedIn(t, a.NewStaff(t, models.RoleOps))
		for _, path := range []string{"/staff/users", "/staff/api-keys", "/staff/audit"} {
			wantPage(t, ops.Get(t, path), http.StatusForbidden)
		}
	})
}

// Staff ops keep the catalogue from the portal: add a product, its versions, and move a version
// through its phases; a refused form says why next to itself and changes nothing.
func TestProductsPage_OpsKeepTheCatalogue(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.NewStaff(t, models.RoleOps)
		b := a.SignedIn(t, ops)
		wantPage(t, b.Get(t, "/staff/products"), http.StatusOK, "Add a product", `href="/staff/products" aria-current="page"`)

		p := b.Submit(t, "/staff/products", url.Values{"sku": {"WS-100"}, "name": {"Widget Server"}})
		wantPage(t, b.Follow(t, p), http.StatusOK, "Product WS-100 added.", "Widget Server", "No versions yet.")
		wantPage(t, b.Submit(t, "/staff/products", url.Values{"sku": {"WS-100"}, "name": {"Again"}}), http.StatusConflict)
		wantPage(t, b.Submit(t, "/staff/products", url.Values{"sku": {""}, "name": {"Nameless"}}), http.StatusBadRequest, `value="Nameless"`)

		p = b.Submit(t, "/staff/products/WS-100/versions", url.Values{"version": {"2.4.0"}, "released_on": {"2026-01-15"}, "phase": {models.PhaseFull}})
		wantPage(t, b.Follow(t, p), http.StatusOK, "WS-100 2.4.0 added.", "2026-01-15", "Full support")
		wantPage(t, b.Submit(t, "/staff/products/WS-100/versions", url.Values{"version": {"not a version"}, "released_on": {"2026-01-15"}, "phase": {models.PhaseFull}}),
			http.StatusBadRequest)

		p = b.Submit(t, "/staff/products/WS-100/versions/2.4.0/phase", url.Values{"phase": {models.PhaseDiscontinued}})
		wantPage(t, b.Follow(t, p), http.StatusOK, "WS-100 2.4.0 is now: Discontinued.")
		r := a.Do(t, "GET", "/v1/products/WS-100", ops.Token, nil)
		if vs := r.Objects("versions"); len(vs) != 1 || vs[0]["phase"] != models.PhaseDiscontinued {
			t.Errorf("the API's product after the page's changes: %s", r)
		}
		wantPage(t, b.Submit(t, "/staff/products/WS-100/versions/9.9.9/phase", url.Values{"phase": {models.PhaseFull}}), http.StatusNotFound)

		// Other staff and customers do not see the page or the link.
		for _, u := range []string{models.RoleRenewals, models.RoleSupport} {
			sb := a.SignedIn(t, a.NewStaff(t, u))
			wantPage(t, sb.Get(t, "/staff/products"), http.StatusForbidden)
			if strings.Contains(sb.Get(t, "/licenses").Body, `href="/staff/products"`) {
				t.Errorf("staff %s sees the products link", u)
			}
		}
	})
}
