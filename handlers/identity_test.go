package handlers

// The identity endpoints as their clients rely on them (contract: /auth/*, /me, /me/password,
// /users, /staff, /api-keys, /audit, "Auth", "Answers that clients rely on"), through the real
// router, on every dialect, with letters caught by the in-process SMTP sink.

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"entitled/mailer/mailtest"
	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

// Phrases that tell the letters apart in the sink (their subjects).
const (
	letterVerify   = "Confirm your email address"
	letterReset    = "/reset-password?token="
	letterExisting = "already has an account"
)

func TestSignup_VerifyByTheLettersLink_ThenLogIn(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		email := a.email("ada")
		r := a.signup(t, email, testPassword, "Ada Lovelace")
		if r.str("status") == "" {
			t.Errorf("signup answered %s, want a status", r)
		}
		letter := a.sink.WaitFor(t, email, 0, testBaseURL+"/verify?token=")
		tok := mailtest.LinkToken(t, letter)
		if len(tok) < 43 { // 32 random bytes, however encoded
			t.Errorf("verification token %q is too short to carry 32 random bytes", tok)
		}

		// Unverified users can log in; /me says they are not verified yet.
		session := a.login(t, email, testPassword)
		if me := a.me(t, session); me.body["email_verified"] != false || me.str("email") != email || me.str("name") != "Ada Lovelace" {
			t.Errorf("before verification /me = %s", me)
		}

		v := a.do(t, "POST", "/v1/auth/verify", "", map[string]string{"token": tok})
		want(t, v, http.StatusOK)
		if v.body["email_verified"] != true || v.str("email") != email {
			t.Errorf("verify answered %s, want the verified user", v)
		}
		// Verification ends every session of the account (one opened by whoever signed up first
		// with someone else's address must not live on); the next login is verified.
		want(t, a.do(t, "GET", "/v1/me", session, nil), http.StatusUnauthorized, models.CodeUnauthenticated)
		if me := a.me(t, a.login(t, email, testPassword)); me.body["email_verified"] != true {
			t.Errorf("after verification /me = %s", me)
		}
	})
}

func TestLogin_AnswersABearerSession(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		r := a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": u.password})
		want(t, r, http.StatusOK)
		exp, _ := r.body["expires_in"].(float64)
		if r.str("access_token") == "" || r.str("token_type") != "Bearer" || exp <= 0 {
			t.Fatalf("login answered %s, want {access_token, token_type: Bearer, expires_in > 0}", r)
		}
		// Emails compare case-insensitively.
		a.login(t, strings.ToUpper(u.email), u.password)
	})
}

func TestMe_ShowsVerificationStaffRolesAndMemberships(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		me := a.me(t, u.token)
		roles, rolesOK := me.body["staff_roles"].([]any)
		members, membersOK := me.body["memberships"].([]any)
		if me.str("id") != u.id || me.str("email") != u.email || me.body["email_verified"] != true ||
			!rolesOK || len(roles) != 0 || !membersOK || len(members) != 0 {
			t.Errorf("customer /me = %s, want email_verified true and empty staff_roles and memberships", me)
		}
		if _, leaked := me.body["password_hash"]; leaked {
			t.Errorf("/me shows the password hash: %s", me)
		}

		s := a.newStaff(t, models.RoleSupport, models.RoleOps)
		sme := a.me(t, s.token)
		if got := sme.body["staff_roles"]; !equalJSON(got, []any{"ops", "support"}) {
			t.Errorf("staff /me staff_roles = %v, want [ops support]", got)
		}
	})
}

func TestLogout_EndsOnlyThatSession(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		other := a.login(t, u.email, u.password)

		want(t, a.do(t, "POST", "/v1/auth/logout", u.token, nil), http.StatusNoContent)

		r := a.do(t, "GET", "/v1/me", u.token, nil)
		want(t, r, http.StatusUnauthorized, models.CodeUnauthenticated)
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 has WWW-Authenticate %q, want a Bearer challenge", r.header.Get("WWW-Authenticate"))
		}
		want(t, a.do(t, "POST", "/v1/auth/logout", u.token, nil), http.StatusUnauthorized, models.CodeUnauthenticated)
		a.me(t, other)
	})
}

func TestSession_EndsWhenItExpires(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		r := a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": u.password})
		want(t, r, http.StatusOK)
		exp := time.Duration(r.body["expires_in"].(float64)) * time.Second
		a.clock.Advance(exp - time.Second)
		a.me(t, r.str("access_token"))
		a.clock.Advance(time.Second)
		want(t, a.do(t, "GET", "/v1/me", r.str("access_token"), nil), http.StatusUnauthorized, models.CodeUnauthenticated)
	})
}

func TestAuth_MissingOrBadCredentialsAre401WithABearerChallenge(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		for _, auth := range []string{"", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer not-a-session",
			"Bearer ek_notakeynotakeynotakeynotakey", "Bearer ek_"} {
			r := a.do(t, "GET", "/v1/me", "", nil, "Authorization", auth)
			if r.status != http.StatusUnauthorized || r.code() != models.CodeUnauthenticated ||
				!strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("Authorization %q: got %s with WWW-Authenticate %q, want 401 unauthenticated with a Bearer challenge",
					auth, r, r.header.Get("WWW-Authenticate"))
			}
		}
	})
}

func TestVerify_TokenIsSingleUse(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		email := a.email("once")
		a.signup(t, email, testPassword, "Once")
		tok := mailtest.LinkToken(t, a.sink.WaitFor(t, email, 0, testBaseURL+"/verify?token="))
		want(t, a.do(t, "POST", "/v1/auth/verify", "", map[string]string{"token": tok}), http.StatusOK)
		want(t, a.do(t, "POST", "/v1/auth/verify", "", map[string]string{"token": tok}), http.StatusBadRequest, models.CodeInvalidToken)
	})
}

func TestVerify_UnknownTokenRefused(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		for _, tok := range []string{"", "nope", strings.Repeat("A", 43), strings.Repeat("x", 300)} {
			want(t, a.do(t, "POST", "/v1/auth/verify", "", map[string]string{"token": tok}), http.StatusBadRequest, models.CodeInvalidToken)
		}
	})
}

func TestVerify_TokenExpiresAfter24Hours(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		early, late := a.email("early"), a.email("late")
		a.signup(t, early, testPassword, "Early")
		a.signup(t, late, testPassword, "Late")
		earlyTok := mailtest.LinkToken(t, a.sink.WaitFor(t, early, 0, testBaseURL+"/verify?token="))
		lateTok := mailtest.LinkToken(t, a.sink.WaitFor(t, late, 0, testBaseURL+"/verify?token="))

		a.clock.Advance(24*time.Hour - time.Second)
		want(t, a.do(t, "POST", "/v1/auth/verify", "", map[string]string{"token": earlyTok}), http.StatusOK)
		a.clock.Advance(time.Second)
		want(t, a.do(t, "POST", "/v1/auth/verify", "", map[string]string{"token": lateTok}), http.StatusBadRequest, models.CodeInvalidToken)
	})
}

