package handlers

// Cross-tenant authorization (issue #12): TestAuthorizationMatrix says who may call each route at
// all; this file says that being allowed on one's own license, account or scope gives nothing on
// another's. Two customers, each the administrator of a license of their own account, and API keys
// of each scope, try every license-, account- and id-scoped route of the router — API and portal
// pages — on the other tenant's real things, and on their own license with the other tenant's ids
// (join requests, license keys, members). Each attempt gets the contract's answer:
//
//   - on another's license: 403 not_a_member — the same answer as for a License Number that does
//     not exist, so that a stranger learns nothing, not even that it exists;
//   - another tenant's id under one's own license, or another user's join request: 404, the same
//     as for an id that does not exist;
//   - a staff-only or other-scope route: 403 forbidden, whatever the id names.
//
// Every attempt that names a real thing is repeated on a thing that does not exist, and the two
// answers must be the same (status and code). Then the other tenant's state is checked to be as
// it was. The test counts cells and holes, and fails unless there are no holes; a route with a
// path parameter that no cell exercises fails it too.

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"entitled/handlers/handlerstest"
	"entitled/models"
	"entitled/models/store"
)

// xcell is one cross-tenant attempt on the API.
type xcell struct {
	route  string // "METHOD /gin/path" as the router declares it
	who    string
	token  string
	method string
	path   string
	body   any
	status int
	code   string
	ghost  string             // the same request on something that does not exist: must answer the same
	check  func(*resp) string // more to check on the answer; "" when it is right
}

// pcell is one cross-tenant attempt on a portal page, signed in with the session cookie and
// posting with a valid CSRF token.
type pcell struct {
	route  string
	who    string
	b      *handlerstest.Browser
	method string
	path   string
	form   url.Values
	status int
	ghost  string
}

// notTenantScoped are the routes with a path parameter that names nothing of a tenant.
var notTenantScoped = map[string]string{
	"GET /static/*file":                         "static files",
	"GET /v1/products/:sku":                     "the catalogue is the same for everyone",
	"POST /v1/products/:sku/versions":           "the catalogue (staff ops)",
	"PATCH /v1/products/:sku/versions/:version": "the catalogue (staff ops)",
	"GET /v1/status-lists/:id":                  "status lists are public: bits by index, naming no tenant",
	// Webhook endpoints are the vendor's own configuration, not a tenant's: staff superadmin only,
	// which the authorization matrix checks for every role.
	"GET /v1/webhooks/:id":                                "webhook endpoints (staff superadmin)",
	"PATCH /v1/webhooks/:id":                              "webhook endpoints (staff superadmin)",
	"DELETE /v1/webhooks/:id":                             "webhook endpoints (staff superadmin)",
	"POST /v1/webhooks/:id/rotate-secret":                 "webhook endpoints (staff superadmin)",
	"POST /v1/webhooks/:id/ping":                          "webhook endpoints (staff superadmin)",
	"GET /v1/webhooks/:id/deliveries":                     "webhook endpoints (staff superadmin)",
	"POST /v1/webhooks/:id/deliveries/:delivery_id/retry": "webhook endpoints (staff superadmin)",
	// Their portal pages, the same.
	"GET /staff/webhooks/:id":                             "webhook endpoints (staff superadmin)",
	"POST /staff/webhooks/:id/:action":                    "webhook endpoints (staff superadmin)",
	"POST /staff/webhooks/:id/deliveries/:delivery/retry": "webhook endpoints (staff superadmin)",
	// The catalogue's and the API keys' pages: the vendor's, staff ops and superadmin only.
	"POST /staff/products/:sku/versions":                "the catalogue (staff ops)",
	"POST /staff/products/:sku/versions/:version/phase": "the catalogue (staff ops)",
	"POST /staff/api-keys/:id/revoke":                   "API keys (staff superadmin)",
}

