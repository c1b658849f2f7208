package store_test

// What the portal's renewal desk reads besides the API's lists, on both dialects: "my renewals"
// (OwnedBy), the staff who may own a renewal (RenewalOwners) and a contract's records of every
// term (RenewalHistory).

import (
	"context"
	"slices"
	"testing"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

func TestOwnedBy_ListsTheOwnersCurrentContractsBySoonestNextStep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		k := newDesk(t, d)
		now := k.clock.Now()
		var users []models.User
		for _, u := range []struct{ email, roles string }{
			{"rita@vendor.example", models.RoleRenewals}, {"sam@vendor.example", models.RoleSuperadmin}, {"olga@vendor.example", models.RoleOps},
		} {
			user := models.User{Email: u.email, Name: u.email, PasswordHash: "x", StaffRoles: u.roles, CreatedAt: now, UpdatedAt: now}
			if err := k.store.GormDB().Create(&user).Error; err != nil {
				t.Fatal(err)
			}
			users = append(users, user)
		}
		owners, err := k.contracts.RenewalOwners(ctx)
		if err != nil || !slices.Equal(owners, []string{"rita@vendor.example", "sam@vendor.example"}) {
			t.Fatalf("RenewalOwners = %v, %v; want rita (renewals) and sam (superadmin), not olga (ops)", owners, err)
		}

		staff := models.Actor{Kind: models.ActorStaff, ID: users[0].ID, Email: users[0].Email}
		seed := func(c storetest.Contract, owner string, next models.Date) int64 {
			s := storetest.SeedContract(t, k.store, c)
			p := models.RenewalPatch{OwnerSet: true, Owner: owner, NextSet: true, NextStepOn: next}
			if _, err := k.contracts.PatchRenewal(ctx, itoa64(s.ContractID), p, "", staff); err != nil {
				t.Fatal(err)
			}
			return s.ContractID
		}
		laterStep := seed(storetest.Contract{StartsOn: day(-100), EndsOn: day(100)}, "rita@vendor.example", day(10))
		noStep := seed(storetest.Contract{StartsOn: day(-100), EndsOn: day(50)}, "rita@vendor.example", models.Date{})
		soonStep := seed(storetest.Contract{StartsOn: day(-100), EndsOn: day(200)}, "rita@vendor.example", day(5))
		seed(storetest.Contract{StartsOn: day(-100), EndsOn: day(20), TerminatedOn: day(-1)}, "rita@vendor.example", day(1))
		seed(storetest.Contract{StartsOn: day(-100), EndsOn: day(30)}, "sam@vendor.example", day(2))

		ids := func(l *models.ContractList) []int64 {
			var out []int64
			for _, v := range l.Items {
				out = append(out, v.Contract.ID)
				if v.Renewal == nil || v.Renewal.OwnerEmail == "" {
					t.Errorf("contract %d listed without its renewal record", v.Contract.ID)
				}
			}
			return out
		}
		mine, err := k.contracts.OwnedBy(ctx, "Rita@Vendor.example", 50)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := ids(mine), []int64{soonStep, laterStep, noStep}; !slices.Equal(got, want) || mine.Next != "" {
			t.Errorf("OwnedBy(rita) = %v (next %q), want %v: soonest next step first, none last, no terminated, nobody else's", got, mine.Next, want)
		}
		first, err := k.contracts.OwnedBy(ctx, "rita@vendor.example", 2)
		if err != nil || len(first.Items) != 2 || first.Next == "" {
			t.Errorf("OwnedBy(rita, 2) = %v, %v: want two and a sign of more", first, err)
		}
		none, err := k.contracts.OwnedBy(ctx, "olga@vendor.example", 50)
		if err != nil || len(none.Items) != 0 {
			t.Errorf("OwnedBy(olga) = %v, %v, want none", none, err)
		}
	})
}

func TestRenewalHistory_OpenRecordFirstThenEachRenewedTerm(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		s := newShop(t, d)
		res := s.place(t, newServerOrder("ORD-H1", 1))
		c := res.Licenses[0].Contract
		id := itoa64(c.ID)
		if _, err := s.contracts.Renew(ctx, id, models.RenewalInput{EndsOn: c.EndsOn.AddDays(365).String()}, orderSystem); err != nil {
			t.Fatal(err)
		}
		recs, err := s.contracts.RenewalHistory(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 2 || recs[0].ClosedAt != nil || recs[0].Stage != models.StageUntouched || !recs[0].TermEndsOn.Equal(c.EndsOn.AddDays(365)) ||
			recs[1].ClosedAt == nil || recs[1].Stage != models.StageWon || !recs[1].TermEndsOn.Equal(c.EndsOn) {
			t.Errorf("RenewalHistory = %+v, want the new term's open untouched record, then the ended term's won one", recs)
		}
		if _, err := s.contracts.RenewalHistory(ctx, "999999"); dbstore.ErrorCode(err) != models.CodeNotFound {
			t.Errorf("an unknown contract: %v, want not_found", err)
		}
	})
}
