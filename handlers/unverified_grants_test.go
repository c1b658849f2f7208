package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"entitled/handlers/handlerstest"
	"entitled/models"
	"entitled/models/storetest"
)

// unverifiedSignup signs someone up with the address (anyone can type a colleague's) and logs in
// without following the verification link.
func (a *testApp) unverifiedSignup(t testing.TB, email, name string) *testUser {
	t.Helper()
	u := &testUser{email: email, password: testPassword, name: name}
	a.signup(t, u.email, u.password, u.name)
	u.token = a.login(t, u.email, u.password)
	r := a.me(t, u.token)
	if r.body["email_verified"] != false {
		t.Fatalf("a fresh signup is verified: %s", r)
	}
	u.id = r.str("id")
	return u
}

// cannotAct checks that the user's session is no member of the license: every route of it is
// 403 not_a_member, and no list shows it.
func (a *testApp) cannotAct(t testing.TB, u *testUser, ln, victim string) {
	t.Helper()
	base := "/v1/licenses/" + ln
	want(t, a.do(t, "GET", base+"/members", u.token, nil), http.StatusForbidden, models.CodeNotAMember)
	want(t, a.do(t, "GET", base, u.token, nil), http.StatusForbidden, models.CodeNotAMember)
	want(t, a.do(t, "GET", base+"/requests", u.token, nil), http.StatusForbidden, models.CodeNotAMember)
	want(t, a.do(t, "GET", base+"/audit", u.token, nil), http.StatusForbidden, models.CodeNotAMember)
	want(t, a.do(t, "PUT", base+"/members/"+a.email("accomplice"), u.token, map[string]any{"roles": []string{"admin"}}), http.StatusForbidden, models.CodeNotAMember)
	want(t, a.do(t, "DELETE", base+"/members/"+victim, u.token, nil), http.StatusForbidden, models.CodeNotAMember)
	want(t, a.do(t, "PUT", base+"/members/"+victim, u.token, map[string]any{"roles": []string{"support"}}), http.StatusForbidden, models.CodeNotAMember)
	r := a.do(t, "GET", "/v1/licenses", u.token, nil)
	want(t, r, http.StatusOK)
	if len(r.items()) != 0 {
		t.Fatalf("an unverified account lists licenses: %s", r)
	}
	if ms := a.me(t, u.token).body["memberships"]; ms != nil && len(ms.([]any)) != 0 {
		t.Fatalf("an unverified account has memberships: %v", ms)
	}
}

// hotPathsRefuse checks that the hot paths (support, the online check) judge the user's session
// by the same rule as cannotAct: no member of the license.
func (a *testApp) hotPathsRefuse(t testing.TB, u *testUser, ln string) {
	t.Helper()
	want(t, a.do(t, "GET", "/v1/licenses/"+ln+"/support", u.token, nil), http.StatusForbidden, models.CodeNotAMember)
	check := a.do(t, "GET", "/v1/entitlements/check?license_number="+ln+"&entitlement=assets.read", u.token, nil)
	if want(t, check, http.StatusOK); check.body["allowed"] != false || check.body["reason"] != models.CodeNotAMember {
		t.Errorf("the online check for the unverified account: %s, want allowed false, not_a_member", check)
	}
}

// memberEmails are the emails GET members lists.
func (a *testApp) memberEmails(t testing.TB, token, ln string) string {
	t.Helper()
	r := a.do(t, "GET", "/v1/licenses/"+ln+"/members", token, nil)
	want(t, r, http.StatusOK)
	var out []string
	for _, it := range r.items() {
		out = append(out, it["email"].(string)+"="+roleSet(it["roles"]))
	}
	return strings.Join(out, " ")
}

