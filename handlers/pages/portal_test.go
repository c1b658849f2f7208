package pages_test

// Handler tests of the portal's pages, through the real router on a real database: each page's
// status and key text, the session cookie's attributes, and the refusal of every form POST that
// lacks the CSRF token.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"entitled/handlers"
	"entitled/handlers/handlerstest"
	"entitled/mailer/mailtest"
	"entitled/models"
	"entitled/models/store"
)

// The portal's session is the API's session, in a Secure, HttpOnly, SameSite=Lax cookie that
// /v1 never accepts; the CSRF token of anonymous forms lives in a cookie of the same kind, and a
// signed-in person's forms need their session's token.
func TestPortal_SessionCookieIsTheAPISession(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	u := a.NewUser(t)
	b := a.Browser()

	p := b.Get(t, "/login")
	wantPage(t, p, http.StatusOK, `action="/login"`, `autocomplete="current-password"`)
	seed := cookieNamed(p.Cookies, csrfCookie)
	if seed == nil || !seed.Secure || !seed.HttpOnly || seed.SameSite != http.SameSiteLaxMode {
		t.Fatalf("CSRF cookie: %+v", seed)
	}
	anonToken := b.CSRF

	wantPage(t, b.Submit(t, "/login", url.Values{"email": {u.Email}, "password": {"wrong password 1234"}}), http.StatusUnauthorized, "The email or password is wrong")
	p = b.Submit(t, "/login?x=1", url.Values{"email": {u.Email}, "password": {u.Password}, "next": {"/licenses"}})
	if p.Status != http.StatusSeeOther || p.Location != "/licenses" {
		t.Fatalf("login: %s", p)
	}
	sc := cookieNamed(p.Cookies, sessionCookie)
	if sc == nil || !sc.Secure || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.MaxAge != int(models.SessionTTL.Seconds()) {
		t.Fatalf("session cookie: %+v", sc)
	}
	if !strings.Contains(p.Header.Get("Set-Cookie"), "Secure") {
		t.Fatalf("Set-Cookie %q", p.Header.Values("Set-Cookie"))
	}

	// The cookie's value is a session of the API: a bearer token works…
	want(t, a.Do(t, "GET", "/v1/me", sc.Value, nil), http.StatusOK)
	// …but /v1 never reads the cookie.
	req, _ := http.NewRequest("GET", a.Srv.URL+"/v1/me", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sc.Value})
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/v1/me with the cookie only: %d, want 401", res.StatusCode)
	}

	wantPage(t, b.Follow(t, p), http.StatusOK, "My licenses", "signed in as "+u.Email)
	// A signed-in person's forms carry their session's token, not the anonymous one.
	if b.CSRF == anonToken || b.CSRF != csrfToken(sc.Value) {
		t.Fatalf("signed-in CSRF token %q (anonymous %q)", b.CSRF, anonToken)
	}
	wantPage(t, b.Submit(t, "/logout", url.Values{csrfField: {anonToken}}), http.StatusForbidden, "security token")

	p = b.Submit(t, "/logout", nil)
	if p.Status != http.StatusSeeOther || p.Location != "/login" {
		t.Fatalf("logout: %s", p)
	}
	if c := cookieNamed(p.Cookies, sessionCookie); c == nil || c.MaxAge >= 0 {
		t.Fatalf("logout left the cookie: %+v", c)
	}
	want(t, a.Do(t, "GET", "/v1/me", sc.Value, nil), http.StatusUnauthorized)
	wantPage(t, b.Follow(t, p), http.StatusOK, "You are logged out.")
	p = b.Get(t, "/licenses")
	if p.Status != http.StatusSeeOther || p.Location != "/login?next=%2Flicenses" {
		t.Fatalf("signed out /licenses: %s", p)
	}
}

// Only local paths are followed after logging in.
func TestPortal_LoginNextIsLocal(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	u := a.NewUser(t)
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", ""} {
		b := a.Browser()
		b.Get(t, "/login")
		p := b.Submit(t, "/login", url.Values{"email": {u.Email}, "password": {u.Password}, "next": {next}})
		if p.Status != http.StatusSeeOther || p.Location != "/" {
			t.Errorf("next=%q: redirected to %q", next, p.Location)
		}
	}
}

// pageRoutes lists the portal's POST routes with dummy parameters.
func pagePostRoutes(t *testing.T, a *testApp) []string {
	t.Helper()
	var out []string
	for _, r := range a.Handler.(*gin.Engine).Routes() {
		if r.Method != http.MethodPost || !isPageRoute(r.Path) {
			continue
		}
		path := strings.NewReplacer(":ln", "LN-0000-0000-0000-0000", ":id", "1", ":action", "renew", ":email", "x@example.test").Replace(r.Path)
		out = append(out, path)
	}
	return out
}

// Every form POST of the portal is refused without this browser's CSRF token, signed in or not,
// with a page that says so and changes nothing — but for the letters' links, whose single-use
// token is the secret.
func TestPortal_EveryFormPostNeedsTheCSRFToken(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	staff := a.NewStaff(t, models.RoleRenewals, models.RoleSupport)
	ops := a.NewStaff(t, models.RoleOps)
	ln, _, _ := a.FreshLicense(t, ops.Token, nil)
	routes := pagePostRoutes(t, a)
	if len(routes) < 15 {
		t.Fatalf("only %d page POST routes: %v", len(routes), routes)
	}
	exempt := map[string]bool{"/verify": true, "/reset-password": true}
	for _, signedIn := range []bool{false, true} {
		b := a.Browser()
		if signedIn {
			b = a.SignedIn(t, staff)
		}
		b.Get(t, "/")
		for _, path := range routes {
			if exempt[path] {
				continue
			}
			for name, tok := range map[string]string{"missing": "", "wrong": csrfToken("not this browser's seed at all, no")} {
				form := url.Values{"email": {"someone@example.test"}, "password": {testPassword}, "license_number": {ln}, "confirm": {"yes"}, "reason": {"x"}, "ends_on": {"2030-01-01"}}
				if tok != "" {
					form.Set(csrfField, tok)
				}
				p := b.Do(t, "POST", path, form)
				if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "security token") {
					t.Errorf("signed in %v, POST %s with %s token: %d\n%s", signedIn, path, name, p.Status, p)
				}
			}
		}
	}
	// Nothing was registered, signed up or sent.
	if r := a.Do(t, "GET", "/v1/licenses/"+ln+"/members", staff.Token, nil); len(r.Items()) != 0 {
		t.Errorf("a refused form changed the license: %s", r)
	}
	a.DrainMail(t) // letters are decided after the answer
	if len(a.Letters(t, "verify_email", "someone@example.test")) != 0 {
		t.Error("a refused signup form sent a letter")
	}
}

