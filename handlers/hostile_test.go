package handlers

// Hostile bodies: every POST/PUT/PATCH route of /v1, as the router lists it, gets hundreds of
// mutated bodies from a caller who may use the route, so that each body reaches the decoder and
// the service. No answer may be a 5xx, every error must be a coded problem, and no answer may
// leak SQL, driver or stack text.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

// member is one member of a valid body, in order.
type member struct {
	key string
	val any
}

// rawJSON is a member value sent as is, not encoded.
type rawJSON string

// encodeMembers writes the members as a JSON object, each value encoded unless it is rawJSON.
func encodeMembers(ms []member) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.key)
		b.Write(k)
		b.WriteByte(':')
		if r, ok := m.val.(rawJSON); ok {
			b.WriteString(string(r))
			continue
		}
		v, _ := json.Marshal(m.val)
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}

// replaced is the members with the i-th value replaced.
func replaced(ms []member, i int, v any) []member {
	out := append([]member(nil), ms...)
	out[i] = member{ms[i].key, v}
	return out
}

// nested is n objects (or arrays) inside each other.
func nested(n int, array bool) string {
	open, end := `{"a":`, `}`
	if array {
		open, end = "[", "]"
	}
	return strings.Repeat(open, n) + "1" + strings.Repeat(end, n)
}

// hostileStrings are string values that have no business in any field. None contains a word the
// leak check looks for, so that an echo of the input is not mistaken for a leak.
var hostileStrings = []rawJSON{
	`"' OR 1=1 --"`,
	`"<script>alert(1)</script>"`,
	`"a\r\nBcc: x@evil.example"`,
	`"nul\u0000byte"`,
	"\"invalid \xff\xfe utf8\"",
	`"lone \ud800 surrogate"`,
	`"\u202e\u200b\ufeffZ\u0301\u0300 👩‍👩‍👧 𝔘𝔫𝔦"`,
	`""`,
	`"   "`,
	`"-1"`,
	`"99999999999999999999999999"`,
	`"2026-02-30"`,
	`"../../etc/passwd"`,
	`"%00%0d%0a"`,
}

// hostileValues are values of every JSON type but the expected one, and extremes.
var hostileValues = []rawJSON{
	`null`, `true`, `0`, `-1`, `1.5`, `1e309`, `-9223372036854775809`, `18446744073709551616`,
	`[]`, `["a",1,null]`, `{}`, `{"a":"b"}`, rawJSON(nested(200, false)),
}

// mutations are the hostile bodies for a route whose valid body is valid.
func mutations(valid []member) []string {
	huge := strings.Repeat("A", 900<<10)
	var out []string
	out = append(out,
		"", " ", "null", "true", "0", "-1", "1e999", "123456789012345678901234567890", `"a string"`,
		"[]", "[{}]", "[1,2,3]", `[`+encodeMembers(valid)+`]`, "{}", "{", "}", `{"a":}`, `{'a':1}`,
		`{"a":1,}`, nested(500, false), nested(20000, false), nested(20000, true),
		`"`+huge+`"`, `{"x":"`+huge+`"}`, "\x00", "\xff\xfe\xfd", "\ufeff{}",
		encodeMembers(valid)+"garbage", encodeMembers(valid)+"{}", encodeMembers(valid)+"]",
		encodeMembers(append(append([]member(nil), valid...), member{"unknown_member", "x"})),
	)
	for i, m := range valid {
		// Removed: the valid body without this member.
		out = append(out, encodeMembers(append(append([]member(nil), valid[:i]...), valid[i+1:]...)))
		// Duplicated: the member again with a hostile value, and the other way round.
		out = append(out, encodeMembers(append(append([]member(nil), valid...), member{m.key, rawJSON(`123`)})))
		out = append(out, encodeMembers(append([]member{{m.key, rawJSON(`{"x":1}`)}}, valid...)))
		for _, v := range hostileValues {
			out = append(out, encodeMembers(replaced(valid, i, v)))
		}
		for _, s := range hostileStrings {
			out = append(out, encodeMembers(replaced(valid, i, s)))
		}
		out = append(out, encodeMembers(replaced(valid, i, strings.Repeat("é", 60000))))
	}
	return out
}

