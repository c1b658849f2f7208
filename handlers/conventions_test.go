package handlers

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"entitled/handlers/handlerstest"
	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// The conventions every client can rely on (contract): problem types that link to their page,
// Link headers on lists, RateLimit headers on throttled routes.

// A problem's type is <ENTITLED_BASE_URL>/problems/<code>, on every path that fails: a handler's
// error, an unknown route, a refused method.
func TestConventions_ProblemTypeIsThePageOfItsCode(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		a := handlerstest.NewApp(t, d, func(d handlerstest.Deps) (http.Handler, error) {
			d.BaseURL = testBaseURL + "/"
			return New(Deps(d))
		})
		for _, tc := range []struct {
			method, path, code string
		}{
			{"GET", "/v1/no-such-thing", models.CodeNotFound},
			{"GET", "/v1/me", models.CodeUnauthenticated},
			{"DELETE", "/v1/me", models.CodeMethodNotAllowed},
			{"GET", "/v1/licenses/LN-XXXX", models.CodeUnauthenticated},
		} {
			r := a.Do(t, tc.method, tc.path, "", nil)
			handlerstest.Want(t, r, r.Status, tc.code)
			if got, want := r.Str("type"), testBaseURL+"/problems/"+tc.code; got != want {
				t.Errorf("%s %s: type %q, want %q", tc.method, tc.path, got, want)
			}
		}
	})
	// Without a base URL the type is a path, which a client resolves against the request's URL.
	a := newTestApp(t, dbstore.SQLite)
	if got := a.do(t, "GET", "/v1/me", "", nil).str("type"); got != "/problems/unauthenticated" {
		t.Errorf("type %q without a base URL, want /problems/unauthenticated", got)
	}
}

var linkNextRE = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// Every paginated list sends Link: <…?cursor=…>; rel="next" while there is a next page, keeping
// the request's other parameters; following the links alone walks the whole list once.
func TestConventions_LinkHeaderWalksAList(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		root := a.newStaff(t, models.RoleSuperadmin)
		for range 4 {
			a.newStaff(t, models.RoleOps)
		}
		seen := map[string]bool{}
		path, pages := "/v1/staff?limit=2", 0
		for path != "" {
			r := a.do(t, "GET", path, root.token, nil)
			want(t, r, http.StatusOK)
			pages++
			for _, it := range r.items() {
				email, _ := it["email"].(string)
				if seen[email] {
					t.Fatalf("%s seen twice", email)
				}
				seen[email] = true
			}
			link := r.header.Get("Link")
			next, _ := r.body["next_cursor"].(string)
			if (link == "") != (next == "") {
				t.Fatalf("page %d: Link %q but next_cursor %q", pages, link, next)
			}
			path = ""
			if link == "" {
				break
			}
			m := linkNextRE.FindStringSubmatch(link)
			if m == nil {
				t.Fatalf("Link %q is not <…>; rel=\"next\"", link)
			}
			u, err := url.Parse(m[1])
			if err != nil || u.Query().Get("cursor") != next || u.Query().Get("limit") != "2" || u.Path != "/v1/staff" {
				t.Fatalf("Link %q: want /v1/staff with limit=2 and cursor=%s", link, next)
			}
			path = u.RequestURI()
		}
		if len(seen) != 5 || pages != 3 {
			t.Errorf("walked %d staff users in %d pages, want 5 in 3", len(seen), pages)
		}
	})
}

var rateLimitRE = regexp.MustCompile(`^"anon";r=(\d+);t=(\d+)$`)

// A throttled route answers RateLimit-Policy and RateLimit on every answer, the remaining budget
// going down with each request, and Retry-After with the 429.
func TestConventions_RateLimitHeaders(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		remaining := func(r *resp) int {
			t.Helper()
			if p := r.header.Get("RateLimit-Policy"); p != `"anon";q=3;w=60` {
				t.Fatalf("RateLimit-Policy %q", p)
			}
			m := rateLimitRE.FindStringSubmatch(r.header.Get("RateLimit"))
			if m == nil {
				t.Fatalf("RateLimit %q", r.header.Get("RateLimit"))
			}
			n, _ := strconv.Atoi(m[1])
			if secs, _ := strconv.Atoi(m[2]); secs < 1 || secs > 60 {
				t.Errorf("RateLimit t=%d, want 1..60 seconds until the budget is full", secs)
			}
			return n
		}
		for i := range 3 {
			r := a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": "nobody@example.com"})
			want(t, r, http.StatusAccepted)
			if n := remaining(r); n != 2-i {
				t.Errorf("request %d: %d left, want %d", i+1, n, 2-i)
			}
		}
		r := a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": "nobody@example.com"})
		want(t, r, http.StatusTooManyRequests, models.CodeTooManyAttempts)
		if remaining(r) != 0 || retryAfter(t, r) < 1 {
			t.Errorf("429: RateLimit %q, Retry-After %q", r.header.Get("RateLimit"), r.header.Get("Retry-After"))
		}
		// A route that is not throttled says nothing of a budget.
		if r := a.do(t, "GET", "/healthz", "", nil); r.header.Get("RateLimit") != "" || strings.Contains(r.header.Get("RateLimit-Policy"), "anon") {
			t.Errorf("/healthz sends RateLimit headers: %v", r.header)
		}
	}, withRateAnon(3))
}

