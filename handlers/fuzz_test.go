package handlers

// Fuzz targets over the real router: every JSON (and form) body route, and the query strings and
// path parameters of the list and lookup routes. Each fuzz process builds one app on SQLite with
// callers allowed on every route (setup costs seconds, an iteration a few milliseconds) and
// calls the router in-process, with no socket in between. TestHostileBodies sends hand-made
// mutations; these let the fuzzer find its own.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

// fuzzRoute is one way the fuzzers call a route.
type fuzzRoute struct {
	key     string // "METHOD /template", as gin lists it
	method  string
	path    string // with real values; for a segment route, the part before the fuzzed segment
	token   string
	form    bool     // the body is a form (introspection), not JSON
	valid   string   // a body or query the route accepts, the first seed
	accept  string   // Accept header; application/json when empty
	list    bool     // a 200 is a page: {"items": [...], "next_cursor": ...}
	segment bool     // the fuzz string is the last path segment, not the query
	lnParam bool     // the fuzzed segment is a License Number: malformed ones are 400 invalid_license_number
	seeds   []string // more seeds: the nastiest cases found so far are in testdata/fuzz
}

// fuzzApp is the app a fuzz process reuses for every input.
type fuzzApp struct {
	*testApp
	bodies  []fuzzRoute
	queries []fuzzRoute
}