// A customer signs up, confirms the address from the letter, logs in, registers a license and is
// told they are its administrator; the license then shows among theirs, active.
func TestPortal_SignupVerifyRegister(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.NewStaff(t, models.RoleOps)
		ln, _, _ := a.supportedLicenseUnregistered(t, ops.Token, map[string]any{"program": "standard", "starts_on": "2026-01-01", "ends_on": "2026-12-31"})
		b := a.Browser()
		wantPage(t, b.Get(t, "/"), http.StatusOK, "Create an account", "License Number")
		wantPage(t, b.Get(t, "/signup"), http.StatusOK, `name="password_confirm"`, `<label for="email">`)
		email := a.Email("portal")
		p := b.Submit(t, "/signup", url.Values{"name": {"Robin Customer"}, "email": {email}, "password": {testPassword}, "password_confirm": {"something else entirely"}})
		wantPage(t, p, http.StatusBadRequest, "The two passwords differ.", `aria-invalid="true"`, "Robin Customer")
		p = b.Submit(t, "/signup", url.Values{"name": {"Robin Customer"}, "email": {email}, "password": {"short"}, "password_confirm": {"short"}})
		wantPage(t, p, http.StatusBadRequest, "The password must be at least 12 characters.")
		p = b.Submit(t, "/signup", url.Values{"name": {"Robin Customer"}, "email": {email}, "password": {testPassword}, "password_confirm": {testPassword}})
		if p.Status != http.StatusSeeOther || p.Location != "/signup/check-mail" {
			t.Fatalf("a sign-up answers %s, want a redirect (a reload must not send another letter)", p)
		}
		wantPage(t, b.Follow(t, p), http.StatusOK, "Check your inbox", "We have sent a letter to "+email)

		link := a.Sink.WaitFor(t, email, 0, testBaseURL+"/verify?token=")
		tok := mailtest.LinkToken(t, link)
		wantPage(t, b.Get(t, "/verify?token="+url.QueryEscape(tok)), http.StatusOK, "Confirm my email address")
		wantPage(t, b.Do(t, "POST", "/verify", url.Values{"token": {tok}}), http.StatusOK, "Email address confirmed", "/login?next=%2Fregister")

		p = b.Get(t, "/register")
		if p.Status != http.StatusSeeOther || p.Location != "/login?next=%2Fregister" {
			t.Fatalf("register before login: %s", p)
		}
		b.Get(t, p.Location)
		p = b.Submit(t, "/login", url.Values{"email": {email}, "password": {testPassword}, "next": {"/register"}})
		p = b.Follow(t, p)
		wantPage(t, p, http.StatusOK, "By License Number", "By service tag", "By Account ID", `<label for="license_number">`)

		p = b.Follow(t, b.Submit(t, "/register", url.Values{"by": {"license_number"}, "license_number": {strings.ToLower(strings.ReplaceAll(ln, "-", ""))}}))
		wantPage(t, p, http.StatusOK, "You are the administrator", ln, "Invite colleagues")

		p = b.Get(t, "/licenses")
		wantPage(t, p, http.StatusOK, ln, "Administrator, Support User, License User", `class="badge ok">Active<`, "2026-12-31", "in 304 days")
		p = b.Get(t, "/licenses/"+ln)
		wantPage(t, p, http.StatusOK, "Support is active until 2026-12-31 (in 304 days).", "Standard (business hours)",
			"Response targets", "1 business day", "Open support cases", "Premier support: faster response", "The Premier add-on is not part of this contract.",
			"Members", "Audit trail")
	})
}

// supportedLicenseUnregistered orders a license with support and versions in every phase, and
// returns its number, the contract id and the contact's email.
func (a *testApp) supportedLicenseUnregistered(t testing.TB, ops string, support map[string]any) (ln, contract, contact string) {
	t.Helper()
	sku := a.NewProduct(t, ops, [3]string{"1.0", "2024-01-01", "discontinued"}, [3]string{"2.0", "2025-06-01", "limited"}, [3]string{"3.0", "2026-02-01", "full"})
	body, contact := a.Order(map[string]any{"sku": sku, "quantity": 3, "kind": "perpetual", "support": support})
	r := a.Do(t, "POST", "/v1/orders", ops, body)
	want(t, r, http.StatusCreated)
	l := r.Licenses()[0]
	return l["license_number"].(string), l["contract_id"].(string), contact
}

// Every answer of a registration is explained: administrator, waiting for one, already a member,
// a typo, an unknown number, an unconfirmed address, an account with no administrator.
func TestPortal_RegisterExplainsEveryAnswer(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	ops := a.NewStaff(t, models.RoleOps)
	ln, acct, _ := a.FreshLicense(t, ops.Token, nil)
	_, lonelyAcct, _ := a.FreshLicense(t, ops.Token, nil)
	first, second := a.NewUser(t), a.NewUser(t)

	b1 := a.SignedIn(t, first)
	b1.Get(t, "/register")
	// Each answer is a page of its own after a redirect (Post/Redirect/Get): reloading it shows
	// the answer again and sends nothing.
	done := b1.Submit(t, "/register", url.Values{"by": {"license_number"}, "license_number": {ln}})
	if done.Status != http.StatusSeeOther || !strings.HasPrefix(done.Location, "/register/done?") {
		t.Fatalf("a registration answers %s, want 303 to /register/done", done)
	}
	wantPage(t, b1.Follow(t, done), http.StatusOK, "You are the administrator", "Invite colleagues")
	wantPage(t, b1.Follow(t, done), http.StatusOK, "You are the administrator")
	wantPage(t, b1.Follow(t, b1.Submit(t, "/register", url.Values{"by": {"license_number"}, "license_number": {ln}})), http.StatusOK, "You are already a member", "Nothing changed")

	b2 := a.SignedIn(t, second)
	b2.Get(t, "/register")
	p := b2.Follow(t, b2.Submit(t, "/register", url.Values{"by": {"license_number"}, "license_number": {ln}}))
	wantPage(t, p, http.StatusOK, "Your request waits for an administrator", "already has an administrator", "Withdraw my request")
	p = b2.Follow(t, b2.Submit(t, "/register", url.Values{"by": {"account_id"}, "account_id": {acct}}))
	wantPage(t, p, http.StatusOK, "You asked to join account", acct)
	// The answer page of a license says only what the store says of the caller now: someone
	// else's license is not theirs because a URL says so.
	wantPage(t, b2.Get(t, "/register/done?outcome=registered&ln="+ln), http.StatusForbidden)

	typo := []byte(ln)
	if typo[3] == 'A' {
		typo[3] = 'B'
	} else {
		typo[3] = 'A'
	}
	wantPage(t, b2.Submit(t, "/register", url.Values{"by": {"license_number"}, "license_number": {string(typo)}}), http.StatusBadRequest, "probably a typo")
	wantPage(t, b2.Submit(t, "/register", url.Values{"by": {"license_number"}, "license_number": {""}}), http.StatusBadRequest, "Fill in the License Number.")
	wantPage(t, b2.Submit(t, "/register", url.Values{"by": {"service_tag"}, "service_tag": {"ZZZZZZ9"}}), http.StatusNotFound, "No license has this service tag", "Ask us for registration help")
	wantPage(t, b2.Submit(t, "/register", url.Values{"by": {"account_id"}, "account_id": {lonelyAcct}}), http.StatusUnprocessableEntity, "No one has registered a license of account", "/registration-help")

	unverified := a.NewUnverifiedUser(t)
	b3 := a.SignedIn(t, unverified)
	wantPage(t, b3.Get(t, "/register"), http.StatusOK, "Confirm your email address first")
	wantPage(t, b3.Submit(t, "/register", url.Values{"by": {"license_number"}, "license_number": {ln}}), http.StatusForbidden, "Confirm your email address first")

	// The pending request can be withdrawn from its page.
	reqs := a.Do(t, "GET", "/v1/licenses/"+ln+"/requests", first.Token, nil)
	want(t, reqs, http.StatusOK)
	id := reqs.Items()[0]["id"].(string)
	b2.Get(t, "/register")
	p = b2.Submit(t, "/requests/"+id+"/withdraw", nil)
	wantPage(t, b2.Follow(t, p), http.StatusOK, "Your request is withdrawn.")
	if n := len(a.Do(t, "GET", "/v1/licenses/"+ln+"/requests", first.Token, nil).Items()); n != 1 {
		t.Errorf("after withdrawing one of two requests, %d remain", n)
	}
}