func TestCrossTenant_NothingOfAnotherTenant(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		// Tenant A and tenant B: each a license of an account of its own, with its admin.
		lnA, adminA, _ := a.tokenLicense(t)
		lnB, adminB, contractB := a.tokenLicense(t)
		memberA, memberB := a.newUser(t), a.newUser(t)
		want(t, a.do(t, "PUT", "/v1/licenses/"+lnA+"/members/"+memberA.email, adminA.token, map[string]any{"roles": []string{"support"}}), http.StatusOK)
		want(t, a.do(t, "PUT", "/v1/licenses/"+lnB+"/members/"+memberB.email, adminB.token, map[string]any{"roles": []string{"license"}}), http.StatusOK)
		keyA := a.licenseKey(t, adminA, lnA, "machine-a-0001", "1.0")
		keyB := a.licenseKey(t, adminB, lnB, "machine-b-0001", "1.0")
		want(t, keyA, http.StatusCreated)
		want(t, keyB, http.StatusCreated)
		invitedB := a.email("invited-b")
		want(t, a.do(t, "PUT", "/v1/licenses/"+lnB+"/members/"+invitedB, adminB.token, map[string]any{"roles": []string{"support"}}), http.StatusAccepted)
		requester := a.newUser(t)
		rq := a.register(t, requester.token, map[string]any{"license_number": lnB})
		want(t, rq, http.StatusAccepted)
		reqB := rq.str("request_id")
		acctA := a.do(t, "GET", "/v1/licenses/"+lnA, adminA.token, nil).str("account_id")
		acctB := a.do(t, "GET", "/v1/licenses/"+lnB, adminB.token, nil).str("account_id")
		help := a.do(t, "POST", "/v1/registration-help", "", map[string]any{"name": "B's colleague", "email": a.email("help"), "company": "B Corp",
			"license_number": lnB, "message": "cannot register"})
		want(t, help, http.StatusAccepted)
		helpB := help.str("id")
		auditB := len(a.do(t, "GET", "/v1/licenses/"+lnB+"/audit?limit=500", adminB.token, nil).items())
		sessB, _ := a.do(t, "GET", "/v1/me/sessions", adminB.token, nil).items()[0]["id"].(string) // B's admin's session
		passkeyB := a.plantPasskey(t, memberB.token, "B's laptop")

		ghostLN := store.NewLicenseNumber()
		const ghostID = "987654321"
		ghostEmail := a.email("nobody")
		ghostAcct := "1000003"
		keys := map[string]string{}
		for _, s := range []string{models.ScopeOrdersWrite, models.ScopeRenewalsRead, models.ScopeEntitlementsIntrospect} {
			keys[s] = a.newAPIKey(t, s)
		}
		A, M := adminA.token, memberA.token
		lic := func(ln, rest string) string { return "/v1/licenses/" + ln + rest }
		keyBody := map[string]string{"fingerprint": "machine-x-0001", "hostname": "x.example.com", "version": "1.0"}
		renewB := func() map[string]any {
			body, _ := a.order(map[string]any{"license_number": lnB, "support": map[string]any{"program": "24x7", "premier": true, "ends_on": "2027-06-30"}})
			body["order_ref"] = fmt.Sprintf("ORD-X-%d", a.seq.Add(1))
			return body
		}
		renewBAsA := renewB()
		renewBAsA["account"] = map[string]any{"account_id": acctA}
		delete(renewBAsA, "primary_contact")
		lists := func(what string, bad ...string) func(*resp) string {
			return func(r *resp) string {
				for _, b := range bad {
					if strings.Contains(string(r.raw), b) {
						return fmt.Sprintf("%s lists %q of the other tenant", what, b)
					}
				}
				return ""
			}
		}
		denied := func(r *resp) string {
			if r.body["allowed"] != false || r.str("reason") != models.CodeNotAMember {
				return "want allowed:false, reason not_a_member"
			}
			return ""
		}

		var cells []xcell
		// 1. An administrator (and a plain member) of license A on license B: every route of a
		// license, each also on a License Number that does not exist.
		onB := []struct {
			route, method, rest string
			body                any
		}{
			{"GET /v1/licenses/:ln", "GET", "", nil},
			{"GET /v1/licenses/:ln/members", "GET", "/members", nil},
			{"PUT /v1/licenses/:ln/members/:email", "PUT", "/members/" + adminA.email, map[string]any{"roles": []string{"admin"}}},
			{"PUT /v1/licenses/:ln/members/:email", "PUT", "/members/" + memberB.email, map[string]any{"roles": []string{"admin", "support", "license"}}},
			{"DELETE /v1/licenses/:ln/members/:email", "DELETE", "/members/" + memberB.email, nil},
			{"DELETE /v1/licenses/:ln/members/:email", "DELETE", "/members/" + adminB.email, nil},
			{"GET /v1/licenses/:ln/requests", "GET", "/requests", nil},
			{"POST /v1/licenses/:ln/requests/:id/approve", "POST", "/requests/" + reqB + "/approve", map[string]any{"roles": []string{"admin"}}},
			{"POST /v1/licenses/:ln/requests/:id/reject", "POST", "/requests/" + reqB + "/reject", map[string]any{}},
			{"GET /v1/licenses/:ln/audit", "GET", "/audit", nil},
			{"GET /v1/licenses/:ln/support", "GET", "/support", nil},
			{"POST /v1/licenses/:ln/keys", "POST", "/keys", keyBody},
			{"GET /v1/licenses/:ln/keys", "GET", "/keys", nil},
			{"DELETE /v1/licenses/:ln/keys/:id", "DELETE", "/keys/" + keyB.str("id"), nil},
		}
		for _, c := range onB {
			for _, who := range []struct{ name, token string }{{"admin of A", A}, {"member of A", M}} {
				cells = append(cells, xcell{route: c.route, who: who.name, token: who.token, method: c.method, path: lic(lnB, c.rest), body: c.body,
					status: http.StatusForbidden, code: models.CodeNotAMember, ghost: lic(ghostLN, c.rest)})
			}
		}
		cells = append(cells,
			xcell{route: "POST /v1/entitlements/token", who: "admin of A", token: A, method: "POST", path: "/v1/entitlements/token",
				body: map[string]string{"license_number": lnB, "audience": "downloads"}, status: http.StatusForbidden, code: models.CodeNotAMember},
			xcell{route: "GET /v1/entitlements/check", who: "admin of A", token: A, method: "GET",
				path: "/v1/entitlements/check?entitlement=assets.read&license_number=" + lnB, status: http.StatusOK,
				ghost: "/v1/entitlements/check?entitlement=assets.read&license_number=" + ghostLN, check: denied},
			xcell{route: "GET /v1/entitlements/check", who: "admin of A", token: A, method: "GET",
				path:   "/v1/entitlements/check?entitlement=assets.read&license_number=" + lnB + "&user=" + url.QueryEscape(adminB.email),
				status: http.StatusForbidden, code: models.CodeForbidden,
				ghost: "/v1/entitlements/check?entitlement=assets.read&license_number=" + lnB + "&user=" + url.QueryEscape(ghostEmail)},
		)
		// 2. Another tenant's ids under one's own license: not found, as an id that does not exist.
		cells = append(cells,
			xcell{route: "POST /v1/licenses/:ln/requests/:id/approve", who: "admin of A", token: A, method: "POST", path: lic(lnA, "/requests/"+reqB+"/approve"),
				body: map[string]any{"roles": []string{"support"}}, status: http.StatusNotFound, code: models.CodeNotFound, ghost: lic(lnA, "/requests/"+ghostID+"/approve")},
			xcell{route: "POST /v1/licenses/:ln/requests/:id/reject", who: "admin of A", token: A, method: "POST", path: lic(lnA, "/requests/"+reqB+"/reject"),
				body: map[string]any{}, status: http.StatusNotFound, code: models.CodeNotFound, ghost: lic(lnA, "/requests/"+ghostID+"/reject")},
			xcell{route: "DELETE /v1/licenses/:ln/keys/:id", who: "admin of A", token: A, method: "DELETE", path: lic(lnA, "/keys/"+keyB.str("id")),
				status: http.StatusNotFound, code: models.CodeNotFound, ghost: lic(lnA, "/keys/"+ghostID)},
			xcell{route: "DELETE /v1/licenses/:ln/members/:email", who: "admin of A", token: A, method: "DELETE", path: lic(lnA, "/members/"+memberB.email),
				status: http.StatusNotFound, code: models.CodeMemberNotFound, ghost: lic(lnA, "/members/"+ghostEmail)},
			xcell{route: "DELETE /v1/requests/:id", who: "admin of A", token: A, method: "DELETE", path: "/v1/requests/" + reqB,
				status: http.StatusNotFound, code: models.CodeNotFound, ghost: "/v1/requests/" + ghostID},
			xcell{route: "DELETE /v1/requests/:id", who: "admin of B", token: adminB.token, method: "DELETE", path: "/v1/requests/" + reqB,
				status: http.StatusNotFound, code: models.CodeNotFound, ghost: "/v1/requests/" + ghostID},
			// One's own lists hold nothing of the other tenant.
			xcell{route: "GET /v1/licenses/:ln/members", who: "admin of A", token: A, method: "GET", path: lic(lnA, "/members"), status: http.StatusOK,
				check: lists("A's members", adminB.email, memberB.email, requester.email)},
			xcell{route: "GET /v1/licenses/:ln/requests", who: "admin of A", token: A, method: "GET", path: lic(lnA, "/requests"), status: http.StatusOK,
				check: lists("A's requests", requester.email, lnB)},
			xcell{route: "GET /v1/licenses/:ln/keys", who: "admin of A", token: A, method: "GET", path: lic(lnA, "/keys"), status: http.StatusOK,
				check: lists("A's keys", "machine-b-0001", `"id":"`+keyB.str("id")+`"`)},
			xcell{route: "GET /v1/licenses/:ln/audit", who: "admin of A", token: A, method: "GET", path: lic(lnA, "/audit?limit=500"), status: http.StatusOK,
				check: lists("A's audit", lnB, adminB.email, memberB.email, requester.email)},
			xcell{route: "GET /v1/licenses", who: "admin of A", token: A, method: "GET", path: "/v1/licenses", status: http.StatusOK, check: lists("A's licenses", lnB)},
			xcell{route: "GET /v1/me", who: "admin of A", token: A, method: "GET", path: "/v1/me", status: http.StatusOK, check: lists("A's /me", lnB)},
			// Someone else's session is not found, as one that does not exist.
			xcell{route: "DELETE /v1/me/sessions/:id", who: "admin of A", token: A, method: "DELETE", path: "/v1/me/sessions/" + sessB,
				status: http.StatusNotFound, code: models.CodeNotFound, ghost: "/v1/me/sessions/" + ghostID},
			// A plain member of A on A's admin routes, and on the whole log.
			xcell{route: "GET /v1/licenses/:ln/audit", who: "member of A", token: M, method: "GET", path: lic(lnA, "/audit"), status: http.StatusForbidden, code: models.CodeRoleMissing},
			xcell{route: "GET /v1/audit", who: "member of A", token: M, method: "GET", path: "/v1/audit?subject=license:" + lnB, status: http.StatusForbidden, code: models.CodeForbidden},
		)
		// 3. Staff-only routes with the other tenant's ids, as a customer administrator: 403
		// forbidden, whatever the id names.
		for _, c := range []struct {
			route, path, ghost string
			method             string
			body               any
		}{
			{"POST /v1/contracts/:id/renewals", "/v1/contracts/" + contractB + "/renewals", "/v1/contracts/" + ghostID + "/renewals", "POST", map[string]any{"ends_on": "2027-06-30"}},
			{"POST /v1/contracts/:id/upgrade", "/v1/contracts/" + contractB + "/upgrade", "/v1/contracts/" + ghostID + "/upgrade", "POST", map[string]any{"program": "24x7"}},
			{"POST /v1/contracts/:id/terminate", "/v1/contracts/" + contractB + "/terminate", "/v1/contracts/" + ghostID + "/terminate", "POST", map[string]any{"reason": "mine now"}},
			{"POST /v1/contracts/:id/grace", "/v1/contracts/" + contractB + "/grace", "/v1/contracts/" + ghostID + "/grace", "POST", map[string]any{"until": "2026-08-01", "reason": "x"}},
			{"GET /v1/contracts", "/v1/contracts?status=active", "", "GET", nil},
			{"GET /v1/renewals", "/v1/renewals?within_days=365", "", "GET", nil},
			{"GET /v1/contracts/:id", "/v1/contracts/" + contractB, "/v1/contracts/" + ghostID, "GET", nil},
			{"PATCH /v1/contracts/:id/renewal", "/v1/contracts/" + contractB + "/renewal", "/v1/contracts/" + ghostID + "/renewal", "PATCH", map[string]any{"stage": "lost"}},
			{"POST /v1/contracts/:id/notes", "/v1/contracts/" + contractB + "/notes", "/v1/contracts/" + ghostID + "/notes", "POST", map[string]any{"text": "mine now"}},
			{"POST /v1/contracts/bulk", "/v1/contracts/bulk", "", "POST", map[string]any{"ids": []string{contractB}, "set": map[string]any{"stage": "lost"}}},
			{"PATCH /v1/accounts/:account_id", "/v1/accounts/" + acctB, "/v1/accounts/" + ghostAcct, "PATCH", map[string]any{"name": "Taken Over Ltd"}},
			{"GET /v1/accounts/:account_id", "/v1/accounts/" + acctB, "/v1/accounts/" + ghostAcct, "GET", nil},
			{"POST /v1/accounts/:account_id/coterm", "/v1/accounts/" + acctB + "/coterm", "/v1/accounts/" + ghostAcct + "/coterm", "POST", map[string]any{"ends_on": "2030-01-01"}},
			{"POST /v1/registration-help/:id/resolve", "/v1/registration-help/" + helpB + "/resolve", "/v1/registration-help/" + ghostID + "/resolve", "POST", map[string]any{"note": "x"}},
			{"GET /v1/registration-help", "/v1/registration-help", "", "GET", nil},
			{"GET /v1/users", "/v1/users?email=" + url.QueryEscape(adminB.email), "/v1/users?email=" + url.QueryEscape(ghostEmail), "GET", nil},
			{"DELETE /v1/api-keys/:id", "/v1/api-keys/1", "/v1/api-keys/" + ghostID, "DELETE", nil},
			{"GET /v1/audit", "/v1/audit?subject=license:" + lnB, "", "GET", nil},
			{"POST /v1/orders", "/v1/orders", "", "POST", renewB()},
		} {
			cells = append(cells, xcell{route: c.route, who: "admin of A", token: A, method: c.method, path: c.path, body: c.body,
				status: http.StatusForbidden, code: models.CodeForbidden, ghost: c.ghost})
		}
		// 4. API keys on routes of another scope, with real things: 403 forbidden.
		for _, c := range []struct {
			scope, route, method, path string
			body                       any
		}{
			{models.ScopeOrdersWrite, "GET /v1/renewals", "GET", "/v1/renewals", nil},
			{models.ScopeOrdersWrite, "GET /v1/entitlements/check", "GET", "/v1/entitlements/check?entitlement=assets.read&license_number=" + lnB + "&user=" + url.QueryEscape(adminB.email), nil},
			{models.ScopeOrdersWrite, "POST /v1/contracts/:id/terminate", "POST", "/v1/contracts/" + contractB + "/terminate", map[string]any{"reason": "x"}},
			{models.ScopeOrdersWrite, "PATCH /v1/accounts/:account_id", "PATCH", "/v1/accounts/" + acctB, map[string]any{"name": "x"}},
			{models.ScopeOrdersWrite, "GET /v1/licenses/:ln", "GET", lic(lnB, ""), nil},
			{models.ScopeOrdersWrite, "DELETE /v1/licenses/:ln/keys/:id", "DELETE", lic(lnB, "/keys/"+keyB.str("id")), nil},
			{models.ScopeRenewalsRead, "POST /v1/orders", "POST", "/v1/orders", renewB()},
			{models.ScopeRenewalsRead, "GET /v1/contracts", "GET", "/v1/contracts", nil},
			{models.ScopeRenewalsRead, "GET /v1/accounts/:account_id", "GET", "/v1/accounts/" + acctB, nil},
			{models.ScopeRenewalsRead, "POST /v1/accounts/:account_id/coterm", "POST", "/v1/accounts/" + acctB + "/coterm", map[string]any{"ends_on": "2030-01-01"}},
			{models.ScopeRenewalsRead, "GET /v1/contracts/:id", "GET", "/v1/contracts/" + contractB, nil},
			{models.ScopeRenewalsRead, "PATCH /v1/contracts/:id/renewal", "PATCH", "/v1/contracts/" + contractB + "/renewal", map[string]any{"stage": "lost"}},
			{models.ScopeRenewalsRead, "POST /v1/contracts/bulk", "POST", "/v1/contracts/bulk", map[string]any{"ids": []string{contractB}, "set": map[string]any{"stage": "lost"}}},
			{models.ScopeRenewalsRead, "POST /v1/contracts/:id/grace", "POST", "/v1/contracts/" + contractB + "/grace", map[string]any{"until": "2026-08-01", "reason": "x"}},
			{models.ScopeRenewalsRead, "POST /v1/contracts/:id/renewals", "POST", "/v1/contracts/" + contractB + "/renewals", map[string]any{"ends_on": "2027-06-30"}},
			{models.ScopeRenewalsRead, "GET /v1/licenses/:ln/audit", "GET", lic(lnB, "/audit"), nil},
			{models.ScopeRenewalsRead, "GET /v1/entitlements/check", "GET", "/v1/entitlements/check?entitlement=assets.read&license_number=" + lnB + "&user=" + url.QueryEscape(adminB.email), nil},
			{models.ScopeEntitlementsIntrospect, "POST /v1/orders", "POST", "/v1/orders", renewB()},
			{models.ScopeEntitlementsIntrospect, "GET /v1/renewals", "GET", "/v1/renewals", nil},
			{models.ScopeEntitlementsIntrospect, "POST /v1/contracts/:id/upgrade", "POST", "/v1/contracts/" + contractB + "/upgrade", map[string]any{"program": "24x7"}},
			{models.ScopeEntitlementsIntrospect, "POST /v1/entitlements/token", "POST", "/v1/entitlements/token", map[string]string{"license_number": lnB, "audience": "downloads"}},
			{models.ScopeEntitlementsIntrospect, "PUT /v1/licenses/:ln/members/:email", "PUT", lic(lnB, "/members/"+memberB.email), map[string]any{"roles": []string{"admin"}}},
			{models.ScopeEntitlementsIntrospect, "POST /v1/licenses/:ln/keys", "POST", lic(lnB, "/keys"), keyBody},
			{models.ScopeEntitlementsIntrospect, "POST /v1/registration-help/:id/resolve", "POST", "/v1/registration-help/" + helpB + "/resolve", map[string]any{"note": "x"}},
		} {
			cells = append(cells, xcell{route: c.route, who: "key " + c.scope, token: keys[c.scope], method: c.method, path: c.path, body: c.body,
				status: http.StatusForbidden, code: models.CodeForbidden})
		}
		// The order system itself may not move one account's license into another's order.
		cells = append(cells, xcell{route: "POST /v1/orders", who: "key " + models.ScopeOrdersWrite, token: keys[models.ScopeOrdersWrite], method: "POST",
			path: "/v1/orders", body: renewBAsA, status: http.StatusBadRequest, code: models.CodeValidation, check: func(r *resp) string {
				if r.fields()["items[0].license_number"] == "" {
					return "want the error on items[0].license_number"
				}
				return ""
			}})

		holes, tried := 0, 0
		covered := map[string]bool{}
		hole := func(format string, args ...any) {
			holes++
			t.Errorf("HOLE: "+format, args...)
		}
		for _, c := range cells {
			covered[c.route] = true
			tried++
			r := a.do(t, c.method, c.path, c.token, c.body)
			if r.status != c.status || (c.code != "" && r.code() != c.code) {
				hole("%s as %s: %s %s → %s, want %d %s", c.route, c.who, c.method, c.path, r, c.status, c.code)
				continue
			}
			if c.check != nil {
				if why := c.check(r); why != "" {
					hole("%s as %s: %s %s: %s", c.route, c.who, c.method, c.path, why)
				}
			}
			if c.ghost != "" {
				tried++
				g := a.do(t, c.method, c.ghost, c.token, c.body)
				if g.status != r.status || g.code() != r.code() {
					hole("%s as %s: a real thing answers %d %s, one that does not exist %d %s: the answer tells which exists",
						c.route, c.who, r.status, r.code(), g.status, g.code())
				}
			}
		}

		// 5. The portal's pages, as the administrator of A in a browser.
		bA := a.signedIn(t, adminA)
		bA.Get(t, "/licenses") // a page with the CSRF token
		yes := func(kv ...string) url.Values {
			v := url.Values{"confirm": {"yes"}}
			for i := 0; i+1 < len(kv); i += 2 {
				v.Set(kv[i], kv[i+1])
			}
			return v
		}
		pl := func(ln, rest string) string { return "/licenses/" + ln + rest }
		var pages []pcell
		for _, c := range []struct {
			route, method, rest string
			form                url.Values
		}{
			{"GET /licenses/:ln", "GET", "", nil},
			{"GET /licenses/:ln/members", "GET", "/members", nil},
			{"POST /licenses/:ln/members", "POST", "/members", yes("email", adminA.email, "roles", "admin")},
			{"POST /licenses/:ln/members/remove", "POST", "/members/remove", yes("email", memberB.email)},
			{"POST /licenses/:ln/invitations/cancel", "POST", "/invitations/cancel", yes("email", invitedB)},
			{"GET /licenses/:ln/requests", "GET", "/requests", nil},
			{"POST /licenses/:ln/requests/:id/approve", "POST", "/requests/" + reqB + "/approve", yes("roles", "admin")},
			{"POST /licenses/:ln/requests/:id/reject", "POST", "/requests/" + reqB + "/reject", yes()},
			{"GET /licenses/:ln/audit", "GET", "/audit", nil},
			{"GET /licenses/:ln/keys", "GET", "/keys", nil},
			{"POST /licenses/:ln/keys", "POST", "/keys", url.Values{"fingerprint": {"machine-x-0001"}, "hostname": {"x.example.com"}, "version": {"1.0"}}},
			{"POST /licenses/:ln/keys/:id/release", "POST", "/keys/" + keyB.str("id") + "/release", yes()},
			{"GET /licenses/:ln/keys/:id", "GET", "/keys/" + keyB.str("id"), nil},
		} {
			pages = append(pages, pcell{route: c.route, who: "admin of A", b: bA, method: c.method, path: pl(lnB, c.rest), form: c.form,
				status: http.StatusForbidden, ghost: pl(ghostLN, c.rest)})
		}
		pages = append(pages,
			pcell{route: "POST /licenses/:ln/requests/:id/approve", who: "admin of A", b: bA, method: "POST", path: pl(lnA, "/requests/"+reqB+"/approve"),
				form: yes("roles", "support"), status: http.StatusNotFound, ghost: pl(lnA, "/requests/"+ghostID+"/approve")},
			pcell{route: "POST /licenses/:ln/requests/:id/reject", who: "admin of A", b: bA, method: "POST", path: pl(lnA, "/requests/"+reqB+"/reject"),
				form: yes(), status: http.StatusNotFound, ghost: pl(lnA, "/requests/"+ghostID+"/reject")},
			pcell{route: "POST /licenses/:ln/keys/:id/release", who: "admin of A", b: bA, method: "POST", path: pl(lnA, "/keys/"+keyB.str("id")+"/release"),
				form: yes(), status: http.StatusNotFound, ghost: pl(lnA, "/keys/"+ghostID+"/release")},
			pcell{route: "GET /licenses/:ln/keys/:id", who: "admin of A", b: bA, method: "GET", path: pl(lnA, "/keys/"+keyB.str("id")),
				status: http.StatusNotFound, ghost: pl(lnA, "/keys/"+ghostID)},
			pcell{route: "GET /staff/accounts/:account_id", who: "admin of A", b: bA, method: "GET", path: "/staff/accounts/" + acctB,
				status: http.StatusForbidden, ghost: "/staff/accounts/" + ghostID},
			pcell{route: "POST /staff/accounts/:account_id/coterm", who: "admin of A", b: bA, method: "POST", path: "/staff/accounts/" + acctB + "/coterm",
				form: yes("ends_on", "2027-06-30"), status: http.StatusForbidden, ghost: "/staff/accounts/" + ghostID + "/coterm"},
			pcell{route: "POST /licenses/:ln/members/remove", who: "admin of A", b: bA, method: "POST", path: pl(lnA, "/members/remove"),
				form: yes("email", memberB.email), status: http.StatusNotFound},
			pcell{route: "POST /licenses/:ln/invitations/cancel", who: "admin of A", b: bA, method: "POST", path: pl(lnA, "/invitations/cancel"),
				form: yes("email", invitedB), status: http.StatusNotFound},
			pcell{route: "POST /requests/:id/withdraw", who: "admin of A", b: bA, method: "POST", path: "/requests/" + reqB + "/withdraw",
				form: yes(), status: http.StatusNotFound, ghost: "/requests/" + ghostID + "/withdraw"},
			pcell{route: "POST /account/security/sessions/:id/revoke", who: "admin of A", b: bA, method: "POST", path: "/account/security/sessions/" + sessB + "/revoke",
				form: yes(), status: http.StatusNotFound, ghost: "/account/security/sessions/" + ghostID + "/revoke"},
			pcell{route: "POST /account/security/passkeys/:id/remove", who: "admin of A", b: bA, method: "POST", path: "/account/security/passkeys/" + passkeyB + "/remove",
				form: yes("password", handlerstest.Password), status: http.StatusNotFound, ghost: "/account/security/passkeys/" + ghostID + "/remove"},
			pcell{route: "GET /contracts/:id", who: "admin of A", b: bA, method: "GET", path: "/contracts/" + contractB, status: http.StatusForbidden, ghost: "/contracts/" + ghostID},
			pcell{route: "POST /contracts/:id/:action", who: "admin of A", b: bA, method: "POST", path: "/contracts/" + contractB + "/terminate",
				form: yes("reason", "mine now"), status: http.StatusForbidden, ghost: "/contracts/" + ghostID + "/terminate"},
			pcell{route: "POST /staff/help/:id/resolve", who: "admin of A", b: bA, method: "POST", path: "/staff/help/" + helpB + "/resolve",
				form: yes("note", "x"), status: http.StatusForbidden, ghost: "/staff/help/" + ghostID + "/resolve"},
			pcell{route: "POST /staff/help/:id/make-admin", who: "admin of A", b: bA, method: "POST", path: "/staff/help/" + helpB + "/make-admin",
				form: yes("email", adminA.email, "license_number", lnB), status: http.StatusForbidden, ghost: "/staff/help/" + ghostID + "/make-admin"},
		)
		open := func(c pcell, path string) *handlerstest.Page {
			var p *handlerstest.Page
			if c.method == "POST" {
				f := url.Values{}
				for k, v := range c.form {
					f[k] = v
				}
				p = c.b.Submit(t, path, f)
			} else {
				p = c.b.Get(t, path)
			}
			// The letter's link to a license's requests is a redirect to its members page:
			// what counts is what that page answers.
			if p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/licenses/") && strings.HasSuffix(c.route, "/requests") {
				p = c.b.Get(t, strings.TrimSuffix(p.Location, "#requests"))
			}
			return p
		}
		for _, c := range pages {
			covered[c.route] = true
			tried++
			p := open(c, c.path)
			if p.Status != c.status {
				hole("page %s as %s: %s %s → %s\nwant %d", c.route, c.who, c.method, c.path, p, c.status)
				continue
			}
			// A refusal for a missing CSRF token would be a 403 too: the page must say the reason.
			why := "not a member"
			if !strings.Contains(c.route, " /licenses/") {
				why = "is for staff"
			}
			if c.status == http.StatusForbidden && !strings.Contains(p.Body, why) {
				hole("page %s as %s: a 403 that does not say %q:\n%s", c.route, c.who, why, p)
			}
			if strings.Contains(p.Body, acctB) || (c.status != http.StatusOK && strings.Contains(p.Body, adminB.email)) {
				hole("page %s as %s: the refusal shows B's account or admin", c.route, c.who)
			}
			if c.ghost != "" {
				tried++
				if g := open(c, c.ghost); g.Status != p.Status {
					hole("page %s as %s: a real thing answers %d, one that does not exist %d", c.route, c.who, p.Status, g.Status)
				}
			}
		}

		// 6. B is as it was.
		state := []struct {
			what string
			ok   func() string
		}{
			{"B's members", func() string {
				var got []string
				for _, m := range a.do(t, "GET", lic(lnB, "/members"), adminB.token, nil).items() {
					got = append(got, m["email"].(string)+"="+roleSet(m["roles"]))
				}
				sort.Strings(got)
				wantM := []string{adminB.email + "=admin,support,license", memberB.email + "=license"}
				sort.Strings(wantM)
				if !slices.Equal(got, wantM) {
					return fmt.Sprintf("%v, want %v", got, wantM)
				}
				return ""
			}},
			{"B's license keys", func() string {
				items := a.do(t, "GET", lic(lnB, "/keys"), adminB.token, nil).items()
				if len(items) != 1 || items[0]["id"] != keyB.str("id") {
					return fmt.Sprintf("%v, want only key %s", items, keyB.str("id"))
				}
				return ""
			}},
			{"B's join request", func() string {
				items := a.do(t, "GET", lic(lnB, "/requests"), adminB.token, nil).items()
				if len(items) != 1 || items[0]["id"] != reqB {
					return fmt.Sprintf("%v, want request %s still pending", items, reqB)
				}
				return ""
			}},
			{"B's support contract", func() string {
				s := a.support(t, adminB.token, lnB, "")
				if s.str("status") != "active" || s.str("ends_on") != "2026-06-30" || s.str("program") != "standard" || s.body["premier"] != true {
					return s.String()
				}
				return ""
			}},
			{"B's help request", func() string {
				staff := a.newStaff(t, models.RoleSupport)
				for _, h := range a.do(t, "GET", "/v1/registration-help?status=open", staff.token, nil).items() {
					if h["id"] == helpB {
						return ""
					}
				}
				return "no longer open"
			}},
			{"B's audit log", func() string {
				items := a.do(t, "GET", lic(lnB, "/audit?limit=500"), adminB.token, nil).items()
				if len(items) != auditB {
					return fmt.Sprintf("%d entries, want the %d it had", len(items), auditB)
				}
				return ""
			}},
			{"B's account", func() string {
				r := a.do(t, "GET", "/v1/licenses/"+lnB, a.newStaff(t, models.RoleOps).token, nil)
				if strings.Contains(string(r.raw), "Taken Over") || r.str("account_id") != acctB {
					return r.String()
				}
				return ""
			}},
			{"A's admin on B", func() string {
				if r := a.do(t, "GET", lic(lnB, ""), adminA.token, nil); r.status != http.StatusForbidden {
					return "admin of A can see B: " + r.String()
				}
				return ""
			}},
		}
		for _, s := range state {
			tried++
			if why := s.ok(); why != "" {
				hole("%s changed: %s", s.what, why)
			}
		}

		// Every route with a path parameter is exercised here, or named as not a tenant's.
		for _, r := range a.handler.(*gin.Engine).Routes() {
			key := r.Method + " " + r.Path
			if !strings.ContainsAny(r.Path, ":*") || notTenantScoped[key] != "" || publicRoutes[key] {
				continue
			}
			if !covered[key] {
				hole("route %s takes an id or a License Number and no cross-tenant cell tries it", key)
			}
		}
		t.Logf("%s: %d cross-tenant cells (%d API, %d page, %d twins on things that do not exist, %d state checks) over %d routes; %d holes",
			a.dialect, tried, len(cells), len(pages), tried-len(cells)-len(pages)-len(state), len(state), len(covered), holes)
	})
}
