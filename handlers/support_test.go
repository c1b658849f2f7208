package handlers

import (
	"net/http"
	"testing"
	"time"

	"entitled/models"
	"entitled/models/store"
)

const day = 24 * time.Hour

// ents maps a support answer's entitlements to "allowed" or the reason.
func ents(t testing.TB, r *resp) map[string]string {
	t.Helper()
	out := map[string]string{}
	list, _ := r.body["entitlements"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		if m["allowed"] == true {
			out[m["name"].(string)] = "allowed"
		} else {
			out[m["name"].(string)] = m["reason"].(string)
		}
	}
	if len(out) != len(models.EntitlementNames()) {
		t.Fatalf("support lists %d entitlements, want %d: %s", len(out), len(models.EntitlementNames()), r)
	}
	return out
}

// supportedLicense orders a license with support (versions 1.0 before, 2.0 after ends_on),
// registers it with a fresh admin and returns the number, the admin and the contract id.
func (a *testApp) supportedLicense(t testing.TB, ops string, support map[string]any) (string, *testUser, string) {
	t.Helper()
	sku := a.newProduct(t, ops, [3]string{"1.0", "2025-06-01", "full"}, [3]string{"2.0", "2026-09-01", "full"}, [3]string{"0.9", "2024-01-01", "discontinued"})
	body, _ := a.order(map[string]any{"sku": sku, "quantity": 3, "kind": "perpetual", "support": support})
	lic, admin := a.placeAndRegister(t, ops, body)
	return lic["license_number"].(string), admin, lic["contract_id"].(string)
}

// travel moves the clock (forward by d, or to the instant at) and logs the users in again: a
// session lasts 12 hours.
func (a *testApp) travel(t testing.TB, d time.Duration, at time.Time, users ...*testUser) {
	t.Helper()
	if at.IsZero() {
		a.clock.Advance(d)
	} else {
		a.clock.Set(at)
	}
	for _, u := range users {
		u.token = a.login(t, u.email, u.password)
	}
}

func (a *testApp) support(t testing.TB, token, ln, version string) *resp {
	t.Helper()
	path := "/v1/licenses/" + ln + "/support"
	if version != "" {
		path += "?version=" + version
	}
	r := a.do(t, "GET", path, token, nil)
	want(t, r, http.StatusOK)
	return r
}

// A customer whose support lapsed still sees what they own and downloads what was released while
// they paid; cases, knowledge base, chat and newer releases need support again. Grace restores
// support until its day.
func TestSupport_LapseGraceAndTheDownloadRule(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		rs := a.newStaff(t, models.RoleRenewals)
		ln, admin, contract := a.supportedLicense(t, ops, map[string]any{"program": "24x7", "starts_on": "2025-07-01", "ends_on": "2026-06-30"})

		r := a.support(t, admin.token, ln, "")
		if r.str("status") != "active" || r.str("hours") != "24x7" || r.str("version") != "2.0" {
			t.Errorf("support: %s", r)
		}
		if tg := r.body["response_targets"].(map[string]any); tg["1"] != "PT1H" || tg["4"] != "P1BD" {
			t.Errorf("targets: %v", tg)
		}
		a.travel(t, 0, time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC), admin, rs) // the last covered day
		r = a.support(t, admin.token, ln, "1.0")
		if r.str("status") != "expiring" || r.body["days_left"] != float64(0) {
			t.Errorf("on ends_on: %s", r)
		}
		a.travel(t, day, time.Time{}, admin, rs) // lapsed
		e := ents(t, a.support(t, admin.token, ln, "1.0"))
		if e["assets.read"] != "allowed" || e["downloads.read"] != "allowed" || e["license.keys"] != "allowed" {
			t.Errorf("lapsed, a version released while paid: %v", e)
		}
		if e["support.cases"] != models.ReasonSupportLapsed || e["support.chat"] != models.ReasonSupportLapsed {
			t.Errorf("lapsed support: %v", e)
		}
		e = ents(t, a.support(t, admin.token, ln, "2.0"))
		if e["downloads.read"] != models.ReasonSupportLapsed || e["license.keys"] != models.ReasonSupportLapsed {
			t.Errorf("lapsed, a later release: %v", e)
		}
		e = ents(t, a.support(t, admin.token, ln, "0.9"))
		if e["downloads.read"] != models.ReasonVersionDiscontinued {
			t.Errorf("discontinued: %v", e)
		}
		want(t, a.do(t, "GET", "/v1/licenses/"+ln+"/support?version=7.7", admin.token, nil), http.StatusNotFound, models.CodeVersionNotFound)

		// Grace: at most 60 days past ends_on; support continues until its day.
		want(t, a.do(t, "POST", "/v1/contracts/"+contract+"/grace", rs.token, map[string]any{"until": "2026-09-30", "reason": "PO pending"}), http.StatusUnprocessableEntity, models.CodeGraceTooLong)
		r = a.do(t, "POST", "/v1/contracts/"+contract+"/grace", rs.token, map[string]any{"until": "2026-07-31", "reason": "PO pending"})
		want(t, r, http.StatusOK)
		if r.str("status") != "grace" || r.str("grace_until") != "2026-07-31" {
			t.Errorf("grace answered %s", r)
		}
		e = ents(t, a.support(t, admin.token, ln, "2.0"))
		if e["support.cases"] != "allowed" || e["downloads.read"] != "allowed" {
			t.Errorf("in grace: %v", e)
		}
		a.travel(t, 0, time.Date(2026, 8, 1, 9, 0, 0, 0, time.UTC), admin, rs)
		if r := a.support(t, admin.token, ln, ""); r.str("status") != "lapsed" {
			t.Errorf("after grace: %s", r)
		}

		// A backdated renewal: the new term starts the day after the old ends_on.
		r = a.do(t, "POST", "/v1/contracts/"+contract+"/renewals", rs.token, map[string]any{"ends_on": "2027-06-30"})
		want(t, r, http.StatusOK)
		terms := r.body["terms"].([]any)
		last := terms[len(terms)-1].(map[string]any)
		if r.str("status") != "active" || last["kind"] != "renewal" || last["starts_on"] != "2026-07-01" || last["ends_on"] != "2027-06-30" {
			t.Errorf("renewal: %s", r)
		}
		if a := last["actor"].(map[string]any); a["kind"] != "staff" {
			t.Errorf("the term does not say staff made it: %v", a)
		}
		want(t, a.do(t, "POST", "/v1/contracts/"+contract+"/renewals", rs.token, map[string]any{"ends_on": "2027-01-01"}), http.StatusBadRequest, models.CodeValidation)
	})
}