// An administrator invites a colleague by email, changes roles, approves and rejects requests and
// removes a member after confirming; the last administrator cannot leave. A member without the
// admin role cannot open the members page.
func TestPortal_MembersAndRequests(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.NewStaff(t, models.RoleOps)
		ln, _, _ := a.FreshLicense(t, ops.Token, nil)
		admin, joiner, other := a.NewUser(t), a.NewUser(t), a.NewUser(t)
		want(t, a.Register(t, admin.Token, map[string]any{"license_number": ln}), http.StatusCreated)
		want(t, a.Register(t, joiner.Token, map[string]any{"license_number": ln}), http.StatusAccepted)
		want(t, a.Register(t, other.Token, map[string]any{"license_number": ln}), http.StatusAccepted)

		b := a.SignedIn(t, admin)
		p := b.Get(t, "/licenses/"+ln+"/requests")
		if p.Status != http.StatusSeeOther || p.Location != "/licenses/"+ln+"/members#requests" {
			t.Fatalf("the letter's link: %s", p)
		}
		members := "/licenses/" + ln + "/members"
		wantPage(t, b.Get(t, members), http.StatusOK, "Add a colleague", "Requests to join", joiner.Email, other.Email, admin.Email, `<legend>Roles</legend>`)

		// Invite someone with no account.
		colleague := a.Email("colleague")
		p = b.Submit(t, members, url.Values{"email": {colleague}, "roles": {"support", "license"}})
		wantPage(t, b.Follow(t, p), http.StatusOK, "Invitation sent to "+colleague)
		letter := a.Sink.WaitFor(t, colleague, 0, testBaseURL+"/invitations?token=")
		wantPage(t, b.Submit(t, members, url.Values{"email": {"nobody@example.test"}}), http.StatusBadRequest, "Choose at least one role.")
		// The invitation waits on the members page; its link names the license, who invited and the
		// roles, and signs up with the invited address filled in.
		wantPage(t, b.Get(t, members), http.StatusOK, "Invitations waiting", colleague, "Support User, License User", "Cancel the invitation")
		inviteLink := "/invitations?token=" + url.QueryEscape(mailtest.LinkToken(t, letter))
		wantPage(t, a.Browser().Get(t, inviteLink), http.StatusOK, "invited <strong>"+colleague+"</strong> to license <strong class=\"mono\">"+ln,
			`href="/signup?email=`+url.QueryEscape(colleague)+`"`)
		wantPage(t, a.Browser().Get(t, "/signup?email="+url.QueryEscape(colleague)), http.StatusOK, `value="`+colleague+`"`)
		// Cancelled, the link says so, and the page no longer lists it.
		p = b.Submit(t, "/licenses/"+ln+"/invitations/cancel", url.Values{"email": {colleague}})
		wantPage(t, b.Follow(t, p), http.StatusOK, "The invitation to "+colleague+" is cancelled")
		if strings.Contains(b.Get(t, members).Body, "Invitations waiting") {
			t.Error("a cancelled invitation is still listed")
		}
		wantPage(t, a.Browser().Get(t, inviteLink), http.StatusGone, "This invitation was accepted, cancelled")
		wantPage(t, b.Submit(t, "/licenses/"+ln+"/invitations/cancel", url.Values{"email": {colleague}}), http.StatusNotFound)

		// Approve one request with roles, reject the other.
		reqs := a.Do(t, "GET", "/v1/licenses/"+ln+"/requests", admin.Token, nil).Items()
		ids := map[string]string{}
		for _, r := range reqs {
			ids[r["email"].(string)] = r["id"].(string)
		}
		wantPage(t, b.Submit(t, "/licenses/"+ln+"/requests/"+ids[joiner.Email]+"/approve", url.Values{}), http.StatusBadRequest, "Choose at least one role to grant.")
		p = b.Submit(t, "/licenses/"+ln+"/requests/"+ids[joiner.Email]+"/approve", url.Values{"roles": {"support"}})
		wantPage(t, b.Follow(t, p), http.StatusOK, "Approved: "+joiner.Email+" is now a member with Support User.")
		p = b.Submit(t, "/licenses/"+ln+"/requests/"+ids[other.Email]+"/reject", nil)
		wantPage(t, b.Follow(t, p), http.StatusOK, "Rejected the request of "+other.Email)

		// Change a member's roles.
		p = b.Submit(t, members, url.Values{"email": {joiner.Email}, "roles": {"support", "license"}, "form": {"member"}})
		wantPage(t, b.Follow(t, p), http.StatusOK, "Saved: "+joiner.Email+" is now Support User, License User.")

		// A member who is not an admin may not manage members, and sees no tabs.
		jb := a.SignedIn(t, joiner)
		wantPage(t, jb.Get(t, members), http.StatusForbidden, "needs the admin role")
		p = jb.Get(t, "/licenses/"+ln)
		wantPage(t, p, http.StatusOK, "Leave this license")
		if strings.Contains(p.Body, "Audit trail") {
			t.Error("a non-admin sees the audit tab")
		}

		// Removing asks first.
		p = b.Submit(t, members+"/remove", url.Values{"email": {joiner.Email}})
		wantPage(t, p, http.StatusOK, "Remove "+joiner.Email+" from license", "Yes, remove", `name="confirm" value="yes"`)
		p = b.Submit(t, members+"/remove", url.Values{"email": {joiner.Email}, "confirm": {"yes"}})
		wantPage(t, b.Follow(t, p), http.StatusOK, joiner.Email+" is no longer a member.")
		// The last administrator cannot remove themself, and is told so before any "Yes, remove".
		b.Get(t, members)
		p = b.Submit(t, members+"/remove", url.Values{"email": {admin.Email}})
		wantPage(t, p, http.StatusConflict, "You are the only administrator of license "+ln, "make someone else an administrator first")
		if strings.Contains(p.Body, "Yes, remove") {
			t.Error("removing the only admin asks to confirm what will be refused")
		}
		wantPage(t, b.Submit(t, members+"/remove", url.Values{"email": {admin.Email}, "confirm": {"yes"}}), http.StatusConflict, "admin")

		// The audit trail tells it all, in words.
		wantPage(t, b.Get(t, "/licenses/"+ln+"/audit"), http.StatusOK, "Registered as first administrator", "Colleague invited", "Join request approved",
			"Join request rejected", "Member removed", admin.Email)
		wantPage(t, jb.Get(t, "/licenses/"+ln+"/audit"), http.StatusForbidden)
	})
}

