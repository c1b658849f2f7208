package handlers

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"entitled/mailer/mailtest"
	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

func TestRegistration_EveryAnswer(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		ln, acct, contact := a.freshLicense(t, ops, nil)
		first, second := a.newUser(t), a.newUser(t)

		r := a.register(t, first.token, map[string]any{"license_number": strings.ToLower(strings.ReplaceAll(ln, "-", ""))})
		want(t, r, http.StatusCreated)
		if r.str("license_number") != ln || roleSet(r.body["roles"]) != "admin,support,license" || r.str("status") != "active" {
			t.Fatalf("first registration answered %s", r)
		}
		notice := a.sink.WaitFor(t, contact, 1, first.email)
		if !strings.Contains(notice.Text(), ln) || !strings.Contains(notice.Text(), "/registration-help") {
			t.Errorf("claim notice:\n%s", notice.Text())
		}
		want(t, a.register(t, first.token, map[string]any{"license_number": ln}), http.StatusOK)

		r = a.register(t, second.token, map[string]any{"license_number": ln})
		want(t, r, http.StatusAccepted)
		if r.str("status") != "pending" || r.str("request_id") == "" {
			t.Fatalf("second registration answered %s", r)
		}
		again := a.register(t, second.token, map[string]any{"license_number": ln})
		want(t, again, http.StatusAccepted)
		if again.str("request_id") != r.str("request_id") {
			t.Errorf("a repeated request made a second one: %s then %s", r, again)
		}
		a.sink.WaitFor(t, first.email, 0, second.email, ln)

		// By service tag and by account: the same license, an account with an admin.
		var tag string
		storetest.Gorm(t, a.store).Raw("SELECT service_tag FROM licenses WHERE license_number = ?", ln).Scan(&tag)
		third := a.newUser(t)
		want(t, a.register(t, third.token, map[string]any{"service_tag": strings.ToLower(tag)}), http.StatusAccepted)
		want(t, a.register(t, a.newUser(t).token, map[string]any{"account_id": acct}), http.StatusAccepted)

		// What does not exist, what is mistyped, who may not.
		want(t, a.register(t, third.token, map[string]any{"license_number": store.NewLicenseNumber()}), http.StatusNotFound, models.CodeLicenseNotFound)
		bad := []byte(ln)
		bad[4] = map[bool]byte{true: 'B', false: 'A'}[bad[4] == 'A']
		want(t, a.register(t, third.token, map[string]any{"license_number": string(bad)}), http.StatusBadRequest, models.CodeInvalidLicenseNumber)
		want(t, a.register(t, third.token, map[string]any{"account_id": "1000000"}), http.StatusNotFound, models.CodeAccountNotFound)
		want(t, a.register(t, third.token, map[string]any{}), http.StatusBadRequest, models.CodeValidation)
		want(t, a.register(t, a.newUnverifiedUser(t).token, map[string]any{"license_number": ln}), http.StatusForbidden, models.CodeEmailUnverified)
		_, acct2, _ := a.freshLicense(t, ops, nil)
		want(t, a.register(t, third.token, map[string]any{"account_id": acct2}), http.StatusUnprocessableEntity, models.CodeNoAdminForAccount)

		me := a.me(t, first.token)
		if !strings.Contains(string(me.raw), ln) {
			t.Errorf("/me lacks the membership: %s", me)
		}
		r = a.do(t, "GET", "/v1/licenses", first.token, nil)
		want(t, r, http.StatusOK)
		if len(r.items()) != 1 || roleSet(r.items()[0]["roles"]) != "admin,support,license" || r.items()[0]["registered_on"] != "2026-03-02" {
			t.Errorf("GET /v1/licenses: %s", r)
		}
		want(t, a.do(t, "GET", "/v1/licenses/"+ln, first.token, nil), http.StatusOK)
		want(t, a.do(t, "GET", "/v1/licenses/"+ln, second.token, nil), http.StatusForbidden, models.CodeNotAMember)
	})
}