// Every code of the error map has a page, generated from the one map, that says what it means and
// what to do; a problem's type opens it. An unknown code is an HTML 404.
func TestConventions_EveryProblemCodeHasAPage(t *testing.T) {
	a := newTestApp(t, dbstore.SQLite)
	for code, status := range statusByCode {
		doc, ok := models.ProblemDocFor(code)
		if !ok || doc.Title == "" || doc.Meaning == "" || doc.Action == "" {
			t.Errorf("%s has no explanation in models.ProblemDocFor: %+v", code, doc)
			continue
		}
		r := a.do(t, "GET", "/problems/"+code, "", nil)
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
			t.Errorf("/problems/%s: %d %s", code, r.status, r.header.Get("Content-Type"))
			continue
		}
		page := string(r.raw)
		for _, s := range []string{htmlText(doc.Title), htmlText(doc.Meaning), htmlText(doc.Action), "HTTP " + strconv.Itoa(status)} {
			if !strings.Contains(page, s) {
				t.Errorf("/problems/%s does not say %q", code, s)
			}
		}
	}
	for _, code := range models.ProblemCodes() {
		if _, ok := statusByCode[code]; !ok {
			t.Errorf("%s is explained but not in the error map", code)
		}
	}
	index := a.do(t, "GET", "/problems", "", nil)
	if index.status != http.StatusOK || strings.Count(string(index.raw), `href="/problems/`) != len(statusByCode) {
		t.Errorf("/problems: %d, %d links, want one per code (%d)", index.status, strings.Count(string(index.raw), `href="/problems/`), len(statusByCode))
	}
	// (Not through a.do, which holds every refusal to be problem+json.)
	res, err := a.srv.Client().Get(a.srv.URL + "/problems/no_such_code")
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Errorf("/problems/no_such_code: %d %s, want an HTML 404", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

// htmlText is s as html/template writes it in a page's text.
func htmlText(s string) string { return template.HTMLEscapeString(s) }

// A changeable resource answers an ETag; a PATCH with a stale If-Match is refused with 412
// precondition_failed and changes nothing; of two writers racing with the same tag, one wins.
func TestConventions_ETagAndIfMatch_Webhook(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		su := a.newStaff(t, models.RoleSuperadmin).token
		r := a.do(t, "POST", "/v1/webhooks", su, map[string]any{"url": "http://127.0.0.1:9/in", "events": []string{"*"}, "description": "v1"})
		want(t, r, http.StatusCreated)
		path := "/v1/webhooks/" + r.str("id")
		g := a.do(t, "GET", path, su, nil)
		tag := g.header.Get("ETag")
		if !strings.HasPrefix(tag, `"`) || a.do(t, "GET", path, su, nil).header.Get("ETag") != tag {
			t.Fatalf("ETag %q: want a strong tag, the same on every read", tag)
		}
		p := a.do(t, "PATCH", path, su, map[string]any{"description": "v2"}, "If-Match", tag)
		want(t, p, http.StatusOK)
		newTag := p.header.Get("ETag")
		if newTag == tag || newTag != a.do(t, "GET", path, su, nil).header.Get("ETag") {
			t.Fatalf("after a change: ETag %q (was %q), GET says %q", newTag, tag, a.do(t, "GET", path, su, nil).header.Get("ETag"))
		}
		stale := a.do(t, "PATCH", path, su, map[string]any{"description": "lost update"}, "If-Match", tag)
		want(t, stale, http.StatusPreconditionFailed, models.CodePreconditionFailed)
		if d := a.do(t, "GET", path, su, nil).str("description"); d != "v2" {
			t.Errorf("a refused PATCH changed the description to %q", d)
		}
		// No If-Match: the change goes through (the header is optional).
		want(t, a.do(t, "PATCH", path, su, map[string]any{"description": "v3"}), http.StatusOK)

		// Two writers with the same tag: exactly one wins.
		tag = a.do(t, "GET", path, su, nil).header.Get("ETag")
		statuses := make(chan int, 2)
		for i := range 2 {
			go func() {
				statuses <- a.do(t, "PATCH", path, su, map[string]any{"description": "racer " + strconv.Itoa(i)}, "If-Match", tag).status
			}()
		}
		got := map[int]int{}
		for range 2 {
			got[<-statuses]++
		}
		if got[http.StatusOK] != 1 || got[http.StatusPreconditionFailed] != 1 {
			t.Errorf("two writers with one tag: %v, want one 200 and one 412", got)
		}
	})
}

