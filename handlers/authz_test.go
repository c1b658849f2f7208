package handlers

// The authorization matrix: every route of the real router × every kind of caller, with the
// class of answer each gets. The list of routes comes from the router itself, so a route added
// without a row here fails TestAuthorizationMatrix: whoever adds a route says who may call it.

import (
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"entitled/handlers/handlerstest"
	"entitled/models"
	"entitled/models/store"
)

// class is what a caller gets from a route's guard: 401 (no or bad credentials), 403
// (authenticated, not allowed) or ok (anything else: the guard let the request through, and the
// handler may still refuse the dummy input with 400, 404, 422…, but not 5xx).
type class string

const (
	c401 class = "401"
	c403 class = "403"
	cOK  class = "ok"
)

// The callers of the matrix.
const (
	pAnonymous   = "anonymous"
	pBadToken    = "bad token"
	pUnverified  = "unverified user"
	pUser        = "verified user"
	pOps         = "staff ops"
	pRenewals    = "staff renewals"
	pSupport     = "staff support"
	pSuperadmin  = "staff superadmin"
	pKeyOrders   = "key orders:write"
	pKeyIntro    = "key entitlements:introspect"
	pKeyRenewals = "key renewals:read"
)

var principals = []string{pAnonymous, pBadToken, pUnverified, pUser, pOps, pRenewals, pSupport, pSuperadmin, pKeyOrders, pKeyIntro, pKeyRenewals}

var staffPrincipal = map[string]string{
	models.RoleOps: pOps, models.RoleRenewals: pRenewals, models.RoleSupport: pSupport, models.RoleSuperadmin: pSuperadmin,
}

var keyPrincipal = map[string]string{
	models.ScopeOrdersWrite: pKeyOrders, models.ScopeEntitlementsIntrospect: pKeyIntro, models.ScopeRenewalsRead: pKeyRenewals,
}

// access is the expected class of every caller of one route.
type access map[string]class

// only admits the named callers: everyone else is 401 without (valid) credentials, 403 with them.
func only(names ...string) access {
	a := access{}
	for _, p := range principals {
		switch {
		case slices.Contains(names, p):
			a[p] = cOK
		case p == pAnonymous || p == pBadToken:
			a[p] = c401
		default:
			a[p] = c403
		}
	}
	return a
}

var (
	// anyone: a public route; it does not even look at credentials.
	anyone = func() access {
		a := access{}
		for _, p := range principals {
			a[p] = cOK
		}
		return a
	}()
	// users: any person with a session, verified or not, customer or staff. Not API keys.
	users = only(pUnverified, pUser, pOps, pRenewals, pSupport, pSuperadmin)
	// superadmin: staff superadmin only.
	superadmin = staffOnly(models.RoleSuperadmin)
)

// staffOnly admits staff with any of the roles, and superadmin, who may do what any staff may.
func staffOnly(roles ...string) access {
	names := []string{pSuperadmin}
	for _, r := range roles {
		names = append(names, staffPrincipal[r])
	}
	return only(names...)
}

// key admits API keys with the scope.
func key(s string) access { return only(keyPrincipal[s]) }

// or admits whoever either admits.
func (a access) or(b access) access {
	out := access{}
	for p, c := range a {
		out[p] = c
		if b[p] == cOK {
			out[p] = cOK
		}
	}
	return out
}

// but overrides the class of one caller (an unverified user's 403 email_unverified, …).
func (a access) but(p string, c class) access { return override(a, p, c) }

