package handlers

// A second factor as its clients rely on it (contract: "Second factor and staff single sign-on"):
// TOTP enrolment, the mfa_required step of a sign-in, recovery codes, the limits of the
// mfa_token, ENTITLED_STAFF_MFA=required, and the sessions a user can see and end. Through the
// real router, on every dialect; codes are computed with pquerna/otp at the store's clock.

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"entitled/handlers/handlerstest"
	"entitled/models"
	dbstore "entitled/models/store"
)

// totpCode is the code of secret for the instant at.
func totpCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatalf("totp code: %v", err)
	}
	return c
}

// withTOTP enrols and confirms a TOTP factor for u and returns its secret and recovery codes.
// The clock moves on a step, so that the next code is not the one that confirmed.
func (a *testApp) withTOTP(t testing.TB, u *testUser) (string, []string) {
	t.Helper()
	r := a.do(t, "POST", "/v1/me/mfa/totp", u.token, nil)
	want(t, r, http.StatusCreated)
	secret := r.str("secret")
	c := a.do(t, "POST", "/v1/me/mfa/totp/confirm", u.token, map[string]string{"code": totpCode(t, secret, a.clock.Now())})
	want(t, c, http.StatusOK)
	var codes []string
	for _, v := range c.body["recovery_codes"].([]any) {
		codes = append(codes, v.(string))
	}
	a.clock.Advance(30 * time.Second)
	return secret, codes
}

// mfaStep sends the password and expects the mfa_required answer; it returns the mfa_token.
func (a *testApp) mfaStep(t testing.TB, u *testUser) string {
	t.Helper()
	r := a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": u.password})
	want(t, r, http.StatusUnauthorized, models.CodeMFARequired)
	if r.str("access_token") != "" || r.str("mfa_token") == "" {
		t.Fatalf("mfa_required answered %s, want an mfa_token and no access_token", r)
	}
	return r.str("mfa_token")
}

func (a *testApp) loginMFA(t testing.TB, mfaToken, code string) *resp {
	t.Helper()
	return a.do(t, "POST", "/v1/auth/login/mfa", "", map[string]string{"mfa_token": mfaToken, "code": code})
}

func TestTOTP_EnrolConfirm_ThenSignInTakesASecondStep(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		r := a.do(t, "POST", "/v1/me/mfa/totp", u.token, nil)
		want(t, r, http.StatusCreated)
		secret, uri := r.str("secret"), r.str("otpauth_uri")
		if len(secret) < 16 || !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "secret="+secret) {
			t.Fatalf("enrolment answered %s, want a base32 secret and its otpauth:// URI", r)
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("enrolment Cache-Control %q, want no-store: it carries the secret", got)
		}
		// Pending: the password alone still signs in.
		a.login(t, u.email, u.password)

		wrong := a.do(t, "POST", "/v1/me/mfa/totp/confirm", u.token, map[string]string{"code": "000000"})
		want(t, wrong, http.StatusBadRequest, models.CodeValidation)
		wantFields(t, wrong, map[string]string{"code": "incorrect"})

		c := a.do(t, "POST", "/v1/me/mfa/totp/confirm", u.token, map[string]string{"code": totpCode(t, secret, a.clock.Now())})
		want(t, c, http.StatusOK)
		codes, _ := c.body["recovery_codes"].([]any)
		seen := map[string]bool{}
		for _, v := range codes {
			s, _ := v.(string)
			if len(s) != 19 || seen[s] {
				t.Errorf("recovery code %q: want 16 letters and digits in groups of four, all different", s)
			}
			seen[s] = true
		}
		if len(codes) != 10 {
			t.Fatalf("confirmation answered %d recovery codes, want 10: %s", len(codes), c)
		}
		if n := len(a.letters(t, "second_factor_changed", u.email)); n != 1 {
			t.Errorf("%d letters about the new factor, want 1", n)
		}
		a.wantAudit(t, "user.mfa_added", u.id)

		// Now the password earns an mfa_token, not a session.
		r = a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": u.password})
		want(t, r, http.StatusUnauthorized, models.CodeMFARequired)
		methods, _ := r.body["methods"].([]any)
		if r.str("mfa_token") == "" || r.str("access_token") != "" || !slices.Contains(methods, any("totp")) || !slices.Contains(methods, any("recovery_code")) {
			t.Fatalf("login with a factor answered %s, want mfa_required with an mfa_token and methods [totp recovery_code]", r)
		}
		// The code that confirmed was used already.
		want(t, a.loginMFA(t, r.str("mfa_token"), totpCode(t, secret, a.clock.Now())), http.StatusUnauthorized, "invalid_mfa_code") // the contract's code, spelled out
		a.clock.Advance(30 * time.Second)
		ok := a.loginMFA(t, r.str("mfa_token"), totpCode(t, secret, a.clock.Now()))
		want(t, ok, http.StatusOK)
		if ok.str("access_token") == "" || ok.str("token_type") != "Bearer" {
			t.Fatalf("second step answered %s, want the usual login answer", ok)
		}
		a.me(t, ok.str("access_token"))
		// A finished sign-in's token is spent.
		a.clock.Advance(30 * time.Second)
		want(t, a.loginMFA(t, r.str("mfa_token"), totpCode(t, secret, a.clock.Now())), http.StatusUnauthorized, models.CodeMFATokenInvalid)

		// A factor is on: enrolling another is a conflict until it is removed.
		want(t, a.do(t, "POST", "/v1/me/mfa/totp", u.token, nil), http.StatusConflict, models.CodeConflict)
	})
}

