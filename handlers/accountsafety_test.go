package handlers

// Account safety (issue 16): signing up with someone else's address gains nothing, the anonymous
// letter-sending endpoints do the same work for every address, throttles count failures only and
// never lock out everyone behind one address, and a password change voids earlier reset links.
// Contract: "Answers that clients rely on".

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
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
