package store_test

// Service-level rules of identity that HTTP cannot show well: races (one user per email, one use
// per token), the password rules, and the pruning of what has expired. Letters are queued through
// a real River client that runs the letter jobs but sends nothing, so the tests read the outbox's
// rows.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"entitled/mailer"
	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

const (
	baseURL  = "https://entitled.example.test"
	password = "plum orchard ledger 1947"
)

var start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// service is the identity service on a fresh database, its clock standing at start.
type service struct {
	store *dbstore.Store
	clock *models.FixedClock
	id    *dbstore.Identity
	jobs  *river.Client[*sql.Tx]
}

func newService(tb testing.TB, d dbstore.Dialect) *service {
	tb.Helper()
	clock := models.NewFixedClock(start)
	store := storetest.Open(tb, d, clock)
	// Works the default queue only, where the letter jobs of signup and forgot password decide
	// their letters; nothing sends them, so letters stay in the outbox for the test to read.
	workers := river.NewWorkers()
	dbstore.AddWorkers(workers, store, baseURL)
	jobs := storetest.StartJobs(tb, store, &river.Config{
		Workers: workers,
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		// Letters are inserted for a mail worker this client does not have.
		SkipUnknownJobCheck: true,
	})
	outbox, _ := newOutbox(tb, store, jobs)
	return &service{store: store, clock: clock, id: dbstore.NewIdentity(store, outbox, baseURL), jobs: jobs}
}

// settle waits until every job of the default queue (the letter jobs) has run, so that the
// outbox holds every letter there will be. It waits for a state, not for a time.
func (s *service) settle(tb testing.TB) {
	tb.Helper()
	storetest.Settle(tb, s.jobs, river.QueueDefault)
}

// letters are the queued letters of a kind to an address, once the letter jobs have run.
func (s *service) letters(tb testing.TB, kind, to string) []mailer.Letter {
	tb.Helper()
	s.settle(tb)
	return storetest.Letters(tb, s.jobs, func(l mailer.Letter) bool { return l.Kind == kind && slices.Contains(l.To, to) })
}

var tokenRE = regexp.MustCompile(`token=([A-Za-z0-9_\-]+)`)

// verifyToken is the token of the (only) verification letter to the address.
func (s *service) verifyToken(tb testing.TB, email string) string {
	tb.Helper()
	ls := s.letters(tb, "verify_email", email)
	if len(ls) != 1 {
		tb.Fatalf("%d verification letters to %s, want 1", len(ls), email)
	}
	m := tokenRE.FindStringSubmatch(ls[0].Text)
	if m == nil {
		tb.Fatalf("verification letter has no token: %s", ls[0].Text)
	}
	return m[1]
}

// count runs a SELECT count(*) query.
func (s *service) count(tb testing.TB, query string, args ...any) int64 {
	tb.Helper()
	var n int64
	if err := s.store.GormDB().Raw(query, args...).Scan(&n).Error; err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

func (s *service) signup(tb testing.TB, email string) {
	tb.Helper()
	if err := s.id.Signup(context.Background(), models.SignupInput{Email: email, Password: password, Name: "Someone"}); err != nil {
		tb.Fatalf("signup %s: %v", email, err)
	}
}

func (s *service) login(tb testing.TB, email string) *models.LoginResult {
	tb.Helper()
	res, err := s.id.Login(context.Background(), email, password, "192.0.2.1", "test")
	if err != nil {
		tb.Fatalf("login %s: %v", email, err)
	}
	return res
}

// Many signups of one address at the same instant, in any letter case, make one user, and each
// answers alike.
func TestSignup_ConcurrentSignupsOfOneEmailMakeOneUser(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newService(t, d)
		const n = 5 // the notices stay under the letter cap
		spellings := []string{"race@example.test", "Race@example.test", "RACE@EXAMPLE.TEST", "race@Example.Test", " race@example.test "}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = s.id.Signup(context.Background(), models.SignupInput{Email: spellings[i], Password: password, Name: fmt.Sprint("Racer ", i)})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("signup %q: %v", spellings[i], err)
			}
		}
		if got := s.count(t, "SELECT count(*) FROM users WHERE email = ?", "race@example.test"); got != 1 {
			t.Errorf("%d users for one email, want 1", got)
		}
		if got := s.count(t, "SELECT count(*) FROM users"); got != 1 {
			t.Errorf("%d users in all, want 1", got)
		}
		// The user is not verified yet, so each repeat sends a fresh verification link rather
		// than a notice: every signup gets exactly one letter.
		if got := len(s.letters(t, "verify_email", "race@example.test")); got != n {
			t.Errorf("%d verification letters, want %d", got, n)
		}
		if got := len(s.letters(t, "signup_existing", "race@example.test")); got != 0 {
			t.Errorf("%d notices, want none while the address is unverified", got)
		}
	})
}

// Two uses of one verification token at the same instant: exactly one succeeds.
func TestVerify_ConcurrentUsesOfOneTokenSucceedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newService(t, d)
		s.signup(t, "twice@example.test")
		tok := s.verifyToken(t, "twice@example.test")

		const n = 4
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.id.Verify(context.Background(), tok, models.SystemActor("test"))
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case dbstore.ErrorCode(err) != models.CodeInvalidToken:
				t.Errorf("a losing use failed with %v, want invalid_token", err)
			}
		}
		if ok != 1 {
			t.Errorf("%d uses of one token succeeded, want 1", ok)
		}
		if got := s.count(t, "SELECT count(*) FROM audit_log WHERE action = ?", "user.verified"); got != 1 {
			t.Errorf("%d user.verified audit entries, want 1", got)
		}
	})
}