// A lapsed license still shows what was bought, and says why each thing is refused, per version.
func TestPortal_LicensePageExplainsLapsedSupport(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	ops := a.NewStaff(t, models.RoleOps)
	ln, _, _ := a.supportedLicenseUnregistered(t, ops.Token, map[string]any{"program": "24x7", "premier": true, "starts_on": "2025-03-01", "ends_on": "2025-12-31"})
	admin := a.NewUser(t)
	want(t, a.Register(t, admin.Token, map[string]any{"license_number": ln}), http.StatusCreated)
	b := a.SignedIn(t, admin)
	p := b.Get(t, "/licenses/"+ln)
	wantPage(t, p, http.StatusOK, `class="badge bad">Lapsed<`, "Support ended on 2025-12-31 (61 days ago)", "24x7 with Premier",
		"Support ended on 2025-12-31: renew it to get this back.", "Discontinued", "Limited support", "Full support",
		"This version is discontinued", "Released after support ended on 2025-12-31: renew support to get it.", "See this license and what it covers")
	if strings.Contains(p.Body, "Response targets") {
		t.Error("a lapsed contract shows response targets")
	}
	// It says when support ended, not a negative number of days left.
	if strings.Contains(p.Body, "Days left") || !strings.Contains(p.Body, "<dt>Ended</dt><dd>61 days ago</dd>") {
		t.Error("a lapsed contract should say it ended 61 days ago, not show days left")
	}
	wantPage(t, b.Get(t, "/licenses/not-a-number"), http.StatusBadRequest, "License Number")
	other := a.NewUser(t)
	wantPage(t, a.SignedIn(t, other).Get(t, "/licenses/"+ln), http.StatusForbidden, "You are not a member of license")
}

// Anyone can ask for registration help or have their License Numbers sent again; staff support
// work the queue: make someone a license's administrator (after confirming) and resolve.
func TestPortal_HelpRecoveryAndTheQueue(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	ops := a.NewStaff(t, models.RoleOps)
	ln, _, contact := a.FreshLicense(t, ops.Token, nil)
	customer := a.NewUser(t)

	b := a.Browser()
	wantPage(t, b.Get(t, "/registration-help"), http.StatusOK, `<label for="message">`, "License Number")
	wantPage(t, b.Submit(t, "/registration-help", url.Values{"name": {""}, "email": {"bad"}, "message": {""}}), http.StatusBadRequest,
		"The name is required.", "The email must be an email address", "Tell us what went wrong.")
	p := b.Submit(t, "/registration-help", url.Values{"name": {"Sam Helpme"}, "email": {customer.Email}, "company": {"Acme"}, "license_number": {ln}, "message": {"The number says it is taken."}})
	wantPage(t, p, http.StatusAccepted, "We have your request", customer.Email)

	wantPage(t, b.Get(t, "/recover"), http.StatusOK, "Contact person's email address")
	wantPage(t, b.Submit(t, "/recover", url.Values{"email": {contact}}), http.StatusAccepted, "If "+contact+" is the contact")
	a.Sink.WaitFor(t, contact, 1, ln)
	wantPage(t, b.Submit(t, "/recover", url.Values{"email": {"nobody@example.test"}}), http.StatusAccepted, "If nobody@example.test is the contact")

	// Customers cannot open the queue; staff support can.
	wantPage(t, a.SignedIn(t, customer).Get(t, "/staff/help"), http.StatusForbidden, "for staff with the support role")
	sb := a.SignedIn(t, a.NewStaff(t, models.RoleSupport))
	p = sb.Get(t, "/")
	if p.Location != "/staff/help" {
		t.Errorf("staff support's home: %s", p)
	}
	wantPage(t, sb.Get(t, "/staff/help"), http.StatusOK, "Sam Helpme", "The number says it is taken.", "Make administrator", "Resolve")
	id := a.Do(t, "GET", "/v1/registration-help", cookieToken(sb), nil).Items()[0]["id"].(string)

	p = sb.Submit(t, "/staff/help/"+id+"/make-admin", url.Values{"license_number": {ln}, "email": {customer.Email}})
	wantPage(t, p, http.StatusOK, "Make "+customer.Email+" an administrator of license "+ln, "Yes, make administrator")
	p = sb.Submit(t, "/staff/help/"+id+"/make-admin", url.Values{"license_number": {ln}, "email": {customer.Email}, "confirm": {"yes"}})
	wantPage(t, sb.Follow(t, p), http.StatusOK, customer.Email+" is now an administrator of "+ln)
	r := a.Do(t, "GET", "/v1/licenses/"+ln, customer.Token, nil)
	want(t, r, http.StatusOK)
	if handlerstest.RoleSet(r.Body["roles"]) != "admin,support,license" {
		t.Errorf("made admin: %s", r)
	}
	p = sb.Submit(t, "/staff/help/"+id+"/resolve", url.Values{"note": {"made them admin"}})
	wantPage(t, sb.Follow(t, p), http.StatusOK, "is resolved", "No open requests.")
	wantPage(t, sb.Get(t, "/staff/help?status=resolved"), http.StatusOK, "made them admin")
}

// cookieToken is the session token the browser holds (for checking through the API).
func cookieToken(b *handlerstest.Browser) string {
	if c := b.Cookies[sessionCookie]; c != nil {
		return c.Value
	}
	return ""
}

