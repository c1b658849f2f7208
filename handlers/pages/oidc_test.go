package pages_test

// Staff single sign-on (OpenID Connect, contract: "Second factor and staff single sign-on")
// against a real OpenID provider on loopback (oidc_idp_test.go), through the real router on both
// dialects, driven by a plain HTTP client with a cookie jar as a browser would drive it: the
// sign-in page's button, /auth/oidc/start, the IdP, /auth/oidc/callback, the session.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"entitled/handlers/handlerstest"
	"entitled/handlers/sso"
	"entitled/models"
	dbstore "entitled/models/store"
)

// ssoBrowser is one browser: its own cookies, redirects looked at one by one.
type ssoBrowser struct {
	t      testing.TB
	a      *testApp
	jar    *browserJar
	client *http.Client
}

func (a *testApp) ssoBrowser(t testing.TB) *ssoBrowser {
	jar := newBrowserJar()
	return &ssoBrowser{t: t, a: a, jar: jar, client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// hop is one answer.
type hop struct {
	status   int
	location string
	body     string
	header   http.Header
}

// get fetches one URL; the server's public URL (ENTITLED_BASE_URL) is the test server's.
func (b *ssoBrowser) get(raw string) hop {
	b.t.Helper()
	if rest, ok := strings.CutPrefix(raw, handlerstest.BaseURL); ok {
		raw = b.a.Srv.URL + rest
	}
	res, err := b.client.Get(raw)
	if err != nil {
		b.t.Fatalf("GET %s: %v", raw, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return hop{status: res.StatusCode, location: res.Header.Get("Location"), body: string(body), header: res.Header}
}

// start opens /auth/oidc/start and answers the IdP's authorization URL it is sent to.
func (b *ssoBrowser) start(next string) string {
	b.t.Helper()
	h := b.get(b.a.Srv.URL + "/auth/oidc/start?next=" + url.QueryEscape(next))
	if h.status != http.StatusSeeOther {
		b.t.Fatalf("start: got %d, want 303:\n%s", h.status, h.body)
	}
	return h.location
}

// authorize goes to the IdP and answers the callback URL it sends the browser back to.
func (b *ssoBrowser) authorize(authURL string) string {
	b.t.Helper()
	h := b.get(authURL)
	if h.status != http.StatusFound || !strings.HasPrefix(h.location, handlerstest.BaseURL+sso.CallbackPath+"?") {
		b.t.Fatalf("IdP: got %d to %q:\n%s", h.status, h.location, h.body)
	}
	return h.location
}

// signIn goes the whole way, start → IdP → callback, and answers the callback's answer.
func (b *ssoBrowser) signIn(next string) hop {
	b.t.Helper()
	return b.get(b.authorize(b.start(next)))
}

// session is the principal of the browser's session cookie, or nil without a live one.
func (b *ssoBrowser) session() *models.Principal {
	b.t.Helper()
	tok := b.jar.value(sessionCookie)
	if tok == "" {
		return nil
	}
	p, err := b.a.Identity.Authenticate(context.Background(), tok)
	if dbstore.ErrorCode(err) == models.CodeUnauthenticated {
		return nil
	}
	if err != nil {
		b.t.Fatal(err)
	}
	return p
}

// wantSSORefused checks a callback's answer is a page that says why, with no session behind it.
func (b *ssoBrowser) wantSSORefused(h hop, status int, text string) {
	b.t.Helper()
	if h.status != status || !strings.Contains(h.body, text) {
		b.t.Fatalf("got %d (want %d) with a page lacking %q:\n%s", h.status, status, text, h.body)
	}
	if !strings.HasPrefix(h.header.Get("Content-Type"), "text/html") {
		b.t.Fatalf("refusal is %s, not a page", h.header.Get("Content-Type"))
	}
	if p := b.session(); p != nil {
		b.t.Fatalf("refused, yet signed in as %s", p.Email)
	}
}

// withSSO turns single sign-on on against idp; clockAhead, when not nil, moves the relying
// party's clock forward (a sign-in that takes too long).
func withSSO(idp *testIdP, clockAhead *atomic.Int64) handlerstest.Option {
	return func(o *handlerstest.Options) {
		c := idp.config()
		if clockAhead != nil {
			c.Now = func() time.Time { return time.Now().Add(time.Duration(clockAhead.Load())) }
		}
		o.SSO = c
	}
}

func TestSSO_OffWithoutAnIssuer(t *testing.T) {
	a := newTestApp(t, dbstore.SQLite)
	b := a.ssoBrowser(t)
	for _, path := range []string{"/auth/oidc/start", "/auth/oidc/callback?code=x&state=y"} {
		if h := b.get(a.Srv.URL + path); h.status != http.StatusNotFound {
			t.Errorf("%s without ENTITLED_OIDC_ISSUER: got %d, want 404", path, h.status)
		}
	}
	if h := b.get(a.Srv.URL + "/login"); strings.Contains(h.body, "Sign in with") {
		t.Errorf("the sign-in page offers single sign-on that is off:\n%s", h.body)
	}
}

// A person whose IdP groups map to staff roles signs in without a password: the first time a
// staff user is created (email verified, no password), every time the roles are read anew, and
// the user is found again by the IdP's subject.
func TestSSO_SignInCreatesStaffAndRereadsRolesEveryTime(t *testing.T) {
	idp := startIdP(t)
	eachDialect(t, func(t *testing.T, a *testApp) {
		ctx := context.Background()
		b := a.ssoBrowser(t)
		if h := b.get(a.Srv.URL + "/login?next=%2Frenewals"); !strings.Contains(h.body, "Sign in with Example IdP") ||
			!strings.Contains(h.body, `href="/auth/oidc/start?next=%2frenewals"`) {
			t.Fatalf("the sign-in page does not offer single sign-on:\n%s", h.body)
		}

		// First sign-in: a superadmin is created.
		idp.signIn(idpPerson{Sub: "idp|alice", Email: "Alice@Example.test", Name: "Alice Admin", Groups: []string{"eng-admins", "everyone"}})
		authURL := b.start("/renewals")
		q := mustQuery(t, authURL)
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" ||
			q.Get("redirect_uri") != handlerstest.BaseURL+"/auth/oidc/callback" || q.Get("client_id") != idpClientID {
			t.Fatalf("the authorization request lacks PKCE, state, nonce or the callback: %s", authURL)
		}
		c := cookieNamed(readCookies(t, a, "/auth/oidc/start?next=%2F"), sso.CookieName)
		if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 600 || c.Path != "/auth/oidc" {
			t.Fatalf("state cookie %+v: want HttpOnly, Secure (the base URL is https), SameSite=Lax, 10 minutes, on /auth/oidc", c)
		}
		h := b.get(b.authorize(authURL))
		if h.status != http.StatusSeeOther || h.location != "/renewals" {
			t.Fatalf("callback: got %d to %q, want 303 to /renewals:\n%s", h.status, h.location, h.body)
		}
		if b.jar.value(sso.CookieName) != "" {
			t.Error("the state cookie outlives its callback")
		}
		p := b.session()
		if p == nil || p.Email != "alice@example.test" || !p.EmailVerified || strings.Join(p.StaffRoles, ",") != models.RoleSuperadmin || p.Name != "Alice Admin" {
			t.Fatalf("session after the first sign-in: %+v", p)
		}
		// PKCE: the token request carried the verifier of the challenge sent to /authorize.
		vs := idp.verifiersSent()
		sum := sha256.Sum256([]byte(vs[len(vs)-1]))
		if base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge") {
			t.Fatalf("the token request's verifier %q is not the challenge's", vs[len(vs)-1])
		}
		u, err := a.Identity.User(ctx, p.UserID)
		if err != nil {
			t.Fatal(err)
		}
		if u.HasPassword() || u.OIDCSubject != "idp|alice" {
			t.Fatalf("user %+v: want no password and the IdP's subject", u)
		}
		// No password ever matches a user without one, the empty one included.
		for _, pw := range []string{"", handlerstest.Password, "\x00", "$argon2id$"} {
			if _, err := a.Identity.Login(ctx, "alice@example.test", pw, "192.0.2.9", "test"); err == nil {
				t.Fatalf("a password login with %q opened a session for a user without a password", pw)
			}
		}
		// Signed in already, the button leads straight where it was going.
		if h := b.get(a.Srv.URL + "/auth/oidc/start?next=%2Flicenses"); h.status != http.StatusSeeOther || h.location != "/licenses" {
			t.Fatalf("start when signed in: %d to %q", h.status, h.location)
		}
		// Nor can one be had by mail: a reset link would be a way in that the IdP does not control.
		handlerstest.Want(t, a.Do(t, http.MethodPost, "/v1/auth/password/forgot", "", map[string]any{"email": "alice@example.test"}), http.StatusAccepted)
		a.DrainMail(t)
		if n := len(a.Letters(t, "password_reset", "alice@example.test")); n != 0 {
			t.Fatalf("%d password reset letters to a single sign-on user", n)
		}
		if entries, _, err := a.Store.ListAudit(ctx, models.AuditFilter{Action: "user.signed_in_sso", SubjectID: strconv.FormatInt(p.UserID, 10)}, models.Page{Limit: 10}); err != nil || len(entries) != 1 {
			t.Fatalf("audit of the sign-in: %v, %v", entries, err)
		}

		// Second sign-in, in another browser: the IdP now says renewals (superadmin taken away)
		// and a new email; the same user is found by the subject, with the new roles only. The
		// first browser's session sees the change at once.
		idp.signIn(idpPerson{Sub: "idp|alice", Email: "alice.admin@example.test", Name: "Alice", Groups: "renewals-team"})
		b2 := a.ssoBrowser(t)
		if h := b2.signIn("/"); h.status != http.StatusSeeOther {
			t.Fatalf("second sign-in: got %d:\n%s", h.status, h.body)
		}
		p2 := b2.session()
		if p2 == nil || p2.UserID != p.UserID || p2.Email != "alice.admin@example.test" || strings.Join(p2.StaffRoles, ",") != models.RoleRenewals {
			t.Fatalf("second sign-in: %+v, want user %d with renewals only", p2, p.UserID)
		}
		if p1 := b.session(); p1 == nil || strings.Join(p1.StaffRoles, ",") != models.RoleRenewals {
			t.Fatalf("the first session still has %+v after the IdP took superadmin away", p1)
		}
		if h := b.get(a.Srv.URL + "/staff/users"); h.status != http.StatusForbidden {
			t.Fatalf("the superadmin page after superadmin was taken away: got %d", h.status)
		}

		// Third sign-in: no group maps to a role any more. Refused, and the user loses every
		// staff role and every session.
		idp.signIn(idpPerson{Sub: "idp|alice", Email: "alice.admin@example.test", Groups: []string{"everyone"}})
		b3 := a.ssoBrowser(t)
		b3.wantSSORefused(b3.signIn("/"), http.StatusForbidden, "grants you no role here")
		if b.session() != nil || b2.session() != nil {
			t.Fatal("sessions outlive the last role the IdP gave")
		}
		if u, _ := a.Identity.User(ctx, p.UserID); u.StaffRoles != "" {
			t.Fatalf("roles %q remain after the IdP took every one away", u.StaffRoles)
		}

		// Someone new without a mapped role gets no user at all.
		idp.signIn(idpPerson{Sub: "idp|bob", Email: "bob@example.test", Groups: nil})
		b4 := a.ssoBrowser(t)
		b4.wantSSORefused(b4.signIn("/"), http.StatusForbidden, "grants you no role here")
		if users, _, _ := a.Identity.FindUsers(ctx, "bob@", models.Page{Limit: 5}); len(users) != 0 {
			t.Fatalf("a person with no role got a user: %+v", users)
		}
	}, withSSO(idp, nil))
}

// An IdP person whose email belongs to a user who signs in with a password is refused: the two
// are never merged, and the password user stays as they were.
func TestSSO_EmailOfAnotherUserIsRefused(t *testing.T) {
	idp := startIdP(t)
	eachDialect(t, func(t *testing.T, a *testApp) {
		ctx := context.Background()
		staff, _, err := a.Identity.PutStaff(ctx, models.StaffInput{Email: "carol@example.test", Roles: []string{models.RoleOps}, Password: handlerstest.Password},
			models.SystemActor("test"))
		if err != nil {
			t.Fatal(err)
		}
		idp.signIn(idpPerson{Sub: "idp|mallory", Email: "CAROL@example.test", Groups: []string{"eng-admins"}})
		b := a.ssoBrowser(t)
		b.wantSSORefused(b.signIn("/"), http.StatusConflict, "belongs to an account that signs in with a password")
		u, err := a.Identity.User(ctx, staff.ID)
		if err != nil || u.OIDCSubject != "" || u.StaffRoles != models.RoleOps {
			t.Fatalf("the password user changed: %+v, %v", u, err)
		}
		// An SSO user whose IdP email becomes a taken one is refused likewise.
		idp.signIn(idpPerson{Sub: "idp|dave", Email: "dave@example.test", Groups: []string{"support-team"}})
		if h := a.ssoBrowser(t).signIn("/"); h.status != http.StatusSeeOther {
			t.Fatalf("dave's first sign-in: %d\n%s", h.status, h.body)
		}
		idp.signIn(idpPerson{Sub: "idp|dave", Email: "carol@example.test", Groups: []string{"support-team"}})
		b2 := a.ssoBrowser(t)
		b2.wantSSORefused(b2.signIn("/"), http.StatusConflict, "belongs to an account that signs in with a password")
	}, withSSO(idp, nil))
}

// The attacks of issue 25 ("Staff SSO") on the callback, each from its own browser. None may
// end in a session.
func TestSSO_Attacks(t *testing.T) {
	idp := startIdP(t)
	ahead := new(atomic.Int64)
	tried, accepted := 0, 0
	eachDialect(t, func(t *testing.T, a *testApp) {
		honest := idpPerson{Sub: "idp|erin", Email: "erin@example.test", Name: "Erin", Groups: []string{"eng-admins"}}
		idp.signIn(honest)
		// bent is an attack by the IdP's answer: the next ID token's claims changed and signed as said.
		bent := func(claims func(jwt.MapClaims), signing string) func(t *testing.T) (*ssoBrowser, hop) {
			return func(t *testing.T) (*ssoBrowser, hop) {
				b := a.ssoBrowser(t)
				cb := b.authorize(b.start("/"))
				idp.bend(claims, signing)
				return b, b.get(cb)
			}
		}
		// callback is an attack on the way back: the browser's callback URL (and jar) changed.
		callback := func(change func(t *testing.T, b *ssoBrowser, cb string) (*ssoBrowser, string)) func(t *testing.T) (*ssoBrowser, hop) {
			return func(t *testing.T) (*ssoBrowser, hop) {
				b := a.ssoBrowser(t)
				b, cb := change(t, b, b.authorize(b.start("/")))
				return b, b.get(cb)
			}
		}
		attacks := []struct {
			name   string
			run    func(t *testing.T) (*ssoBrowser, hop) // the browser whose session would be the attacker's gain
			status int
			text   string
		}{
			{"wrong state", callback(func(t *testing.T, b *ssoBrowser, cb string) (*ssoBrowser, string) {
				return b, withParam(t, cb, "state", randomText())
			}), http.StatusBadRequest, "could not be matched"},
			{"missing state", callback(func(t *testing.T, b *ssoBrowser, cb string) (*ssoBrowser, string) {
				return b, withParam(t, cb, "state", "")
			}), http.StatusBadRequest, "could not be matched"},
			{"callback in a browser that did not start it (no state cookie)", callback(func(t *testing.T, b *ssoBrowser, cb string) (*ssoBrowser, string) {
				return a.ssoBrowser(t), cb
			}), http.StatusBadRequest, "could not be matched"},
			{"another browser's state cookie", callback(func(t *testing.T, b *ssoBrowser, cb string) (*ssoBrowser, string) {
				other := a.ssoBrowser(t)
				other.start("/")
				b.jar.set(sso.CookieName, other.jar.value(sso.CookieName), "/auth/oidc")
				return b, cb
			}), http.StatusBadRequest, "could not be matched"},
			{"tampered state cookie", callback(func(t *testing.T, b *ssoBrowser, cb string) (*ssoBrowser, string) {
				v := []byte(b.jar.value(sso.CookieName))
				v[len(v)/2] ^= 1
				b.jar.set(sso.CookieName, string(v), "/auth/oidc")
				return b, cb
			}), http.StatusBadRequest, "could not be matched"},
			{"state older than 10 minutes", func(t *testing.T) (*ssoBrowser, hop) {
				b := a.ssoBrowser(t)
				cb := b.authorize(b.start("/"))
				ahead.Store(int64(sso.StateTTL + time.Minute))
				defer ahead.Store(0)
				return b, b.get(cb)
			}, http.StatusBadRequest, "could not be matched"},
			{"IdP error with the right state", callback(func(t *testing.T, b *ssoBrowser, cb string) (*ssoBrowser, string) {
				return b, withParam(t, withParam(t, cb, "code", ""), "error", "access_denied")
			}), http.StatusForbidden, "did not sign you in"},
			{"missing nonce", bent(func(c jwt.MapClaims) { delete(c, "nonce") }, signRS256), http.StatusUnauthorized, "could not be verified"},
			{"wrong nonce", bent(func(c jwt.MapClaims) { c["nonce"] = randomText() }, signRS256), http.StatusUnauthorized, "could not be verified"},
			{"ID token from another issuer", bent(func(c jwt.MapClaims) { c["iss"] = "https://evil.example.test" }, signRS256), http.StatusUnauthorized, "could not be verified"},
			{"ID token for another audience", bent(func(c jwt.MapClaims) { c["aud"] = "another-client" }, signRS256), http.StatusUnauthorized, "could not be verified"},
			{"expired ID token", bent(func(c jwt.MapClaims) {
				c["iat"], c["exp"] = time.Now().Add(-time.Hour).Unix(), time.Now().Add(-time.Minute).Unix()
			}, signRS256), http.StatusUnauthorized, "could not be verified"},
			{"alg none", bent(nil, signNone), http.StatusUnauthorized, "could not be verified"},
			{"signed with an unknown key", bent(nil, signUnknownKey), http.StatusUnauthorized, "could not be verified"},
			{"signed with another key under the published key id", bent(nil, signForgedKid), http.StatusUnauthorized, "could not be verified"},
			{"email the IdP does not vouch for", bent(func(c jwt.MapClaims) { c["email_verified"] = false }, signRS256), http.StatusBadRequest, "lacks what a sign-in needs"},
			{"roles claim of the wrong type", bent(func(c jwt.MapClaims) { c["groups"] = map[string]any{"eng-admins": true} }, signRS256), http.StatusBadRequest, "lacks what a sign-in needs"},
			{"code replayed with the state cookie kept", func(t *testing.T) (*ssoBrowser, hop) {
				b := a.ssoBrowser(t)
				cb := b.authorize(b.start("/"))
				kept := b.jar.value(sso.CookieName)
				if h := b.get(cb); h.status != http.StatusSeeOther {
					t.Fatalf("the honest sign-in failed: %d\n%s", h.status, h.body)
				}
				attacker := a.ssoBrowser(t)
				attacker.jar.set(sso.CookieName, kept, "/auth/oidc")
				return attacker, attacker.get(cb)
			}, http.StatusBadRequest, "refused this sign-in"},
			{"another sign-in's code under this browser's state (PKCE)", func(t *testing.T) (*ssoBrowser, hop) {
				b := a.ssoBrowser(t)
				own := b.authorize(b.start("/"))
				other := a.ssoBrowser(t)
				stolen := mustQuery(t, other.authorize(other.start("/"))).Get("code")
				return b, b.get(withParam(t, own, "code", stolen))
			}, http.StatusBadRequest, "refused this sign-in"},
		}
		for _, at := range attacks {
			t.Run(at.name, func(t *testing.T) {
				defer idp.bend(nil, signRS256)
				tried++
				b, h := at.run(t)
				if h.status == http.StatusSeeOther || b.session() != nil {
					accepted++
				}
				b.wantSSORefused(h, at.status, at.text)
			})
		}
		// After every attack, the honest sign-in still works.
		if h := a.ssoBrowser(t).signIn("/"); h.status != http.StatusSeeOther {
			t.Fatalf("honest sign-in after the attacks: %d\n%s", h.status, h.body)
		}
	}, withSSO(idp, ahead))
	t.Logf("staff SSO attacks: %d tried, %d accepted", tried, accepted)
	if accepted != 0 {
		t.Errorf("%d of %d attacks signed someone in", accepted, tried)
	}
}

// An IdP that is down makes a clear page, never a 500, and never keeps the server from starting:
// discovery is tried at the first sign-in and again after a failure.
func TestSSO_IdPDown(t *testing.T) {
	idp := startIdP(t)
	idp.down.Store(true) // down before the server starts: it starts all the same
	eachDialect(t, func(t *testing.T, a *testApp) {
		idp.down.Store(true)
		b := a.ssoBrowser(t)
		h := b.get(a.Srv.URL + "/auth/oidc/start")
		b.wantSSORefused(h, http.StatusBadGateway, "cannot be reached just now")

		// Back up: the next sign-in discovers it.
		idp.down.Store(false)
		idp.signIn(idpPerson{Sub: "idp|frank", Email: "frank@example.test", Groups: []string{"renewals-team"}})
		cb := b.authorize(b.start("/"))

		// The token endpoint goes down between the IdP's redirect and the callback.
		idp.tokenDown.Store(true)
		b.wantSSORefused(b.get(cb), http.StatusBadGateway, "cannot be reached just now")
		idp.tokenDown.Store(false)
		if h := b.signIn("/"); h.status != http.StatusSeeOther {
			t.Fatalf("sign-in once the IdP is back: %d\n%s", h.status, h.body)
		}
	}, withSSO(idp, nil))
}

func mustQuery(t testing.TB, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// withParam is raw with a query parameter set ("" removes it).
func withParam(t testing.TB, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if value == "" {
		q.Del(key)
	} else {
		q.Set(key, value)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// readCookies are the cookies a fresh browser is given by GET path.
func readCookies(t testing.TB, a *testApp, path string) []*http.Cookie {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(a.Srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.Cookies()
}

// The single sign-on routes, as every kind of caller: anyone may start a sign-in (someone
// signed in already just goes on), and a callback without this browser's state is refused alike
// for everyone, with no session opened or changed.
func TestSSO_RoutesForEveryCaller(t *testing.T) {
	idp := startIdP(t)
	a := newTestApp(t, dbstore.SQLite, withSSO(idp, nil))
	callers := map[string]string{pAnonymous: "", pUser: a.NewUser(t).Token}
	for role, name := range staffPrincipal {
		callers[name] = a.NewStaff(t, role).Token
	}
	routes := 0
	for _, r := range a.Handler.(interface{ Routes() gin.RoutesInfo }).Routes() {
		if strings.HasPrefix(r.Path, "/auth/oidc/") {
			routes++
		}
	}
	if routes != 2 {
		t.Fatalf("%d single sign-on routes, want 2 (start and callback): each needs a row here", routes)
	}
	for name, tok := range callers {
		b := a.ssoBrowser(t)
		if tok != "" {
			b.jar.set(sessionCookie, tok, "/")
		}
		h := b.get(a.Srv.URL + "/auth/oidc/start?next=%2Flicenses")
		switch {
		case tok == "" && (h.status != http.StatusSeeOther || !strings.HasPrefix(h.location, idp.Issuer+"/authorize?")):
			t.Errorf("%s: start got %d to %q, want 303 to the IdP", name, h.status, h.location)
		case tok != "" && (h.status != http.StatusSeeOther || h.location != "/licenses"):
			t.Errorf("%s: start got %d to %q, want 303 to /licenses", name, h.status, h.location)
		}
		h = b.get(a.Srv.URL + "/auth/oidc/callback?code=x&state=y")
		if h.status != http.StatusBadRequest || !strings.Contains(h.body, "could not be matched") {
			t.Errorf("%s: callback without a state cookie got %d", name, h.status)
		}
		if tok != "" && b.jar.value(sessionCookie) != tok {
			t.Errorf("%s: a refused callback changed the session", name)
		}
	}
}

// BenchmarkSSO_SignIn is one whole sign-in as a browser makes it (start, the IdP's redirect, the
// callback with its code exchange, ID token verification and session transaction) on SQLite,
// against the loopback IdP.
func BenchmarkSSO_SignIn(b *testing.B) {
	idp := startIdP(b)
	a := newTestApp(b, dbstore.SQLite, withSSO(idp, nil))
	idp.signIn(idpPerson{Sub: "idp|bench", Email: "bench@example.test", Groups: []string{"renewals-team"}})
	for b.Loop() {
		br := a.ssoBrowser(b)
		if h := br.signIn("/"); h.status != http.StatusSeeOther {
			b.Fatalf("sign-in: %d\n%s", h.status, h.body)
		}
	}
}

// Single sign-on staff have no password, so ENTITLED_STAFF_MFA=required does not hold them up:
// their identity provider owns their factors.
func TestSSO_StaffSkipRequiredMFA(t *testing.T) {
	idp := startIdP(t)
	eachDialect(t, func(t *testing.T, a *testApp) {
		idp.signIn(idpPerson{Sub: "idp|gina", Email: "gina@example.test", Groups: []string{"renewals-team"}})
		b := a.ssoBrowser(t)
		if h := b.signIn("/renewals"); h.status != http.StatusSeeOther || h.location != "/renewals" {
			t.Fatalf("sign-in: %d to %q\n%s", h.status, h.location, h.body)
		}
		if p := b.session(); p == nil || p.MFAEnrolmentRequired {
			t.Fatalf("session %+v: want one that needs no enrolment", p)
		}
		if h := b.get(a.Srv.URL + "/renewals"); h.status != http.StatusOK {
			t.Fatalf("/renewals for single sign-on staff under ENTITLED_STAFF_MFA=required: %d", h.status)
		}
	}, withSSO(idp, nil), func(o *handlerstest.Options) { o.StaffMFA = models.StaffMFARequired })
}