func TestSignup_TakenEmailAnswersTheSameAndSendsANoticeInstead(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		email := a.email("taken")
		first := a.signup(t, email, testPassword, "Original Owner")
		a.verify(t, email)

		// The same address in other letters' case, another password and name.
		at := strings.IndexByte(email, '@')
		mixed := strings.ToUpper(email[:1]) + email[1:at] + strings.ToUpper(email[at:])
		again := a.signup(t, mixed, "an entirely different passphrase", "Someone Else")
		if !bytes.Equal(first.raw, again.raw) {
			t.Errorf("a taken email answered %s, a new one %s: the answers must not tell them apart", again, first)
		}
		a.sink.WaitFor(t, email, 0, letterExisting)
		a.drainMail(t)
		if n := a.mailTo(email, letterVerify); n != 1 {
			t.Errorf("%d verification letters went to %s, want only the first signup's", n, email)
		}
		// A repeated signup changes nothing: the password and name stay.
		s := a.login(t, email, testPassword)
		if me := a.me(t, s); me.str("name") != "Original Owner" || me.body["email_verified"] != true {
			t.Errorf("after a repeated signup /me = %s", me)
		}
		want(t, a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": "an entirely different passphrase"}),
			http.StatusUnauthorized, models.CodeInvalidCredentials)
	})
}

func TestSignup_ValidationNamesEachField(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		tests := []validationCase{
			{"missing everything", map[string]any{}, map[string]string{"email": "required", "password": "required", "name": "required"}},
			{"bad email", map[string]any{"email": "not-an-email", "password": testPassword, "name": "N"}, map[string]string{"email": "invalid"}},
			{"email without domain", map[string]any{"email": "someone@", "password": testPassword, "name": "N"}, map[string]string{"email": "invalid"}},
			{"short password", map[string]any{"email": "a@example.test", "password": "elevenchars", "name": "N"}, map[string]string{"password": "too_short"}},
			{"common password", map[string]any{"email": "a@example.test", "password": "qwerty123456", "name": "N"}, map[string]string{"password": "too_common"}},
			{"one repeated character", map[string]any{"email": "a@example.test", "password": strings.Repeat("z", 20), "name": "N"}, map[string]string{"password": "too_common"}},
			{"257-character password", map[string]any{"email": "a@example.test", "password": strings.Repeat("ab", 128) + "c", "name": "N"}, map[string]string{"password": "too_long"}},
			{"blank name", map[string]any{"email": "a@example.test", "password": testPassword, "name": "   "}, map[string]string{"name": "required"}},
			{"wrong types", map[string]any{"email": 42, "password": testPassword, "name": "N"}, map[string]string{"email": "invalid_type"}},
		}
		a.wantValidation(t, "/v1/auth/signup", "", tests)
		want(t, a.do(t, "POST", "/v1/auth/signup", "", `{"email":`), http.StatusBadRequest, models.CodeMalformedJSON)
		want(t, a.do(t, "POST", "/v1/auth/signup", "", nil), http.StatusBadRequest, models.CodeMalformedJSON)
	})
}

func TestLogin_WrongPasswordAndUnknownEmailAnswerAlike(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		wrong := a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": "not the password at all"})
		unknown := a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": "nobody@example.test", "password": "not the password at all"})
		want(t, wrong, http.StatusUnauthorized, models.CodeInvalidCredentials)
		want(t, unknown, http.StatusUnauthorized, models.CodeInvalidCredentials)
		delete(wrong.body, "request_id")
		delete(unknown.body, "request_id")
		if !equalJSON(wrong.body, unknown.body) {
			t.Errorf("wrong password answered %v, unknown email %v: they must be the same", wrong.body, unknown.body)
		}
		if wrong.header.Get("WWW-Authenticate") != unknown.header.Get("WWW-Authenticate") {
			t.Errorf("challenges differ: %q vs %q", wrong.header.Get("WWW-Authenticate"), unknown.header.Get("WWW-Authenticate"))
		}

		r := a.do(t, "POST", "/v1/auth/login", "", map[string]string{})
		wantFields(t, r, map[string]string{"email": "required", "password": "required"})
	})
}

func TestLogin_AccountLocksAfterTenFailures_EvenForTheRightPassword(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		bystander := a.newUser(t)
		for i := range models.LoginPerAccount.Max {
			r := a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": "wrong password " + strconv.Itoa(i)})
			want(t, r, http.StatusUnauthorized, models.CodeInvalidCredentials)
		}
		r := a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": "wrong password again"})
		want(t, r, http.StatusTooManyRequests, models.CodeTooManyAttempts)
		if secs := retryAfter(t, r); secs > int(models.LoginPerAccount.Window.Seconds()) {
			t.Errorf("Retry-After %d s is longer than the window", secs)
		}
		right := a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": strings.ToUpper(u.email), "password": u.password})
		want(t, right, http.StatusTooManyRequests, models.CodeTooManyAttempts)
		wait := time.Duration(retryAfter(t, right)) * time.Second

		// The lock is on the account: another account from the same address logs in.
		a.login(t, bystander.email, bystander.password)
		// Sessions opened before the lock go on working.
		a.me(t, u.token)

		// Locked until Retry-After, and not a second longer.
		a.clock.Advance(wait - time.Second)
		want(t, a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": u.password}),
			http.StatusTooManyRequests, models.CodeTooManyAttempts)
		a.clock.Advance(time.Second)
		a.login(t, u.email, u.password)
	})
}

func TestLogin_SuccessesNeverCountTowardTheLimit(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		for i := range models.LoginPerAccount.Max - 1 {
			want(t, a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": "wrong password " + strconv.Itoa(i)}),
				http.StatusUnauthorized, models.CodeInvalidCredentials)
		}
		// Nine failures and any number of successes: not locked.
		a.login(t, u.email, u.password)
		a.login(t, u.email, u.password)
	})
}

