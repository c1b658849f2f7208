package handlers

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"entitled/models"
	"entitled/models/storetest"
)

// orderDesk is what an order test starts from: an ops staff session, an API key with
// orders:write (the shop's), and a product with version 1.0 to order.
func (a *testApp) orderDesk(t testing.TB) (ops, key, sku string) {
	t.Helper()
	ops = a.newStaff(t, models.RoleOps).token
	return ops, a.newAPIKey(t, models.ScopeOrdersWrite), a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
}

// placeOneLicense has ops order one perpetual license of the product for a new account, which
// must be placed (201). It answers the order's body (to send again), the answer
// and the contact's email.
func (a *testApp) placeOneLicense(t testing.TB, ops, sku string) (body map[string]any, r *resp, contact string) {
	t.Helper()
	body, contact = a.order(map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual"})
	r = a.do(t, "POST", "/v1/orders", ops, body)
	want(t, r, http.StatusCreated)
	return body, r, contact
}

func TestProducts_CatalogueAndLifecycle(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		user := a.newUser(t).token
		sku := a.newProduct(t, ops, [3]string{"1.9", "2025-01-10", "full"}, [3]string{"1.10", "2025-06-01", "full"}, [3]string{"2", "2026-01-15", "limited"})

		r := a.do(t, "GET", "/v1/products/"+strings.ToLower(sku), user, nil)
		want(t, r, http.StatusOK)
		var order []string
		for _, v := range r.body["versions"].([]any) {
			order = append(order, v.(map[string]any)["version"].(string))
		}
		if strings.Join(order, ",") != "1.9,1.10,2" {
			t.Errorf("versions in order %v, want numeric order 1.9,1.10,2", order)
		}

		want(t, a.do(t, "POST", "/v1/products", ops, map[string]any{"sku": sku, "name": "again"}), http.StatusConflict, models.CodeConflict)
		want(t, a.do(t, "POST", "/v1/products/"+sku+"/versions", ops, map[string]any{"version": "1.10.0", "released_on": "2025-06-01"}), http.StatusConflict, models.CodeConflict)
		r = a.do(t, "POST", "/v1/products/"+sku+"/versions", ops, map[string]any{"version": "one", "released_on": "June", "phase": "beta"})
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		if f := r.fields(); f["version"] == "" || f["released_on"] == "" || f["phase"] == "" {
			t.Errorf("want errors on version, released_on and phase, got %v", f)
		}
		want(t, a.do(t, "POST", "/v1/products/NOPE/versions", ops, map[string]any{"version": "1", "released_on": "2025-01-01"}), http.StatusNotFound, models.CodeNotFound)

		r = a.do(t, "PATCH", "/v1/products/"+sku+"/versions/1.9", ops, map[string]any{"phase": "discontinued"})
		want(t, r, http.StatusOK)
		if r.str("phase") != "discontinued" {
			t.Errorf("PATCH answered %s", r)
		}
		want(t, a.do(t, "PATCH", "/v1/products/"+sku+"/versions/7.7", ops, map[string]any{"phase": "limited"}), http.StatusNotFound, models.CodeVersionNotFound)
		audit := a.do(t, "GET", "/v1/audit?action=version.phase_changed", a.newStaff(t, models.RoleSuperadmin).token, nil)
		want(t, audit, http.StatusOK)
		if len(audit.items()) != 1 {
			t.Errorf("want one version.phase_changed audit entry, got %s", audit)
		}
		r = a.do(t, "GET", "/v1/products?limit=500", user, nil)
		want(t, r, http.StatusOK)
		if len(r.items()) != 1 {
			t.Errorf("want one product, got %s", r)
		}
	})
}