func TestTOTP_ACodeCountsOnceAndOneStepEitherSide(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		secret, _ := a.withTOTP(t, u)
		a.clock.Advance(5 * time.Minute)
		now := a.clock.Now()

		// Two steps old: refused.
		want(t, a.loginMFA(t, a.mfaStep(t, u), totpCode(t, secret, now.Add(-60*time.Second))), http.StatusUnauthorized, models.CodeInvalidMFACode)
		// One step old: accepted (clock drift) ...
		old := totpCode(t, secret, now.Add(-30*time.Second))
		want(t, a.loginMFA(t, a.mfaStep(t, u), old), http.StatusOK)
		// ... once: a replay of it, or of any code of an earlier step, is refused.
		want(t, a.loginMFA(t, a.mfaStep(t, u), old), http.StatusUnauthorized, models.CodeInvalidMFACode)
		// One step ahead: accepted, and then the current step is behind it.
		want(t, a.loginMFA(t, a.mfaStep(t, u), totpCode(t, secret, now.Add(30*time.Second))), http.StatusOK)
		want(t, a.loginMFA(t, a.mfaStep(t, u), totpCode(t, secret, now)), http.StatusUnauthorized, models.CodeInvalidMFACode)
		// Not a code at all.
		want(t, a.loginMFA(t, a.mfaStep(t, u), "12345"), http.StatusUnauthorized, models.CodeInvalidMFACode)
		want(t, a.loginMFA(t, a.mfaStep(t, u), ""), http.StatusBadRequest, models.CodeValidation)
	})
}

func TestRecoveryCodes_EachSignsInOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		_, codes := a.withTOTP(t, u)
		// Typed loosely: upper case, spaces instead of dashes.
		typed := strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))
		ok := a.loginMFA(t, a.mfaStep(t, u), typed)
		want(t, ok, http.StatusOK)
		a.me(t, ok.str("access_token"))
		want(t, a.loginMFA(t, a.mfaStep(t, u), codes[3]), http.StatusUnauthorized, models.CodeInvalidMFACode)
		want(t, a.loginMFA(t, a.mfaStep(t, u), codes[4]), http.StatusOK)
		// Another user's code is nothing to this account.
		v := a.newUser(t)
		_, vcodes := a.withTOTP(t, v)
		want(t, a.loginMFA(t, a.mfaStep(t, u), vcodes[0]), http.StatusUnauthorized, models.CodeInvalidMFACode)
	})
}