// Signup, forgot (and later recover and help) are limited per client address by
// ENTITLED_RATE_ANON_PER_MIN, sharing one bucket; other addresses are unaffected.
func TestAnonymousLetterEndpoints_LimitedPerAddress(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		const from, other = "198.51.100.1", "198.51.100.2"
		xff := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
		want(t, a.do(t, "POST", "/v1/auth/signup", "", map[string]string{"email": a.email("rl"), "password": testPassword, "name": "R"}, xff(from)...), http.StatusCreated)
		want(t, a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": a.email("rl")}, xff(from)...), http.StatusAccepted)
		want(t, a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": a.email("rl")}, xff(from)...), http.StatusAccepted)

		for _, path := range []string{"/v1/auth/signup", "/v1/auth/password/forgot"} {
			r := a.do(t, "POST", path, "", map[string]string{"email": a.email("rl"), "password": testPassword, "name": "R"}, xff(from)...)
			want(t, r, http.StatusTooManyRequests, models.CodeTooManyAttempts)
			retryAfter(t, r)
		}
		want(t, a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": a.email("rl")}, xff(other)...), http.StatusAccepted)
		// Login sends no letter: it is throttled by failures, not by this limit.
		want(t, a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": "x@example.test", "password": "some password"}, xff(from)...),
			http.StatusUnauthorized, models.CodeInvalidCredentials)
	}, withRateAnon(3), withTrustedProxies("127.0.0.1/32"))
}

func TestForgotPassword_AnswersTheSameForKnownAndUnknownEmail(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		stranger := a.email("stranger")
		known := a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": u.email})
		unknown := a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": stranger})
		want(t, known, http.StatusAccepted)
		want(t, unknown, http.StatusAccepted)
		if !bytes.Equal(known.raw, unknown.raw) {
			t.Errorf("known email answered %s, unknown %s: they must be the same", known, unknown)
		}
		a.sink.WaitFor(t, u.email, 0, testBaseURL+"/reset-password?token=")
		a.drainMail(t)
		if n := len(a.sink.To(stranger)); n != 0 {
			t.Errorf("%d letters went to an address with no account", n)
		}

		r := a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": "not an email"})
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		if r.fields()["email"] == "" {
			t.Errorf("errors = %v, want email", r.fields())
		}
	})
}

func TestResetPassword_EndsEverySession_AndTheTokenIsSingleUse(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		other := a.login(t, u.email, u.password)
		want(t, a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": u.email}), http.StatusAccepted)
		tok := mailtest.LinkToken(t, a.sink.WaitFor(t, u.email, 0, testBaseURL+"/reset-password?token="))

		const newPassword = "a brand new passphrase"
		r := a.do(t, "POST", "/v1/auth/password/reset", "", map[string]string{"token": tok, "password": newPassword})
		want(t, r, http.StatusOK)
		if r.str("email") != u.email {
			t.Errorf("reset answered %s, want the user", r)
		}
		for _, s := range []string{u.token, other} {
			want(t, a.do(t, "GET", "/v1/me", s, nil), http.StatusUnauthorized, models.CodeUnauthenticated)
		}
		want(t, a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": u.password}),
			http.StatusUnauthorized, models.CodeInvalidCredentials)
		a.login(t, u.email, newPassword)

		again := a.do(t, "POST", "/v1/auth/password/reset", "", map[string]string{"token": tok, "password": "yet another passphrase"})
		want(t, again, http.StatusBadRequest, models.CodeInvalidToken)
		a.login(t, u.email, newPassword)
	})
}

func TestResetPassword_ValidatesTheNewPassword(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		r := a.do(t, "POST", "/v1/auth/password/reset", "", map[string]string{"password": "short"})
		wantFields(t, r, map[string]string{"token": "required", "password": "too_short"})
	})
}

func TestResetPassword_TokenExpiresAfterOneHour(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		want(t, a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": u.email}), http.StatusAccepted)
		tok := mailtest.LinkToken(t, a.sink.WaitFor(t, u.email, 0, testBaseURL+"/reset-password?token="))
		a.clock.Advance(time.Hour)
		want(t, a.do(t, "POST", "/v1/auth/password/reset", "", map[string]string{"token": tok, "password": "a brand new passphrase"}),
			http.StatusBadRequest, models.CodeInvalidToken)
		a.me(t, u.token)
		a.login(t, u.email, u.password)
	})
}

// More than five reset requests for one address in an hour queue five letters: nobody can flood
// a stranger's inbox through us. The next hour brings a new allowance.
func TestForgotPassword_AtMostFiveResetLettersAnHour(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		for range models.LettersPerHour + 3 {
			want(t, a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": u.email}), http.StatusAccepted)
		}
		a.drainMail(t) // the letters are decided after the answers
		if n := len(a.letters(t, "password_reset", u.email)); n != models.LettersPerHour {
			t.Errorf("%d reset letters queued, want %d", n, models.LettersPerHour)
		}
		a.drainMail(t)
		if n := a.mailTo(u.email, letterReset); n != models.LettersPerHour {
			t.Errorf("%d reset letters arrived, want %d", n, models.LettersPerHour)
		}

		a.clock.Advance(time.Hour)
		want(t, a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": u.email}), http.StatusAccepted)
		a.drainMail(t)
		if n := len(a.letters(t, "password_reset", u.email)); n != models.LettersPerHour+1 {
			t.Errorf("an hour later %d reset letters queued, want %d", n, models.LettersPerHour+1)
		}
	})
}

func TestChangePassword_ChecksTheCurrentOne_AndEndsOtherSessions(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		other := a.login(t, u.email, u.password)
		const newPassword = "a brand new passphrase"

		r := a.do(t, "POST", "/v1/me/password", u.token, map[string]string{"current_password": "not my password", "new_password": newPassword})
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		if _, ok := r.fields()["current_password"]; !ok || len(r.fields()) != 1 {
			t.Errorf("errors = %v, want current_password only", r.fields())
		}
		r = a.do(t, "POST", "/v1/me/password", u.token, map[string]string{"current_password": u.password, "new_password": "short"})
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		if r.fields()["new_password"] != "too_short" {
			t.Errorf("errors = %v, want new_password too_short", r.fields())
		}
		a.me(t, other) // failures end nothing

		r = a.do(t, "POST", "/v1/me/password", u.token, map[string]string{"current_password": u.password, "new_password": newPassword})
		want(t, r, http.StatusOK)
		a.me(t, u.token)
		want(t, a.do(t, "GET", "/v1/me", other, nil), http.StatusUnauthorized, models.CodeUnauthenticated)
		want(t, a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": u.password}),
			http.StatusUnauthorized, models.CodeInvalidCredentials)
		a.login(t, u.email, newPassword)
		a.sink.WaitFor(t, u.email, 0, "password was changed")
	})
}

func TestStaff_SuperadminCreatesUpdatesAndListsStaff(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		root := a.newStaff(t, models.RoleSuperadmin)
		email := a.email("renewer")

		r := a.do(t, "POST", "/v1/staff", root.token, map[string]any{"email": strings.ToUpper(email), "name": "Rene Wals",
			"roles": []string{"renewals", "support"}, "password": testPassword})
		want(t, r, http.StatusCreated)
		if r.str("email") != email || !equalJSON(r.body["roles"], []any{"renewals", "support"}) {
			t.Errorf("create answered %s", r)
		}
		s := a.login(t, email, testPassword)
		if me := a.me(t, s); !equalJSON(me.body["staff_roles"], []any{"renewals", "support"}) || me.body["email_verified"] != true {
			t.Errorf("new staff /me = %s", me)
		}

		r = a.do(t, "POST", "/v1/staff", root.token, map[string]any{"email": email, "roles": []string{"ops"}})
		want(t, r, http.StatusOK)
		if !equalJSON(r.body["roles"], []any{"ops"}) {
			t.Errorf("update answered %s, want roles [ops]", r)
		}
		if me := a.me(t, s); !equalJSON(me.body["staff_roles"], []any{"ops"}) {
			t.Errorf("an open session sees staff_roles %v, want the new [ops]", me.body["staff_roles"])
		}

		l := a.do(t, "GET", "/v1/staff", root.token, nil)
		want(t, l, http.StatusOK)
		var emails []string
		for _, it := range l.items() {
			emails = append(emails, it["email"].(string))
		}
		if !slices.Contains(emails, root.email) || !slices.Contains(emails, email) || len(emails) != 2 {
			t.Errorf("staff list = %v, want %s and %s", emails, root.email, email)
		}
	})
}

