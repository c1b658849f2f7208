package store_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// Migrations apply on an empty database of each dialect, and then every one shows as applied.
func TestMigrateUpOnEmptyDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		s, err := dbstore.Open(ctx, dbstore.OpenOptions{URL: storetest.URL(t, d)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var behind *models.Error
		if err := s.SchemaReady(ctx); !errors.As(err, &behind) || behind.Code != models.CodeSchemaBehind {
			t.Fatalf("before migrating, SchemaReady = %v, want %s", err, models.CodeSchemaBehind)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		if err := s.SchemaReady(ctx); err != nil {
			t.Fatalf("after migrating, SchemaReady = %v", err)
		}
		status, err := s.MigrationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sources := map[string]int{}
		for _, m := range status {
			sources[m.Source]++
			if !m.Applied {
				t.Errorf("%s migration %d (%s) not applied", m.Source, m.Version, m.Name)
			}
		}
		if sources["entitled"] == 0 || sources["river"] == 0 {
			t.Errorf("status lists %v migrations, want both entitled and river ones", sources)
		}
		// Migrating again is a no-op.
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
	})
}

// Replicas that start at once on one PostgreSQL both succeed, and each migration is applied once.
func TestConcurrentMigrationsApplyOnce(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		if d != dbstore.Postgres {
			continue
		}
		ctx := context.Background()
		url := storetest.URL(t, d)
		const replicas = 4
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := dbstore.Open(ctx, dbstore.OpenOptions{URL: url})
				if err != nil {
					errs[i] = err
					return
				}
				defer s.Close()
				errs[i] = s.Migrate(ctx)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
		}
		s, err := dbstore.Open(ctx, dbstore.OpenOptions{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var dup int64
		if err := s.SQLDB().QueryRow(`SELECT count(*) FROM (SELECT version_id FROM goose_db_version GROUP BY version_id HAVING count(*) > 1) d`).Scan(&dup); err != nil {
			t.Fatal(err)
		}
		if dup != 0 {
			t.Errorf("%d migrations were recorded more than once", dup)
		}
	}
}

// A database migrated by a newer replica (a version this build does not know) is still ready:
// migrations are additive, so an older replica keeps serving during a rolling deploy.
func TestSchemaAheadOfTheBuildIsReady(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := storetest.Open(t, d, nil)
		ctx := context.Background()
		if err := s.GormDB().Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)").Error; err != nil {
			t.Fatal(err)
		}
		if err := s.SchemaReady(ctx); err != nil {
			t.Fatalf("a schema ahead of the build is not ready: %v", err)
		}
	})
}

// Migration 00010 claims, for its earliest verified admin, every license whose admins were all
// made by staff before an admin so made claimed the license (issue 18), and starts a trial's
// support on that day; a license with no verified admin stays open to its first registrant.
func TestMigration00010_ClaimsLicensesWhoseAdminsStaffMade(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		s := storetest.Open(t, d, nil)
		if err := s.MigrateTo(ctx, 9); err != nil {
			t.Fatalf("migrate down to 9: %v", err)
		}
		day := func(s string) models.Date {
			v, err := models.ParseDate(s)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		staffMade := storetest.SeedContract(t, s, storetest.Contract{StartsOn: day("2026-01-01"), EndsOn: day("2026-12-31")})
		trial := storetest.SeedContract(t, s, storetest.Contract{Trial: true})
		unverifiedOnly := storetest.SeedContract(t, s, storetest.Contract{StartsOn: day("2026-01-01"), EndsOn: day("2026-12-31")})

		db := s.GormDB().WithContext(ctx)
		verifiedAt := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		user := func(email string, verified bool) int64 {
			u := models.User{Email: email, Name: email, PasswordHash: "x", CreatedAt: verifiedAt, UpdatedAt: verifiedAt}
			if verified {
				u.EmailVerifiedAt = &verifiedAt
			}
			// The columns of later migrations (00015's oidc_subject) are not there yet.
			if err := db.Omit("OIDCSubject").Create(&u).Error; err != nil {
				t.Fatal(err)
			}
			return u.ID
		}
		admin := func(licenseID, userID int64, since time.Time) {
			m := models.Member{LicenseID: licenseID, UserID: userID, RoleAdmin: true, GrantVersion: 1, Since: since, UpdatedAt: since}
			// The columns of later migrations (00012's status index) are not there yet.
			if err := db.Omit("StatusListID", "StatusIdx").Create(&m).Error; err != nil {
				t.Fatal(err)
			}
		}
		first, second := user("first@example.test", true), user("second@example.test", true)
		admin(staffMade.LicenseID, second, time.Date(2026, 5, 2, 23, 30, 0, 0, time.UTC))
		admin(staffMade.LicenseID, first, time.Date(2026, 4, 7, 8, 0, 0, 0, time.UTC))
		admin(trial.LicenseID, first, time.Date(2026, 6, 10, 9, 0, 0, 0, time.UTC))
		admin(unverifiedOnly.LicenseID, user("unverified@example.test", false), time.Date(2026, 4, 7, 8, 0, 0, 0, time.UTC))

		if err := s.MigrateTo(ctx, 10); err != nil {
			t.Fatalf("migrate up to 10: %v", err)
		}
		claim := func(licenseID int64) (sql.NullInt64, models.Date) {
			var by sql.NullInt64
			var on models.Date
			if err := s.SQLDB().QueryRowContext(ctx, `SELECT claimed_by, registered_on FROM licenses WHERE id = $1`, licenseID).Scan(&by, &on); err != nil {
				t.Fatal(err)
			}
			return by, on
		}
		if by, on := claim(staffMade.LicenseID); by.Int64 != first || on.String() != "2026-04-07" {
			t.Errorf("staff-made admins' license: claimed by %v on %s, want user %d on 2026-04-07", by, on, first)
		}
		if by, on := claim(trial.LicenseID); by.Int64 != first || on.String() != "2026-06-10" {
			t.Errorf("trial: claimed by %v on %s, want user %d on 2026-06-10", by, on, first)
		}
		var starts, ends models.Date
		if err := s.SQLDB().QueryRowContext(ctx, `SELECT starts_on, ends_on FROM contracts WHERE id = $1`, trial.ContractID).Scan(&starts, &ends); err != nil {
			t.Fatal(err)
		}
		if starts.String() != "2026-06-10" || ends != models.TrialEndsOn(starts) {
			t.Errorf("trial's support: %s to %s, want 2026-06-10 to %s", starts, ends, models.TrialEndsOn(day("2026-06-10")))
		}
		if by, _ := claim(unverifiedOnly.LicenseID); by.Valid {
			t.Errorf("a license whose only admin is unverified was claimed by %d", by.Int64)
		}
	})
}