// hostileRoute is how one route is called: the path with real values, the caller, a valid body.
type hostileRoute struct {
	path  string
	token string
	valid []member
	form  bool // the body is a form (introspection), not JSON
}

var snakeCode = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// leaks are texts no answer may carry: SQL, driver, ORM and stack traces.
var leaks = []string{"SELECT ", "sqlite", "pq:", "gorm", "goroutine", ".go:", "panic"}

func TestHostileBodies(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		super := a.newStaff(t, models.RoleSuperadmin, models.RoleOps, models.RoleRenewals, models.RoleSupport)
		ops := a.newStaff(t, models.RoleOps).token
		ln, admin, contractID := a.tokenLicense(t)
		sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
		_, acct, _ := a.freshLicense(t, ops, nil)
		ordersKey := a.newAPIKey(t, models.ScopeOrdersWrite)
		introKey := a.newAPIKey(t, models.ScopeEntitlementsIntrospect)
		other := a.newUser(t)
		entToken := a.token(t, admin, ln, "downloads")
		order, _ := a.order(map[string]any{"sku": sku, "quantity": 2, "kind": "perpetual",
			"support": map[string]any{"program": "standard", "premier": false, "starts_on": "2026-01-01", "ends_on": "2026-12-31"}})
		orderMembers := []member{{"order_ref", order["order_ref"]}, {"account", order["account"]},
			{"primary_contact", order["primary_contact"]}, {"items", order["items"]}}

		routes := map[string]func() hostileRoute{
			"POST /v1/auth/signup": func() hostileRoute {
				return hostileRoute{"/v1/auth/signup", "", []member{{"email", "new-hostile@example.test"}, {"password", testPassword}, {"name", "Hostile"}}, false}
			},
			"POST /v1/auth/verify": func() hostileRoute {
				return hostileRoute{"/v1/auth/verify", "", []member{{"token", "not-a-real-token"}}, false}
			},
			"POST /v1/auth/login": func() hostileRoute {
				return hostileRoute{"/v1/auth/login", "", []member{{"email", other.email}, {"password", "wrong password 1234"}}, false}
			},
			"POST /v1/auth/logout": func() hostileRoute {
				return hostileRoute{"/v1/auth/logout", a.newUser(t).token, []member{{"all", true}}, false}
			},
			"POST /v1/auth/password/forgot": func() hostileRoute {
				return hostileRoute{"/v1/auth/password/forgot", "", []member{{"email", other.email}}, false}
			},
			"POST /v1/auth/password/reset": func() hostileRoute {
				return hostileRoute{"/v1/auth/password/reset", "", []member{{"token", "not-a-real-token"}, {"password", testPassword}}, false}
			},
			"POST /v1/auth/login/mfa": func() hostileRoute {
				return hostileRoute{"/v1/auth/login/mfa", "", []member{{"mfa_token", "not-a-real-token"}, {"code", "123456"}}, false}
			},
			"POST /v1/me/mfa/totp": func() hostileRoute {
				return hostileRoute{"/v1/me/mfa/totp", other.token, []member{{"x", 1}}, false}
			},
			"POST /v1/me/mfa/totp/confirm": func() hostileRoute {
				return hostileRoute{"/v1/me/mfa/totp/confirm", other.token, []member{{"code", "123456"}}, false}
			},
			"POST /v1/me/password": func() hostileRoute {
				return hostileRoute{"/v1/me/password", a.newUser(t).token, []member{{"current_password", testPassword}, {"new_password", "another fine passphrase 2026"}}, false}
			},
			"POST /v1/staff": func() hostileRoute {
				return hostileRoute{"/v1/staff", super.token, []member{{"email", "hostile-staff@example.test"}, {"name", "Hostile Staff"}, {"roles", []string{"ops"}}, {"password", testPassword}}, false}
			},
			"POST /v1/api-keys": func() hostileRoute {
				return hostileRoute{"/v1/api-keys", super.token, []member{{"name", "hostile"}, {"scopes", []string{models.ScopeRenewalsRead}}}, false}
			},
			"POST /v1/products": func() hostileRoute {
				return hostileRoute{"/v1/products", super.token, []member{{"sku", "HOSTILE-1"}, {"name", "Hostile"}}, false}
			},
			"POST /v1/products/:sku/versions": func() hostileRoute {
				return hostileRoute{"/v1/products/" + sku + "/versions", super.token, []member{{"version", "9.0"}, {"released_on", "2026-05-01"}, {"phase", "full"}}, false}
			},
			"PATCH /v1/products/:sku/versions/:version": func() hostileRoute {
				return hostileRoute{"/v1/products/" + sku + "/versions/1.0", super.token, []member{{"phase", "limited"}}, false}
			},
			"POST /v1/orders": func() hostileRoute {
				return hostileRoute{"/v1/orders", ordersKey, orderMembers, false}
			},
			"PATCH /v1/accounts/:account_id": func() hostileRoute {
				return hostileRoute{"/v1/accounts/" + acct, super.token, []member{{"name", "Renamed Corp"}, {"primary_contact", map[string]any{"name": "New Contact", "email": "new-contact@example.test"}}}, false}
			},
			"POST /v1/accounts/recover": func() hostileRoute {
				return hostileRoute{"/v1/accounts/recover", "", []member{{"email", other.email}}, false}
			},
			"POST /v1/registrations": func() hostileRoute {
				return hostileRoute{"/v1/registrations", other.token, []member{{"license_number", ln}, {"service_tag", "T999999"}, {"account_id", acct}}, false}
			},
			"PUT /v1/licenses/:ln/members/:email": func() hostileRoute {
				return hostileRoute{"/v1/licenses/" + ln + "/members/" + url.PathEscape(other.email), admin.token, []member{{"roles", []string{"support"}}, {"help_request_id", "1"}}, false}
			},
			"POST /v1/licenses/:ln/requests/:id/approve": func() hostileRoute {
				return hostileRoute{"/v1/licenses/" + ln + "/requests/1/approve", admin.token, []member{{"roles", []string{"license"}}}, false}
			},
			"POST /v1/licenses/:ln/requests/:id/reject": func() hostileRoute {
				return hostileRoute{"/v1/licenses/" + ln + "/requests/1/reject", admin.token, []member{{"reason", "no"}}, false}
			},
			"POST /v1/entitlements/token": func() hostileRoute {
				return hostileRoute{"/v1/entitlements/token", admin.token, []member{{"license_number", ln}, {"audience", "downloads"}}, false}
			},
			"POST /v1/entitlements/introspect": func() hostileRoute {
				return hostileRoute{"/v1/entitlements/introspect", introKey, []member{{"token", entToken}}, true}
			},
			"POST /v1/licenses/:ln/keys": func() hostileRoute {
				return hostileRoute{"/v1/licenses/" + ln + "/keys", admin.token, []member{{"fingerprint", "machine-hostile"}, {"hostname", "build-01.example.com"}, {"version", "1.0"}}, false}
			},
			"POST /v1/registration-help": func() hostileRoute {
				return hostileRoute{"/v1/registration-help", "", []member{{"name", "Pat"}, {"email", other.email}, {"company", "Acme"}, {"license_number", ln}, {"account_id", acct}, {"message", "help"}}, false}
			},
			// The renewal desk's pipeline.
			"PATCH /v1/contracts/:id/renewal": func() hostileRoute {
				return hostileRoute{"/v1/contracts/" + contractID + "/renewal", super.token, []member{{"stage", "quoted"}, {"next_step_on", "2026-04-01"},
					{"value", map[string]any{"amount": "100.00", "currency": "EUR"}}}, false}
			},
			"POST /v1/contracts/:id/notes": func() hostileRoute {
				return hostileRoute{"/v1/contracts/" + contractID + "/notes", super.token, []member{{"text", "called the customer"}}, false}
			},
			"POST /v1/contracts/bulk": func() hostileRoute {
				return hostileRoute{"/v1/contracts/bulk", super.token, []member{{"ids", []string{contractID}}, {"set", map[string]any{"stage": "contacted"}}}, false}
			},
			"POST /v1/accounts/:account_id/coterm": func() hostileRoute {
				return hostileRoute{"/v1/accounts/" + acct + "/coterm", super.token, []member{{"ends_on", "2027-06-30"}}, false}
			},
			"POST /v1/contracts/:id/renewals": func() hostileRoute {
				return hostileRoute{"/v1/contracts/" + contractID + "/renewals", super.token, []member{{"ends_on", "2027-06-30"}, {"program", "standard"}, {"premier", true}}, false}
			},
			"POST /v1/contracts/:id/upgrade": func() hostileRoute {
				return hostileRoute{"/v1/contracts/" + contractID + "/upgrade", super.token, []member{{"program", "standard"}, {"premier", true}}, false}
			},
			"POST /v1/contracts/:id/grace": func() hostileRoute {
				return hostileRoute{"/v1/contracts/" + contractID + "/grace", super.token, []member{{"until", "2026-07-15"}, {"reason", "PO pending"}}, false}
			},
			// Last of the contract routes (map order is random, so it is sent last below).
			"POST /v1/contracts/:id/terminate": func() hostileRoute {
				return hostileRoute{"/v1/contracts/" + contractID + "/terminate", super.token, []member{{"reason", "hostile"}}, false}
			},
			"POST /v1/registration-help/:id/resolve": func() hostileRoute {
				return hostileRoute{"/v1/registration-help/1/resolve", super.token, []member{{"note", "done"}}, false}
			},
			// Webhooks: a receiver that is never there (port 1), for pings only; the id routes
			// name an endpoint that does not exist (they read no body but PATCH's).
			"POST /v1/webhooks": func() hostileRoute {
				return hostileRoute{"/v1/webhooks", super.token, []member{{"url", "https://127.0.0.1:1/hostile"}, {"events", []string{"ping"}}, {"description", "hostile"}}, false}
			},
			"PATCH /v1/webhooks/:id": func() hostileRoute {
				return hostileRoute{"/v1/webhooks/999999", super.token, []member{{"url", "https://127.0.0.1:1/hostile"}, {"events", []string{"ping"}}, {"enabled", false}}, false}
			},
			"POST /v1/webhooks/:id/rotate-secret": func() hostileRoute {
				return hostileRoute{"/v1/webhooks/999999/rotate-secret", super.token, []member{{"x", 1}}, false}
			},
			"POST /v1/webhooks/:id/ping": func() hostileRoute {
				return hostileRoute{"/v1/webhooks/999999/ping", super.token, []member{{"x", 1}}, false}
			},
			"POST /v1/webhooks/:id/deliveries/:delivery_id/retry": func() hostileRoute {
				return hostileRoute{"/v1/webhooks/999999/deliveries/1/retry", super.token, []member{{"x", 1}}, false}
			},
		}

		engine, ok := a.handler.(*gin.Engine)
		if !ok {
			t.Fatalf("the router is a %T, not a *gin.Engine", a.handler)
		}
		var keys []string
		for _, ri := range engine.Routes() {
			if !strings.HasPrefix(ri.Path, "/v1/") || (ri.Method != "POST" && ri.Method != "PUT" && ri.Method != "PATCH") {
				continue
			}
			key := ri.Method + " " + ri.Path
			if _, ok := routes[key]; !ok {
				t.Errorf("%s has no hostile-body case: add one", key)
				continue
			}
			keys = append(keys, key)
		}
		// Terminating the contract ends what the other contract routes can do: send it last.
		for i, k := range keys {
			if strings.HasSuffix(k, "/terminate") {
				keys = append(append(keys[:i:i], keys[i+1:]...), k)
				break
			}
		}

		bodies, fives := 0, 0
		for _, key := range keys {
			rt := routes[key]()
			method := strings.Fields(key)[0]
			var sent []string
			var headers []string
			if rt.form {
				headers = []string{"Content-Type", "application/x-www-form-urlencoded"}
				sent = formMutations(rt.valid[0].val.(string))
			} else {
				sent = mutations(rt.valid)
			}
			for _, body := range sent {
				bodies++
				r := a.do(t, method, rt.path, rt.token, body, headers...)
				label := fmt.Sprintf("%s %q", key, clip(body))
				if r.status >= 500 {
					fives++
					t.Errorf("%s: answered %s", label, r)
				}
				if r.status >= 400 && !snakeCode.MatchString(r.code()) {
					t.Errorf("%s: code %q is not snake_case (%s)", label, r.code(), r)
				}
				low := strings.ToLower(string(r.raw))
				for _, l := range leaks {
					if strings.Contains(string(r.raw), l) || (l != "SELECT " && strings.Contains(low, l)) {
						t.Errorf("%s: answer leaks %q: %s", label, l, r)
					}
				}
			}
		}
		t.Logf("%s: %d hostile bodies on %d routes, %d answered 5xx", a.dialect, bodies, len(keys), fives)
		if bodies < 600 {
			t.Errorf("only %d hostile bodies were sent, want at least 600", bodies)
		}
	})
}