func TestStaff_EmptyRolesRemoveStaffRights(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		root := a.newStaff(t, models.RoleSuperadmin)
		helper := a.newStaff(t, models.RoleSupport)
		want(t, a.do(t, "GET", "/v1/users", helper.token, nil), http.StatusOK)

		r := a.do(t, "POST", "/v1/staff", root.token, map[string]any{"email": helper.email, "roles": []string{}})
		want(t, r, http.StatusOK)
		if !equalJSON(r.body["roles"], []any{}) {
			t.Errorf("answered %s, want roles []", r)
		}
		want(t, a.do(t, "GET", "/v1/users", helper.token, nil), http.StatusForbidden, models.CodeForbidden)
		if me := a.me(t, helper.token); !equalJSON(me.body["staff_roles"], []any{}) {
			t.Errorf("former staff /me = %s", me)
		}
		for _, it := range a.do(t, "GET", "/v1/staff", root.token, nil).items() {
			if it["email"] == helper.email {
				t.Errorf("staff list still has %s", helper.email)
			}
		}
	})
}

func TestStaff_RequestsAreValidated(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		root := a.newStaff(t, models.RoleSuperadmin)
		tests := []validationCase{
			{"unknown role", map[string]any{"email": root.email, "roles": []string{"support", "janitor"}}, map[string]string{"roles[1]": "invalid"}},
			{"bad email", map[string]any{"email": "nope", "roles": []string{"ops"}}, map[string]string{"email": "invalid"}},
			{"new staff without password", map[string]any{"email": a.email("nopw"), "roles": []string{"ops"}}, map[string]string{"password": "required"}},
			{"weak password", map[string]any{"email": a.email("weak"), "roles": []string{"ops"}, "password": "123456789012"}, map[string]string{"password": "too_common"}},
		}
		a.wantValidation(t, "/v1/staff", root.token, tests)
		if me := a.me(t, root.token); !equalJSON(me.body["staff_roles"], []any{"superadmin"}) {
			t.Errorf("a refused update changed the roles: %s", me)
		}
	})
}

func TestFindUsers_ByEmailPrefix_ForStaffSupport(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		helper := a.newStaff(t, models.RoleSupport)
		for _, e := range []string{"alice.one@example.test", "alice.two@example.test", "bob@example.test"} {
			a.signup(t, e, testPassword, "Someone")
		}
		find := func(q string) []string {
			t.Helper()
			r := a.do(t, "GET", "/v1/users?email="+url.QueryEscape(q), helper.token, nil)
			want(t, r, http.StatusOK)
			var out []string
			for _, it := range r.items() {
				if _, ok := it["memberships"].([]any); !ok {
					t.Errorf("user %v has no memberships list", it)
				}
				out = append(out, it["email"].(string))
			}
			return out
		}
		if got := find("alice"); !slices.Equal(got, []string{"alice.one@example.test", "alice.two@example.test"}) {
			t.Errorf("alice… found %v", got)
		}
		if got := find("ALICE.T"); !slices.Equal(got, []string{"alice.two@example.test"}) {
			t.Errorf("ALICE.T… found %v", got)
		}
		if got := find("alice_"); len(got) != 0 { // _ is a character, not a wildcard
			t.Errorf("alice_… found %v", got)
		}
		if got := find("%"); len(got) != 0 {
			t.Errorf("%%… found %v", got)
		}
	})
}

// postAPIKey creates an API key through the API (POST /v1/api-keys, 201) with the superadmin's
// session, and answers the answer, the key and its id.
func (a *testApp) postAPIKey(t testing.TB, superadmin, name string, scopes ...string) (r *resp, key, id string) {
	t.Helper()
	r = a.do(t, "POST", "/v1/api-keys", superadmin, map[string]any{"name": name, "scopes": scopes})
	want(t, r, http.StatusCreated)
	return r, r.str("key"), r.str("id")
}

func TestAPIKeys_ShownOnce_ListedWithoutTheKey_Revoked(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		root := a.newStaff(t, models.RoleSuperadmin)
		r, key, id := a.postAPIKey(t, root.token, "renewal sheet", "renewals:read")
		if !strings.HasPrefix(key, "ek_") || len(key) < 3+43 || id == "" || !strings.HasPrefix(key, r.str("prefix")) || r.str("prefix") == key {
			t.Fatalf("create answered %s, want an ek_ key of 32 random bytes with a shorter visible prefix", r)
		}
		if !equalJSON(r.body["scopes"], []any{"renewals:read"}) || r.str("name") != "renewal sheet" {
			t.Errorf("create answered %s", r)
		}

		// A key is a machine, not a person: routes for users are 403, not 401; and a route that
		// names none of its scopes is 403 too.
		want(t, a.do(t, "GET", "/v1/me", key, nil), http.StatusForbidden, models.CodeForbidden)
		want(t, a.do(t, "POST", "/v1/orders", key, map[string]any{}), http.StatusForbidden, models.CodeForbidden)
		// A key gets through where its scope is named (the empty order is then refused on its merits).
		ok := a.do(t, "POST", "/v1/api-keys", root.token, map[string]any{"name": "order system", "scopes": []string{"orders:write"}})
		want(t, ok, http.StatusCreated)
		if r := a.do(t, "POST", "/v1/orders", ok.str("key"), map[string]any{}); r.status == http.StatusUnauthorized || r.status == http.StatusForbidden || r.status >= 500 {
			t.Errorf("an orders:write key on POST /v1/orders: got %s, want past the guard", r)
		}
		want(t, a.do(t, "DELETE", "/v1/api-keys/"+ok.str("id"), root.token, nil), http.StatusNoContent)

		l := a.do(t, "GET", "/v1/api-keys", root.token, nil)
		want(t, l, http.StatusOK)
		if bytes.Contains(l.raw, []byte(key)) || bytes.Contains(l.raw, []byte(key[len(r.str("prefix")):])) {
			t.Fatalf("the key list shows the key: %s", l.raw)
		}
		items := l.items()
		if len(items) != 1 || items[0]["id"] != id || items[0]["name"] != "renewal sheet" || items[0]["prefix"] != r.str("prefix") {
			t.Fatalf("list = %s", l)
		}
		if _, has := items[0]["key"]; has {
			t.Errorf("listed key has a key member: %v", items[0])
		}
		if items[0]["last_used_at"] == nil {
			t.Errorf("last_used_at = nil after the key was used")
		}

		want(t, a.do(t, "DELETE", "/v1/api-keys/"+id, root.token, nil), http.StatusNoContent)
		want(t, a.do(t, "GET", "/v1/me", key, nil), http.StatusUnauthorized, models.CodeUnauthenticated)
		want(t, a.do(t, "DELETE", "/v1/api-keys/"+id, root.token, nil), http.StatusNotFound, models.CodeNotFound)
		want(t, a.do(t, "DELETE", "/v1/api-keys/not-a-number", root.token, nil), http.StatusNotFound, models.CodeNotFound)
		if n := len(a.do(t, "GET", "/v1/api-keys", root.token, nil).items()); n != 0 {
			t.Errorf("a revoked key is still listed (%d keys)", n)
		}
	})
}