// Staff renewals open a contract and act on it; every action asks for confirmation first, and
// errors are shown on the contract page.
func TestPortal_ContractActions(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.NewStaff(t, models.RoleOps)
		_, contract, contact := a.supportedLicenseUnregistered(t, ops.Token, map[string]any{"program": "standard", "starts_on": "2025-03-22", "ends_on": "2026-03-21"})
		rb := a.SignedIn(t, a.NewStaff(t, models.RoleRenewals))
		path := "/contracts/" + contract
		wantPage(t, rb.Get(t, path), http.StatusOK, "Acme Corp", `class="badge warn">Expiring soon<`, "2026-03-21", "in 19 days", contact,
			"Renew…", "Upgrade…", "Grant grace…", "Terminate…", `<label for="renew-ends">`, "History")

		// Renew: confirm first, then done, back to the list.
		p := rb.Submit(t, path+"/renew", url.Values{"ends_on": {"2027-03-21"}, "back": {"/renewals?within=30"}})
		wantPage(t, p, http.StatusOK, "Renew this contract until 2027-03-21?", "2026-03-22 to 2027-03-21", "Yes, renew")
		if r := a.Do(t, "GET", "/v1/licenses", ops.Token, nil); r.Status != http.StatusOK {
			t.Fatal(r)
		}
		p = rb.Submit(t, path+"/renew", url.Values{"ends_on": {"2027-03-21"}, "back": {"/renewals?within=30"}, "confirm": {"yes"}})
		if p.Status != http.StatusSeeOther || p.Location != "/renewals?within=30" {
			t.Fatalf("renew: %s", p)
		}
		if c := cookieNamed(p.Cookies, flashCookie); c == nil {
			t.Fatal("no message for the next page")
		}
		wantPage(t, rb.Get(t, path), http.StatusOK, "Renewed: Acme Corp", "2027-03-21", `class="badge ok">Active<`)

		// A renewal that ends before the current end is refused on the contract page.
		p = rb.Submit(t, path+"/renew", url.Values{"ends_on": {"2026-01-01"}, "confirm": {"yes"}})
		wantPage(t, p, http.StatusBadRequest, "The end date must be on or after 2027-03-22")
		// Grace beyond 60 days is refused at the first step, in words; a confirmed one anyway by
		// the service.
		p = rb.Submit(t, path+"/grace", url.Values{"until": {"2027-12-31"}, "reason": {"PO pending"}})
		wantPage(t, p, http.StatusUnprocessableEntity, "Grace can keep support on for at most 60 days after the contract ends on 2027-03-21: choose a day on or before 2027-05-20.")
		if strings.Contains(p.Body, "Yes, grant grace") {
			t.Error("a grace past the limit is offered for confirmation")
		}
		p = rb.Submit(t, path+"/grace", url.Values{"until": {"2027-03-01"}, "reason": {"PO pending"}})
		wantPage(t, p, http.StatusUnprocessableEntity, "choose a day after it")
		p = rb.Submit(t, path+"/grace", url.Values{"until": {"2027-12-31"}, "reason": {"PO pending"}, "confirm": {"yes"}})
		wantPage(t, p, http.StatusUnprocessableEntity, "Grace may run at most 60 days")
		// Upgrade to premier.
		p = rb.Submit(t, path+"/upgrade", url.Values{"premier": {"yes"}})
		wantPage(t, p, http.StatusOK, "Standard (business hours) → Standard (business hours) with Premier")
		p = rb.Submit(t, path+"/upgrade", url.Values{"premier": {"yes"}, "confirm": {"yes"}})
		wantPage(t, rb.Follow(t, p), http.StatusOK, "with Premier")
		// Terminate asks, in red.
		p = rb.Submit(t, path+"/terminate", url.Values{"reason": {"customer went away"}})
		wantPage(t, p, http.StatusOK, "End this contract today?", `class="danger"`)
		p = rb.Submit(t, path+"/terminate", url.Values{"reason": {"customer went away"}, "confirm": {"yes"}})
		wantPage(t, rb.Follow(t, p), http.StatusOK, "Terminated:")
		p = rb.Get(t, path)
		wantPage(t, p, http.StatusOK, `class="badge bad">Terminated<`, "customer went away")
		if strings.Contains(p.Body, "Renew…") {
			t.Error("a terminated contract still offers actions")
		}
		wantPage(t, rb.Submit(t, path+"/explode", url.Values{"confirm": {"yes"}}), http.StatusNotFound)
		wantPage(t, rb.Get(t, "/contracts/999999"), http.StatusNotFound)

		// Customers and other staff may not.
		wantPage(t, a.SignedIn(t, ops).Get(t, path), http.StatusForbidden, "for staff with the renewals role")
		p = a.Browser().Get(t, path)
		if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/login?next=") {
			t.Fatalf("anonymous contract page: %s", p)
		}
	})
}

// The account page shows the user and changes the password; other sessions end, this one stays.
func TestPortal_AccountAndPasswords(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	u := a.NewUser(t)
	b := a.SignedIn(t, u)
	wantPage(t, b.Get(t, "/account"), http.StatusOK, u.Email, "Confirmed", "Change your password")
	wantPage(t, b.Submit(t, "/account/password", url.Values{"current_password": {"not it at all 123"}, "new_password": {"a brand new passphrase"}, "password_confirm": {"a brand new passphrase"}}),
		http.StatusBadRequest, "is not your current password")
	wantPage(t, b.Submit(t, "/account/password", url.Values{"current_password": {u.Password}, "new_password": {"a brand new passphrase"}, "password_confirm": {"different"}}),
		http.StatusBadRequest, "The two new passwords differ.")
	p := b.Submit(t, "/account/password", url.Values{"current_password": {u.Password}, "new_password": {"a brand new passphrase"}, "password_confirm": {"a brand new passphrase"}})
	wantPage(t, b.Follow(t, p), http.StatusOK, "Your password is changed.")
	want(t, a.Do(t, "GET", "/v1/me", u.Token, nil), http.StatusUnauthorized)
	wantPage(t, b.Get(t, "/licenses"), http.StatusOK, "You have no licenses yet.")

	// Forgot password: the same answer for any address, and the letter's link resets it.
	fb := a.Browser()
	wantPage(t, fb.Get(t, "/forgot-password"), http.StatusOK, "Send me a link")
	wantPage(t, fb.Submit(t, "/forgot-password", url.Values{"email": {u.Email}}), http.StatusOK, "If an account uses "+u.Email)
	wantPage(t, fb.Submit(t, "/forgot-password", url.Values{"email": {"nobody@example.test"}}), http.StatusOK, "If an account uses nobody@example.test")
	tok := mailtest.LinkToken(t, a.Sink.WaitFor(t, u.Email, 0, testBaseURL+"/reset-password?token="))
	wantPage(t, fb.Do(t, "POST", "/reset-password", url.Values{"token": {tok}, "password": {"third password here"}, "password_confirm": {"third password here"}}), http.StatusOK, "Password changed")
	// The reset ended every session, this browser's too.
	if p := b.Get(t, "/account"); p.Status != http.StatusSeeOther || p.Location != "/login?next=%2Faccount" {
		t.Fatalf("after a reset: %s", p)
	}
}

