package store_test

import (
	"context"
	"slices"
	"testing"

	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

// legacyContact writes an account's contact straight into the database, as one stored before
// addresses were checked as they are now: the API no longer takes it.
func (k *desk) legacyContact(tb testing.TB, accountID, email string) {
	tb.Helper()
	if err := k.store.GormDB().Exec("UPDATE accounts SET contact_email = ? WHERE account_id = ?", email, accountID).Error; err != nil {
		tb.Fatal(err)
	}
}

// One undeliverable address never stops letters to anyone else (issue 16, item 4): in a pass
// whose batch holds a contract whose contact is an address literal, that contract's notice (and
// another's lapse notice) is skipped, counted and reported, with nothing written for it, and the
// customer 26 days from lapse beside it gets the 30-day notice; an admin whose address cannot
// take mail is left out of the copy. Once the contact is corrected, the next pass sends it.
func TestNoticePass_UndeliverableContactIsSkippedAndCountedAndOthersGetTheirs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		k := newDesk(t, d)
		ctx := context.Background()
		good := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(26), ContactEmail: "pat@acme.test"})
		k.addAdmin(t, good.LicenseID, "y@[10.0.0.2]") // a legacy admin address: left out of the copy
		k.addAdmin(t, good.LicenseID, "admin@acme.test")
		bad := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(20)})
		k.legacyContact(t, bad.AccountID, "x@[10.0.0.1]")
		lapsed := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(-1)})
		k.legacyContact(t, lapsed.AccountID, `"quoted"@example.com`)

		var skipped []models.UndeliverableNotice
		rep, err := k.sweep.Pass(ctx, models.PassOptions{Undeliverable: func(u models.UndeliverableNotice) { skipped = append(skipped, u) }})
		if err != nil {
			t.Fatalf("the pass failed: %v", err)
		}
		if rep.RenewalNotices != 1 || rep.LapseNotices != 0 || rep.Undeliverable != 2 || rep.Contracts != 3 {
			t.Errorf("report %+v, want 1 renewal notice, 2 undeliverable of 3 contracts", rep)
		}
		slices.SortFunc(skipped, func(a, b models.UndeliverableNotice) int { return int(a.ContractID - b.ContractID) })
		want := []models.UndeliverableNotice{
			{Kind: models.LetterRenewalNotice, ContractID: bad.ContractID, LicenseNumber: bad.LicenseNumber, AccountID: bad.AccountID, OffsetDays: 30, Address: "x@[10.0.0.1]"},
			{Kind: models.LetterLapseNotice, ContractID: lapsed.ContractID, LicenseNumber: lapsed.LicenseNumber, AccountID: lapsed.AccountID, OffsetDays: models.LapseNoticeOffset, Address: `"quoted"@example.com`},
		}
		if !slices.Equal(skipped, want) {
			t.Errorf("reported undeliverable %+v, want %+v", skipped, want)
		}
		if got := k.notices(t, good.ContractID); !slices.Equal(got, []string{day(26).String() + "/30"}) {
			t.Errorf("the deliverable contract's notices %v, want its 30-day notice", got)
		}
		for _, c := range []storetest.Seeded{bad, lapsed} {
			if got := k.notices(t, c.ContractID); len(got) != 0 {
				t.Errorf("contract %d, skipped, has notice rows %v", c.ContractID, got)
			}
		}
		letters := k.outboxLetters(t, models.LetterRenewalNotice)
		if len(letters) != 1 || !slices.Equal(letters[0].To, []string{"pat@acme.test"}) || !slices.Equal(letters[0].Cc, []string{"admin@acme.test"}) {
			t.Errorf("renewal notices %+v, want one to pat@acme.test cc admin@acme.test", letters)
		}
		if n := len(k.outboxLetters(t, models.LetterLapseNotice)); n != 0 {
			t.Errorf("%d lapse notices queued", n)
		}

		// The next pass skips them again (they are still owed) and sends nothing twice.
		rep = k.pass(t)
		if rep.Letters() != 0 || rep.Undeliverable != 2 {
			t.Errorf("second pass %+v, want nothing queued and 2 undeliverable", rep)
		}
		// Corrected, the contact gets the notice it is owed.
		k.legacyContact(t, bad.AccountID, "fixed@acme.test")
		rep = k.pass(t)
		if rep.RenewalNotices != 1 || rep.Undeliverable != 1 {
			t.Errorf("pass after the correction %+v, want 1 renewal notice and 1 undeliverable", rep)
		}
		if got := k.notices(t, bad.ContractID); !slices.Equal(got, []string{day(20).String() + "/30"}) {
			t.Errorf("corrected contract's notices %v", got)
		}
	})
}