// The attack of issue 16: someone signs up with a colleague's address (never verified) and waits
// for an admin to grant that address roles. The grant must wait for the address to be verified,
// as for an address with no account: 202 invited, and the unverified account can do nothing —
// not list members, not add an accomplice, not remove the real admin. Once the owner of the
// address verifies it, the grant takes effect.
func TestMembers_GrantToAnUnverifiedAccountWaitsForVerification(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		ln, _, _, admin := a.registeredLicense(t, ops)
		dave := a.unverifiedSignup(t, fmt.Sprintf("dave%d@a.example", a.seq.Add(1)), "Dave")

		r := a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+dave.email, admin.token, map[string]any{"roles": []string{"admin", "support", "license"}})
		want(t, r, http.StatusAccepted)
		if r.str("status") != "invited" || r.body["email"] != nil || r.body["roles"] != nil {
			t.Fatalf("a grant to an unverified account answered %s, want 202 {status:invited}", r)
		}
		a.cannotAct(t, dave, ln, admin.email)
		a.hotPathsRefuse(t, dave, ln)
		if got := a.memberEmails(t, admin.token, ln); got != admin.email+"=admin,support,license" {
			t.Fatalf("members after the invitation: %s", got)
		}
		// The invitation went to the address, like any other.
		a.sink.WaitFor(t, dave.email, 0, testBaseURL+"/invitations?token=", ln)
		// A repeated grant is still an invitation, and the real admin is still the only admin.
		want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+dave.email, admin.token, map[string]any{"roles": []string{"admin"}}), http.StatusAccepted)
		want(t, a.do(t, "DELETE", "/v1/licenses/"+ln+"/members/"+admin.email, admin.token, nil), http.StatusConflict, models.CodeLastAdmin)
		var members int64
		storetest.Gorm(t, a.store).Raw("SELECT count(*) FROM members WHERE user_id = ?", mustAtoi(t, dave.id)).Scan(&members)
		if members != 0 {
			t.Fatalf("the unverified account holds %d membership rows", members)
		}

		// The owner of the address verifies it (the link in the letter in the sink): the last
		// grant takes effect.
		a.verify(t, dave.email)
		dave.token = a.login(t, dave.email, dave.password)
		r = a.do(t, "GET", "/v1/licenses/"+ln, dave.token, nil)
		want(t, r, http.StatusOK)
		if roleSet(r.body["roles"]) != "admin" {
			t.Fatalf("after verification: %s", r)
		}
		if got := a.memberEmails(t, dave.token, ln); got != admin.email+"=admin,support,license "+dave.email+"=admin" {
			t.Fatalf("members after verification: %s", got)
		}
		audit := a.do(t, "GET", "/v1/licenses/"+ln+"/audit?limit=500", admin.token, nil)
		want(t, audit, http.StatusOK)
		actions := map[string]int{}
		for _, e := range audit.items() {
			actions[e["action"].(string)]++
		}
		if actions["member.invited"] != 2 || actions["member.invitation_accepted"] != 1 || actions["member.granted"] != 0 {
			t.Errorf("audit actions %v: want two invitations, one accepted, no direct grant", actions)
		}
	})
}

// Staff support's "make admin" (API with a help request id, and the portal's button) goes
// through the same rule: an unverified account is invited, not made admin.
func TestRegistrationHelp_StaffMakeAdminOfAnUnverifiedAccountInvites(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		support := a.newStaff(t, models.RoleSupport)
		ln, _, _, admin := a.registeredLicense(t, ops)
		erin := a.unverifiedSignup(t, fmt.Sprintf("erin%d@a.example", a.seq.Add(1)), "Erin")
		frank := a.unverifiedSignup(t, fmt.Sprintf("frank%d@a.example", a.seq.Add(1)), "Frank")
		help := a.do(t, "POST", "/v1/registration-help", "", map[string]any{"name": "Erin", "email": erin.email, "license_number": ln, "message": "make me admin please"})
		want(t, help, http.StatusAccepted)
		id := help.str("id")

		// The API.
		r := a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+erin.email, support.token, map[string]any{"roles": []string{"admin", "support", "license"}, "help_request_id": id})
		want(t, r, http.StatusAccepted)
		if r.str("status") != "invited" {
			t.Fatalf("staff make-admin of an unverified account answered %s", r)
		}
		a.cannotAct(t, erin, ln, admin.email)

		// The portal's button.
		sb := a.signedIn(t, support)
		sb.Get(t, "/staff/help")
		p := sb.Submit(t, "/staff/help/"+id+"/make-admin", url.Values{"license_number": {ln}, "email": {frank.email}, "confirm": {"yes"}})
		handlerstest.WantPage(t, sb.Follow(t, p), http.StatusOK, frank.email+" has no verified account yet: an invitation is sent")
		a.cannotAct(t, frank, ln, admin.email)
		if got := a.memberEmails(t, support.token, ln); got != admin.email+"=admin,support,license" {
			t.Fatalf("members: %s", got)
		}
		// The portal's members form of an admin, too.
		ab := a.signedIn(t, admin)
		members := "/licenses/" + ln + "/members"
		ab.Get(t, members)
		p = ab.Submit(t, members, url.Values{"email": {erin.email}, "roles": {"admin"}})
		handlerstest.WantPage(t, ab.Follow(t, p), http.StatusOK, "Invitation sent to "+erin.email)
		a.cannotAct(t, erin, ln, admin.email)

		// Verified, each gets what was granted last.
		a.verify(t, erin.email)
		a.verify(t, frank.email)
		for _, u := range []*testUser{erin, frank} {
			u.token = a.login(t, u.email, u.password)
		}
		if got := a.memberEmails(t, support.token, ln); got != admin.email+"=admin,support,license "+erin.email+"=admin "+frank.email+"=admin,support,license" {
			t.Fatalf("members after verification: %s", got)
		}
		want(t, a.do(t, "GET", "/v1/licenses/"+ln+"/members", frank.token, nil), http.StatusOK)
	})
}