// The anonymous letter-sending forms share the API's budget per address.
func TestPortal_AnonymousFormsAreRateLimited(t *testing.T) {
	a := newTestApp(t, store.SQLite, withRateAnon(2))
	b := a.Browser()
	b.Get(t, "/forgot-password")
	for i := 0; i < 2; i++ {
		wantPage(t, b.Submit(t, "/forgot-password", url.Values{"email": {"x@example.test"}}), http.StatusOK)
	}
	p := b.Submit(t, "/forgot-password", url.Values{"email": {"x@example.test"}})
	wantPage(t, p, http.StatusTooManyRequests, "Too many requests")
	if p.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	want(t, a.Do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": "x@example.test"}), http.StatusTooManyRequests)
}

// The dashboard counts what is due within 7, 30, 60 and 90 days, in grace and lapsed; lists each
// view with links to the contracts; filters by program and by name; offers the list as CSV; and
// a renewed contract leaves the list.
func TestPortal_RenewalsDashboard(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.NewStaff(t, models.RoleOps).Token
		rs := a.NewStaff(t, models.RoleRenewals)
		// Today is 2026-03-02.
		a.ContractFor(t, ops, "Five Days Ltd", "standard", "2025-03-08", "2026-03-07")
		twenty := a.ContractFor(t, ops, "Twenty Days GmbH", "24x7", "2025-03-23", "2026-03-22")
		a.ContractFor(t, ops, "Forty-Five Inc", "standard", "2025-04-17", "2026-04-16")
		a.ContractFor(t, ops, "Eighty SA", "standard", "2025-05-22", "2026-05-21")
		a.ContractFor(t, ops, "Far Away BV", "standard", "2025-09-19", "2026-09-18")
		a.ContractFor(t, ops, "Lapsed & Co", "standard", "2025-02-02", "2026-02-01")
		grace := a.ContractFor(t, ops, "Graceful Oy", "standard", "2025-02-21", "2026-02-20")
		want(t, a.Do(t, "POST", "/v1/contracts/"+grace+"/grace", rs.Token, map[string]any{"until": "2026-03-20", "reason": "PO pending"}), http.StatusOK)

		b := a.SignedIn(t, rs)
		p := b.Get(t, "/")
		if p.Location != "/renewals" {
			t.Fatalf("renewal staff's home: %s", p)
		}
		p = b.Get(t, "/renewals")
		wantPage(t, p, http.StatusOK, "Expiring within 90 days", "Download CSV", `href="/renewals.csv?within=90"`, "Today is")
		for _, tile := range []string{`<span class="n">2</span> <span class="l">within 7 days</span>`, `<span class="n">3</span> <span class="l">within 30 days</span>`,
			`<span class="n">4</span> <span class="l">within 60 days</span>`, `<span class="n">5</span> <span class="l">within 90 days</span>`,
			`<span class="n">1</span> <span class="l">in grace</span>`, `<span class="n">1</span> <span class="l">lapsed</span>`} {
			if !strings.Contains(p.Body, tile) {
				t.Errorf("dashboard lacks the tile %s", tile)
			}
		}
		if strings.Contains(p.Body, "Far Away BV") || strings.Contains(p.Body, "Lapsed &amp; Co") {
			t.Error("the 90-day list shows what is not due within 90 days")
		}
		// Grace first, then soonest.
		gi, fi, ti := strings.Index(p.Body, "Graceful Oy"), strings.Index(p.Body, "Five Days Ltd"), strings.Index(p.Body, "Twenty Days GmbH")
		if gi < 0 || fi < 0 || ti < 0 || gi > fi || fi > ti {
			t.Errorf("order: grace %d, 5 days %d, 20 days %d", gi, fi, ti)
		}

		p = b.Get(t, "/renewals?within=30")
		wantPage(t, p, http.StatusOK, "Expiring within 30 days", "Twenty Days GmbH", "in 20 days", "24x7", `href="/contracts/`+twenty+`?back=%2Frenewals%3Fwithin%3D30"`)
		if strings.Contains(p.Body, "Forty-Five Inc") {
			t.Error("the 30-day list shows a contract due in 45 days")
		}
		wantPage(t, b.Get(t, "/renewals?status=lapsed"), http.StatusOK, "Lapsed: support ended", "Lapsed &amp; Co", "29 days ago")
		wantPage(t, b.Get(t, "/renewals?status=grace"), http.StatusOK, "Graceful Oy", "grace until 2026-03-20")
		p = b.Get(t, "/renewals?within=90&program=24x7")
		wantPage(t, p, http.StatusOK, "Twenty Days GmbH")
		if strings.Contains(p.Body, "Five Days Ltd") {
			t.Error("the program filter let a standard contract through")
		}
		p = b.Get(t, "/renewals?within=90&q=eighty")
		wantPage(t, p, http.StatusOK, "Eighty SA")
		if strings.Contains(p.Body, "Five Days Ltd") {
			t.Error("the search let another account through")
		}
		wantPage(t, b.Get(t, "/renewals?within=90&q=nothing-like-this"), http.StatusOK, "Nothing here matching")

		// Notices sent show in the list and on the contract (the renewal desk's sweep sends them).
		desk := a.RenewalDesk(t)
		if _, err := desk.Pass(context.Background(), models.PassOptions{}); err != nil {
			t.Fatal(err)
		}
		wantPage(t, b.Get(t, "/renewals?within=30"), http.StatusOK, "30 d")
		p = b.Get(t, "/contracts/"+twenty)
		wantPage(t, p, http.StatusOK, "30 days before (2026-03-02")
		if strings.Contains(p.Body, "-1 days") {
			t.Error("a lapse notice reads as -1 days")
		}

		// The CSV is the API's spreadsheet.
		p = b.Get(t, "/renewals.csv?within=30")
		if p.Status != http.StatusOK || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/csv") || !strings.Contains(p.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("CSV: %d %v", p.Status, p.Header)
		}
		lines := strings.Split(strings.TrimSpace(p.Body), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "id,license_number,account_id,account_name") || !strings.Contains(p.Body, "Twenty Days GmbH") {
			t.Errorf("CSV:\n%s", p.Body)
		}

		// Renew the 20-day contract from its page; it leaves the 30-day list.
		p = b.Get(t, "/contracts/"+twenty+"?back=%2Frenewals%3Fwithin%3D30")
		wantPage(t, p, http.StatusOK, "Twenty Days GmbH", `href="/renewals?within=30"`, `value="/renewals?within=30"`)
		b.Submit(t, "/contracts/"+twenty+"/renew", url.Values{"ends_on": {"2027-03-22"}, "back": {"/renewals?within=30"}})
		p = b.Submit(t, "/contracts/"+twenty+"/renew", url.Values{"ends_on": {"2027-03-22"}, "back": {"/renewals?within=30"}, "confirm": {"yes"}})
		p = b.Follow(t, p)
		wantPage(t, p, http.StatusOK, "Renewed: Twenty Days GmbH", "2027-03-22", `<span class="n">2</span> <span class="l">within 30 days</span>`)
		if strings.Count(p.Body, "Twenty Days GmbH") != 1 { // only in the message
			t.Error("the renewed contract is still listed")
		}

		// Only renewal staff.
		wantPage(t, a.SignedIn(t, a.NewUser(t)).Get(t, "/renewals"), http.StatusForbidden, "for staff with the renewals role")
		wantPage(t, a.SignedIn(t, a.NewStaff(t, models.RoleSupport)).Get(t, "/renewals.csv"), http.StatusForbidden)
	})
}

// pageClass is what a caller gets from a page's guard: sent to log in, refused (403), or let
// through (any other answer but a 5xx: a redirect elsewhere, a form's 400, a 404 for the dummy
// License Number…).
type pageClass string

const (
	pgLogin pageClass = "login"
	pg403   pageClass = "403"
	pgOK    pageClass = "ok"
)

// pageAccess is the expected class of every caller of one page route.
type pageAccess map[string]pageClass

var pageCallers = []string{pAnonymous, pUnverified, pUser, pOps, pRenewals, pSupport, pSuperadmin}

// pageAnyone: every caller gets the page.
var pageAnyone = pageAccess{pAnonymous: pgOK, pUnverified: pgOK, pUser: pgOK, pOps: pgOK, pRenewals: pgOK, pSupport: pgOK, pSuperadmin: pgOK}

// pageSignedIn: anyone signed in; the anonymous are sent to log in.
var pageSignedIn = pageAccess{pAnonymous: pgLogin, pUnverified: pgOK, pUser: pgOK, pOps: pgOK, pRenewals: pgOK, pSupport: pgOK, pSuperadmin: pgOK}

// pageStaff: staff with one of the roles (and superadmin); other people are refused.
func pageStaff(roles ...string) pageAccess {
	out := pageAccess{pAnonymous: pgLogin, pUnverified: pg403, pUser: pg403, pOps: pg403, pRenewals: pg403, pSupport: pg403, pSuperadmin: pgOK}
	for _, r := range roles {
		out[staffPrincipal[r]] = pgOK
	}
	return out
}

func (a pageAccess) but(caller string, c pageClass) pageAccess {
	return handlerstest.Override(a, caller, c)
}