func TestAPIKeys_RequestsAreValidated(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		root := a.newStaff(t, models.RoleSuperadmin)
		tests := []validationCase{
			{"nothing", map[string]any{}, map[string]string{"name": "required", "scopes": "required"}},
			{"no scope", map[string]any{"name": "n", "scopes": []string{}}, map[string]string{"scopes": "required"}},
			{"unknown scope", map[string]any{"name": "n", "scopes": []string{"orders:write", "everything"}}, map[string]string{"scopes[1]": "invalid"}},
		}
		a.wantValidation(t, "/v1/api-keys", root.token, tests)
	})
}

func TestAudit_RecordsWhoDidWhat_WithFiltersAndPages(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		root := a.newStaff(t, models.RoleSuperadmin)
		k := a.do(t, "POST", "/v1/api-keys", root.token, map[string]any{"name": "orders", "scopes": []string{"orders:write"}})
		want(t, k, http.StatusCreated)
		a.clock.Advance(time.Hour)
		st := a.do(t, "POST", "/v1/staff", root.token, map[string]any{"email": a.email("ops"), "roles": []string{"ops"}, "password": testPassword})
		want(t, st, http.StatusCreated)

		all := a.do(t, "GET", "/v1/audit", root.token, nil)
		want(t, all, http.StatusOK)
		entries := all.items()
		if len(entries) < 3 {
			t.Fatalf("audit = %s, want the staff and key changes", all)
		}
		// Newest first: the staff change, then the key.
		wantActor := map[string]any{"kind": "staff", "id": root.id, "email": root.email}
		for i, action := range []string{"staff.updated", "api_key.created"} {
			e := entries[i]
			if e["action"] != action || !equalJSON(e["actor"], wantActor) || e["ip"] != "127.0.0.1" || e["at"] == nil || e["id"] == nil {
				t.Errorf("entry %d = %v, want %s by %v from 127.0.0.1", i, e, action, wantActor)
			}
		}
		if entries[0]["subject"] != "user:"+st.str("id") || entries[1]["subject"] != "api_key:"+k.str("id") {
			t.Errorf("subjects = %v, %v", entries[0]["subject"], entries[1]["subject"])
		}
		if bytes.Contains(all.raw, []byte(k.str("key"))) || bytes.Contains(all.raw, []byte(testPassword)) {
			t.Errorf("the audit log shows a secret: %s", all.raw)
		}

		byAction := a.do(t, "GET", "/v1/audit?action=api_key.created", root.token, nil)
		want(t, byAction, http.StatusOK)
		if it := byAction.items(); len(it) != 1 || it[0]["subject"] != "api_key:"+k.str("id") {
			t.Errorf("action=api_key.created gave %s", byAction)
		}
		bySubject := a.do(t, "GET", "/v1/audit?subject="+url.QueryEscape("user:"+st.str("id")), root.token, nil)
		want(t, bySubject, http.StatusOK)
		if it := bySubject.items(); len(it) != 1 || it[0]["action"] != "staff.updated" {
			t.Errorf("subject=user:%s gave %s", st.str("id"), bySubject)
		}

		byActor := a.do(t, "GET", "/v1/audit?actor="+root.id, root.token, nil)
		want(t, byActor, http.StatusOK)
		if it := byActor.items(); len(it) != 2 {
			t.Errorf("actor=%s gave %s, want the 2 changes the superadmin made", root.id, byActor)
		}
		halfway := url.QueryEscape(testStart.Add(30 * time.Minute).Format(time.RFC3339))
		since := a.do(t, "GET", "/v1/audit?since="+halfway, root.token, nil)
		want(t, since, http.StatusOK)
		if it := since.items(); len(it) != 1 || it[0]["action"] != "staff.updated" {
			t.Errorf("since=%s gave %s, want the staff change only", halfway, since)
		}
		until := a.do(t, "GET", "/v1/audit?until="+halfway, root.token, nil)
		want(t, until, http.StatusOK)
		if it := until.items(); len(it) != len(entries)-1 || it[0]["action"] != "api_key.created" {
			t.Errorf("until=%s gave %s, want everything before the staff change", halfway, until)
		}

		// Pages: limit=1 gives the newest and a cursor to the next.
		p1 := a.do(t, "GET", "/v1/audit?limit=1", root.token, nil)
		want(t, p1, http.StatusOK)
		next := p1.str("next_cursor")
		if len(p1.items()) != 1 || next == "" || p1.items()[0]["id"] != entries[0]["id"] {
			t.Fatalf("limit=1 gave %s", p1)
		}
		p2 := a.do(t, "GET", "/v1/audit?limit=1&cursor="+url.QueryEscape(next), root.token, nil)
		want(t, p2, http.StatusOK)
		if len(p2.items()) != 1 || p2.items()[0]["id"] != entries[1]["id"] {
			t.Errorf("the second page gave %s, want entry %v", p2, entries[1]["id"])
		}
		last := a.do(t, "GET", "/v1/audit?limit=500", root.token, nil)
		if _, ok := last.body["next_cursor"]; !ok || last.body["next_cursor"] != nil {
			t.Errorf("a last page has next_cursor %v, want null", last.body["next_cursor"])
		}

		for _, q := range []string{"limit=0", "limit=501", "limit=ten", "cursor=bogus", "subject=:", "actor=me", "since=yesterday"} {
			r := a.do(t, "GET", "/v1/audit?"+q, root.token, nil)
			want(t, r, http.StatusBadRequest, models.CodeValidation)
			field, _, _ := strings.Cut(q, "=")
			if _, ok := r.fields()[field]; !ok {
				t.Errorf("%s: errors = %v, want %s", q, r.fields(), field)
			}
		}
	})
}