// A membership an unverified account holds from before grants waited for verification is
// dormant: it gives no access, is listed nowhere, gets no admins' letters and is not an admin the
// license keeps; an admin can remove it.
func TestMembers_AnUnverifiedAccountsOldMembershipIsDormant(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		ln, _, _, admin := a.registeredLicense(t, ops)
		dave := a.unverifiedSignup(t, fmt.Sprintf("dave%d@a.example", a.seq.Add(1)), "Dave")

		// What a grant made before the fix left behind.
		var licenseID int64
		storetest.Gorm(t, a.store).Raw("SELECT id FROM licenses WHERE license_number = ?", ln).Scan(&licenseID)
		now := a.clock.Now()
		if err := storetest.Gorm(t, a.store).Create(&models.Member{LicenseID: licenseID, UserID: int64(mustAtoi(t, dave.id)), RoleAdmin: true, RoleSupport: true, RoleLicense: true,
			GrantVersion: 1, Since: now, UpdatedAt: now}).Error; err != nil {
			t.Fatalf("insert the old membership: %v", err)
		}

		a.cannotAct(t, dave, ln, admin.email)
		a.hotPathsRefuse(t, dave, ln)
		if got := a.memberEmails(t, admin.token, ln); got != admin.email+"=admin,support,license" {
			t.Fatalf("members: %s", got)
		}
		// The real admin is the license's only admin: they cannot step down in favour of dave.
		want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+admin.email, admin.token, map[string]any{"roles": []string{"support"}}), http.StatusConflict, models.CodeLastAdmin)
		want(t, a.do(t, "DELETE", "/v1/licenses/"+ln+"/members/"+admin.email, admin.token, nil), http.StatusConflict, models.CodeLastAdmin)
		// A join request's letter goes to the real admin only.
		joiner := a.newUser(t)
		want(t, a.register(t, joiner.token, map[string]any{"license_number": ln}), http.StatusAccepted)
		a.sink.WaitFor(t, admin.email, 0, "asks to join license "+ln)
		a.drainMail(t)
		if n := a.mailTo(dave.email, "asks to join"); n != 0 {
			t.Fatalf("the unverified account got %d join-request letters", n)
		}
		// The admin removes it.
		want(t, a.do(t, "DELETE", "/v1/licenses/"+ln+"/members/"+dave.email, admin.token, nil), http.StatusNoContent)
		var active int64
		storetest.Gorm(t, a.store).Raw("SELECT count(*) FROM members WHERE user_id = ? AND role_admin", mustAtoi(t, dave.id)).Scan(&active)
		if active != 0 {
			t.Fatalf("the old admin role is still there")
		}
	})
}

// Staff rights are a grant too: an address whose account is not verified (anyone may have signed
// up with it and kept a session) gets them only with a password the superadmin sets, which takes
// the account over: the squatter's password and session die, and the address counts as verified.
func TestStaff_AnUnverifiedAccountGetsStaffRightsOnlyWithANewPassword(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		super := a.newStaff(t, models.RoleSuperadmin).token
		squatter := a.unverifiedSignup(t, fmt.Sprintf("newhire%d@vendor.example", a.seq.Add(1)), "Squatter")

		r := a.do(t, "POST", "/v1/staff", super, map[string]any{"email": squatter.email, "roles": []string{"support"}})
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		if me := a.me(t, squatter.token); len(me.body["staff_roles"].([]any)) != 0 {
			t.Fatalf("the refused grant gave the squatter staff roles: %s", me)
		}

		const hirePassword = "a-password-the-superadmin-set-1"
		want(t, a.do(t, "POST", "/v1/staff", super, map[string]any{"email": squatter.email, "roles": []string{"support"}, "password": hirePassword}), http.StatusOK)
		want(t, a.do(t, "GET", "/v1/me", squatter.token, nil), http.StatusUnauthorized, models.CodeUnauthenticated)
		want(t, a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": squatter.email, "password": squatter.password}), http.StatusUnauthorized, models.CodeInvalidCredentials)
		hire := a.login(t, squatter.email, hirePassword)
		if me := a.me(t, hire); me.body["email_verified"] != true || len(me.body["staff_roles"].([]any)) != 1 {
			t.Errorf("the new staff user: %s, want verified with the support role", me)
		}
	})
}