// HEAD answers wherever GET does, with GET's status and headers and no body: the API, a page.
func TestConventions_HEADAnswersWhereGETDoes(t *testing.T) {
	a := newTestApp(t, dbstore.SQLite)
	u := a.newUser(t)
	for _, tc := range []struct{ path, token, contentType string }{
		{"/v1/me", u.token, "application/json"},
		{"/login", "", "text/html"},
		{"/healthz", "", ""},
		{"/problems/not_found", "", "text/html"},
	} {
		get := a.do(t, "GET", tc.path, tc.token, nil)
		req, _ := http.NewRequest(http.MethodHead, a.srv.URL+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		res, err := a.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != get.status || len(body) != 0 || !strings.HasPrefix(res.Header.Get("Content-Type"), tc.contentType) {
			t.Errorf("HEAD %s: %d, %d bytes, %q; GET answered %d", tc.path, res.StatusCode, len(body), res.Header.Get("Content-Type"), get.status)
		}
	}
	// A path that GET does not answer is no more answered by HEAD.
	req, _ := http.NewRequest(http.MethodHead, a.srv.URL+"/v1/auth/login", nil)
	if res, err := a.srv.Client().Do(req); err != nil || res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("HEAD of a POST-only route: %v %v, want 405", res, err)
	}
}

// A browser that opens an address the portal does not have gets an HTML 404 page; an API client
// (or any path under /v1) gets problem+json.
func TestConventions_UnknownPageIsAnHTML404ForBrowsers(t *testing.T) {
	a := newTestApp(t, dbstore.SQLite)
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	for _, tc := range []struct{ path, accept, contentType string }{
		{"/no/such/page", browser, "text/html"},
		{"/no/such/page", "application/json", "application/problem+json"},
		{"/no/such/page", "*/*", "application/problem+json"},
		{"/v1/no/such/thing", browser, "application/problem+json"},
	} {
		req, _ := http.NewRequest(http.MethodGet, a.srv.URL+tc.path, nil)
		req.Header.Set("Accept", tc.accept)
		res, err := a.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusNotFound || !strings.HasPrefix(res.Header.Get("Content-Type"), tc.contentType) {
			t.Errorf("GET %s (Accept %s): %d %q, want 404 %s", tc.path, tc.accept, res.StatusCode, res.Header.Get("Content-Type"), tc.contentType)
		}
		if tc.contentType == "text/html" && !strings.Contains(string(body), "Page not found") {
			t.Errorf("GET %s: the page does not say it was not found", tc.path)
		}
	}
}

// GET /.well-known/entitled-configuration tells a verifier everything it needs from one URL, and
// every URL it gives answers.
func TestConventions_WellKnownConfiguration(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		r := a.do(t, "GET", "/.well-known/entitled-configuration", "", nil)
		want(t, r, http.StatusOK)
		for _, k := range []string{"issuer", "jwks_uri", "token_endpoint", "introspection_endpoint", "status_list_base"} {
			if !strings.HasPrefix(r.str(k), "http") {
				t.Errorf("%s = %q, want an absolute URL", k, r.str(k))
			}
		}
		if r.str("issuer") != testBaseURL || r.str("jwks_uri") != testBaseURL+"/.well-known/jwks.json" ||
			r.str("token_endpoint") != testBaseURL+"/v1/entitlements/token" || r.str("status_list_base") != testBaseURL+"/v1/status-lists" {
			t.Errorf("configuration %s", r)
		}
		if algs := r.body["signing_alg_values_supported"]; fmt.Sprint(algs) != "[EdDSA]" {
			t.Errorf("signing_alg_values_supported = %v, want [EdDSA]", algs)
		}
		if ttl, _ := r.body["token_ttl_seconds"].(float64); ttl <= 0 {
			t.Errorf("token_ttl_seconds = %v", r.body["token_ttl_seconds"])
		}
		if auds, _ := r.body["audiences"].([]any); len(auds) == 0 {
			t.Errorf("audiences = %v", r.body["audiences"])
		}
		// The paths it names are served here (the base URL is the test's public name).
		for _, k := range []string{"jwks_uri"} {
			want(t, a.do(t, "GET", strings.TrimPrefix(r.str(k), testBaseURL), "", nil), http.StatusOK)
		}
	})
}

