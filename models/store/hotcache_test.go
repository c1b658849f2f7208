package store_test

// The hot paths' row cache as two replicas see it: two stores on one database. A change made
// through one store is seen by the other within the stated bound (grantTTL, 1 s; the test allows
// far more so that a busy machine cannot fail it), and at once after the other store writes
// anything itself.

import (
	"context"
	"testing"
	"time"

	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

func TestHotRows_AnotherReplicasChangeIsSeenWithinTheBound(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		url := storetest.URL(t, d)
		open := func() *store.Store {
			s, err := store.Open(ctx, store.OpenOptions{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		a := open()
		if err := a.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		b := open()
		today := models.DateOf(time.Now())
		seeded := storetest.SeedContract(t, a, storetest.Contract{StartsOn: today.AddDays(-30), EndsOn: today.AddDays(300)})
		staff := &models.Principal{Kind: models.PrincipalUser, UserID: 1, Email: "ops@example.test", StaffRoles: []string{models.RoleOps}}
		status := func() string {
			t.Helper()
			v, err := store.NewLicenses(a, 90).Support(ctx, staff, seeded.LicenseNumber, "")
			if err != nil {
				t.Fatalf("support: %v", err)
			}
			return v.Summary.Status
		}
		for range 3 { // warm replica A's cache
			if s := status(); s != models.StatusActive {
				t.Fatalf("status %q, want active", s)
			}
		}

		// Replica B terminates the contract: A may answer from its cache for at most grantTTL.
		if err := b.DB.Exec("UPDATE contracts SET terminated_on = ? WHERE id = ?", today.AddDays(-1), seeded.ContractID).Error; err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for status() != models.StatusTerminated {
			if time.Now().After(deadline) {
				t.Fatal("replica A still shows the contract active 10 s after replica B terminated it")
			}
			time.Sleep(50 * time.Millisecond)
		}

		// A write of A's own forgets everything at once: B's next change shows on A's next read,
		// however fresh A's cached row is.
		if err := b.DB.Exec("UPDATE contracts SET terminated_on = NULL WHERE id = ?", seeded.ContractID).Error; err != nil {
			t.Fatal(err)
		}
		if err := a.DB.Exec("UPDATE contracts SET program = program WHERE id = ?", seeded.ContractID).Error; err != nil {
			t.Fatal(err)
		}
		if s := status(); s != models.StatusActive {
			t.Errorf("after a write on replica A, A shows %q, want active (B's change)", s)
		}
	})
}
