package handlers

// The identity endpoints as their clients rely on them (contract: /auth/*, /me, /me/password,
// /users, /staff, /api-keys, /audit, "Auth", "Answers that clients rely on"), through the real
// router, on every dialect, with letters caught by the in-process SMTP sink.

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"entitled/mailer/mailtest"
	"entitled/models"
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