// A product's ETag covers its versions: a PATCH of a version's phase with a stale If-Match is
// 412 and changes nothing. An account's PATCH honours If-Match the same way.
func TestConventions_ETagAndIfMatch_ProductAndAccount(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		sku := a.NewProduct(t, ops, [3]string{"1.0.0", "2025-01-01", "full"}, [3]string{"2.0.0", "2026-01-01", "full"})
		path := "/v1/products/" + sku
		tag := a.do(t, "GET", path, ops, nil).header.Get("ETag")
		if tag == "" {
			t.Fatal("GET /products/{sku} answers no ETag")
		}
		want(t, a.do(t, "PATCH", path+"/versions/1.0.0", ops, map[string]any{"phase": "limited"}, "If-Match", tag), http.StatusOK)
		newTag := a.do(t, "GET", path, ops, nil).header.Get("ETag")
		if newTag == tag {
			t.Fatal("a version's new phase left the product's ETag as it was")
		}
		want(t, a.do(t, "PATCH", path+"/versions/2.0.0", ops, map[string]any{"phase": "discontinued"}, "If-Match", tag), http.StatusPreconditionFailed, models.CodePreconditionFailed)
		if vs := a.do(t, "GET", path, ops, nil).shared().Objects("versions"); vs[1]["phase"] != "full" {
			t.Errorf("a refused PATCH changed 2.0.0 to %v", vs[1]["phase"])
		}
		want(t, a.do(t, "PATCH", path+"/versions/2.0.0", ops, map[string]any{"phase": "discontinued"}, "If-Match", newTag), http.StatusOK)

		_, acct, _ := a.FreshLicense(t, ops, nil)
		apath := "/v1/accounts/" + acct
		// The tag GET /accounts/{id} answers is the one its PATCH checks.
		atag := a.do(t, "GET", apath, ops, nil).header.Get("ETag")
		r := a.do(t, "PATCH", apath, ops, map[string]any{"name": "Renamed Ltd"}, "If-Match", atag)
		want(t, r, http.StatusOK)
		if r.header.Get("ETag") != a.do(t, "GET", apath, ops, nil).header.Get("ETag") || r.header.Get("ETag") == atag {
			t.Errorf("PATCH answered ETag %q; GET now says %q (was %q)", r.header.Get("ETag"), a.do(t, "GET", apath, ops, nil).header.Get("ETag"), atag)
		}
		atag = r.header.Get("ETag")
		want(t, a.do(t, "PATCH", apath, ops, map[string]any{"name": "Again Ltd"}, "If-Match", atag), http.StatusOK)
		want(t, a.do(t, "PATCH", apath, ops, map[string]any{"name": "Lost Update Ltd"}, "If-Match", atag), http.StatusPreconditionFailed, models.CodePreconditionFailed)
	})
}