// newFuzzApp starts the app on SQLite and prepares a caller for every route: a superadmin with
// every staff role, a license with a contract and its admin, a pending join request, a help
// request, API keys of each scope.
func newFuzzApp(f *testing.F) *fuzzApp {
	a := newTestApp(f, store.SQLite)
	super := a.newStaff(f, models.RoleSuperadmin, models.RoleOps, models.RoleRenewals, models.RoleSupport)
	ln, admin, contractID := a.tokenLicense(f)
	sku := a.newProduct(f, super.token, [3]string{"1.0", "2025-01-01", "full"})
	_, acct, _ := a.freshLicense(f, super.token, nil)
	ordersKey := a.newAPIKey(f, models.ScopeOrdersWrite)
	introKey := a.newAPIKey(f, models.ScopeEntitlementsIntrospect)
	renewalsKey := a.newAPIKey(f, models.ScopeRenewalsRead)
	other, joiner, pwUser := a.newUser(f), a.newUser(f), a.newUser(f)
	entToken := a.token(f, admin, ln, "downloads")
	joined := a.register(f, joiner.token, map[string]any{"license_number": ln})
	want(f, joined, http.StatusAccepted)
	requestID := fmt.Sprint(joined.body["request_id"])
	want(f, a.do(f, "POST", "/v1/registration-help", "", map[string]any{"name": "Pat", "email": other.email, "company": "Acme", "message": "help"}), http.StatusAccepted)
	helpID := fmt.Sprint(a.do(f, "GET", "/v1/registration-help", super.token, nil).items()[0]["id"])
	order, _ := a.order(map[string]any{"sku": sku, "quantity": 2, "kind": "perpetual",
		"support": map[string]any{"program": "standard", "premier": false, "starts_on": "2026-01-01", "ends_on": "2026-12-31"}})
	orderJSON, _ := json.Marshal(order)
	lnPath := "/v1/licenses/" + ln

	fa := &fuzzApp{testApp: a}
	body := func(key, path, token, valid string, seeds ...string) fuzzRoute {
		method, _, _ := strings.Cut(key, " ")
		return fuzzRoute{key: key, method: method, path: path, token: token, valid: valid, seeds: seeds}
	}
	fa.bodies = []fuzzRoute{
		body("POST /v1/auth/signup", "/v1/auth/signup", "", `{"email":"fuzz-new@example.test","password":"`+testPassword+`","name":"Fuzz"}`,
			`{"email":"jöe@example.test","password":"`+testPassword+`","name":"Jöe"}`, `{"email":"a@b.example","password":"`+testPassword+`","name":"a\r\nBcc: x@evil.example"}`),
		body("POST /v1/auth/verify", "/v1/auth/verify", "", `{"token":"not-a-real-token"}`),
		body("POST /v1/auth/login", "/v1/auth/login", "", `{"email":"`+other.email+`","password":"wrong password 1234"}`),
		body("POST /v1/auth/password/forgot", "/v1/auth/password/forgot", "", `{"email":"`+other.email+`"}`),
		body("POST /v1/auth/password/reset", "/v1/auth/password/reset", "", `{"token":"not-a-real-token","password":"`+testPassword+`"}`),
		body("POST /v1/auth/login/mfa", "/v1/auth/login/mfa", "", `{"mfa_token":"not-a-real-token","code":"123456"}`, `{"mfa_token":"x","code":"ABCD-EFGH-2345-67AB"}`),
		body("POST /v1/me/mfa/totp", "/v1/me/mfa/totp", other.token, `{}`),
		body("POST /v1/me/mfa/totp/confirm", "/v1/me/mfa/totp/confirm", other.token, `{"code":"123456"}`),
		body("POST /v1/me/password", "/v1/me/password", pwUser.token, `{"current_password":"`+testPassword+`","new_password":"another fine passphrase 2026"}`),
		body("POST /v1/staff", "/v1/staff", super.token, `{"email":"fuzz-staff@example.test","name":"Fuzz Staff","roles":["ops"],"password":"`+testPassword+`"}`),
		body("POST /v1/api-keys", "/v1/api-keys", super.token, `{"name":"fuzz","scopes":["renewals:read"]}`),
		body("POST /v1/products", "/v1/products", super.token, `{"sku":"FUZZ-1","name":"Fuzz"}`),
		body("POST /v1/products/:sku/versions", "/v1/products/"+sku+"/versions", super.token, `{"version":"9.0","released_on":"2026-05-01","phase":"full"}`),
		body("PATCH /v1/products/:sku/versions/:version", "/v1/products/"+sku+"/versions/1.0", super.token, `{"phase":"limited"}`),
		body("POST /v1/orders", "/v1/orders", ordersKey, string(orderJSON)),
		body("PATCH /v1/accounts/:account_id", "/v1/accounts/"+acct, super.token, `{"name":"Renamed Corp","primary_contact":{"name":"New Contact","email":"new-contact@example.test"}}`),
		body("POST /v1/accounts/recover", "/v1/accounts/recover", "", `{"email":"`+other.email+`"}`),
		body("POST /v1/registrations", "/v1/registrations", other.token, `{"license_number":"`+ln+`"}`, `{"account_id":`+acct+`}`, `{"service_tag":"T999999"}`),
		body("PUT /v1/licenses/:ln/members/:email", lnPath+"/members/"+url.PathEscape(other.email), admin.token, `{"roles":["support"]}`),
		body("POST /v1/licenses/:ln/requests/:id/approve", lnPath+"/requests/"+requestID+"/approve", admin.token, `{"roles":["license"]}`),
		body("POST /v1/licenses/:ln/requests/:id/reject", lnPath+"/requests/"+requestID+"/reject", admin.token, `{"reason":"no"}`),
		body("POST /v1/entitlements/token", "/v1/entitlements/token", admin.token, `{"license_number":"`+ln+`","audience":"downloads"}`),
		{key: "POST /v1/entitlements/introspect", method: "POST", path: "/v1/entitlements/introspect", token: introKey, form: true, valid: "token=" + url.QueryEscape(entToken)},
		body("POST /v1/licenses/:ln/keys", lnPath+"/keys", admin.token, `{"fingerprint":"machine-fuzz","hostname":"build-01.example.com","version":"1.0"}`),
		body("POST /v1/registration-help", "/v1/registration-help", "", `{"name":"Pat","email":"`+other.email+`","company":"Acme","license_number":"`+ln+`","account_id":"`+acct+`","message":"help"}`),
		body("POST /v1/contracts/:id/renewals", "/v1/contracts/"+contractID+"/renewals", super.token, `{"ends_on":"2027-06-30","program":"standard","premier":true}`),
		body("POST /v1/contracts/:id/upgrade", "/v1/contracts/"+contractID+"/upgrade", super.token, `{"program":"24x7","premier":true}`),
		body("POST /v1/contracts/:id/grace", "/v1/contracts/"+contractID+"/grace", super.token, `{"until":"2026-07-15","reason":"PO pending"}`),
		body("POST /v1/contracts/:id/terminate", "/v1/contracts/"+contractID+"/terminate", super.token, `{"reason":"fuzz"}`),
		body("PATCH /v1/contracts/:id/renewal", "/v1/contracts/"+contractID+"/renewal", super.token, `{"stage":"quoted","next_step_on":"2026-04-01","value":{"amount":"100.00","currency":"EUR"}}`,
			`{"owner":null,"value":null}`, `{"value":{"amount":"1e9","currency":"eur"}}`, `{"stage":"won"}`),
		body("POST /v1/contracts/:id/notes", "/v1/contracts/"+contractID+"/notes", super.token, `{"text":"called the customer"}`),
		body("POST /v1/contracts/bulk", "/v1/contracts/bulk", super.token, `{"ids":["`+contractID+`"],"set":{"stage":"contacted"}}`, `{"ids":[],"set":{}}`, `{"ids":[1,"x"],"set":{"owner":"me"}}`),
		body("POST /v1/accounts/:account_id/coterm", "/v1/accounts/"+acct+"/coterm", super.token, `{"ends_on":"2027-06-30"}`),
		body("POST /v1/registration-help/:id/resolve", "/v1/registration-help/"+helpID+"/resolve", super.token, `{"note":"done"}`),
		// Webhooks: a receiver that is never there (port 1), for pings only.
		body("POST /v1/webhooks", "/v1/webhooks", super.token, `{"url":"https://127.0.0.1:1/fuzz","events":["ping"],"description":"fuzz"}`,
			`{"url":"http://[::1]:1/","events":["*"],"account_id":"0000000"}`, `{"url":"https://u:p@example.com/","events":[]}`),
		body("PATCH /v1/webhooks/:id", "/v1/webhooks/999999", super.token, `{"url":"https://127.0.0.1:1/fuzz","events":["ping"],"enabled":false}`),
		body("POST /v1/webhooks/:id/rotate-secret", "/v1/webhooks/999999/rotate-secret", super.token, `{}`),
		body("POST /v1/webhooks/:id/ping", "/v1/webhooks/999999/ping", super.token, `{}`),
		body("POST /v1/webhooks/:id/deliveries/:delivery_id/retry", "/v1/webhooks/999999/deliveries/1/retry", super.token, `{}`),
	}

	query := func(path, token, valid string, list bool, seeds ...string) fuzzRoute {
		return fuzzRoute{key: "GET " + path, method: "GET", path: path, token: token, valid: valid, list: list, seeds: seeds}
	}
	pageSeeds := []string{"limit=0", "limit=501", "limit=-1", "limit=1e3", "limit=9223372036854775808", "cursor=aWQ6MA", "cursor=aWQ6LTE", "cursor=%00", "cursor=aWQ6OTIyMzM3MjAzNjg1NDc3NTgwOA", "limit=1&limit=2", "limit=%zz"}
	fa.queries = []fuzzRoute{
		query("/v1/contracts", super.token, "status=active&program=standard&expiring_within_days=90&limit=2", true,
			"expiring_within_days=-1", "expiring_within_days=99999999999999999999", "status=ACTIVE", "account_id=0000000", "q=%27%20OR%201%3D1", "q=%00"),
		query("/v1/renewals", super.token, "within_days=90&limit=1", true, "within_days=-5", "within_days=1e9", "within_days=%2B3", "format=xml", "format=CSV&within_days=x"),
		{key: "GET /v1/renewals (csv)", method: "GET", path: "/v1/renewals", token: super.token, valid: "format=csv&within_days=365", accept: "text/csv",
			seeds: []string{"within_days=-1", "format=json", "within_days=0"}},
		query("/v1/renewals", renewalsKey, "within_days=30", true),
		query("/v1/products", admin.token, "limit=1", true),
		query("/v1/licenses", admin.token, "limit=1", true),
		query(lnPath+"/members", admin.token, "limit=1", true),
		query(lnPath+"/requests", admin.token, "limit=1", true),
		query(lnPath+"/audit", admin.token, "limit=1", true),
		query(lnPath+"/keys", admin.token, "limit=1", true),
		query(lnPath+"/support", admin.token, "version=1.0", false, "version=%00", "version=../1"),
		query("/v1/users", super.token, "email="+url.QueryEscape(other.email), true, "email=%00", "email=%25"),
		query("/v1/staff", super.token, "limit=1", true),
		query("/v1/api-keys", super.token, "limit=1", true),
		query("/v1/audit", super.token, "action=registration&since=2026-01-01&until=2026-12-31", true, "since=2026-13-01", "until=0000-00-00", "actor=%00"),
		query("/v1/registration-help", super.token, "status=open", true, "status=closed"),
		query("/v1/entitlements/check", admin.token, "license_number="+ln+"&entitlement=downloads.read&version=1.0", false,
			"license_number="+strings.ToLower(ln)+"&entitlement=x", "license_number=LN-0000-0000-0000-0001"),
		query("/v1/entitlements/check", introKey, "license_number="+ln+"&entitlement=assets.read&user="+url.QueryEscape(admin.email), false),
		{key: "GET /v1/licenses/:ln", method: "GET", path: "/v1/licenses/", token: admin.token, valid: ln, segment: true, lnParam: true,
			seeds: []string{strings.ToLower(strings.ReplaceAll(ln, "-", "")), "LN-7KQ2-M9XD-44TB-R1ZC", "\x00", "LN-ſ000-0000-0000-0000", "%"}},
		{key: "GET /v1/licenses/:ln/support", method: "GET", path: "/v1/licenses/", token: admin.token, valid: ln + "/support", segment: true},
		{key: "GET /v1/products/:sku", method: "GET", path: "/v1/products/", token: admin.token, valid: sku, segment: true, seeds: []string{strings.ToLower(sku), "A\x00B"}},
	}
	// The paging seeds once, on the contracts list (every list parses ?limit= and ?cursor= with
	// the same two functions); each seed costs a baseline execution at every fuzz start.
	fa.queries[0].seeds = append(fa.queries[0].seeds, pageSeeds...)

	// A body route added to the router without a case here fails the fuzzers' setup, as it
	// fails TestHostileBodies. Logout reads no body.
	engine := a.handler.(*gin.Engine)
	for _, ri := range engine.Routes() {
		key := ri.Method + " " + ri.Path
		if !strings.HasPrefix(ri.Path, "/v1/") || (ri.Method != "POST" && ri.Method != "PUT" && ri.Method != "PATCH") || key == "POST /v1/auth/logout" {
			continue
		}
		if !slices.ContainsFunc(fa.bodies, func(r fuzzRoute) bool { return r.key == key }) {
			f.Fatalf("%s has no fuzz case: add one to newFuzzApp", key)
		}
	}
	return fa
}