func TestOrders_NewAccountLicensesAndWelcomeLetter(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops, key, sku := a.orderDesk(t)
		body, contact := a.order(
			map[string]any{"sku": sku, "quantity": 5, "kind": "perpetual", "support": map[string]any{"program": "24x7", "premier": true, "starts_on": "2026-03-01", "ends_on": "2027-02-28"}},
			map[string]any{"sku": strings.ToLower(sku), "quantity": 1, "kind": "perpetual", "service_tag": "ab12cd3"},
			map[string]any{"sku": sku, "quantity": 1, "kind": "trial"},
		)
		r := a.do(t, "POST", "/v1/orders", key, body)
		want(t, r, http.StatusCreated)
		acct := r.str("account_id")
		if _, ok := models.ParseAccountID(acct); !ok {
			t.Fatalf("account_id %q is not 7 digits", acct)
		}
		lics := licensesOf(r)
		if len(lics) != 3 {
			t.Fatalf("want 3 licenses, got %s", r)
		}
		for _, l := range lics {
			if _, err := models.ParseLicenseNumber(l["license_number"].(string)); err != nil {
				t.Errorf("license_number %v does not parse: %v", l["license_number"], err)
			}
			if l["account_id"] != acct {
				t.Errorf("license account_id %v, want %s", l["account_id"], acct)
			}
		}
		if s := lics[0]["support"].(map[string]any); s["status"] != "active" || s["program"] != "24x7" || s["premier"] != true || s["ends_on"] != "2027-02-28" {
			t.Errorf("first license support %v", s)
		}
		if lics[1]["service_tag"] != "AB12CD3" || lics[1]["support"].(map[string]any)["status"] != "none" {
			t.Errorf("second license %v", lics[1])
		}
		if s := lics[2]["support"].(map[string]any); s["status"] != "future" || s["program"] != "standard" {
			t.Errorf("an unregistered trial's support is future/standard, got %v", s)
		}

		letter := a.sink.WaitFor(t, contact, 0, acct)
		for _, l := range lics {
			if !strings.Contains(letter.Text(), l["license_number"].(string)) {
				t.Errorf("welcome letter lacks %v", l["license_number"])
			}
		}
		if !strings.Contains(letter.Text(), "Product "+sku) || !strings.Contains(letter.Text(), testBaseURL) {
			t.Errorf("welcome letter lacks the product name or the portal link:\n%s", letter.Text())
		}

		// Staff see any license; a customer who is not a member does not.
		ln := lics[0]["license_number"].(string)
		want(t, a.do(t, "GET", "/v1/licenses/"+strings.ToLower(strings.ReplaceAll(ln, "-", "")), a.newStaff(t, models.RoleRenewals).token, nil), http.StatusOK)
		want(t, a.do(t, "GET", "/v1/licenses/"+ln, a.newUser(t).token, nil), http.StatusForbidden, models.CodeNotAMember)
		want(t, a.do(t, "GET", "/v1/licenses/LN-0000-0000-0000-0001", ops, nil), http.StatusBadRequest, models.CodeInvalidLicenseNumber)
	})
}