func TestMFAToken_LivesFiveMinutesAndFiveTries(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		secret, _ := a.withTOTP(t, u)

		tok := a.mfaStep(t, u)
		a.clock.Advance(models.MFATokenTTL + time.Second)
		want(t, a.loginMFA(t, tok, totpCode(t, secret, a.clock.Now())), http.StatusUnauthorized, models.CodeMFATokenInvalid)

		tok = a.mfaStep(t, u)
		for i := range models.MFATokenTries {
			if r := a.loginMFA(t, tok, "000000"); r.code() != models.CodeInvalidMFACode {
				t.Fatalf("wrong code %d answered %s, want invalid_mfa_code", i+1, r)
			}
		}
		// Out of tries: even the right code is refused, and asks for the password again.
		want(t, a.loginMFA(t, tok, totpCode(t, secret, a.clock.Now())), http.StatusUnauthorized, models.CodeMFATokenInvalid)
		want(t, a.loginMFA(t, "not-a-token", totpCode(t, secret, a.clock.Now())), http.StatusUnauthorized, models.CodeMFATokenInvalid)
		want(t, a.loginMFA(t, a.mfaStep(t, u), totpCode(t, secret, a.clock.Now())), http.StatusOK)
	})
}

func TestMFA_WrongCodesCountTowardTheAccountsLoginLimit(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		secret, _ := a.withTOTP(t, u)
		for i := 0; i < models.LoginPerAccount.Max; i++ {
			tok := a.mfaStep(t, u)
			if r := a.loginMFA(t, tok, "000000"); r.code() != models.CodeInvalidMFACode {
				t.Fatalf("wrong code %d answered %s", i+1, r)
			}
		}
		// The account is locked now: the password, and a right code with a token got before, too.
		r := a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": u.password})
		want(t, r, http.StatusTooManyRequests, models.CodeTooManyAttempts)
		retryAfter(t, r)
		a.clock.Advance(models.LoginPerAccount.Window + time.Second)
		want(t, a.loginMFA(t, a.mfaStep(t, u), totpCode(t, secret, a.clock.Now())), http.StatusOK)
	})
}

func TestMFA_TwoSignInsRacingWithOneCode_OneWins(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		secret, codes := a.withTOTP(t, u)
		for _, code := range []string{totpCode(t, secret, a.clock.Now()), codes[0]} {
			const n = 4
			toks := make([]string, n)
			for i := range toks {
				toks[i] = a.mfaStep(t, u)
			}
			statuses := make([]int, n)
			var wg sync.WaitGroup
			for i := range toks {
				wg.Go(func() { statuses[i] = a.loginMFA(t, toks[i], code).status })
			}
			wg.Wait()
			if won := countOf(statuses, http.StatusOK); won != 1 || countOf(statuses, http.StatusUnauthorized) != n-1 {
				t.Errorf("%d sign-ins racing with one code answered %v, want exactly one 200 and the rest 401", n, statuses)
			}
			a.clock.Advance(30 * time.Second)
		}
	})
}

func countOf(xs []int, x int) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func TestTOTP_DisableNeedsThePassword(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		a.withTOTP(t, u)
		want(t, a.do(t, "DELETE", "/v1/me/mfa/totp", u.token, map[string]string{}), http.StatusBadRequest, models.CodeValidation)
		r := a.do(t, "DELETE", "/v1/me/mfa/totp", u.token, map[string]string{"password": "not the password at all"})
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		wantFields(t, r, map[string]string{"password": "incorrect"})
		a.mfaStep(t, u) // still on

		want(t, a.do(t, "DELETE", "/v1/me/mfa/totp", u.token, map[string]string{"password": u.password}), http.StatusNoContent)
		a.login(t, u.email, u.password) // the password alone signs in again
		if n := len(a.letters(t, "second_factor_changed", u.email)); n != 2 {
			t.Errorf("%d letters about the factor, want 2 (added, removed)", n)
		}
		a.wantAudit(t, "user.mfa_removed", u.id)
		want(t, a.do(t, "DELETE", "/v1/me/mfa/totp", u.token, map[string]string{"password": u.password}), http.StatusNotFound, models.CodeNotFound)
		// And it can be set up again.
		a.withTOTP(t, u)
		a.mfaStep(t, u)
	})
}

// An enrolment never confirmed can be cancelled with the same DELETE, but no factor was ever on:
// no letter tells of one removed, and the password alone still signs in.
func TestTOTP_CancellingAPendingEnrolmentTellsNobody(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		want(t, a.do(t, "POST", "/v1/me/mfa/totp", u.token, nil), http.StatusCreated)
		want(t, a.do(t, "DELETE", "/v1/me/mfa/totp", u.token, map[string]string{"password": u.password}), http.StatusNoContent)
		if n := len(a.letters(t, "second_factor_changed", u.email)); n != 0 {
			t.Errorf("%d letters about a factor that was never on, want 0", n)
		}
		want(t, a.do(t, "DELETE", "/v1/me/mfa/totp", u.token, map[string]string{"password": u.password}), http.StatusNotFound, models.CodeNotFound)
		a.login(t, u.email, u.password)
	})
}