// formMutations are hostile form bodies for a form whose one field is token.
func formMutations(valid string) []string {
	out := []string{"", "token=", "token", "=", "&&&", "token=%zz", "token=%00", "token=" + url.QueryEscape(valid) + "&token=x",
		"token=" + url.QueryEscape(valid) + "%00", "token=" + strings.Repeat("A", 900<<10), "token=\xff\xfe", "{}", "null",
		`{"token":"` + valid + `"}`, "token=" + url.QueryEscape(valid+"x"), "token=a.b.c", "token=..", "token=" + url.QueryEscape("' OR 1=1 --"),
		"token=" + url.QueryEscape("<script>"), "token=" + url.QueryEscape("a\r\nBcc: x@evil"), strings.Repeat("a=1&", 5000)}
	return out
}

// Clip shortens a body for a failure message.
func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}

// FuzzDecodeJSON: decodeJSON never panics, and every error it returns is a coded error whose code
// has a status (so that it is answered 4xx, never 500).
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{"", "{}", "null", `{"order_ref":"A","items":[{"sku":"S","quantity":1}]}`, `{"items":"x"}`, `[1]`, `{"a":1} x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req orderRequest
		err := decodeJSON(strings.NewReader(string(data)), &req)
		if err == nil {
			return
		}
		var me *models.Error
		if !errors.As(err, &me) {
			t.Fatalf("decodeJSON(%q) = %v, an uncoded error", data, err)
		}
		status, ok := statusByCode[me.Code]
		if !ok || status >= 500 {
			t.Fatalf("decodeJSON(%q) = code %q, status %d", data, me.Code, status)
		}
		if !snakeCode.MatchString(me.Code) {
			t.Fatalf("decodeJSON(%q) = code %q, not snake_case", data, me.Code)
		}
	})
}

// A NUL byte in a path or query value reaches no 5xx either (PostgreSQL cannot store or compare
// it; SQLite can): every such answer is a 4xx problem.
func TestNULInPathsAndQueries(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		support := a.newStaff(t, models.RoleSupport, models.RoleOps).token
		ops := a.newStaff(t, models.RoleOps).token
		ln, _, _ := a.freshLicense(t, ops, nil)
		admin := a.newUser(t)
		want(t, a.register(t, admin.token, map[string]any{"license_number": ln}), 201)
		for _, c := range []struct{ method, path, token string }{
			{"GET", "/v1/products/A%00B", support},
			{"GET", "/v1/users?email=a%00b", support},
			{"DELETE", "/v1/licenses/" + ln + "/members/a%00b@example.test", admin.token},
			{"GET", "/v1/entitlements/check?license_number=" + ln + "&entitlement=assets.read&user=a%00b", a.newAPIKey(t, models.ScopeEntitlementsIntrospect)},
			{"GET", "/v1/audit?action=a%00b", a.newStaff(t, models.RoleSuperadmin).token},
		} {
			r := a.do(t, c.method, c.path, c.token, nil)
			if r.status >= 500 {
				t.Errorf("%s %s: %s", c.method, c.path, r)
			}
		}
	})
}