// fuzzAnswer is one answer of the router.
type fuzzAnswer struct {
	status int
	header http.Header
	raw    []byte
}

func (r fuzzAnswer) String() string {
	b := r.raw
	if len(b) > 600 {
		b = append(b[:600:600], "…"...)
	}
	return fmt.Sprintf("%d %s %s", r.status, r.header.Get("Content-Type"), b)
}

// serve sends one request through the router in-process. path is the decoded path, as the
// server sees it after the client's escapes are undone; query is the raw query string.
func (fa *fuzzApp) serve(t *testing.T, rt fuzzRoute, path, query string, body []byte) fuzzAnswer {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(rt.method, "/", nil)
	if rd != nil {
		req = httptest.NewRequest(rt.method, "/", rd)
		req.Header.Set("Content-Type", "application/json")
		if rt.form {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	req.URL.Path, req.URL.RawPath, req.URL.RawQuery = path, "", query
	req.Header.Set("Accept", "application/json")
	if rt.accept != "" {
		req.Header.Set("Accept", rt.accept)
	}
	if rt.token != "" {
		req.Header.Set("Authorization", "Bearer "+rt.token)
	}
	rec := httptest.NewRecorder()
	func() {
		// An export cut short aborts with http.ErrAbortHandler, which net/http would swallow
		// and the recorder cannot: on a healthy database it is a failure like any other.
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("%s %s?%s: the handler aborted: %v", rt.method, path, query, p)
			}
		}()
		fa.handler.ServeHTTP(rec, req)
	}()
	return fuzzAnswer{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
}

// check holds an answer to what every answer promises: no 5xx; an error is problem+json with
// all five members, a snake_case code and its own status; no SQL, driver or stack text that the
// input did not bring itself; a page has items and next_cursor; a CSV has one column count.
func (fa *fuzzApp) check(t *testing.T, rt fuzzRoute, input string, r fuzzAnswer) {
	t.Helper()
	label := fmt.Sprintf("%s %q", rt.key, clip(input))
	if r.status >= 500 {
		t.Fatalf("%s: answered %s", label, r)
	}
	low, lowIn := strings.ToLower(string(r.raw)), strings.ToLower(input)
	for _, l := range leaks {
		if strings.Contains(low, strings.ToLower(l)) && !strings.Contains(lowIn, strings.ToLower(l)) {
			t.Fatalf("%s: answer leaks %q: %s", label, l, r)
		}
	}
	if r.status >= 400 {
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Fatalf("%s: %d answered with Content-Type %q", label, r.status, ct)
		}
		var p map[string]any
		if err := json.Unmarshal(r.raw, &p); err != nil {
			t.Fatalf("%s: problem is not a JSON object: %s", label, r)
		}
		for _, k := range []string{"type", "title", "status", "detail", "code"} {
			if _, ok := p[k]; !ok {
				t.Fatalf("%s: problem lacks %q: %s", label, k, r)
			}
		}
		if code, _ := p["code"].(string); !snakeCode.MatchString(code) {
			t.Fatalf("%s: code %q is not a snake_case code: %s", label, code, r)
		}
		if s, _ := p["status"].(float64); int(s) != r.status {
			t.Fatalf("%s: problem status %v on a %d answer", label, p["status"], r.status)
		}
		return
	}
	if r.status != http.StatusOK {
		return
	}
	switch ct := r.header.Get("Content-Type"); {
	case strings.HasPrefix(ct, "text/csv"):
		rows, err := csv.NewReader(bytes.NewReader(r.raw)).ReadAll()
		if err != nil {
			t.Fatalf("%s: the CSV does not parse: %v", label, err)
		}
		if len(rows) == 0 || !slices.Equal(rows[0], csvHeader) {
			t.Fatalf("%s: the CSV's header is not the contract's: %q", label, rows)
		}
	case rt.list:
		var page map[string]json.RawMessage
		if err := json.Unmarshal(r.raw, &page); err != nil {
			t.Fatalf("%s: a page is not a JSON object: %s", label, r)
		}
		var items []json.RawMessage
		if err := json.Unmarshal(page["items"], &items); err != nil || items == nil {
			t.Fatalf("%s: a page without an items array: %s", label, r)
		}
		if _, ok := page["next_cursor"]; !ok {
			t.Fatalf("%s: a page without next_cursor: %s", label, r)
		}
	}
}

