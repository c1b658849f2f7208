package store_test

// The hot paths' row cache as two replicas see it: two stores on one database. Replica A stands
// on a FixedClock, so the test proves a cache hit by A's counter and moves A's entries past their
// TTL by advancing its clock, not by waiting: a change made through B shows on A once grantTTL
// (1 s) has passed on A's clock, and at once after A writes anything itself.

import (
	"testing"
	"time"

	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

// grantTTLForTest is store.grantTTL: how long a replica trusts a cached row.
const grantTTLForTest = time.Second

func TestHotRows_AnotherReplicasChangeIsSeenWithinTheBound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		a, b, clock := openReplicas(t, d)
		today := models.DateOf(clock.Now())
		seeded, status := supportStatus(t, a, clock)
		// fromCache is status(), checked to have been answered from A's cache (a hit, no miss)
		// or, with false, from the database (a miss).
		fromCache := func(want bool) string {
			t.Helper()
			h0, m0 := a.HotCacheCounts()
			s := status()
			h1, m1 := a.HotCacheCounts()
			if hit := h1 > h0 && m1 == m0; hit != want {
				t.Errorf("status %q: cache hits %d→%d, misses %d→%d; want answered from the cache: %v", s, h0, h1, m0, m1, want)
			}
			return s
		}

		// Warm replica A's cache: the first answer is read from the database, the next from the cache.
		if s := fromCache(false); s != models.StatusActive {
			t.Fatalf("status %q, want active", s)
		}
		for range 2 {
			if s := fromCache(true); s != models.StatusActive {
				t.Fatalf("status %q, want active", s)
			}
		}

		// Replica B terminates the contract: A answers from its cache until grantTTL has passed
		// on its clock, and from the database (seeing the change) as soon as it has.
		if err := b.GormDB().Exec("UPDATE contracts SET terminated_on = ? WHERE id = ?", today.AddDays(-1), seeded.ContractID).Error; err != nil {
			t.Fatal(err)
		}
		if s := fromCache(true); s != models.StatusActive {
			t.Fatalf("within grantTTL, replica A shows %q, want active (its cached row)", s)
		}
		clock.Advance(grantTTLForTest) // the row's last trusted instant
		if s := fromCache(true); s != models.StatusActive {
			t.Fatalf("at grantTTL, replica A shows %q, want active (its cached row)", s)
		}
		clock.Advance(time.Millisecond)
		if s := fromCache(false); s != models.StatusTerminated {
			t.Fatalf("past grantTTL, replica A shows %q, want terminated (B's change)", s)
		}

		// A write of A's own forgets everything at once: B's next change shows on A's next read,
		// however fresh A's cached row is.
		if s := fromCache(true); s != models.StatusTerminated {
			t.Fatalf("status %q, want terminated", s)
		}
		if err := b.GormDB().Exec("UPDATE contracts SET terminated_on = NULL WHERE id = ?", seeded.ContractID).Error; err != nil {
			t.Fatal(err)
		}
		if err := a.GormDB().Exec("UPDATE contracts SET program = program WHERE id = ?", seeded.ContractID).Error; err != nil {
			t.Fatal(err)
		}
		if s := fromCache(false); s != models.StatusActive {
			t.Errorf("after a write on replica A, A shows %q, want active (B's change)", s)
		}
	})
}