// pageAuthz is the portal's authorization matrix: one row per page route, keyed "METHOD /path".
// TestAuthorizationMatrix (the API's, with bearer tokens) leaves these routes to this one.
var pageAuthz = map[string]pageAccess{
	"GET /":                   pageAnyone,
	"GET /signup":             pageAnyone,
	"GET /signup/check-mail":  pageAnyone,
	"POST /signup":            pageAnyone,
	"GET /login":              pageAnyone,
	"POST /login":             pageAnyone,
	"POST /logout":            pageSignedIn,
	"GET /forgot-password":    pageAnyone,
	"POST /forgot-password":   pageAnyone,
	"GET /account":            pageSignedIn,
	"POST /account/password":  pageSignedIn,
	"GET /registration-help":  pageAnyone,
	"POST /registration-help": pageAnyone,
	"GET /recover":            pageAnyone,
	"POST /recover":           pageAnyone,
	"GET /register":           pageSignedIn,
	"GET /register/done":      pageSignedIn,
	// An unverified address cannot register (403 email_unverified, said on the page).
	"POST /register":              pageSignedIn.but(pUnverified, pg403),
	"POST /requests/:id/withdraw": pageSignedIn,
	"GET /licenses":               pageSignedIn,
	"GET /licenses/:ln/requests":  pageSignedIn, // the letter's link: a redirect to the members page
	// A license of which the caller is not a member: staff of any role may look; admin pages
	// admit staff support (and superadmin), who act as admin on any license.
	"GET /licenses/:ln":                     pageStaff(models.RoleOps, models.RoleRenewals, models.RoleSupport),
	"GET /licenses/:ln/members":             pageStaff(models.RoleSupport),
	"POST /licenses/:ln/members":            pageStaff(models.RoleSupport),
	"POST /licenses/:ln/members/remove":     pageStaff(models.RoleSupport),
	"POST /licenses/:ln/invitations/cancel": pageStaff(models.RoleSupport),
	// The catalogue: staff ops.
	"GET /staff/products":                               pageStaff(models.RoleOps),
	"POST /staff/products":                              pageStaff(models.RoleOps),
	"POST /staff/products/:sku/versions":                pageStaff(models.RoleOps),
	"POST /staff/products/:sku/versions/:version/phase": pageStaff(models.RoleOps),
	// What only the API and the CLI did: staff superadmin.
	"GET /staff/users":                        pageStaff(models.RoleSuperadmin),
	"POST /staff/users":                       pageStaff(models.RoleSuperadmin),
	"GET /staff/api-keys":                     pageStaff(models.RoleSuperadmin),
	"POST /staff/api-keys":                    pageStaff(models.RoleSuperadmin),
	"POST /staff/api-keys/:id/revoke":         pageStaff(models.RoleSuperadmin),
	"GET /staff/audit":                        pageStaff(models.RoleSuperadmin),
	"POST /licenses/:ln/requests/:id/approve": pageStaff(models.RoleSupport),
	"POST /licenses/:ln/requests/:id/reject":  pageStaff(models.RoleSupport),
	"GET /licenses/:ln/audit":                 pageStaff(models.RoleSupport),
	// License keys: License Users and admins of the license (staff support as admin) see and
	// release them; only a License User takes one, so no one may on a license they are not on.
	"GET /licenses/:ln/keys":              pageStaff(models.RoleSupport),
	"POST /licenses/:ln/keys":             pageStaff().but(pSuperadmin, pg403),
	"GET /licenses/:ln/keys/:id":          pageStaff(models.RoleSupport),
	"POST /licenses/:ln/keys/:id/release": pageStaff(models.RoleSupport),
	"GET /staff/help":                     pageStaff(models.RoleSupport),
	"POST /staff/help/:id/resolve":        pageStaff(models.RoleSupport),
	"POST /staff/help/:id/make-admin":     pageStaff(models.RoleSupport),
	"GET /renewals":                       pageStaff(models.RoleRenewals),
	"GET /renewals.csv":                   pageStaff(models.RoleRenewals),
	"GET /contracts/:id":                  pageStaff(models.RoleRenewals),
	"POST /contracts/:id/:action":         pageStaff(models.RoleRenewals),
	// The renewal pipeline's pages: renewal staff.
	"POST /renewals/bulk":                     pageStaff(models.RoleRenewals),
	"GET /staff/accounts/:account_id":         pageStaff(models.RoleRenewals),
	"POST /staff/accounts/:account_id/coterm": pageStaff(models.RoleRenewals),
	// Webhook endpoints: staff superadmin only.
	"GET /staff/webhooks":                                 pageStaff(),
	"POST /staff/webhooks":                                pageStaff(),
	"GET /staff/webhooks/:id":                             pageStaff(),
	"POST /staff/webhooks/:id/:action":                    pageStaff(),
	"POST /staff/webhooks/:id/deliveries/:delivery/retry": pageStaff(),
	// The second sign-in step and the Security page (pages_security.go).
	"POST /login/mfa":                            pageAnyone,
	"GET /account/security":                      pageSignedIn,
	"POST /account/security/totp":                pageSignedIn,
	"POST /account/security/totp/confirm":        pageSignedIn,
	"POST /account/security/totp/disable":        pageSignedIn,
	"POST /account/security/sessions/:id/revoke": pageSignedIn,
	"POST /account/security/passkeys/options":    pageSignedIn,
	"POST /account/security/passkeys":            pageSignedIn,
	"POST /account/security/passkeys/:id/remove": pageSignedIn,
	"POST /login/mfa/passkey/options":            pageAnyone,
	"POST /login/mfa/passkey":                    pageAnyone,
}

// TestPortal_AuthorizationMatrix opens every page route as every kind of caller, signed in with
// the session cookie and posting with a valid CSRF token, and checks the class of each answer.
// A page route without a row fails the test.
func TestPortal_AuthorizationMatrix(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	routes := handlerstest.MatrixRoutes(t, a.Handler, pageAuthz, "pageAuthz (handlers/pages/portal_test.go)", func(key, path string) bool {
		return publicRoutes[key] || !isPageRoute(path)
	})
	// Logging out ends the session the rest needs: it goes last.
	sort.SliceStable(routes, func(i, j int) bool {
		if (routes[i] == "POST /logout") != (routes[j] == "POST /logout") {
			return routes[j] == "POST /logout"
		}
		return routes[i] < routes[j]
	})
	users := map[string]*handlerstest.User{pUnverified: a.NewUnverifiedUser(t), pUser: a.NewUser(t)}
	for role, p := range staffPrincipal {
		users[p] = a.NewStaff(t, role)
	}
	form := url.Values{"email": {"nobody@example.test"}, "password": {"not the password 123"}, "license_number": {pathParams["ln"]},
		"name": {"Someone"}, "message": {"help"}, "roles": {"support"}, "current_password": {"not the password 123"}}
	for _, caller := range pageCallers {
		b := a.Browser()
		if u := users[caller]; u != nil {
			b.Login(t, u.Email, u.Password)
		}
		b.Get(t, "/account") // a page with forms: the CSRF token of this browser
		for _, key := range routes {
			method, path, _ := strings.Cut(key, " ")
			var p *handlerstest.Page
			if method == http.MethodPost {
				f := url.Values{}
				for k, v := range form {
					f[k] = v
				}
				p = b.Submit(t, dummyPath(path), f)
			} else {
				p = b.Get(t, dummyPath(path))
			}
			got := pgOK
			switch {
			case p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/login?next="):
				got = pgLogin
			case p.Status == http.StatusForbidden:
				got = pg403
			}
			if want := pageAuthz[key][caller]; got != want {
				t.Errorf("%s as %s: got %s, want %s", key, caller, p, want)
			} else if p.Status >= 500 {
				t.Errorf("%s as %s: %s", key, caller, p)
			}
		}
	}
}

