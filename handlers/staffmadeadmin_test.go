package handlers

import (
	"fmt"
	"net/http"
	"testing"

	"entitled/models"
)

// An admin made by staff is the license's admin like a first registrant (contract, Registration
// rules; issue 18): once staff support have made a verified user admin of a license nobody
// registered, a registration of it is a join request (202) that admin decides, never a second
// "first" admin (201).
func TestRegistration_AnAdminMadeByStaffIsTheLicensesAdmin(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		support := a.newStaff(t, models.RoleSupport)
		ln, _, _ := a.freshLicense(t, ops, nil)
		made := a.newUser(t)
		r := a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+made.email, support.token, map[string]any{"roles": []string{"admin", "support", "license"}})
		want(t, r, http.StatusOK)

		late := a.newUser(t)
		r = a.register(t, late.token, map[string]any{"license_number": ln})
		want(t, r, http.StatusAccepted)
		if r.str("status") != "pending" || r.str("request_id") == "" {
			t.Fatalf("a registration after staff made an admin: %s", r)
		}
		if got := a.memberEmails(t, support.token, ln); got != made.email+"=admin,support,license" {
			t.Fatalf("members after the late registration: %s", got)
		}
		// The admin staff made decides the request.
		reqs := a.do(t, "GET", "/v1/licenses/"+ln+"/requests", made.token, nil)
		want(t, reqs, http.StatusOK)
		if n := len(reqs.items()); n != 1 {
			t.Fatalf("the staff-made admin sees %d join requests: %s", n, reqs)
		}
	})
}

// An invitation staff sent to make an address admin claims the license when it is accepted (the
// address verified): from then on registrations wait for that admin.
func TestRegistration_AnAcceptedAdminInvitationClaimsTheLicense(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		support := a.newStaff(t, models.RoleSupport)
		ln, _, _ := a.freshLicense(t, ops, nil)
		email := fmt.Sprintf("grace%d@a.example", a.seq.Add(1))
		r := a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+email, support.token, map[string]any{"roles": []string{"admin"}})
		want(t, r, http.StatusAccepted)
		invited := a.unverifiedSignup(t, email, "Grace")
		a.verify(t, invited.email)

		late := a.newUser(t)
		want(t, a.register(t, late.token, map[string]any{"license_number": ln}), http.StatusAccepted)
		if got := a.memberEmails(t, support.token, ln); got != email+"=admin" {
			t.Fatalf("members: %s", got)
		}
	})
}

// A trial's support runs from the day its license gets its first admin, however it gets one.
func TestSupport_TrialRunsFromTheDayStaffMadeItsAdmin(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln := a.trialLicense(t)
		a.clock.Advance(10 * day) // made admin ten days after the order
		support := a.newStaff(t, models.RoleSupport)
		made := a.newUser(t)
		want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+made.email, support.token, map[string]any{"roles": []string{"admin", "support"}}), http.StatusOK)
		s := a.support(t, made.token, ln, "")
		if s.str("status") != "active" || s.str("starts_on") != "2026-03-12" || s.str("trial_ends_on") != "2026-04-11" {
			t.Errorf("trial after staff made its admin: %s", s)
		}
	})
}
