package store_test

// The portal's questions on both dialects: the renewal dashboard's tiles agree with the lists
// they stand for (and stop at models.PageMax), and a license's entitlements for every version at
// once agree with Support asked version by version.

import (
	"context"
	"reflect"
	"testing"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

func TestRenewalTilesAgreeWithTheLists(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		k := newDesk(t, d)
		specs := []storetest.Contract{
			{StartsOn: day(-300), EndsOn: day(5)},
			{StartsOn: day(-300), EndsOn: day(6), Program: models.Program24x7, AccountName: "Zebra Works"},
			{StartsOn: day(-300), EndsOn: day(20)},
			{StartsOn: day(-300), EndsOn: day(45)},
			{StartsOn: day(-300), EndsOn: day(80)},
			{StartsOn: day(-300), EndsOn: day(200)},                              // beyond every window
			{StartsOn: day(-400), EndsOn: day(-3), GraceUntil: day(10)},          // in grace
			{StartsOn: day(-400), EndsOn: day(-40)},                              // lapsed
			{StartsOn: day(-400), EndsOn: day(-50), Program: models.Program24x7}, // lapsed
			{StartsOn: day(-300), EndsOn: day(30), TerminatedOn: day(-1)},        // terminated: counted nowhere
		}
		storetest.SeedContracts(t, k.store, len(specs), func(i int) storetest.Contract { return specs[i] })

		count := func(f models.ContractFilter) dbstore.TileCount {
			page, _ := dbstore.ParseContractPage("500", "")
			l, err := k.contracts.List(ctx, f, page)
			if err != nil {
				t.Fatalf("List(%+v): %v", f, err)
			}
			return dbstore.TileCount{Count: len(l.Items), More: l.Next != ""}
		}
		for _, tc := range []struct{ program, q string }{{"", ""}, {models.Program24x7, ""}, {"", "zebra"}} {
			got, err := k.contracts.RenewalTiles(ctx, tc.program, tc.q)
			if err != nil {
				t.Fatalf("RenewalTiles: %v", err)
			}
			if got.Today != deskDay {
				t.Errorf("Today = %s, want %s", got.Today, deskDay)
			}
			windows := models.DashboardWindows()
			if len(got.Within) != len(windows) {
				t.Fatalf("%d window counts, want %d", len(got.Within), len(windows))
			}
			for i, w := range windows {
				want := count(models.ContractFilter{Program: tc.program, Q: tc.q, Within: w, HasWithin: true})
				want.Days = w
				if got.Within[i] != want {
					t.Errorf("%+v: within %d = %+v, want %+v (the list)", tc, w, got.Within[i], want)
				}
			}
			if want := count(models.ContractFilter{Program: tc.program, Q: tc.q, Status: models.StatusGrace}); got.Grace != want {
				t.Errorf("%+v: grace = %+v, want %+v", tc, got.Grace, want)
			}
			if want := count(models.ContractFilter{Program: tc.program, Q: tc.q, Status: models.StatusLapsed}); got.Lapsed != want {
				t.Errorf("%+v: lapsed = %+v, want %+v", tc, got.Lapsed, want)
			}
		}
		// The numbers themselves, for all programs: 5, 6 (and grace), 20, 45, 80 days.
		got, err := k.contracts.RenewalTiles(ctx, "", "")
		if err != nil {
			t.Fatal(err)
		}
		var counts []int
		for _, c := range got.Within {
			counts = append(counts, c.Count)
		}
		if want := []int{3, 4, 5, 6}; !reflect.DeepEqual(counts, want) {
			t.Errorf("window counts %v, want %v", counts, want)
		}
		if got.Grace.Count != 1 || got.Lapsed.Count != 2 {
			t.Errorf("grace %d, lapsed %d; want 1 and 2", got.Grace.Count, got.Lapsed.Count)
		}
	})
}

func TestRenewalTilesStopAtPageMax(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		k := newDesk(t, d)
		storetest.SeedContracts(t, k.store, models.PageMax+1, func(int) storetest.Contract {
			return storetest.Contract{StartsOn: day(-300), EndsOn: day(50)}
		})
		got, err := k.contracts.RenewalTiles(context.Background(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		last := got.Within[len(got.Within)-1]
		if last.Count != models.PageMax || !last.More {
			t.Errorf("widest window = %+v, want %d and more", last, models.PageMax)
		}
		if got.Within[0].Count != 0 || got.Within[0].More {
			t.Errorf("shortest window = %+v, want 0", got.Within[0])
		}
	})
}

func TestSupportByVersionAgreesWithSupport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		k := newDesk(t, d)
		seeded := storetest.SeedContracts(t, k.store, 1, func(int) storetest.Contract {
			return storetest.Contract{StartsOn: day(-10), EndsOn: day(300)}
		})
		lic := seeded[0]
		var sku string
		if err := k.store.SQLDB().QueryRowContext(ctx, "SELECT p.sku FROM products p JOIN licenses l ON l.product_id = p.id WHERE l.id = $1", lic.LicenseID).Scan(&sku); err != nil {
			t.Fatalf("sku: %v", err)
		}
		cat := dbstore.NewCatalogue(k.store)
		for _, v := range []models.VersionInput{
			{Version: "2.0", ReleasedOn: day(-100).String(), Phase: models.PhaseFull},
			{Version: "1.0", ReleasedOn: day(-900).String(), Phase: models.PhaseDiscontinued},
			{Version: "1.5", ReleasedOn: day(-500).String(), Phase: models.PhaseLimited},
		} {
			if _, err := cat.AddVersion(ctx, sku, v, models.SystemActor("test")); err != nil {
				t.Fatalf("AddVersion %s: %v", v.Version, err)
			}
		}
		lics := dbstore.NewLicenses(k.store, 90)
		staff := &models.Principal{Kind: models.PrincipalUser, UserID: 1, EmailVerified: true, StaffRoles: []string{models.RoleSupport}}
		all, err := lics.SupportByVersion(ctx, staff, lic.LicenseNumber)
		if err != nil {
			t.Fatalf("SupportByVersion: %v", err)
		}
		var order []string
		for _, vs := range all {
			order = append(order, vs.Version.Version)
			one, err := lics.Support(ctx, staff, lic.LicenseNumber, vs.Version.Version)
			if err != nil {
				t.Fatalf("Support %s: %v", vs.Version.Version, err)
			}
			if !reflect.DeepEqual(vs.Entitlements, one.Entitlements) {
				t.Errorf("version %s: %+v, Support says %+v", vs.Version.Version, vs.Entitlements, one.Entitlements)
			}
		}
		if want := []string{"1.0", "1.5", "2.0"}; !reflect.DeepEqual(order, want) {
			t.Errorf("versions %v, want %v (oldest first)", order, want)
		}

		stranger := &models.Principal{Kind: models.PrincipalUser, UserID: 999999, EmailVerified: true}
		if _, err := lics.SupportByVersion(ctx, stranger, lic.LicenseNumber); dbstore.ErrorCode(err) != models.CodeNotAMember {
			t.Errorf("stranger: err = %v, want %s", err, models.CodeNotAMember)
		}
	})
}