func TestStaffMFARequired_StaffWithAPasswordEnrolBeforeAnythingElse(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		s := a.newStaff(t, models.RoleSupport)
		r := a.do(t, "GET", "/v1/users", s.token, nil)
		want(t, r, http.StatusForbidden, models.CodeMFAEnrolmentRequired)
		want(t, a.do(t, "POST", "/v1/me/password", s.token, map[string]string{"current_password": s.password, "new_password": "another fine password 2"}),
			http.StatusForbidden, models.CodeMFAEnrolmentRequired)
		want(t, a.do(t, "GET", "/v1/me/sessions", s.token, nil), http.StatusForbidden, models.CodeMFAEnrolmentRequired)
		a.me(t, s.token) // who am I still answers

		// Customers are not held back.
		c := a.newUser(t)
		want(t, a.do(t, "GET", "/v1/licenses", c.token, nil), http.StatusOK)

		a.withTOTP(t, s)
		want(t, a.do(t, "GET", "/v1/users", s.token, nil), http.StatusOK)
		want(t, a.do(t, "POST", "/v1/auth/logout", s.token, nil), http.StatusNoContent)
	}, func(o *handlerstest.Options) { o.StaffMFA = models.StaffMFARequired })
}

func TestStaffMFAOptional_IsTheDefault(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		s := a.newStaff(t, models.RoleSupport)
		want(t, a.do(t, "GET", "/v1/users", s.token, nil), http.StatusOK)
	})
}

func TestSessions_ListedWithTheCurrentOneMarked_AndEndedOneByOne(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		phone := a.login(t, u.email, u.password, "User-Agent", "PhoneBrowser/1.0")
		r := a.do(t, "GET", "/v1/me/sessions", u.token, nil)
		want(t, r, http.StatusOK)
		items := r.items()
		if len(items) != 2 {
			t.Fatalf("sessions = %s, want 2", r)
		}
		var current, other map[string]any
		for _, it := range items {
			if it["current"] == true {
				current = it
			} else {
				other = it
			}
		}
		if current == nil || other == nil || other["user_agent"] != "PhoneBrowser/1.0" || other["ip"] == "" || other["created_at"] == nil || other["last_seen_at"] == nil {
			t.Fatalf("sessions = %s, want one current, and the phone's with its user agent, address, created and last seen", r)
		}

		// Last seen moves when the session is used, at most once a minute.
		a.clock.Advance(2 * time.Minute)
		a.me(t, phone)
		r = a.do(t, "GET", "/v1/me/sessions", u.token, nil)
		for _, it := range r.items() {
			if it["id"] == other["id"] {
				if seen, _ := time.Parse(time.RFC3339, it["last_seen_at"].(string)); !seen.Equal(a.clock.Now()) {
					t.Errorf("phone last seen %v, want %v (it was just used)", it["last_seen_at"], a.clock.Now())
				}
			}
		}

		// Someone else's session, or none, is not found; one's own other session ends.
		stranger := a.newUser(t)
		want(t, a.do(t, "DELETE", "/v1/me/sessions/"+other["id"].(string), stranger.token, nil), http.StatusNotFound, models.CodeNotFound)
		want(t, a.do(t, "DELETE", "/v1/me/sessions/999999", u.token, nil), http.StatusNotFound, models.CodeNotFound)
		want(t, a.do(t, "DELETE", "/v1/me/sessions/x", u.token, nil), http.StatusNotFound, models.CodeNotFound)
		a.me(t, phone)
		want(t, a.do(t, "DELETE", "/v1/me/sessions/"+other["id"].(string), u.token, nil), http.StatusNoContent)
		want(t, a.do(t, "GET", "/v1/me", phone, nil), http.StatusUnauthorized, models.CodeUnauthenticated)
		want(t, a.do(t, "DELETE", "/v1/me/sessions/"+other["id"].(string), u.token, nil), http.StatusNotFound, models.CodeNotFound)
		if n := len(a.do(t, "GET", "/v1/me/sessions", u.token, nil).items()); n != 1 {
			t.Errorf("%d sessions after ending the other, want 1", n)
		}
		a.wantAudit(t, "session.revoked", u.id)
	})
}