func TestContracts_UpgradePremierAndTermination(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		renewals := a.newStaff(t, models.RoleRenewals).token
		ln, admin, contract := a.supportedLicense(t, ops, map[string]any{"program": "standard", "ends_on": "2027-03-01"})
		e := ents(t, a.support(t, admin.token, ln, ""))
		if e["support.premier"] != models.ReasonPremierNotPurchased {
			t.Errorf("premier before the upgrade: %v", e)
		}
		r := a.do(t, "POST", "/v1/contracts/"+contract+"/upgrade", renewals, map[string]any{"premier": true})
		want(t, r, http.StatusOK)
		if r.body["premier"] != true || r.str("program") != "standard" {
			t.Errorf("upgrade answered %s", r)
		}
		s := a.support(t, admin.token, ln, "")
		if ents(t, s)["support.premier"] != "allowed" || s.str("hours") != "business" || s.body["response_targets"].(map[string]any)["1"] != "PT30M" {
			t.Errorf("premier support: %s", s)
		}
		want(t, a.do(t, "POST", "/v1/contracts/"+contract+"/terminate", renewals, map[string]any{}), http.StatusBadRequest, models.CodeValidation)
		r = a.do(t, "POST", "/v1/contracts/"+contract+"/terminate", renewals, map[string]any{"reason": "non-payment"})
		want(t, r, http.StatusOK)
		if r.str("status") != "terminated" || r.str("terminated_on") != "2026-03-02" {
			t.Errorf("terminate answered %s", r)
		}
		e = ents(t, a.support(t, admin.token, ln, ""))
		if e["support.cases"] != models.ReasonSupportTerminated || e["assets.read"] != "allowed" {
			t.Errorf("after termination: %v", e)
		}
		want(t, a.do(t, "POST", "/v1/contracts/"+contract+"/terminate", renewals, map[string]any{"reason": "again"}), http.StatusConflict, models.CodeContractTerminated)
		want(t, a.do(t, "POST", "/v1/contracts/"+contract+"/upgrade", renewals, map[string]any{"premier": true}), http.StatusConflict, models.CodeContractTerminated)
		want(t, a.do(t, "POST", "/v1/contracts/999999/terminate", renewals, map[string]any{"reason": "x"}), http.StatusNotFound)

		// Premier cannot be added to a lapsed contract.
		ln2, _, contract2 := a.supportedLicense(t, ops, map[string]any{"program": "24x7", "starts_on": "2025-01-01", "ends_on": "2025-12-31"})
		_ = ln2
		want(t, a.do(t, "POST", "/v1/contracts/"+contract2+"/upgrade", renewals, map[string]any{"premier": true}), http.StatusUnprocessableEntity, models.CodePremierRequiresProgram)

		audit := a.do(t, "GET", "/v1/licenses/"+ln+"/audit", admin.token, nil)
		found := map[string]bool{}
		for _, it := range audit.items() {
			found[it["action"].(string)] = true
		}
		if !found["contract.upgraded"] || !found["contract.terminated"] {
			t.Errorf("license audit: %v", found)
		}
	})
}

