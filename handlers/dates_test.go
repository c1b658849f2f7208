package handlers

import (
	"net/http"
	"testing"

	"entitled/models"
)

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