func TestOrders_EveryValidationErrorAtOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
		body := map[string]any{
			"order_ref":       "",
			"account":         map[string]any{"name": ""},
			"primary_contact": map[string]any{"name": "Pat", "email": "not-an-email"},
			"items": []any{
				map[string]any{"sku": "NO-SUCH-SKU", "quantity": 1, "kind": "perpetual"},
				map[string]any{"sku": sku, "quantity": 0, "kind": "rental"},
				map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual", "support": map[string]any{"program": "standard", "starts_on": "2026-05-01", "ends_on": "2026-04-01"}},
				map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual", "support": map[string]any{"premier": true, "ends_on": "2027-01-01"}},
				map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual", "service_tag": "TOO-LONG-TAG"},
				map[string]any{"sku": sku, "quantity": 1, "kind": "trial", "support": map[string]any{"program": "24x7"}},
				map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual", "support": map[string]any{"program": "gold", "ends_on": "31/12/2027"}},
			},
		}
		r := a.do(t, "POST", "/v1/orders", ops, body)
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		f := r.fields()
		for _, field := range []string{"order_ref", "account.name", "primary_contact.email", "items[1].quantity", "items[1].kind",
			"items[2].support.ends_on", "items[3].support.premier", "items[4].service_tag", "items[5].support.program",
			"items[6].support.program", "items[6].support.ends_on"} {
			if f[field] == "" {
				t.Errorf("no error for %s; got %v", field, f)
			}
		}
		// The unknown SKU is found by the database: fix the shape errors and it is reported.
		body = map[string]any{"order_ref": "ORD-X", "account": map[string]any{"name": "Acme"}, "primary_contact": map[string]any{"name": "Pat", "email": "pat@example.test"},
			"items": []any{map[string]any{"sku": "NO-SUCH-SKU", "quantity": 1, "kind": "perpetual"}, map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual"}}}
		r = a.do(t, "POST", "/v1/orders", ops, body)
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		if r.fields()["items[0].sku"] != models.CodeNotFound {
			t.Errorf("want items[0].sku not_found, got %v", r.fields())
		}
		// Nothing of the failed order was written.
		var n int64
		storetest.Gorm(t, a.store).Model(&models.License{}).Count(&n)
		if n != 0 {
			t.Errorf("a refused order left %d licenses", n)
		}
	})
}