// A License User takes a key for a machine from the license's page, sees it again without taking
// another seat, is told in words when a version or a seat is not to be had, and releases a
// machine's key after confirming.
func TestPortal_LicenseKeys(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.NewStaff(t, models.RoleOps)
		ln, _, _ := a.supportedLicenseUnregistered(t, ops.Token, map[string]any{"program": "standard", "starts_on": "2025-01-01", "ends_on": "2025-12-31"})
		// Quantity 3; version 3.0 (2026-02-01) came after support ended.
		admin := a.NewUser(t)
		want(t, a.Register(t, admin.Token, map[string]any{"license_number": ln}), http.StatusCreated)
		b := a.SignedIn(t, admin)
		keys := "/licenses/" + ln + "/keys"
		wantPage(t, b.Get(t, "/licenses/"+ln), http.StatusOK, `href="`+keys+`"`, "License keys")
		p := b.Get(t, keys)
		wantPage(t, p, http.StatusOK, "Get a key for a machine", `<label for="key-fp">Machine fingerprint</label>`, "0 of 3 seats used", "No machine has a key yet.",
			`<option value="3.0" disabled>3.0 — not available</option>`)

		form := url.Values{"hostname": {"build-01.example.com"}, "fingerprint": {"fp-0001-aaaa"}, "version": {"2.0"}}
		// Post/Redirect/Get: the key has a page of its own; a reload shows the same key again and
		// signs nothing.
		issued := b.Submit(t, keys, form)
		if issued.Status != http.StatusSeeOther || !strings.HasPrefix(issued.Location, keys+"/") {
			t.Fatalf("a key request answers %s, want 303 to the key's page", issued)
		}
		p = b.Follow(t, issued)
		wantPage(t, p, http.StatusOK, "A new key for", "build-01.example.com", `id="license-key"`, "Paste it into the product")
		keyOn := func(p *handlerstest.Page) string {
			t.Helper()
			token := regexp.MustCompile(`readonly aria-describedby="key-hint">([^<]+)<`).FindStringSubmatch(p.Body)
			if token == nil || strings.Count(token[1], ".") != 2 {
				t.Fatalf("no key on the page:\n%s", p)
			}
			return token[1]
		}
		token := keyOn(p)
		reloaded := b.Get(t, issued.Location)
		if got := keyOn(reloaded); got != token || strings.Contains(reloaded.Body, "A new key for") {
			t.Errorf("a reload of the key's page shows another key or says it is new again")
		}
		again := b.Follow(t, b.Submit(t, keys, form))
		wantPage(t, again, http.StatusOK, "no new seat was taken")
		wantPage(t, b.Get(t, keys), http.StatusOK, "1 of 3 seats used", "fp-0001-aaaa", `href="`+issued.Location+`">Show key`, "Release…", admin.Email)
		wantPage(t, b.Get(t, keys+"/999999"), http.StatusNotFound)

		f := url.Values{"hostname": {"build-02.example.com"}, "fingerprint": {"fp-0002-bbbb"}, "version": {"3.0"}}
		wantPage(t, b.Submit(t, keys, f), http.StatusForbidden, "Version 3.0: Released after support ended on 2025-12-31")
		f.Set("fingerprint", "x")
		wantPage(t, b.Submit(t, keys, f), http.StatusBadRequest, "The fingerprint must be 8 to 128 printable ASCII characters.")
		for i, fp := range []string{"fp-0002-bbbb", "fp-0003-cccc"} {
			want := http.StatusSeeOther
			wantPage(t, b.Submit(t, keys, url.Values{"hostname": {fmt.Sprintf("build-0%d.example.com", i+2)}, "fingerprint": {fp}, "version": {"2.0"}}), want)
		}
		wantPage(t, b.Submit(t, keys, url.Values{"hostname": {"build-04.example.com"}, "fingerprint": {"fp-0004-dddd"}, "version": {"2.0"}}),
			http.StatusConflict, "Every seat of this license has a machine already.")

		list := a.Do(t, "GET", "/v1"+keys, admin.Token, nil)
		want(t, list, http.StatusOK)
		id := list.Items()[0]["id"].(string)
		b.Get(t, keys)
		p = b.Submit(t, keys+"/"+id+"/release", url.Values{"hostname": {"build-01.example.com"}})
		wantPage(t, p, http.StatusOK, "Release the license key of build-01.example.com?", "Yes, release")
		p = b.Submit(t, keys+"/"+id+"/release", url.Values{"hostname": {"build-01.example.com"}, "confirm": {"yes"}})
		wantPage(t, b.Follow(t, p), http.StatusOK, "The license key of build-01.example.com is released.", "2 of 3 seats used")

		// A member without the License User role sees no form; a stranger sees nothing.
		supportOnly := a.NewUser(t)
		want(t, a.Do(t, "PUT", "/v1/licenses/"+ln+"/members/"+supportOnly.Email, admin.Token, map[string]any{"roles": []string{"support"}}), http.StatusOK)
		wantPage(t, a.SignedIn(t, supportOnly).Get(t, keys), http.StatusForbidden, "license or admin role")
		wantPage(t, a.SignedIn(t, a.NewUser(t)).Get(t, keys), http.StatusForbidden, "You are not a member")
	})
}

// With ENTITLED_DOWNLOADS_URL and ENTITLED_CASES_URL, the license page links "Download the
// software" and "Open support cases" (and each downloadable version) to them, where allowed.
func TestPortal_LicensePageLinksToDownloadsAndCases(t *testing.T) {
	a := &testApp{handlerstest.NewApp(t, store.SQLite, func(d handlerstest.Deps) (http.Handler, error) {
		d.DownloadsURL, d.CasesURL = "https://downloads.example.com/", "https://cases.example.com/new"
		return handlers.New(handlers.Deps(d))
	})}
	ops := a.NewStaff(t, models.RoleOps)
	ln, _, _ := a.supportedLicenseUnregistered(t, ops.Token, map[string]any{"program": "standard", "starts_on": "2026-01-01", "ends_on": "2026-12-31"})
	admin := a.NewUser(t)
	want(t, a.Register(t, admin.Token, map[string]any{"license_number": ln}), http.StatusCreated)
	wantPage(t, a.SignedIn(t, admin).Get(t, "/licenses/"+ln), http.StatusOK,
		`<a href="https://downloads.example.com/">Download the software</a>`, `<a href="https://cases.example.com/new">Open support cases</a>`,
		`✓ Yes</span> <a href="https://downloads.example.com/">Download</a>`)
	// Without them, no links.
	b := newTestApp(t, store.SQLite)
	ops = b.NewStaff(t, models.RoleOps)
	ln, _, _ = b.supportedLicenseUnregistered(t, ops.Token, map[string]any{"program": "standard", "starts_on": "2026-01-01", "ends_on": "2026-12-31"})
	admin = b.NewUser(t)
	want(t, b.Register(t, admin.Token, map[string]any{"license_number": ln}), http.StatusCreated)
	if page := b.SignedIn(t, admin).Get(t, "/licenses/"+ln); strings.Contains(page.Body, "downloads.example.com") || strings.Contains(page.Body, ">Open support cases</a>") {
		t.Error("links without the settings")
	}
}
