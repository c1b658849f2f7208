package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

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