// equalJSON compares two decoded JSON values.
func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !equalJSON(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// Account safety (issue 16): signing up with someone else's address gains nothing, the anonymous
// letter-sending endpoints do the same work for every address, throttles count failures only and
// never lock out everyone behind one address, and a password change voids earlier reset links.
// Contract: "Answers that clients rely on".

// Item 2: account pre-hijacking. An attacker signs up with the owner's address and a password of
// their own, and keeps the session; the owner signs up later with their own password and follows
// the link of that (second) letter. The owner's password is the account's, the attacker's session
// has ended and their password is refused, and the grant of an invitation to the address, made
// while it was unverified, went to the owner only.
func TestSignup_PreHijacking_TheLinkFollowedSetsItsSignupsPassword_AndEndsEverySession(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		ln, _, _, admin := a.registeredLicense(t, ops)

		victim := a.email("newguy")
		const attackerPassword, ownerPassword = "mallory came here first", "the owners own passphrase"
		a.signup(t, victim, attackerPassword, "Mallory Attacker")
		attacker := a.login(t, victim, attackerPassword)
		first := a.sink.WaitFor(t, victim, 0, letterVerify, "Hello Mallory Attacker")

		// An admin adds the address while it is unverified: an invitation, not a grant.
		want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+victim, admin.token, map[string]any{"roles": []string{"support", "license"}}),
			http.StatusAccepted)
		want(t, a.do(t, "GET", "/v1/licenses/"+ln, attacker, nil), http.StatusForbidden, models.CodeNotAMember)

		a.signup(t, victim, ownerPassword, "Olivia Owner")
		second := a.sink.WaitFor(t, victim, 0, letterVerify, "Hello Olivia Owner")
		v := a.do(t, "POST", "/v1/auth/verify", "", map[string]string{"token": mailtest.LinkToken(t, second)})
		want(t, v, http.StatusOK)
		if v.body["email_verified"] != true || v.str("name") != "Olivia Owner" {
			t.Errorf("verify answered %s, want the verified user named by the signup that sent the link", v)
		}

		// Whoever signed up first gains nothing: their session ended and their password is gone.
		want(t, a.do(t, "GET", "/v1/me", attacker, nil), http.StatusUnauthorized, models.CodeUnauthenticated)
		want(t, a.do(t, "GET", "/v1/licenses/"+ln, attacker, nil), http.StatusUnauthorized, models.CodeUnauthenticated)
		want(t, a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": victim, "password": attackerPassword}),
			http.StatusUnauthorized, models.CodeInvalidCredentials)

		// The owner's password logs in, and the invitation's grant is theirs.
		owner := a.login(t, victim, ownerPassword)
		me := a.me(t, owner)
		if me.body["email_verified"] != true || me.str("name") != "Olivia Owner" {
			t.Errorf("the owner's /me = %s", me)
		}
		r := a.do(t, "GET", "/v1/licenses/"+ln, owner, nil)
		want(t, r, http.StatusOK)
		if roleSet(r.body["roles"]) != "support,license" {
			t.Errorf("the owner's roles on %s: %s, want support,license", ln, r)
		}

		// The first letter's link died with the verification: it cannot bring the attacker's
		// password back.
		want(t, a.do(t, "POST", "/v1/auth/verify", "", map[string]string{"token": mailtest.LinkToken(t, first)}),
			http.StatusBadRequest, models.CodeInvalidToken)
		want(t, a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": victim, "password": attackerPassword}),
			http.StatusUnauthorized, models.CodeInvalidCredentials)
		a.login(t, victim, ownerPassword)
	})
}

// Item 2: an address verified by a password reset (the owner chose "forgot password" instead of
// signing up) keeps the reset's password: an older verification link changes nothing.
func TestResetPassword_OnAnUnverifiedAccount_OlderVerificationLinksAreDead(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		victim := a.email("resetter")
		const attackerPassword, ownerPassword = "mallory came here first", "the owners own passphrase"
		a.signup(t, victim, attackerPassword, "Mallory Attacker")
		attacker := a.login(t, victim, attackerPassword)
		link := a.sink.WaitFor(t, victim, 0, letterVerify)

		want(t, a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": victim}), http.StatusAccepted)
		reset := mailtest.LinkToken(t, a.sink.WaitFor(t, victim, 0, letterReset))
		r := a.do(t, "POST", "/v1/auth/password/reset", "", map[string]string{"token": reset, "password": ownerPassword})
		want(t, r, http.StatusOK)
		if r.body["email_verified"] != true {
			t.Errorf("reset answered %s, want the email verified", r)
		}
		want(t, a.do(t, "GET", "/v1/me", attacker, nil), http.StatusUnauthorized, models.CodeUnauthenticated)

		want(t, a.do(t, "POST", "/v1/auth/verify", "", map[string]string{"token": mailtest.LinkToken(t, link)}),
			http.StatusBadRequest, models.CodeInvalidToken)
		want(t, a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": victim, "password": attackerPassword}),
			http.StatusUnauthorized, models.CodeInvalidCredentials)
		a.login(t, victim, ownerPassword)
	})
}

// sqlRecorder records the SQL text (parameters left out) of the statements that the store runs
// for requests, leaving out those of River's workers (the letter jobs, which run after the
// answer). It is the store's logger (withStoreLog): the store logs every statement at debug
// level, with the statement's context.
type sqlRecorder struct {
	mu    sync.Mutex
	on    bool
	stmts []string
}

func (rec *sqlRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (rec *sqlRecorder) WithAttrs([]slog.Attr) slog.Handler       { return rec }
func (rec *sqlRecorder) WithGroup(string) slog.Handler            { return rec }

func (rec *sqlRecorder) Handle(ctx context.Context, r slog.Record) error {
	if r.Level != slog.LevelDebug {
		return nil
	}
	if _, err := river.ClientFromContextSafely[*sql.Tx](ctx); err == nil {
		return nil // a job's work, not the request's
	}
	var stmt string
	var isSQL bool
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "sql" {
			stmt, isSQL = a.Value.String(), true
			return false
		}
		return true
	})
	if !isSQL {
		return nil
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.on {
		rec.stmts = append(rec.stmts, stmt)
	}
	return nil
}

// statements runs fn with the recorder on, once every letter so far was sent (so that no job
// runs beside it), and returns the statements fn ran followed by the kinds of the jobs it
// inserted (River inserts them with SQL of its own, the same for every job of a kind).
func (a *testApp) statements(t testing.TB, rec *sqlRecorder, fn func()) []string {
	t.Helper()
	a.drainMail(t)
	var last int64
	if err := storetest.Gorm(t, a.store).Raw("SELECT coalesce(max(id), 0) FROM river_job").Scan(&last).Error; err != nil {
		t.Fatalf("last job: %v", err)
	}
	rec.mu.Lock()
	rec.on, rec.stmts = true, nil
	rec.mu.Unlock()
	fn()
	rec.mu.Lock()
	out := rec.stmts
	rec.on, rec.stmts = false, nil
	rec.mu.Unlock()
	var kinds []string
	// Letters that the request's own job may have queued meanwhile are not the request's.
	if err := storetest.Gorm(t, a.store).Raw("SELECT kind FROM river_job WHERE id > ? AND kind <> 'send_letter' ORDER BY id", last).Scan(&kinds).Error; err != nil {
		t.Fatalf("jobs: %v", err)
	}
	for _, k := range kinds {
		out = append(out, "river job "+k)
	}
	return out
}