// authzTable: one row per route, keyed "METHOD /gin/path".
var authzTable = map[string]access{
	"POST /v1/auth/signup":          anyone,
	"POST /v1/auth/verify":          anyone,
	"POST /v1/auth/login":           anyone,
	"POST /v1/auth/logout":          users,
	"POST /v1/auth/password/forgot": anyone,
	"POST /v1/auth/password/reset":  anyone,
	"POST /v1/me/password":          users,
	"GET /v1/me":                    users,
	"POST /v1/auth/login/mfa":       anyone,
	"POST /v1/me/mfa/totp":          users,
	"POST /v1/me/mfa/totp/confirm":  users,
	"DELETE /v1/me/mfa/totp":        users,
	"GET /v1/me/sessions":           users,
	"DELETE /v1/me/sessions/:id":    users,

	"GET /v1/users":           staffOnly(models.RoleSupport),
	"GET /v1/staff":           superadmin,
	"POST /v1/staff":          superadmin,
	"GET /v1/api-keys":        superadmin,
	"POST /v1/api-keys":       superadmin,
	"DELETE /v1/api-keys/:id": superadmin,
	"GET /v1/audit":           superadmin,

	"POST /v1/webhooks":                                   superadmin,
	"GET /v1/webhooks":                                    superadmin,
	"GET /v1/webhooks/:id":                                superadmin,
	"PATCH /v1/webhooks/:id":                              superadmin,
	"DELETE /v1/webhooks/:id":                             superadmin,
	"POST /v1/webhooks/:id/rotate-secret":                 superadmin,
	"POST /v1/webhooks/:id/ping":                          superadmin,
	"GET /v1/webhooks/:id/deliveries":                     superadmin,
	"POST /v1/webhooks/:id/deliveries/:delivery_id/retry": superadmin,

	"POST /v1/products":                         staffOnly(models.RoleOps),
	"GET /v1/products":                          users,
	"GET /v1/products/:sku":                     users,
	"POST /v1/products/:sku/versions":           staffOnly(models.RoleOps),
	"PATCH /v1/products/:sku/versions/:version": staffOnly(models.RoleOps),
	"POST /v1/orders":                           staffOnly(models.RoleOps).or(key(models.ScopeOrdersWrite)),
	"PATCH /v1/accounts/:account_id":            staffOnly(models.RoleOps, models.RoleRenewals),
	"POST /v1/accounts/recover":                 anyone,
	// A license of which the caller is not a member (the dummy License Number): staff of any
	// role may see it, customers are 403 not_a_member.
	"GET /v1/licenses/:ln": staffOnly(models.RoleOps, models.RoleRenewals, models.RoleSupport),
	// Admin routes of that license: staff support (and superadmin) act as admin on any license;
	// everyone else who is not its admin is 403 (not_a_member).
	"GET /v1/licenses/:ln/members":               staffOnly(models.RoleSupport),
	"PUT /v1/licenses/:ln/members/:email":        staffOnly(models.RoleSupport),
	"DELETE /v1/licenses/:ln/members/:email":     staffOnly(models.RoleSupport),
	"GET /v1/licenses/:ln/requests":              staffOnly(models.RoleSupport),
	"POST /v1/licenses/:ln/requests/:id/approve": staffOnly(models.RoleSupport),
	"POST /v1/licenses/:ln/requests/:id/reject":  staffOnly(models.RoleSupport),
	"GET /v1/licenses/:ln/audit":                 staffOnly(models.RoleSupport),
	"GET /v1/licenses/:ln/support":               staffOnly(models.RoleOps, models.RoleRenewals, models.RoleSupport),
	"GET /v1/entitlements/check":                 users.or(key(models.ScopeEntitlementsIntrospect)),
	"POST /v1/entitlements/token":                users.but(pUnverified, c403),
	"POST /v1/entitlements/introspect":           key(models.ScopeEntitlementsIntrospect),
	"GET /v1/status-lists/:id":                   anyone, // every offline verifier fetches them
	"POST /v1/licenses/:ln/keys":                 only(), // nobody takes a key on a license they are not a member of
	"GET /v1/licenses/:ln/keys":                  staffOnly(models.RoleSupport),
	"DELETE /v1/licenses/:ln/keys/:id":           staffOnly(models.RoleSupport),
	"POST /v1/contracts/:id/renewals":            staffOnly(models.RoleRenewals),
	"POST /v1/contracts/:id/upgrade":             staffOnly(models.RoleRenewals),
	"POST /v1/contracts/:id/terminate":           staffOnly(models.RoleRenewals),
	"POST /v1/contracts/:id/grace":               staffOnly(models.RoleRenewals),
	"GET /v1/contracts":                          staffOnly(models.RoleRenewals),
	"GET /v1/renewals":                           staffOnly(models.RoleRenewals).or(key(models.ScopeRenewalsRead)),
	"GET /v1/contracts/:id":                      staffOnly(models.RoleRenewals),
	"PATCH /v1/contracts/:id/renewal":            staffOnly(models.RoleRenewals),
	"POST /v1/contracts/:id/notes":               staffOnly(models.RoleRenewals),
	"POST /v1/contracts/bulk":                    staffOnly(models.RoleRenewals),
	"GET /v1/renewals/forecast":                  staffOnly(models.RoleRenewals).or(key(models.ScopeRenewalsRead)),
	"GET /v1/accounts/:account_id":               staffOnly(models.RoleOps, models.RoleRenewals),
	"POST /v1/accounts/:account_id/coterm":       staffOnly(models.RoleRenewals),
	"GET /v1/licenses":                           users,
	"DELETE /v1/requests/:id":                    users,
	"POST /v1/registrations":                     users.but(pUnverified, c403),
	"POST /v1/registration-help":                 anyone,
	"GET /v1/registration-help":                  staffOnly(models.RoleSupport),
	"POST /v1/registration-help/:id/resolve":     staffOnly(models.RoleSupport),
}