// Fifty verified users register one fresh license at the same instant: exactly one becomes its
// admin, the other 49 wait for that admin; run several times, on both dialects.
func TestRegistration_RaceHasExactlyOneWinner(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		const n = 50
		users := make([]*testUser, n)
		for i := range users {
			users[i] = a.newUser(t)
		}
		for round := 0; round < 3; round++ {
			ln, _, _ := a.freshLicense(t, ops, nil)
			statuses := make([]int, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range users {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					statuses[i] = a.register(t, users[i].token, map[string]any{"license_number": ln}).status
				}()
			}
			close(start)
			wg.Wait()
			count := map[int]int{}
			for _, s := range statuses {
				count[s]++
			}
			if count[http.StatusCreated] != 1 || count[http.StatusAccepted] != n-1 {
				t.Fatalf("round %d: answers %v, want one 201 and %d 202", round, count, n-1)
			}
			var admins int64
			storetest.Gorm(t, a.store).Raw("SELECT count(*) FROM members JOIN licenses ON licenses.id = members.license_id WHERE licenses.license_number = ? AND members.role_admin", ln).Scan(&admins)
			if admins != 1 {
				t.Fatalf("round %d: %d admins, want 1", round, admins)
			}
		}
	})
}

func TestMembers_GrantInviteRemoveAndTheLastAdmin(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		ln, _, _, admin := a.registeredLicense(t, ops)
		colleague := a.newUser(t)
		path := "/v1/licenses/" + ln + "/members/"

		want(t, a.do(t, "PUT", path+admin.email, admin.token, map[string]any{"roles": []string{"support"}}), http.StatusConflict, models.CodeLastAdmin)
		want(t, a.do(t, "DELETE", path+admin.email, admin.token, nil), http.StatusConflict, models.CodeLastAdmin)

		r := a.do(t, "PUT", path+colleague.email, admin.token, map[string]any{"roles": []string{"license", "support"}})
		want(t, r, http.StatusOK)
		if roleSet(r.body["roles"]) != "support,license" || r.str("email") != colleague.email {
			t.Errorf("grant answered %s", r)
		}
		want(t, a.do(t, "GET", "/v1/licenses/"+ln+"/members", colleague.token, nil), http.StatusForbidden, models.CodeRoleMissing)
		want(t, a.do(t, "PUT", path+colleague.email, admin.token, map[string]any{"roles": []string{"owner"}}), http.StatusBadRequest, models.CodeValidation)
		r = a.do(t, "GET", "/v1/licenses/"+ln+"/members", admin.token, nil)
		want(t, r, http.StatusOK)
		if len(r.items()) != 2 {
			t.Errorf("members: %s", r)
		}

		// A member may leave; removal and re-grant keep the grant version rising.
		version := func() int64 {
			var v int64
			storetest.Gorm(t, a.store).Raw("SELECT grant_version FROM members WHERE user_id = ?", mustAtoi(t, colleague.id)).Scan(&v)
			return v
		}
		v1 := version()
		want(t, a.do(t, "DELETE", path+colleague.email, colleague.token, nil), http.StatusNoContent)
		want(t, a.do(t, "GET", "/v1/licenses/"+ln, colleague.token, nil), http.StatusForbidden, models.CodeNotAMember)
		want(t, a.do(t, "PUT", path+colleague.email, admin.token, map[string]any{"roles": []string{"license"}}), http.StatusOK)
		if v2 := version(); v2 <= v1+1 {
			t.Errorf("grant version went %d → %d, want it to rise on removal and again on re-grant", v1, v2)
		}
		want(t, a.do(t, "DELETE", path+"nobody@example.test", admin.token, nil), http.StatusNotFound, models.CodeMemberNotFound)

		// An address with no user is invited; the grant takes effect when it signs up and verifies.
		invitee := a.email("invitee")
		r = a.do(t, "PUT", path+invitee, admin.token, map[string]any{"roles": []string{"support"}})
		want(t, r, http.StatusAccepted)
		if r.str("status") != "invited" {
			t.Errorf("invitation answered %s", r)
		}
		letter := a.sink.WaitFor(t, invitee, 0, testBaseURL+"/invitations?token=", ln)
		_ = mailtest.LinkToken(t, letter)
		a.signup(t, invitee, testPassword, "Invited Person")
		a.verify(t, invitee)
		tok := a.login(t, invitee, testPassword)
		r = a.do(t, "GET", "/v1/licenses/"+ln, tok, nil)
		want(t, r, http.StatusOK)
		if roleSet(r.body["roles"]) != "support" {
			t.Errorf("the invitee's roles: %s", r)
		}

		audit := a.do(t, "GET", "/v1/licenses/"+ln+"/audit", admin.token, nil)
		want(t, audit, http.StatusOK)
		actions := map[string]bool{}
		for _, e := range audit.items() {
			actions[e["action"].(string)] = true
		}
		for _, act := range []string{"registration.claimed", "member.granted", "member.removed", "member.invited", "member.invitation_accepted"} {
			if !actions[act] {
				t.Errorf("license audit lacks %s: %v", act, actions)
			}
		}
	})
}