func TestOrders_OrderRefAndAccounts(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
		body, r, _ := a.placeOneLicense(t, ops, sku)
		acct := r.str("account_id")
		want(t, a.do(t, "POST", "/v1/orders", ops, body), http.StatusConflict, models.CodeOrderRefTaken)

		// An order naming an existing account adds to it and keeps its name; the number may be a JSON number.
		second := map[string]any{"order_ref": "ORD-second", "account": map[string]any{"account_id": mustAtoi(t, acct), "name": "Renamed?"},
			"items": []any{map[string]any{"sku": sku, "quantity": 2, "kind": "subscription", "support": map[string]any{"program": "standard", "ends_on": "2027-03-01"}}}}
		r = a.do(t, "POST", "/v1/orders", ops, second)
		want(t, r, http.StatusCreated)
		if r.str("account_id") != acct || r.body["account"].(map[string]any)["name"] != "Acme Corp" {
			t.Errorf("order to an existing account: %s", r)
		}
		missing := map[string]any{"order_ref": "ORD-third", "account": map[string]any{"account_id": "1000000"},
			"items": []any{map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual"}}}
		if acct == "1000000" {
			missing["account"] = map[string]any{"account_id": "1000001"}
		}
		want(t, a.do(t, "POST", "/v1/orders", ops, missing), http.StatusUnprocessableEntity, models.CodeAccountNotFound)
	})
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

func TestOrders_RenewalsAndSeats(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
		body, contact := a.order(map[string]any{"sku": sku, "quantity": 2, "kind": "perpetual", "support": map[string]any{"program": "standard", "starts_on": "2025-04-01", "ends_on": "2026-03-31"}},
			map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual"})
		r := a.do(t, "POST", "/v1/orders", ops, body)
		want(t, r, http.StatusCreated)
		acct := r.str("account_id")
		ln := licensesOf(r)[0]["license_number"].(string)
		bare := licensesOf(r)[1]["license_number"].(string)
		a.sink.WaitFor(t, contact, 0, ln)

		renew := map[string]any{"order_ref": "ORD-renew", "account": map[string]any{"account_id": acct},
			"items": []any{
				map[string]any{"license_number": ln, "support": map[string]any{"program": "24x7", "ends_on": "2027-03-31"}},
				map[string]any{"license_number": ln, "add_quantity": 3},
				map[string]any{"license_number": bare, "support": map[string]any{"program": "standard", "ends_on": "2027-03-01"}},
			}}
		r = a.do(t, "POST", "/v1/orders", ops, renew)
		want(t, r, http.StatusCreated)
		lics := licensesOf(r)
		if s := lics[0]["support"].(map[string]any); s["ends_on"] != "2027-03-31" || s["program"] != "24x7" {
			t.Errorf("renewed support %v", s)
		}
		if lics[1]["quantity"] != float64(5) {
			t.Errorf("seats: quantity %v, want 5", lics[1]["quantity"])
		}
		if s := lics[2]["support"].(map[string]any); s["status"] != "active" || s["starts_on"] != "2026-03-02" {
			t.Errorf("support bought for a license without any: %v (want active from the order day)", s)
		}
		var terms []models.ContractTerm
		storetest.Gorm(t, a.store).Order("seq").Where("contract_id = (SELECT id FROM contracts WHERE license_id = (SELECT id FROM licenses WHERE license_number = ?))", ln).Find(&terms)
		if len(terms) != 2 || terms[1].Kind != models.TermRenewal || terms[1].StartsOn.String() != "2026-04-01" || terms[1].EndsOn.String() != "2027-03-31" {
			t.Errorf("terms after renewal: %+v", terms)
		}
		letter := a.sink.WaitFor(t, contact, 1, "ORD-renew")
		if !strings.Contains(letter.Text(), "2027-03-31") || !strings.Contains(letter.Text(), "now 5 seat") {
			t.Errorf("confirmation letter:\n%s", letter.Text())
		}

		// A renewal must reach past the current end; another account's license is refused.
		r = a.do(t, "POST", "/v1/orders", ops, map[string]any{"order_ref": "ORD-short", "account": map[string]any{"account_id": acct},
			"items": []any{map[string]any{"license_number": ln, "support": map[string]any{"ends_on": "2027-01-01"}}}})
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		other, _ := a.order(map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual"})
		r = a.do(t, "POST", "/v1/orders", ops, other)
		want(t, r, http.StatusCreated)
		r = a.do(t, "POST", "/v1/orders", ops, map[string]any{"order_ref": "ORD-steal", "account": map[string]any{"account_id": r.str("account_id")},
			"items": []any{map[string]any{"license_number": ln, "add_quantity": 1}}})
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		// A mistyped License Number anywhere is invalid_license_number, the field still named.
		r = a.do(t, "POST", "/v1/orders", ops, map[string]any{"order_ref": "ORD-typo", "account": map[string]any{"account_id": acct},
			"items": []any{map[string]any{"license_number": "LN-0000-0000-0000-0001", "add_quantity": 1}}})
		want(t, r, http.StatusBadRequest, models.CodeInvalidLicenseNumber)
		if r.fields()["items[0].license_number"] != models.CodeInvalidLicenseNumber {
			t.Errorf("fields: %v", r.fields())
		}
	})
}

func TestOrders_IdempotencyKey(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops, key, sku := a.orderDesk(t)
		body, contact := a.order(map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual"})

		first := a.do(t, "POST", "/v1/orders", key, body, "Idempotency-Key", "k-1")
		want(t, first, http.StatusCreated)
		again := a.do(t, "POST", "/v1/orders", key, body, "Idempotency-Key", "k-1")
		want(t, again, http.StatusCreated)
		if string(again.raw) != string(first.raw) || again.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("repeat answered %s, want the first answer replayed", again)
		}
		other, _ := a.order(map[string]any{"sku": sku, "quantity": 2, "kind": "perpetual"})
		want(t, a.do(t, "POST", "/v1/orders", key, other, "Idempotency-Key", "k-1"), http.StatusUnprocessableEntity, models.CodeIdempotencyReused)
		// The same key by another caller is another key.
		r := a.do(t, "POST", "/v1/orders", ops, other, "Idempotency-Key", "k-1")
		want(t, r, http.StatusCreated)

		a.drainMail(t)
		if n := len(a.sink.To(contact)); n != 1 {
			t.Errorf("the contact got %d letters, want 1 (a replay sends nothing)", n)
		}
	})
}