// Item 7: the anonymous letter-sending endpoints run the same statements, in the same order,
// whether or not the address has an account (or a verified one, or is an account's contact):
// the work that differs happens in a job, after the answer.
func TestAnonymousLetters_SameStatementsWhateverTheAddress(t *testing.T) {
	rec := &sqlRecorder{}
	eachDialect(t, func(t *testing.T, a *testApp) {
		verified := a.newUser(t)
		unverified := a.newUnverifiedUser(t)
		ops := a.newStaff(t, models.RoleOps).token
		_, _, contact := a.freshLicense(t, ops, nil)

		post := func(path string, body map[string]string, status int) func() {
			return func() { want(t, a.do(t, "POST", path, "", body), status) }
		}
		signup := func(email string) func() {
			return post("/v1/auth/signup", map[string]string{"email": email, "password": "some passphrase or other", "name": "Somebody"}, http.StatusCreated)
		}
		forgot := func(email string) func() {
			return post("/v1/auth/password/forgot", map[string]string{"email": email}, http.StatusAccepted)
		}
		recoverAccount := func(email string) func() {
			return post("/v1/accounts/recover", map[string]string{"email": email}, http.StatusAccepted)
		}
		tests := []struct {
			name  string
			cases map[string]func() // address → request; the first is compared with each other
		}{
			{"signup", map[string]func(){"new": signup(a.email("new")), "verified": signup(verified.email), "unverified": signup(unverified.email)}},
			{"forgot", map[string]func(){"new": forgot(a.email("nobody")), "verified": forgot(verified.email), "unverified": forgot(unverified.email)}},
			{"recover", map[string]func(){"new": recoverAccount(a.email("nobody")), "contact": recoverAccount(contact), "user": recoverAccount(verified.email)}},
		}
		sawSQL := false // the recorder saw the store's statements (forgot runs none of GORM's)
		for _, tt := range tests {
			base := a.statements(t, rec, tt.cases["new"])
			if !slices.Contains(base, "river job "+map[string]string{"signup": "signup_letter", "forgot": "password_reset_letter", "recover": "account_recovery_letter"}[tt.name]) {
				t.Errorf("%s for a new address ran %q: want its letter job among them", tt.name, base)
			}
			if slices.ContainsFunc(base, func(s string) bool { return !strings.HasPrefix(s, "river job ") }) {
				sawSQL = true
			}
			for who, fn := range tt.cases {
				if who == "new" {
					continue
				}
				if got := a.statements(t, rec, fn); !slices.Equal(got, base) {
					t.Errorf("%s for a %s address ran\n\t%s\nfor a new one\n\t%s\nwant the same statements", tt.name, who,
						strings.Join(got, "\n\t"), strings.Join(base, "\n\t"))
				}
			}
		}
		if !sawSQL {
			t.Fatal("the store logged no SQL statement for any request: nothing was compared")
		}
	}, withStoreLog(rec))
}

// Item 7: the letters still arrive, after the answer: a known address gets its reset letter,
// recovery letter or signup notice; an address without an account gets nothing.
func TestAnonymousLetters_KnownAddressesGetTheirLetters_UnknownOnesNothing(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		ops := a.newStaff(t, models.RoleOps).token
		ln, acct, contact := a.freshLicense(t, ops, nil)
		a.drainMail(t)
		stranger := a.email("stranger")
		before := len(a.sink.To(u.email))

		want(t, a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": u.email}), http.StatusAccepted)
		want(t, a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": stranger}), http.StatusAccepted)
		want(t, a.do(t, "POST", "/v1/accounts/recover", "", map[string]string{"email": contact}), http.StatusAccepted)
		want(t, a.do(t, "POST", "/v1/accounts/recover", "", map[string]string{"email": stranger}), http.StatusAccepted)
		want(t, a.do(t, "POST", "/v1/auth/signup", "", map[string]string{"email": u.email, "password": "another passphrase entirely", "name": "Imposter"}),
			http.StatusCreated)

		reset := a.sink.WaitFor(t, u.email, before, letterReset)
		recovery := a.sink.WaitFor(t, contact, 0, "Account ID", acct, ln)
		a.sink.WaitFor(t, u.email, before, letterExisting)
		a.drainMail(t)
		if n := len(a.sink.To(stranger)); n != 0 {
			t.Errorf("%d letters went to an address with no account", n)
		}
		if n := len(a.sink.To(u.email)) - before; n != 2 {
			t.Errorf("%d letters went to the user, want the reset letter and the signup notice", n)
		}
		if !strings.Contains(recovery.Text(), acct) {
			t.Errorf("the recovery letter lacks the Account ID:\n%s", recovery.Text())
		}
		// The reset link works, and the repeated signup changed nothing.
		want(t, a.do(t, "POST", "/v1/auth/password/reset", "", map[string]string{"token": mailtest.LinkToken(t, reset), "password": "a brand new passphrase"}),
			http.StatusOK)
		a.login(t, u.email, "a brand new passphrase")
		want(t, a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": "another passphrase entirely"}),
			http.StatusUnauthorized, models.CodeInvalidCredentials)
	})
}

// loginFrom is one login attempt from a client address.
func (a *testApp) loginFrom(t testing.TB, ip, email, password string) *resp {
	t.Helper()
	return a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}, "X-Forwarded-For", ip)
}