// Two admins demoting each other at the same instant: one succeeds, the other is 409 last_admin,
// and the license keeps an admin.
func TestMembers_TwoAdminsDemotingEachOtherKeepOne(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		for round := 0; round < 5; round++ {
			ln, _, _ := a.freshLicense(t, ops, nil)
			x, y := a.newUser(t), a.newUser(t)
			want(t, a.register(t, x.token, map[string]any{"license_number": ln}), http.StatusCreated)
			want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+y.email, x.token, map[string]any{"roles": []string{"admin"}}), http.StatusOK)
			var wg sync.WaitGroup
			var sx, sy int
			wg.Add(2)
			go func() {
				defer wg.Done()
				sx = a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+y.email, x.token, map[string]any{"roles": []string{"support"}}).status
			}()
			go func() {
				defer wg.Done()
				sy = a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+x.email, y.token, map[string]any{"roles": []string{"support"}}).status
			}()
			wg.Wait()
			var admins int64
			storetest.Gorm(t, a.store).Raw("SELECT count(*) FROM members JOIN licenses ON licenses.id = members.license_id WHERE licenses.license_number = ? AND members.role_admin", ln).Scan(&admins)
			ok := (sx == 200 && sy == 409) || (sx == 409 && sy == 200) || (sx == 200 && sy == 403) || (sx == 403 && sy == 200)
			if admins != 1 || !ok {
				t.Fatalf("round %d: answers %d and %d, %d admins; want one success, one refusal, one admin", round, sx, sy, admins)
			}
		}
	})
}