// Sixteen identical requests racing with one key make one order; the others are replays or
// told that the first is still running.
func TestOrders_ConcurrentRepeatsMakeOneOrder(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		_, key, sku := a.orderDesk(t)
		body, _ := a.order(map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual"})
		var wg sync.WaitGroup
		statuses := make([]int, 16)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = a.do(t, "POST", "/v1/orders", key, body, "Idempotency-Key", "race").status
			}()
		}
		wg.Wait()
		created := 0
		for _, s := range statuses {
			switch s {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
			default:
				t.Errorf("a racing repeat answered %d", s)
			}
		}
		var orders int64
		storetest.Gorm(t, a.store).Model(&models.Order{}).Count(&orders)
		if orders != 1 || created < 1 {
			t.Errorf("%d orders made, %d answers 201 (statuses %v), want exactly one order", orders, created, statuses)
		}
	})
}

func TestAccounts_RecoverAndUpdate(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		_, r, contact := a.placeOneLicense(t, ops, a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"}))
		acct, ln := r.str("account_id"), licensesOf(r)[0]["license_number"].(string)
		a.sink.WaitFor(t, contact, 0, ln)

		known := a.do(t, "POST", "/v1/accounts/recover", "", map[string]any{"email": strings.ToUpper(contact)})
		unknown := a.do(t, "POST", "/v1/accounts/recover", "", map[string]any{"email": a.email("nobody")})
		want(t, known, http.StatusAccepted)
		want(t, unknown, http.StatusAccepted)
		if string(known.raw) != string(unknown.raw) {
			t.Errorf("recover answers differ: %s vs %s", known, unknown)
		}
		letter := a.sink.WaitFor(t, contact, 1, "Account ID")
		if !strings.Contains(letter.Text(), acct) || !strings.Contains(letter.Text(), ln) {
			t.Errorf("recovery letter lacks the numbers:\n%s", letter.Text())
		}
		for i := 0; i < 5; i++ {
			want(t, a.do(t, "POST", "/v1/accounts/recover", "", map[string]any{"email": contact}), http.StatusAccepted)
		}
		a.drainMail(t)
		if n := len(a.letters(t, "account_recovery", contact)); n != models.RecoveryLettersPerHour {
			t.Errorf("%d recovery letters queued in an hour, want the cap of %d", n, models.RecoveryLettersPerHour)
		}

		renewals := a.newStaff(t, models.RoleRenewals).token
		newContact := a.email("newcontact")
		r = a.do(t, "PATCH", "/v1/accounts/"+acct, renewals, map[string]any{"primary_contact": map[string]any{"name": "New Person", "email": newContact}})
		want(t, r, http.StatusOK)
		if r.body["primary_contact"].(map[string]any)["email"] != newContact || r.str("name") != "Acme Corp" {
			t.Errorf("PATCH answered %s", r)
		}
		want(t, a.do(t, "PATCH", "/v1/accounts/9999999", renewals, map[string]any{"name": "x"}), http.StatusNotFound)
		want(t, a.do(t, "PATCH", "/v1/accounts/"+acct, renewals, map[string]any{"primary_contact": map[string]any{"email": "bad"}}), http.StatusBadRequest, models.CodeValidation)
		// Later letters go to the new contact.
		want(t, a.do(t, "POST", "/v1/orders", ops, map[string]any{"order_ref": "ORD-after", "account": map[string]any{"account_id": acct},
			"items": []any{map[string]any{"license_number": ln, "add_quantity": 1}}}), http.StatusCreated)
		a.sink.WaitFor(t, newContact, 0, "ORD-after")
	})
}