// fuzzStateTables hold what a request changes for good: an answer of 4xx must leave every one
// as it was. Left out: the records of failures themselves (auth_failures), the letter cap
// (letter_log), sessions and idempotency keys.
var fuzzStateTables = []string{
	"accounts", "orders", "licenses", "contracts", "contract_terms", "products", "product_versions", "members",
	"join_requests", "invitations", "help_requests", "api_keys", "license_keys", "users", "audit_log", "user_tokens",
}

// state is a digest of fuzzStateTables and of the number of letters queued. (River works its
// jobs meanwhile, so only their number is stable.)
func (fa *fuzzApp) state(t *testing.T) [32]byte {
	t.Helper()
	h := sha256.New()
	ctx := context.Background()
	// The letter jobs of signup, forgot and recover (River's default queue) write after the
	// answer: wait for them, so that what an earlier request's job writes is not taken for this
	// one's, and what this one's writes is seen.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var pending int
		if err := fa.store.SQLDB().QueryRowContext(ctx, "SELECT count(*) FROM river_job WHERE queue = 'default' AND state IN ('available', 'pending', 'running', 'retryable', 'scheduled')").Scan(&pending); err != nil {
			t.Fatalf("count jobs: %v", err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs of the default queue still pending after 30 s", pending)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, table := range fuzzStateTables {
		rows, err := fa.store.SQLDB().QueryContext(ctx, "SELECT * FROM "+table+" ORDER BY 1")
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("read %s: %v", table, err)
			}
			for i, c := range cols {
				// An API key's last use is recorded on every authenticated request, failed or
				// not (contract: keys list their last use): not a write of the request's own.
				if strings.HasPrefix(c, "last_used") {
					vals[i] = nil
				}
			}
			fmt.Fprintf(h, "%s%q\n", table, vals)
		}
		if err := rows.Close(); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
	}
	var letters int
	if err := fa.store.SQLDB().QueryRowContext(ctx, "SELECT count(*) FROM river_job WHERE kind = 'send_letter'").Scan(&letters); err != nil {
		t.Fatalf("count letters: %v", err)
	}
	fmt.Fprintf(h, "letters %d", letters)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// FuzzRouteBodies sends a body to one of the body routes (route picks it) as a caller allowed