func TestJoinRequests_ApproveRejectWithdraw(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		ln, acct, _, admin := a.registeredLicense(t, ops)
		// A second license of the same account, registered by the same admin.
		sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
		r := a.do(t, "POST", "/v1/orders", ops, map[string]any{"order_ref": "ORD-more", "account": map[string]any{"account_id": acct},
			"items": []any{map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual"}}})
		want(t, r, http.StatusCreated)
		ln2 := licensesOf(r)[0]["license_number"].(string)
		want(t, a.register(t, admin.token, map[string]any{"license_number": ln2}), http.StatusCreated)

		asker, rejected, leaver := a.newUser(t), a.newUser(t), a.newUser(t)
		byAccount := a.register(t, asker.token, map[string]any{"account_id": acct})
		want(t, byAccount, http.StatusAccepted)
		rej := a.register(t, rejected.token, map[string]any{"license_number": ln})
		want(t, rej, http.StatusAccepted)
		leave := a.register(t, leaver.token, map[string]any{"license_number": ln})
		want(t, leave, http.StatusAccepted)

		// The account's request is listed under both of its licenses.
		for _, l := range []string{ln, ln2} {
			r := a.do(t, "GET", "/v1/licenses/"+l+"/requests", admin.token, nil)
			want(t, r, http.StatusOK)
			found := false
			for _, it := range r.items() {
				if it["id"] == byAccount.str("request_id") && it["email"] == asker.email && it["account_id"] == acct {
					found = true
				}
			}
			if !found {
				t.Errorf("requests of %s lack the account request: %s", l, r)
			}
		}
		base := "/v1/licenses/" + ln2 + "/requests/" + byAccount.str("request_id")
		want(t, a.do(t, "POST", base+"/approve", admin.token, map[string]any{}), http.StatusBadRequest, models.CodeValidation)
		r = a.do(t, "POST", base+"/approve", admin.token, map[string]any{"roles": []string{"support"}})
		want(t, r, http.StatusOK)
		if r.str("status") != "approved" {
			t.Errorf("approve answered %s", r)
		}
		want(t, a.do(t, "POST", base+"/approve", admin.token, map[string]any{"roles": []string{"support"}}), http.StatusConflict, models.CodeRequestNotPending)
		want(t, a.do(t, "GET", "/v1/licenses/"+ln2, asker.token, nil), http.StatusOK)
		want(t, a.do(t, "GET", "/v1/licenses/"+ln, asker.token, nil), http.StatusForbidden, models.CodeNotAMember)
		a.sink.WaitFor(t, asker.email, 1, "approved")
		r = a.do(t, "GET", "/v1/licenses/"+ln+"/requests", admin.token, nil)
		for _, it := range r.items() {
			if it["id"] == byAccount.str("request_id") {
				t.Errorf("an approved account request is still listed: %s", r)
			}
		}

		want(t, a.do(t, "POST", "/v1/licenses/"+ln+"/requests/"+rej.str("request_id")+"/reject", admin.token, nil), http.StatusOK)
		a.sink.WaitFor(t, rejected.email, 1, "declined")
		want(t, a.do(t, "DELETE", "/v1/requests/"+leave.str("request_id"), rejected.token, nil), http.StatusNotFound)
		want(t, a.do(t, "DELETE", "/v1/requests/"+leave.str("request_id"), leaver.token, nil), http.StatusNoContent)
		want(t, a.do(t, "DELETE", "/v1/requests/"+leave.str("request_id"), leaver.token, nil), http.StatusConflict, models.CodeRequestNotPending)
		want(t, a.do(t, "POST", "/v1/licenses/"+ln+"/requests/999999/approve", admin.token, map[string]any{"roles": []string{"support"}}), http.StatusNotFound)
	})
}

func TestRegistrationHelp_QueueAndStaffRepair(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		support := a.newStaff(t, models.RoleSupport).token
		ln, _, _ := a.freshLicense(t, ops, nil)
		person := a.newUser(t)
		r := a.do(t, "POST", "/v1/registration-help", "", map[string]any{"name": "Lost Person", "email": person.email, "company": "Acme",
			"license_number": "LN-NOT-QUITE", "message": "My License Number is refused"})
		want(t, r, http.StatusAccepted)
		id := r.str("id")
		a.sink.WaitFor(t, person.email, 1, "registration help", id)
		want(t, a.do(t, "POST", "/v1/registration-help", "", map[string]any{"email": "x"}), http.StatusBadRequest, models.CodeValidation)
		second := a.do(t, "POST", "/v1/registration-help", "", map[string]any{"name": "Other", "email": a.email("o"), "message": "help"})
		want(t, second, http.StatusAccepted)

		// Staff support makes the person the license's admin, citing the ticket, and resolves it.
		r = a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+person.email, support, map[string]any{"roles": []string{"admin", "support", "license"}, "help_request_id": id})
		want(t, r, http.StatusOK)
		r = a.do(t, "POST", "/v1/registration-help/"+id+"/resolve", support, map[string]any{"note": "made admin"})
		want(t, r, http.StatusOK)
		if r.str("status") != "resolved" || r.str("note") != "made admin" {
			t.Errorf("resolve answered %s", r)
		}
		r = a.do(t, "GET", "/v1/registration-help", support, nil)
		want(t, r, http.StatusOK)
		if items := r.items(); len(items) != 2 || items[0]["id"] != second.str("id") || items[1]["status"] != "resolved" {
			t.Errorf("the queue lists open first: %s", r)
		}
		audit := a.do(t, "GET", "/v1/licenses/"+ln+"/audit?limit=500", support, nil)
		if !strings.Contains(string(audit.raw), `"help_request_id":"`+id+`"`) {
			t.Errorf("the grant's audit entry does not cite the ticket: %s", audit)
		}
		want(t, a.do(t, "POST", "/v1/registration-help/999999/resolve", support, map[string]any{"note": "x"}), http.StatusNotFound)
	})
}

// Failed lookups are throttled per user; a mistyped check character is not a guess.
func TestRegistration_GuessingIsThrottled(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	u := a.newUser(t)
	ln := store.NewLicenseNumber()
	bad := []byte(ln)
	bad[5] = map[bool]byte{true: 'C', false: 'D'}[bad[5] == 'D']
	for i := 0; i < 30; i++ {
		want(t, a.register(t, u.token, map[string]any{"license_number": string(bad)}), http.StatusBadRequest, models.CodeInvalidLicenseNumber)
	}
	for i := 0; i < models.LookupPerUser.Max; i++ {
		want(t, a.register(t, u.token, map[string]any{"license_number": store.NewLicenseNumber()}), http.StatusNotFound, models.CodeLicenseNotFound)
	}
	r := a.register(t, u.token, map[string]any{"license_number": store.NewLicenseNumber()})
	want(t, r, http.StatusTooManyRequests, models.CodeTooManyAttempts)
	retryAfter(t, r)
	a.clock.Advance(models.LookupPerUser.Window)
	want(t, a.register(t, u.token, map[string]any{"license_number": store.NewLicenseNumber()}), http.StatusNotFound, models.CodeLicenseNotFound)
}

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