// Dates are YYYY-MM-DD between 1970-01-01 and 9999-12-31; any other is 400 validation_failed
// naming the field by its JSON path. 0001-01-01 used to be taken as "no date": an order answered
// 201 with ends_on null and its contract stayed future for ever.
func TestDates_OutOfRangeAreValidationFailed(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		rs := a.newStaff(t, models.RoleRenewals).token
		sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})

		wantField := func(t *testing.T, r *resp, field string) {
			t.Helper()
			want(t, r, http.StatusBadRequest, models.CodeValidation)
			if _, ok := r.fields()[field]; !ok {
				t.Fatalf("the problem does not name %s: %s", field, r)
			}
		}

		// A new license's support.
		for _, tt := range []struct{ startsOn, endsOn, field string }{
			{"2026-01-01", "0001-01-01", "items[0].support.ends_on"},
			{"2026-01-01", "1969-12-31", "items[0].support.ends_on"},
			{"2026-01-01", "10000-01-01", "items[0].support.ends_on"},
			{"0001-01-01", "2027-01-01", "items[0].support.starts_on"},
			{"1969-12-31", "2027-01-01", "items[0].support.starts_on"},
		} {
			body, _ := a.order(map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual",
				"support": map[string]any{"program": "standard", "starts_on": tt.startsOn, "ends_on": tt.endsOn}})
			wantField(t, a.do(t, "POST", "/v1/orders", ops, body), tt.field)
		}

		// The edges of the range are dates like any other, and days_left counts to the last one
		// exactly (today is 2026-03-02).
		body, _ := a.order(map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual",
			"support": map[string]any{"program": "standard", "starts_on": "1970-01-01", "ends_on": "9999-12-31"}})
		r := a.do(t, "POST", "/v1/orders", ops, body)
		want(t, r, http.StatusCreated)
		far := licensesOf(r)[0]
		id, ln := far["contract_id"].(string), far["license_number"].(string)
		support := func(ln string) map[string]any {
			t.Helper()
			r := a.do(t, "GET", "/v1/licenses/"+ln, ops, nil)
			want(t, r, http.StatusOK)
			s, _ := r.body["support"].(map[string]any)
			return s
		}
		if s := support(ln); s["ends_on"] != "9999-12-31" || s["status"] != "active" || s["days_left"] != float64(2912382) {
			t.Fatalf("support to 9999-12-31: %v", s)
		}

		// A renewal order item, the renewal and grace actions.
		current, currentLN, _ := a.contractOrder(t, ops, sku, "Dates Ltd", "Dee Dates", map[string]any{"program": "standard", "starts_on": "2025-03-01", "ends_on": "2026-02-28"})
		for _, day := range []string{"0001-01-01", "1969-12-31", "10000-01-01"} {
			renewal, _ := a.order(map[string]any{"license_number": currentLN, "support": map[string]any{"program": "standard", "ends_on": day}})
			wantField(t, a.do(t, "POST", "/v1/orders", ops, renewal), "items[0].support.ends_on")
			wantField(t, a.do(t, "POST", "/v1/contracts/"+current+"/renewals", rs, map[string]any{"ends_on": day}), "ends_on")
			wantField(t, a.do(t, "POST", "/v1/contracts/"+current+"/grace", rs, map[string]any{"until": day, "reason": "PO pending"}), "until")
			wantField(t, a.do(t, "POST", "/v1/products/"+sku+"/versions", ops, map[string]any{"version": "9.9", "released_on": day, "phase": "full"}), "released_on")
		}
		// Nothing changed: the contract still ends when it did and has lapsed (no grace).
		if s := support(currentLN); s["ends_on"] != "2026-02-28" || s["status"] != "lapsed" {
			t.Fatalf("refused dates changed the contract: %v", s)
		}
		// A contract ending on the last day there is cannot be renewed further.
		wantField(t, a.do(t, "POST", "/v1/contracts/"+id+"/renewals", rs, map[string]any{"ends_on": "10000-12-31"}), "ends_on")
		if s := support(ln); s["ends_on"] != "9999-12-31" {
			t.Fatalf("support to 9999-12-31 after a refused renewal: %v", s)
		}
	})
}