// Item 8: one address (a NAT, a proxy) over its limit of failed logins locks nobody out: a right
// password from it still logs in; only its wrong ones are answered 429, with Retry-After, until the
// failures leave the window. Other addresses are not affected at all.
func TestLogin_AddressOverItsLimit_RightPasswordsStillLogIn_WrongOnesAre429(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		const office, elsewhere = "203.0.113.7", "203.0.113.8"
		// A hundred failures from one address, spread over unknown emails and a real account
		// (fewer than its own limit), so that no account's lock is what trips.
		var wg sync.WaitGroup
		next := make(chan int)
		for range 4 {
			wg.Go(func() {
				for i := range next {
					email := "guess" + strconv.Itoa(i) + "@example.test"
					if i%20 == 0 {
						email = u.email
					}
					if r := a.loginFrom(t, office, email, "a guessed password"); r.status != http.StatusUnauthorized {
						t.Errorf("failure %d answered %s, want 401", i, r)
					}
				}
			})
		}
		for i := range models.LoginPerAddress.Max {
			next <- i
		}
		close(next)
		wg.Wait()

		colleague := a.newUser(t)
		a.login(t, colleague.email, colleague.password, "X-Forwarded-For", office)
		a.login(t, u.email, u.password, "X-Forwarded-For", office)

		r := a.loginFrom(t, office, colleague.email, "not the password")
		want(t, r, http.StatusTooManyRequests, models.CodeTooManyAttempts)
		wait := time.Duration(retryAfter(t, r)) * time.Second
		if wait > models.LoginPerAddress.Window {
			t.Errorf("Retry-After %s is longer than the window", wait)
		}
		want(t, a.loginFrom(t, office, "someone-new@example.test", "not the password"), http.StatusTooManyRequests, models.CodeTooManyAttempts)
		want(t, a.loginFrom(t, elsewhere, colleague.email, "not the password"), http.StatusUnauthorized, models.CodeInvalidCredentials)
		// Still no lock: the right password goes on working from the address.
		a.login(t, colleague.email, colleague.password, "X-Forwarded-For", office)

		// But the address's password checks are paced: a flood of guesses from it is refused
		// before any hashing (and so is not even counted as failures).
		failures := func() (n int64) {
			storetest.Gorm(t, a.store).Raw("SELECT count(*) FROM auth_failures WHERE scope = ? AND key = ?", models.LoginPerAddress.Scope, office).Scan(&n)
			return n
		}
		before := failures()
		const flood = 3 * models.OverLimitChecksBurst
		var fw sync.WaitGroup
		for i := range flood {
			fw.Go(func() {
				r := a.loginFrom(t, office, "flood"+strconv.Itoa(i)+"@example.test", "a guessed password")
				if r.status != http.StatusTooManyRequests {
					t.Errorf("a guess over the limit answered %s, want 429", r)
				}
			})
		}
		fw.Wait()
		if checked := failures() - before; checked >= flood {
			t.Errorf("all %d guesses of the flood had their password checked; want the pace to refuse some up front", flood)
		}

		a.clock.Advance(models.LoginPerAddress.Window)
		want(t, a.loginFrom(t, office, colleague.email, "not the password"), http.StatusUnauthorized, models.CodeInvalidCredentials)
	}, withTrustedProxies("127.0.0.1/32"))
}

// Item 8: an account with ten failed logins refuses its right password with 429 and Retry-After,
// from any address, until the failures leave the window.
func TestLogin_LockedAccountRefusesItsRightPasswordFromAnyAddress(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		for i := range models.LoginPerAccount.Max {
			want(t, a.loginFrom(t, fmt.Sprintf("198.51.100.%d", i+1), u.email, "wrong password "+strconv.Itoa(i)),
				http.StatusUnauthorized, models.CodeInvalidCredentials)
		}
		var wait time.Duration
		for _, ip := range []string{"198.51.100.1", "192.0.2.200", "2001:db8::1"} {
			r := a.loginFrom(t, ip, u.email, u.password)
			want(t, r, http.StatusTooManyRequests, models.CodeTooManyAttempts)
			wait = time.Duration(retryAfter(t, r)) * time.Second
		}
		a.clock.Advance(wait - time.Second)
		want(t, a.loginFrom(t, "192.0.2.200", u.email, u.password), http.StatusTooManyRequests, models.CodeTooManyAttempts)
		a.clock.Advance(time.Second)
		a.login(t, u.email, u.password, "X-Forwarded-For", "192.0.2.200")
	}, withTrustedProxies("127.0.0.1/32"))
}

// Item 8: successes never count: more logins from one address than either limit allows failures,
// of one account and of several, never meet a 429.
func TestLogin_ManySuccessesNeverLeadTo429(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		users := []*testUser{a.newUser(t), a.newUser(t), a.newUser(t)}
		// One failure short of the account's limit first: successes do not add to it.
		for i := range models.LoginPerAccount.Max - 1 {
			want(t, a.loginFrom(t, "203.0.113.50", users[0].email, "wrong password "+strconv.Itoa(i)), http.StatusUnauthorized, models.CodeInvalidCredentials)
		}
		var wg sync.WaitGroup
		next := make(chan int)
		for range 4 {
			wg.Go(func() {
				for i := range next {
					u := users[i%len(users)]
					if i < 2*models.LoginPerAccount.Max {
						u = users[0]
					}
					if r := a.loginFrom(t, "203.0.113.50", u.email, u.password); r.status != http.StatusOK {
						t.Errorf("login %d answered %s, want 200", i, r)
					}
				}
			})
		}
		for i := range models.LoginPerAddress.Max + 10 {
			next <- i
		}
		close(next)
		wg.Wait()
		a.login(t, users[0].email, users[0].password, "X-Forwarded-For", "203.0.113.50")
	}, withTrustedProxies("127.0.0.1/32"))
}

// Item 8: an address over its limit of failed License Number lookups does not stop a user behind
// it from registering a license that exists; only its further misses are answered 429.
func TestRegistration_AddressOverItsLookupLimit_StillRegistersRealLicenses(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		ln, _, _ := a.freshLicense(t, ops, nil)
		guesser, colleague := a.newUser(t), a.newUser(t)
		const office, elsewhere = "203.0.113.9", "203.0.113.10"
		register := func(u *testUser, ip, number string) *resp {
			t.Helper()
			return a.do(t, "POST", "/v1/registrations", u.token, map[string]any{"license_number": number}, "X-Forwarded-For", ip)
		}
		for range models.LookupPerAddress.Max {
			want(t, register(guesser, office, store.NewLicenseNumber()), http.StatusNotFound, models.CodeLicenseNotFound)
		}
		// The guesser is locked (per user), from anywhere.
		r := register(guesser, elsewhere, store.NewLicenseNumber())
		want(t, r, http.StatusTooManyRequests, models.CodeTooManyAttempts)
		retryAfter(t, r)

		// Another user behind the same address registers a real license.
		want(t, register(colleague, office, ln), http.StatusCreated)
		// Their misses from that address are answered 429; from elsewhere, 404.
		r = register(colleague, office, store.NewLicenseNumber())
		want(t, r, http.StatusTooManyRequests, models.CodeTooManyAttempts)
		retryAfter(t, r)
		want(t, register(colleague, elsewhere, store.NewLicenseNumber()), http.StatusNotFound, models.CodeLicenseNotFound)
	}, withTrustedProxies("127.0.0.1/32"))
}

// Item 9: a reset link asked for before POST /v1/me/password is void after it.
func TestChangePassword_VoidsEarlierResetLinks(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		want(t, a.do(t, "POST", "/v1/auth/password/forgot", "", map[string]string{"email": u.email}), http.StatusAccepted)
		tok := mailtest.LinkToken(t, a.sink.WaitFor(t, u.email, 0, letterReset))

		const changed = "a freshly changed passphrase"
		want(t, a.do(t, "POST", "/v1/me/password", u.token, map[string]string{"current_password": u.password, "new_password": changed}), http.StatusOK)
		want(t, a.do(t, "POST", "/v1/auth/password/reset", "", map[string]string{"token": tok, "password": "what the reset link would set"}),
			http.StatusBadRequest, models.CodeInvalidToken)
		a.me(t, u.token) // the session that changed it goes on
		a.login(t, u.email, changed)
		want(t, a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": "what the reset link would set"}),
			http.StatusUnauthorized, models.CodeInvalidCredentials)
	})
}