// Passwords: 12 to 256 characters (characters, not bytes), not one of the most common, not one
// character repeated (NIST SP 800-63B: length and a blocklist, no composition rules).
func TestPasswordRules(t *testing.T) {
	tests := []struct {
		name     string
		password string
		code     string // "" when it is accepted
	}{
		{"empty", "", models.FieldRequired},
		{"11 characters", "violet-moon", models.FieldTooShort},
		{"12 characters", "violet-moons", ""},
		{"12 characters of 2 bytes", "ĉĝĥĵŝŭĉĝĥĵŝŭ", ""},
		{"11 characters of 2 bytes (22 bytes)", "ĉĝĥĵŝŭĉĝĥĵŝ", models.FieldTooShort},
		{"256 characters", strings.Repeat("violet moon ", 21) + "abcd", ""},
		{"257 characters", strings.Repeat("violet moon ", 21) + "abcde", models.FieldTooLong},
		{"common", "qwerty123456", "too_common"},
		{"common in capitals", "PassWord1234", "too_common"},
		{"common with spaces", "correct horse battery staple", "too_common"},
		{"one repeated character", "zzzzzzzzzzzzzzzz", "too_common"},
		{"one repeated 2-byte character", "éééééééééééééé", "too_common"},
		{"two characters repeated", "abababababab", ""},
	}
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newService(t, d)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				email := fmt.Sprintf("pw%d@example.test", i)
				err := s.id.Signup(context.Background(), models.SignupInput{Email: email, Password: tt.password, Name: "P"})
				if tt.code == "" {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if _, err := s.id.Login(context.Background(), email, tt.password, "192.0.2.1", ""); err != nil {
						t.Fatalf("accepted, but login with it failed: %v", err)
					}
					return
				}
				var e *models.Error
				if !errors.As(err, &e) || e.Code != models.CodeValidation {
					t.Fatalf("got %v, want validation_failed", err)
				}
				got := map[string]string{}
				for _, f := range e.Fields {
					got[f.Field] = f.Code
				}
				if want := map[string]string{"password": tt.code}; !maps.Equal(got, want) {
					t.Errorf("fields = %v, want %v", got, want)
				}
			})
		}
	})
}

// PruneExpired deletes sessions past their expiry and single-use tokens a day past theirs, and
// keeps everything that can still be used.
func TestPruneExpired_DeletesWhatCanNoLongerBeUsed_KeepsTheRest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newService(t, d)
		ctx := context.Background()
		sessions := func(userID int64) int64 {
			return s.count(t, "SELECT count(*) FROM sessions WHERE user_id = ?", userID)
		}
		tokens := func(userID int64) int64 {
			return s.count(t, "SELECT count(*) FROM user_tokens WHERE user_id = ?", userID)
		}

		s.signup(t, "old@example.test")
		old := s.login(t, "old@example.test")
		if _, err := s.id.Login(ctx, "old@example.test", "not the password", "192.0.2.9", ""); dbstore.ErrorCode(err) != models.CodeInvalidCredentials {
			t.Fatalf("wrong password: %v", err)
		}

		s.clock.Advance(models.VerifyTokenTTL + 25*time.Hour) // the old verification token expired a day ago and more
		s.signup(t, "new@example.test")
		live := s.login(t, "new@example.test")
		ended := s.login(t, "new@example.test")
		p, err := s.id.Authenticate(ctx, ended.Token)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.id.Logout(ctx, p); err != nil {
			t.Fatal(err)
		}
		newTok := s.verifyToken(t, "new@example.test")

		n, err := s.id.PruneExpired(ctx)
		if err != nil {
			t.Fatalf("prune: %v", err)
		}
		if n == 0 {
			t.Errorf("prune deleted nothing")
		}
		if got := sessions(old.User.ID); got != 0 {
			t.Errorf("%d expired sessions kept", got)
		}
		if got := tokens(old.User.ID); got != 0 {
			t.Errorf("%d expired tokens kept", got)
		}
		if got := s.count(t, "SELECT count(*) FROM auth_failures"); got != 0 {
			t.Errorf("%d day-old login failures kept", got)
		}
		if got := sessions(live.User.ID); got != 2 {
			t.Errorf("%d of the new user's sessions kept, want 2 (one live, one revoked just now)", got)
		}
		if _, err := s.id.Authenticate(ctx, live.Token); err != nil {
			t.Errorf("a live session no longer authenticates: %v", err)
		}
		if _, err := s.id.Verify(ctx, newTok, models.SystemActor("test")); err != nil {
			t.Errorf("a live verification token no longer works: %v", err)
		}

		// A day after the logout, the revoked session goes too.
		s.clock.Advance(24*time.Hour + time.Second)
		if _, err := s.id.PruneExpired(ctx); err != nil {
			t.Fatalf("prune: %v", err)
		}
		if got := sessions(live.User.ID); got != 0 {
			t.Errorf("%d sessions kept past expiry and revocation, want 0", got)
		}
	})
}

// BenchmarkLogin is a whole login on SQLite: the throttle checks, the user lookup, one argon2id
// verification (19 MiB, 2 iterations, 1 lane) and the new session row. Run it with
// go test -run x -bench Login -benchtime 20x ./models/store/
func BenchmarkLogin(b *testing.B) {
	s := newService(b, dbstore.SQLite)
	ctx := context.Background()
	if _, _, err := s.id.PutStaff(ctx, models.StaffInput{Email: "bench@example.test", Roles: []string{}, Password: password}, models.SystemActor("bench")); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.id.Login(ctx, "bench@example.test", password, "192.0.2.1", "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