// GET /v1/audit?format=csv|jsonl (or Accept: text/csv, application/jsonl) streams every entry the
// filters match, newest first: the same entries, in the same order, as the JSON pages hold.
func TestAuditExport_CSVAndJSONLinesHoldEveryMatchingEntry(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		root := a.newStaff(t, models.RoleSuperadmin)
		for range 3 {
			a.newStaff(t, models.RoleOps)
		}
		// The JSON pages, walked to the end, are what the exports must hold.
		var entries []map[string]any
		for path := "/v1/audit?limit=2"; path != ""; {
			r := a.do(t, "GET", path, root.token, nil)
			entries = append(entries, r.items()...)
			path = ""
			if next, _ := r.body["next_cursor"].(string); next != "" {
				path = "/v1/audit?limit=2&cursor=" + next
			}
		}
		if len(entries) < 4 {
			t.Fatalf("%d audit entries, want at least the 4 staff users' creation", len(entries))
		}

		for _, tc := range []struct{ query, accept string }{{"?format=csv", ""}, {"", "text/csv"}} {
			r := a.do(t, "GET", "/v1/audit"+tc.query, root.token, nil, "Accept", tc.accept)
			if tc.accept == "" {
				r = a.do(t, "GET", "/v1/audit"+tc.query, root.token, nil)
			}
			want(t, r, http.StatusOK)
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || !strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
				t.Fatalf("%s %s: Content-Type %q, Content-Disposition %q", tc.query, tc.accept, ct, r.header.Get("Content-Disposition"))
			}
			rows, err := csv.NewReader(bytes.NewReader(r.raw)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(rows[0], ",") != strings.Join(auditCSVHeader, ",") || len(rows) != len(entries)+1 {
				t.Fatalf("CSV header %v and %d rows, want %v and %d", rows[0], len(rows)-1, auditCSVHeader, len(entries))
			}
			for i, w := range entries {
				if rows[i+1][0] != w["id"] || rows[i+1][2] != w["action"] || rows[i+1][3] != w["subject"] {
					t.Errorf("CSV row %d %v, want entry %v", i+1, rows[i+1], w)
				}
				var details map[string]any
				if err := json.Unmarshal([]byte(rows[i+1][9]), &details); err != nil {
					t.Errorf("CSV row %d: details %q are not a JSON object", i+1, rows[i+1][9])
				}
			}
		}

		r := a.do(t, "GET", "/v1/audit?format=jsonl", root.token, nil)
		want(t, r, http.StatusOK)
		if ct := r.header.Get("Content-Type"); ct != "application/jsonl" {
			t.Errorf("Content-Type %q, want application/jsonl", ct)
		}
		lines := strings.Split(strings.TrimSuffix(string(r.raw), "\n"), "\n")
		if len(lines) != len(entries) {
			t.Fatalf("%d JSON lines, want %d", len(lines), len(entries))
		}
		for i, l := range lines {
			var got map[string]any
			if err := json.Unmarshal([]byte(l), &got); err != nil {
				t.Fatalf("line %d: %v", i+1, err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(entries[i])
			if string(g) != string(w) {
				t.Errorf("line %d: %s, want %s", i+1, g, w)
			}
		}

		// Filters apply to exports; a filter matching nothing is a header alone.
		r = a.do(t, "GET", "/v1/audit?format=csv&action=no.such.action", root.token, nil)
		want(t, r, http.StatusOK)
		if rows, _ := csv.NewReader(bytes.NewReader(r.raw)).ReadAll(); len(rows) != 1 {
			t.Errorf("an export matching nothing has %d rows, want the header alone", len(rows))
		}
		wantFields(t, a.do(t, "GET", "/v1/audit?format=xml", root.token, nil), map[string]string{"format": models.FieldInvalid})
		want(t, a.do(t, "GET", "/v1/audit?format=csv", a.newStaff(t, models.RoleOps).token, nil), http.StatusForbidden, models.CodeForbidden)
	})
}

// A member's PUT answers the member's ETag and honours If-Match: a stale tag (the roles changed
// since) is 412 and changes nothing; If-Match on someone who is not a member matches nothing.
func TestConventions_ETagAndIfMatch_Member(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln, admin, _ := a.tokenLicense(t)
		member := a.newUser(t)
		path := "/v1/licenses/" + ln + "/members/" + member.email
		r := a.do(t, "PUT", path, admin.token, map[string]any{"roles": []string{"support"}})
		want(t, r, http.StatusOK)
		tag := r.header.Get("ETag")
		r = a.do(t, "PUT", path, admin.token, map[string]any{"roles": []string{"support", "license"}}, "If-Match", tag)
		want(t, r, http.StatusOK)
		if r.header.Get("ETag") == tag {
			t.Error("new roles, same ETag")
		}
		want(t, a.do(t, "PUT", path, admin.token, map[string]any{"roles": []string{"admin"}}, "If-Match", tag), http.StatusPreconditionFailed, models.CodePreconditionFailed)
		for _, m := range a.do(t, "GET", "/v1/licenses/"+ln+"/members", admin.token, nil).items() {
			if m["email"] == member.email && roleSet(m["roles"]) != "support,license" {
				t.Errorf("a refused PUT changed the roles to %v", m["roles"])
			}
		}
		stranger := a.newUser(t)
		want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+stranger.email, admin.token, map[string]any{"roles": []string{"support"}}, "If-Match", tag),
			http.StatusPreconditionFailed, models.CodePreconditionFailed)
	})
}