func TestPasswordChange_IsAudited(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		want(t, a.do(t, "POST", "/v1/me/password", u.token, map[string]string{"current_password": u.password, "new_password": "another fine password 2"}), http.StatusOK)
		a.wantAudit(t, "user.password_changed", u.id)
	})
}

// wantAudit fails unless the audit log has an entry of the action about the user.
func (a *testApp) wantAudit(t testing.TB, action, userID string) {
	t.Helper()
	es, _, err := a.store.ListAudit(context.Background(), models.AuditFilter{Action: action, SubjectType: "user", SubjectID: userID}, models.Page{Limit: 10})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	if len(es) == 0 {
		t.Errorf("no audit entry %s for user %s", action, userID)
	}
}

// plantPasskey stores a passkey row for the user of token as a registration would (with a
// credential no authenticator holds: a real one needs a browser, see handlers/pages), and
// returns its id. For the tests that only need one to exist.
func (a *testApp) plantPasskey(t testing.TB, token, name string) string {
	t.Helper()
	uid := a.me(t, token).str("id")
	q := "INSERT INTO passkeys (user_id, name, credential_id, credential, created_at) VALUES (?, ?, ?, '{}', ?)"
	sel := "SELECT id FROM passkeys WHERE credential_id = ?"
	if a.dialect == dbstore.Postgres {
		q = "INSERT INTO passkeys (user_id, name, credential_id, credential, created_at) VALUES ($1, $2, $3, '{}', $4)"
		sel = "SELECT id FROM passkeys WHERE credential_id = $1"
	}
	credID := []byte("planted-" + name + "-" + uid)
	if _, err := a.store.SQLDB().Exec(q, uid, name, credID, a.clock.Now()); err != nil {
		t.Fatalf("plant a passkey: %v", err)
	}
	var id int64
	if err := a.store.SQLDB().QueryRow(sel, credID).Scan(&id); err != nil {
		t.Fatalf("plant a passkey: %v", err)
	}
	return strconv.FormatInt(id, 10)
}

func TestPasskey_MakesSignInTakeASecondStep(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		a.plantPasskey(t, u.token, "laptop")
		r := a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": u.password})
		want(t, r, http.StatusUnauthorized, models.CodeMFARequired)
		if methods, _ := r.body["methods"].([]any); !slices.Contains(methods, any("passkey")) || slices.Contains(methods, any("totp")) || slices.Contains(methods, any("recovery_code")) {
			t.Errorf("methods %v, want passkey (no totp and no recovery_code: there is no app, so no codes)", r.body["methods"])
		}
		// A TOTP code is nothing without an app.
		want(t, a.loginMFA(t, r.str("mfa_token"), "123456"), http.StatusUnauthorized, models.CodeInvalidMFACode)
	})
}

// An enrolment started again replaces the pending secret: a code of the first secret (an app
// that scanned the older QR code, or an attacker who saw it) does not confirm the second.
func TestTOTP_ConfirmWithAStaleSecretIsRefused(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		first := a.do(t, "POST", "/v1/me/mfa/totp", u.token, nil)
		want(t, first, http.StatusCreated)
		second := a.do(t, "POST", "/v1/me/mfa/totp", u.token, nil)
		want(t, second, http.StatusCreated)
		if first.str("secret") == second.str("secret") {
			t.Fatal("enrolling again answered the same secret")
		}
		stale := a.do(t, "POST", "/v1/me/mfa/totp/confirm", u.token, map[string]string{"code": totpCode(t, first.str("secret"), a.clock.Now())})
		want(t, stale, http.StatusBadRequest, models.CodeValidation)
		wantFields(t, stale, map[string]string{"code": "incorrect"})
		a.login(t, u.email, u.password) // still no factor: the password alone signs in
		want(t, a.do(t, "POST", "/v1/me/mfa/totp/confirm", u.token, map[string]string{"code": totpCode(t, second.str("secret"), a.clock.Now())}), http.StatusOK)
	})
}