// there: never a 5xx, every error a coded problem, and an error answer writes nothing (no row
// of fuzzStateTables changes, no letter is queued), so that no request is ever half-applied.
func FuzzRouteBodies(f *testing.F) {
	fa := newFuzzApp(f)
	// Few seeds in code: each costs a baseline execution of the instrumented binary at every
	// fuzz start (tens of milliseconds here), and TestHostileBodies sends the generic mutations.
	// The nastiest finds are in testdata/fuzz/FuzzRouteBodies.
	for i, rt := range fa.bodies {
		for _, b := range append([]string{rt.valid}, rt.seeds...) {
			f.Add(uint8(i), []byte(b))
		}
	}
	for _, b := range []string{"", "null", `{"a":1} x`} {
		f.Add(uint8(0), []byte(b))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fa.bodies[int(route)%len(fa.bodies)]
		before := fa.state(t)
		r := fa.serve(t, rt, rt.path, "", body)
		fa.check(t, rt, string(body), r)
		if r.status >= 400 && fa.state(t) != before {
			t.Fatalf("%s %q answered %s but changed the database", rt.key, clip(string(body)), r)
		}
	})
}

// FuzzListQueries sends a query string to one of the list and lookup routes (route picks it), or
// for a segment route puts the string in the path: never a 5xx, every error a coded problem, a
// page in the shape of every page, a CSV that parses, and a malformed License Number in the path
// answered 400 invalid_license_number.
func FuzzListQueries(f *testing.F) {
	fa := newFuzzApp(f)
	for i, rt := range fa.queries {
		for _, q := range append([]string{rt.valid}, rt.seeds...) {
			f.Add(uint8(i), q)
		}
	}
	for _, q := range []string{"", "&", "=", "limit", "%", "a=%00&b=\xff"} {
		f.Add(uint8(1), q)
	}
	f.Fuzz(func(t *testing.T, route uint8, q string) {
		rt := fa.queries[int(route)%len(fa.queries)]
		path, query := rt.path, q
		if rt.segment {
			path, query = rt.path+q, ""
		}
		r := fa.serve(t, rt, path, query, nil)
		fa.check(t, rt, q, r)
		if rt.lnParam && q != "" && q != "." && q != ".." && !strings.Contains(q, "/") {
			if _, err := models.ParseLicenseNumber(q); err != nil && (r.status != http.StatusBadRequest || !bytes.Contains(r.raw, []byte(`"code":"invalid_license_number"`))) {
				t.Fatalf("GET /v1/licenses/%q: a malformed License Number answered %s", q, r)
			}
		}
	})
}