// trialLicense orders a trial license of a new product (version 3.1) and answers its number.
func (a *testApp) trialLicense(t *testing.T) string {
	t.Helper()
	ops := a.newStaff(t, models.RoleOps).token
	sku := a.newProduct(t, ops, [3]string{"3.1", "2025-01-01", "full"})
	body, _ := a.order(map[string]any{"sku": sku, "quantity": 1, "kind": "trial"})
	r := a.do(t, "POST", "/v1/orders", ops, body)
	want(t, r, http.StatusCreated)
	return licensesOf(r)[0]["license_number"].(string)
}

// A trial's support runs 30 days from its registration: future before, active through day 30,
// trial_expired on day 31.
func TestSupport_TrialRunsFromRegistration(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln := a.trialLicense(t)
		a.clock.Advance(10 * day) // registered ten days after the order
		admin := a.newUser(t)
		want(t, a.register(t, admin.token, map[string]any{"license_number": ln}), http.StatusCreated)
		s := a.support(t, admin.token, ln, "")
		if s.str("status") != "active" || s.str("starts_on") != "2026-03-12" || s.str("trial_ends_on") != "2026-04-11" {
			t.Errorf("trial at registration: %s", s)
		}
		a.travel(t, 30*day, time.Time{}, admin)
		if s := a.support(t, admin.token, ln, ""); s.str("status") != "active" {
			t.Errorf("trial day 30: %s", s)
		}
		a.travel(t, day, time.Time{}, admin)
		s = a.support(t, admin.token, ln, "")
		if e := ents(t, s); s.str("status") != "lapsed" || e["support.cases"] != models.ReasonTrialExpired {
			t.Errorf("trial day 31: %s", s)
		}
	})
}

func TestEntitlementCheck_ForUsersAndServices(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		ln, admin, _ := a.supportedLicense(t, ops, map[string]any{"program": "standard", "ends_on": "2027-03-01"})
		key := a.newAPIKey(t, models.ScopeEntitlementsIntrospect)
		stranger := a.newUser(t)
		check := func(token, q string) *resp {
			return a.do(t, "GET", "/v1/entitlements/check?license_number="+ln+q, token, nil)
		}
		r := check(admin.token, "&entitlement=support.cases")
		want(t, r, http.StatusOK)
		if r.body["allowed"] != true {
			t.Errorf("admin's check: %s", r)
		}
		r = check(stranger.token, "&entitlement=assets.read")
		want(t, r, http.StatusOK)
		if r.body["allowed"] != false || r.str("reason") != models.ReasonNotAMember {
			t.Errorf("a stranger's check: %s", r)
		}
		r = check(key, "&entitlement=downloads.read&version=1.0&user="+admin.email)
		want(t, r, http.StatusOK)
		if r.body["allowed"] != true || r.str("version") != "1.0" {
			t.Errorf("a service's check: %s", r)
		}
		r = check(key, "&entitlement=downloads.read&user=nobody@example.test")
		if r.body["allowed"] != false || r.str("reason") != models.ReasonNotAMember {
			t.Errorf("an unknown user: %s", r)
		}
		want(t, check(key, "&entitlement=downloads.read"), http.StatusBadRequest, models.CodeValidation)
		want(t, check(admin.token, "&entitlement=support.everything"), http.StatusBadRequest, models.CodeValidation)
		want(t, check(admin.token, "&entitlement=downloads.read&version=9.9"), http.StatusNotFound, models.CodeVersionNotFound)
		want(t, check(admin.token, "&entitlement=downloads.read&user="+stranger.email), http.StatusForbidden, models.CodeForbidden)
		want(t, a.do(t, "GET", "/v1/entitlements/check?license_number=LN-1111&entitlement=assets.read", admin.token, nil), http.StatusBadRequest, models.CodeInvalidLicenseNumber)
		want(t, a.do(t, "GET", "/v1/entitlements/check?license_number="+store.NewLicenseNumber()+"&entitlement=assets.read", admin.token, nil), http.StatusOK)
		want(t, a.do(t, "GET", "/v1/entitlements/check?license_number="+ln+"&entitlement=assets.read", a.newAPIKey(t, models.ScopeOrdersWrite), nil), http.StatusForbidden)
	})
}
