package store_test

// Changes made by another replica (another store on the same database) reach this one's caches
// through changes.go: PostgreSQL's LISTEN/NOTIFY within milliseconds, SQLite's data_version at the
// next request. Replica A stands on a FixedClock that never moves, so its cached entries never
// age out: whatever A sees of B's change, the change notice made it see.

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"gorm.io/gorm"

	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

// changeBound is a generous sanity bound for a notice to cross between two stores in one test
// process (the target is ≤ 100 ms; the measured figure is in server/fleet_test.go's log).
const changeBound = 2 * time.Second

// openReplicas opens two stores on one fresh database, migrated: A on a FixedClock (which moves
// only when the test moves it), B on the real clock.
func openReplicas(t *testing.T, d store.Dialect) (a, b *store.Store, clock *models.FixedClock) {
	t.Helper()
	ctx := context.Background()
	url := storetest.URL(t, d)
	clock = models.NewFixedClock(time.Now())
	open := func(clock models.Clock) *store.Store {
		s, err := store.Open(ctx, store.OpenOptions{URL: url, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	a = open(clock)
	if err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return a, open(nil), clock
}

// replicaPair is openReplicas with A following B's changes.
func replicaPair(t *testing.T, d store.Dialect) (a, b *store.Store, clock *models.FixedClock) {
	t.Helper()
	a, b, clock = openReplicas(t, d)
	if err := a.ListenForChanges(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the change listener to connect", a.ChangesConnected)
	return a, b, clock
}

// supportStatus seeds a contract on a that runs from 30 days before the clock's today to 300 days
// after, and answers it with a function that reads its support status as staff ops through a's
// Licenses (the hot path, which answers from a's row cache when it can).
func supportStatus(t *testing.T, a *store.Store, clock models.Clock) (storetest.Seeded, func() string) {
	t.Helper()
	today := models.DateOf(clock.Now())
	seeded := storetest.SeedContract(t, a, storetest.Contract{StartsOn: today.AddDays(-30), EndsOn: today.AddDays(300)})
	staff := &models.Principal{Kind: models.PrincipalUser, UserID: 1, Email: "ops@example.test", StaffRoles: []string{models.RoleOps}}
	return seeded, func() string {
		t.Helper()
		v, err := store.NewLicenses(a, 90).Support(context.Background(), staff, seeded.LicenseNumber, "")
		if err != nil {
			t.Fatalf("support: %v", err)
		}
		return v.Summary.Status
	}
}

func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > changeBound {
			t.Fatalf("waited %v for %s", changeBound, what)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func TestChanges_AnotherReplicasChangeIsSeenAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		a, b, clock := replicaPair(t, d)
		today := models.DateOf(clock.Now())
		seeded, status := supportStatus(t, a, clock)
		// warm answers until A answers from its cache. (On SQLite, A's own commits move
		// data_version too, so the first hit after A wrote is checked, found stale and dropped.)
		warm := func(want string) {
			t.Helper()
			for range 3 {
				h0, _ := a.HotCacheCounts()
				if s := status(); s != want {
					t.Fatalf("status %q, want %q", s, want)
				}
				if h1, _ := a.HotCacheCounts(); h1 > h0 {
					return
				}
			}
			t.Fatalf("replica A does not answer from its cache")
		}
		seen := func(want string) {
			t.Helper()
			if d == store.SQLite {
				// The next request sees it. (A request checks data_version at its principal
				// lookup; these calls come without one, so their lookups rely on a check that
				// started within the last millisecond: let that pass.)
				time.Sleep(2 * time.Millisecond)
				if s := status(); s != want {
					t.Fatalf("replica A's next answer after B's change is %q, want %q", s, want)
				}
				return
			}
			took := waitFor(t, "replica A to see B's change", func() bool { return status() == want })
			t.Logf("replica A saw B's change after %v", took)
		}

		// A write outside a transaction sends its own notice.
		warm(models.StatusActive)
		if err := b.GormDB().Exec("UPDATE contracts SET terminated_on = ? WHERE id = ?", today.AddDays(-1), seeded.ContractID).Error; err != nil {
			t.Fatal(err)
		}
		seen(models.StatusTerminated)

		// A transaction's writes send one notice, at commit.
		warm(models.StatusTerminated)
		if err := b.WithTx(ctx, func(tx *gorm.DB) error {
			return tx.Exec("UPDATE contracts SET terminated_on = NULL WHERE id = ?", seeded.ContractID).Error
		}); err != nil {
			t.Fatal(err)
		}
		seen(models.StatusActive)

		if d == store.Postgres {
			// A transaction that rolls back sends none.
			warm(models.StatusActive)
			n := a.ChangeCount()
			rollback := errors.New("roll back")
			if err := b.WithTx(ctx, func(tx *gorm.DB) error {
				if err := tx.Exec("UPDATE contracts SET terminated_on = ? WHERE id = ?", today.AddDays(-1), seeded.ContractID).Error; err != nil {
					return err
				}
				return rollback
			}); !errors.Is(err, rollback) {
				t.Fatalf("WithTx: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
			if got := a.ChangeCount(); got != n {
				t.Errorf("a rolled-back transaction sent %d notices", got-n)
			}
		}
	})
}

func TestChanges_ListenerReconnectsAndEmptiesTheCache(t *testing.T) {
	if !slices.Contains(storetest.Dialects(t), store.Postgres) {
		t.Skip("PostgreSQL does not answer")
	}
	ctx := context.Background()
	a, b, clock := replicaPair(t, store.Postgres)
	today := models.DateOf(clock.Now())
	seeded := storetest.SeedContract(t, a, storetest.Contract{StartsOn: today.AddDays(-30), EndsOn: today.AddDays(300)})
	staff := &models.Principal{Kind: models.PrincipalUser, UserID: 1, Email: "ops@example.test", StaffRoles: []string{models.RoleOps}}
	status := func() string {
		v, err := store.NewLicenses(a, 90).Support(ctx, staff, seeded.LicenseNumber, "")
		if err != nil {
			t.Fatalf("support: %v", err)
		}
		return v.Summary.Status
	}
	status()

	// Cut the listener's connection: it reconnects and, having perhaps missed notices, empties
	// the cache.
	n := a.ChangeCount()
	var killed []bool
	if err := b.GormDB().Raw("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN entitled_changes'").
		Scan(&killed).Error; err != nil {
		t.Fatal(err)
	}
	if len(killed) != 1 {
		t.Fatalf("terminated %d listener connections, want 1", len(killed))
	}
	waitFor(t, "the listener to reconnect", func() bool { return a.ChangesConnected() && a.ChangeCount() > n })
	_, m0 := a.HotCacheCounts()
	status()
	if _, m1 := a.HotCacheCounts(); m1 == m0 {
		t.Errorf("after the reconnection, replica A answered from its cache")
	}

	// And it hears notices again.
	if err := b.GormDB().Exec("UPDATE contracts SET terminated_on = ? WHERE id = ?", today.AddDays(-1), seeded.ContractID).Error; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica A to see B's change after the reconnection", func() bool { return status() == models.StatusTerminated })
}

// A key rotated on replica B is in replica A's very next JWKS on both dialects, whether or not
// the notice has arrived; with --now A signs with it at its next token on SQLite and within the
// notice's delay on PostgreSQL.
func TestChanges_RotationIsPublishedAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		a, b, _ := replicaPair(t, d)
		ka, kb := keyring(t, a, secretA), keyring(t, b, secretA)
		if err := ka.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		if err := kb.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		ka.Start(ctx)
		t.Cleanup(ka.Stop)
		kids := func() []string {
			t.Helper()
			body, _, err := ka.JWKS(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Keys []struct {
					Kid string `json:"kid"`
				} `json:"keys"`
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, k := range doc.Keys {
				out = append(out, k.Kid)
			}
			return out
		}
		kids()
		next, err := kb.Rotate(ctx, models.PurposeEntitlement, false, models.SystemActor("test"))
		if err != nil {
			t.Fatal(err)
		}
		if got := kids(); !slices.Contains(got, next.Kid) {
			t.Fatalf("rotate on B: A's next JWKS has %v, not the new key %s", got, next.Kid)
		}

		// --now: A signs with the new key (no JWKS request in between).
		active, err := kb.Rotate(ctx, models.PurposeEntitlement, true, models.SystemActor("test"))
		if err != nil {
			t.Fatal(err)
		}
		signsWith := func() string {
			_, kid, err := ka.Sign(ctx, models.PurposeEntitlement, "ent+jwt", jwt.RegisteredClaims{Subject: "1"})
			if err != nil {
				t.Fatal(err)
			}
			return kid
		}
		if d == store.SQLite {
			time.Sleep(2 * time.Millisecond) // no request, no principal lookup: see above
			if kid := signsWith(); kid != active.Kid {
				t.Errorf("after rotate --now on B, A's next token is signed by %s, want %s", kid, active.Kid)
			}
		} else {
			took := waitFor(t, "replica A to sign with the new key", func() bool { return signsWith() == active.Kid })
			t.Logf("replica A signed with B's new key after %v", took)
		}
		if got := kids(); !slices.Contains(got, active.Kid) {
			t.Fatalf("rotate --now on B: A's next JWKS has %v, not the new key %s", got, active.Kid)
		}
	})
}

// BenchmarkSupportCacheHit_SQLite is a support answer from the cache, without and with
// ListenForChanges. Without a principal lookup (as here) its hits rely on a data_version check
// that started within the last millisecond, so this shows the cost of that test, and of one
// PRAGMA a millisecond; a request pays one PRAGMA data_version (about 2 µs, BenchmarkCheckDataVersion) at its principal lookup.
func BenchmarkSupportCacheHit_SQLite(b *testing.B) {
	for _, listen := range []bool{false, true} {
		name := "without data_version"
		if listen {
			name = "with data_version"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s := storetest.Open(b, store.SQLite, nil)
			if listen {
				if err := s.ListenForChanges(ctx); err != nil {
					b.Fatal(err)
				}
			}
			today := models.DateOf(time.Now())
			seeded := storetest.SeedContract(b, s, storetest.Contract{StartsOn: today.AddDays(-30), EndsOn: today.AddDays(300)})
			staff := &models.Principal{Kind: models.PrincipalUser, UserID: 1, Email: "ops@example.test", StaffRoles: []string{models.RoleOps}}
			licenses := store.NewLicenses(s, 90)
			for range 3 {
				if _, err := licenses.Support(ctx, staff, seeded.LicenseNumber, ""); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := licenses.Support(ctx, staff, seeded.LicenseNumber, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A quiet listener pings its connection instead of waiting on it forever (a half-open connection
// would never deliver a notice): the pings keep it connected, with nothing missed and no
// reconnection, and it still hears the next change.
func TestChanges_AQuietListenerProbesItsConnection(t *testing.T) {
	if !slices.Contains(storetest.Dialects(t), store.Postgres) {
		t.Skip("PostgreSQL does not answer")
	}
	prev := store.SetListenerProbe(50 * time.Millisecond)
	t.Cleanup(func() { store.SetListenerProbe(prev) })
	a, b, clock := replicaPair(t, store.Postgres)
	today := models.DateOf(clock.Now())
	seeded := storetest.SeedContract(t, b, storetest.Contract{StartsOn: today.AddDays(-30), EndsOn: today.AddDays(300)})
	waitFor(t, "the seeding's notice", func() bool { return a.ChangeCount() > 0 })
	time.Sleep(300 * time.Millisecond) // several probes
	n := a.ChangeCount()
	time.Sleep(300 * time.Millisecond)
	if !a.ChangesConnected() || a.ChangeCount() != n {
		t.Fatalf("a quiet listener: connected %v, changes %d → %d (a reconnection counts one)", a.ChangesConnected(), n, a.ChangeCount())
	}
	if err := b.GormDB().Exec("UPDATE contracts SET terminated_on = ? WHERE id = ?", today.AddDays(-1), seeded.ContractID).Error; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the change after the probes", func() bool { return a.ChangeCount() > n })
}
