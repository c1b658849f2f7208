package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"entitled/models"
	"entitled/models/storetest"
)

// undeliverable is an address the API used to accept and the mailer never could send to
// (issue 16, item 4): an address literal.
const undeliverable = "x@[10.0.0.1]"

// storeUndeliverableContact writes the undeliverable address straight into the database as the
// account's contact, as a contact stored before addresses were checked would be.
func (a *testApp) storeUndeliverableContact(t testing.TB, acct string) {
	t.Helper()
	if err := storetest.Gorm(t, a.store).Exec("UPDATE accounts SET contact_email = ? WHERE account_id = ?", undeliverable, acct).Error; err != nil {
		t.Fatal(err)
	}
}

// addSeat orders one more seat of the license for its account under the order reference (and,
// unless contact is nil, with that primary contact), which must be placed (201).
func (a *testApp) addSeat(t testing.TB, ops, acct, ln, ref string, contact map[string]any) {
	t.Helper()
	body := map[string]any{"order_ref": ref, "account": map[string]any{"account_id": acct},
		"items": []any{map[string]any{"license_number": ln, "add_quantity": 1}}}
	if contact != nil {
		body["primary_contact"] = contact
	}
	want(t, a.do(t, "POST", "/v1/orders", ops, body), http.StatusCreated)
}

// Every route that takes an email refuses what the mailer cannot send with 400 validation_failed
// naming the field, instead of accepting it and failing with a 500 when the letter is rendered:
// signup, registration help, a PUT member invitation, an order's primary contact and a PATCH of
// an account's contact.
func TestAddressesTheMailerCannotSendAreRefusedWhereTheyComeIn(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		ln, acct, contact, admin := a.registeredLicense(t, ops)
		renewals := a.newStaff(t, models.RoleRenewals).token
		sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})

		for _, addr := range []string{undeliverable, "x@[IPv6:::1]", `"pat"@example.com`, "Pat <pat@example.com>", "jöe@example.com", "pat@example.com."} {
			order, _ := a.order(map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual"})
			order["primary_contact"] = map[string]any{"name": "Pat", "email": addr}
			for _, tt := range []struct {
				name, method, path, token string
				body                      any
				field                     string
			}{
				{"signup", "POST", "/v1/auth/signup", "", map[string]any{"email": addr, "password": testPassword, "name": "Pat"}, "email"},
				{"registration help", "POST", "/v1/registration-help", "", map[string]any{"name": "Pat", "email": addr, "company": "Acme", "message": "help"}, "email"},
				{"member invitation", "PUT", "/v1/licenses/" + ln + "/members/" + url.PathEscape(addr), admin.token, map[string]any{"roles": []string{"support"}}, "email"},
				{"order", "POST", "/v1/orders", ops, order, "primary_contact.email"},
				{"account contact", "PATCH", "/v1/accounts/" + acct, renewals, map[string]any{"primary_contact": map[string]any{"name": "Pat", "email": addr}}, "primary_contact.email"},
			} {
				r := a.do(t, tt.method, tt.path, tt.token, tt.body)
				want(t, r, http.StatusBadRequest, models.CodeValidation)
				if got := r.fields()[tt.field]; got != models.FieldInvalid {
					t.Errorf("%s with %q: errors %v, want %s: %s", tt.name, addr, r.fields(), tt.field, models.FieldInvalid)
				}
			}
		}

		// Nothing was changed: the account keeps its contact, and later letters reach it.
		a.addSeat(t, ops, acct, ln, "ORD-still-reaches", nil)
		a.sink.WaitFor(t, contact, 0, "ORD-still-reaches")
	})
}

// An account whose contact was stored before addresses were checked as they are now (written
// here straight into the database) still takes orders: the order is placed, and its letter,
// which no mail server would take, is left out instead of failing the order with a 500.
func TestOrderForAnAccountWithALegacyUndeliverableContactIsPlaced(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		ln, acct, _ := a.freshLicense(t, ops, nil)
		a.storeUndeliverableContact(t, acct)
		a.addSeat(t, ops, acct, ln, "ORD-legacy", nil)
		if n := len(a.letters(t, "order_confirmation", undeliverable)); n != 0 {
			t.Errorf("%d letters queued to %s", n, undeliverable)
		}
		// An order that names a new, valid contact writes to it.
		fresh := a.email("fresh")
		a.addSeat(t, ops, acct, ln, "ORD-new-contact", map[string]any{"name": "Fresh Contact", "email": fresh})
		a.sink.WaitFor(t, fresh, 0, "ORD-new-contact")
	})
}

// A contract action (renewal, grace, …) for an account whose stored contact cannot take mail
// stands; only its letter is left out.
func TestContractActionForALegacyUndeliverableContactStands(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		_, acct, _ := a.freshLicense(t, ops, map[string]any{"quantity": 1, "kind": "perpetual",
			"support": map[string]any{"program": "standard", "starts_on": "2025-07-01", "ends_on": "2026-06-30"}})
		a.storeUndeliverableContact(t, acct)
		var contractID int64
		storetest.Gorm(t, a.store).Raw("SELECT c.id FROM contracts c JOIN licenses l ON l.id = c.license_id JOIN accounts ac ON ac.id = l.account_id WHERE ac.account_id = ?", acct).Scan(&contractID)
		rs := a.newStaff(t, models.RoleRenewals).token
		r := a.do(t, "POST", fmt.Sprintf("/v1/contracts/%d/renewals", contractID), rs, map[string]any{"ends_on": "2027-06-30"})
		want(t, r, http.StatusOK)
		if r.str("ends_on") != "2027-06-30" {
			t.Errorf("the renewal answered %s", r)
		}
		if n := len(a.letters(t, "contract_changed", undeliverable)); n != 0 {
			t.Errorf("%d letters queued to %s", n, undeliverable)
		}
	})
}

// The first registration of a license whose account's stored contact cannot take mail makes its
// admin all the same; only the claim notice to that contact is left out.
func TestRegistrationForALegacyUndeliverableContactStands(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		ln, acct, _ := a.freshLicense(t, ops, nil)
		a.storeUndeliverableContact(t, acct)
		admin := a.newUser(t)
		want(t, a.register(t, admin.token, map[string]any{"license_number": ln}), http.StatusCreated)
		if n := len(a.letters(t, "claim_notice", undeliverable)); n != 0 {
			t.Errorf("%d claim notices queued to %s", n, undeliverable)
		}
	})
}