// sessionEnding routes end the caller's session: the matrix runs them after every other route.
var sessionEnding = map[string]bool{"POST /v1/auth/logout": true}

// publicRoutes are served outside /v1 to anyone and are not in the matrix: probes, the OpenAPI
// document, static files and the pages that letters' links land on (whose forms carry the
// letter's token, the only secret they need). A new page is listed here on purpose, not by a rule.
var publicRoutes = func() map[string]bool {
	m := map[string]bool{
		"GET /healthz":      true,
		"GET /readyz":       true,
		"GET /metrics":      true,
		"GET /openapi.json": true,

		"GET /.well-known/jwks.json":              true, // the public keys: every verifier fetches them
		"GET /.well-known/entitled-configuration": true, // where a verifier finds the rest
	}
	maps.Copy(m, handlerstest.PublicPages)
	return m
}()

// pathParams are the dummy values path parameters get; anything not named here is "999999".
var pathParams = map[string]string{
	"email":      "nobody@example.test",
	"ln":         store.NewLicenseNumber(), // well-formed, so that it is not refused as malformed
	"account_id": "1234567",
	"sku":        "NO-SUCH-SKU",
	"version":    "1.0.0",
}

func dummyPath(p string) string { return handlerstest.DummyPath(p, pathParams) }

// TestAuthorizationMatrix calls every route of the router as every kind of caller and checks the
// class of each answer against authzTable. A route without a row fails the test.
func TestAuthorizationMatrix(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		routes := handlerstest.MatrixRoutes(t, a.handler, authzTable, "authzTable (handlers/authz_test.go)", func(key, _ string) bool {
			return publicRoutes[key] || pageAuthz[key] != nil // pages: cookie sessions, TestPortal_AuthorizationMatrix
		})
		sort.SliceStable(routes, func(i, j int) bool {
			if sessionEnding[routes[i]] != sessionEnding[routes[j]] {
				return !sessionEnding[routes[i]]
			}
			return routes[i] < routes[j]
		})

		tokens := map[string]string{
			pAnonymous:  "",
			pBadToken:   "not-a-session-token",
			pUnverified: a.newUnverifiedUser(t).token,
			pUser:       a.newUser(t).token,
		}
		for role, p := range staffPrincipal {
			tokens[p] = a.newStaff(t, role).token
		}
		for s, p := range keyPrincipal {
			tokens[p] = a.newAPIKey(t, s)
		}

		for _, key := range routes {
			method, path, _ := strings.Cut(key, " ")
			var body any
			if method != http.MethodGet && method != http.MethodDelete {
				body = map[string]any{}
			}
			for _, p := range principals {
				wantClass := authzTable[key][p]
				r := a.do(t, method, dummyPath(path), tokens[p], body)
				got := cOK
				switch r.status {
				case http.StatusUnauthorized:
					got = c401
				case http.StatusForbidden:
					got = c403
				}
				switch {
				case got != wantClass:
					t.Errorf("%s as %s: got %s, want %s", key, p, r, wantClass)
				case got == c401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer"):
					t.Errorf("%s as %s: 401 without a Bearer challenge", key, p)
				case got == cOK && r.status >= 500:
					t.Errorf("%s as %s: got %s: the guard let it through, but the handler failed", key, p, r)
				}
			}
		}
	})
}

// The table's words mean what they say: a row such as "staff ops, or a key with orders:write"
// expands to exactly those callers, everyone else being 401 or 403.
func TestAuthzTableWords(t *testing.T) {
	got := staffOnly(models.RoleOps).or(key(models.ScopeOrdersWrite)).but(pUnverified, c401)
	want := access{
		pAnonymous: c401, pBadToken: c401, pUnverified: c401, pUser: c403,
		pOps: cOK, pRenewals: c403, pSupport: c403, pSuperadmin: cOK,
		pKeyOrders: cOK, pKeyIntro: c403, pKeyRenewals: c403,
	}
	for _, p := range principals {
		if got[p] != want[p] {
			t.Errorf("%s: got %s, want %s", p, got[p], want[p])
		}
	}
	if users[pKeyOrders] != c403 || users[pUnverified] != cOK || anyone[pAnonymous] != cOK {
		t.Errorf("users or anyone mean something else: %v %v", users, anyone)
	}
}
