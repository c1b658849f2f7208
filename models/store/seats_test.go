package store_test

// Seats on both dialects: SeatsUsed counts the machines of a license past one page of keys (the
// portal used to count over the first 100 keys only), a machine with keys for two major versions
// once, and neither released keys nor another license's keys.

import (
	"context"
	"fmt"
	"testing"
	"time"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

func TestSeatsUsedPastOnePage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		clock := models.NewFixedClock(deskDay.Time().Add(9 * time.Hour))
		s := storetest.Open(t, d, clock)
		seeded := storetest.SeedContracts(t, s, 2, func(int) storetest.Contract {
			return storetest.Contract{StartsOn: day(-10), EndsOn: day(300)}
		})
		lic, other := seeded[0], seeded[1]

		const machines = 150 // more than the portal's page of 100 keys
		now := clock.Now().UTC()
		var keys []models.LicenseKey
		for i := range machines {
			k := models.LicenseKey{LicenseID: lic.LicenseID, Fingerprint: fmt.Sprintf("machine-%04d", i), Hostname: fmt.Sprintf("h%d.example.test", i),
				Version: "1.0", VerMajor: 1, IssuedAt: now}
			keys = append(keys, k)
			if i%10 == 0 { // the same machine with a key for the next major version: still one seat
				k.Version, k.VerMajor = "2.0", 2
				keys = append(keys, k)
			}
		}
		released := now
		// Released keys hold no seat; another license's keys are not this one's.
		keys = append(keys,
			models.LicenseKey{LicenseID: lic.LicenseID, Fingerprint: "released-machine", Hostname: "gone.example.test", Version: "1.0", VerMajor: 1, IssuedAt: now, ReleasedAt: &released},
			models.LicenseKey{LicenseID: other.LicenseID, Fingerprint: "other-machine", Hostname: "other.example.test", Version: "1.0", VerMajor: 1, IssuedAt: now})
		if err := s.GormDB().WithContext(ctx).CreateInBatches(keys, 50).Error; err != nil {
			t.Fatalf("insert keys: %v", err)
		}
		if len(keys) <= 100 {
			t.Fatalf("only %d keys: the test needs more than one page", len(keys))
		}

		lk := dbstore.NewLicenseKeys(s, nil, baseURL, 90)
		staff := &models.Principal{Kind: models.PrincipalUser, UserID: 1, EmailVerified: true, StaffRoles: []string{models.RoleSupport}}
		got, err := lk.SeatsUsed(ctx, staff, lic.LicenseNumber)
		if err != nil {
			t.Fatalf("SeatsUsed: %v", err)
		}
		if got != machines {
			t.Errorf("SeatsUsed = %d, want %d", got, machines)
		}
		if got, err := lk.SeatsUsed(ctx, staff, other.LicenseNumber); err != nil || got != 1 {
			t.Errorf("other license: SeatsUsed = %d, %v; want 1", got, err)
		}

		// The same access as the key list: a stranger learns nothing.
		stranger := &models.Principal{Kind: models.PrincipalUser, UserID: 999999, EmailVerified: true}
		if _, err := lk.SeatsUsed(ctx, stranger, lic.LicenseNumber); dbstore.ErrorCode(err) != models.CodeNotAMember {
			t.Errorf("stranger: err = %v, want %s", err, models.CodeNotAMember)
		}
	})
}
