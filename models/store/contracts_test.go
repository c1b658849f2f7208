package store_test

// The renewal desk's actions on a contract, on both dialects: renew, upgrade, grace and
// terminate each append a term to the contract's history, write an audit row and tell the
// account's contact; premier is sold only while the program is current, grace runs at most
// MaxGraceDays past ends_on, and a terminated contract takes no further action.

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// renewalStaff is who acts on contracts in these tests.
var renewalStaff = models.Actor{Kind: models.ActorSystem, IP: "192.0.2.20", RequestID: "spec"}

// deskContract orders a license with a year of standard support from shopDay (ending
// shopDay+364) and returns its contract's id, as the contracts service names it.
func (s *shop) deskContract(tb testing.TB, ref string) (string, int64) {
	tb.Helper()
	c := s.place(tb, newServerOrder(ref, 1)).Licenses[0].Contract
	return fmt.Sprint(c.ID), c.ID
}

// wantTermKinds fails the test unless the kinds of a contract's terms are kinds, in order.
func (s *shop) wantTermKinds(tb testing.TB, id int64, kinds ...string) {
	tb.Helper()
	var got []string
	for _, t := range s.terms(tb, id) {
		got = append(got, t.Kind)
	}
	if !slices.Equal(got, kinds) {
		tb.Fatalf("terms of contract %d = %v, want %v", id, got, kinds)
	}
}

// wantTermCount checks that a contract has n terms (after what).
func (s *shop) wantTermCount(tb testing.TB, id int64, n int, what string) {
	tb.Helper()
	if got := len(s.terms(tb, id)); got != n {
		tb.Errorf("%s = %d, want %d", what, got, n)
	}
}

// eachContract runs fn on a fresh shop of each dialect with one contract (deskContract(ref)).
func eachContract(t *testing.T, ref string, fn func(t *testing.T, s *shop, id string, n int64)) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		id, n := s.deskContract(t, ref)
		fn(t, s, id, n)
	})
}

// audited counts the audit rows of an action on a contract.
func (s *shop) audited(tb testing.TB, action, contractID string) int64 {
	tb.Helper()
	return s.rows(tb, "audit_log", "action = ? AND subject_type = 'contract' AND subject_id = ?", action, contractID)
}

// wantAudited checks that there are n audit rows of an action on a contract.
func (s *shop) wantAudited(tb testing.TB, action, contractID string, n int64) {
	tb.Helper()
	if got := s.audited(tb, action, contractID); got != n {
		tb.Errorf("%s audit rows for contract %s = %d, want %d", action, contractID, got, n)
	}
}

// Renewing appends a renewal term from the day after ends_on to the new ends_on, carries the
// program over unless given, writes contract.renewed and tells the contact.
func TestContractRenewAppendsTermAndAudit(t *testing.T) {
	eachContract(t, "PO-C1", func(t *testing.T, s *shop, id string, n int64) {
		oldEnd, newEnd := shopDay.AddDays(364), shopDay.AddDays(729)
		s.on(shopDay.AddDays(300))

		v, err := s.contracts.Renew(context.Background(), id, models.RenewalInput{EndsOn: newEnd.String(), Program: models.Program24x7}, renewalStaff)
		if err != nil {
			t.Fatalf("renew: %v", err)
		}
		if !v.Contract.EndsOn.Equal(newEnd) || v.Contract.Program != models.Program24x7 {
			t.Errorf("renewed contract = %s until %s, want 24x7 until %s", v.Contract.Program, v.Contract.EndsOn, newEnd)
		}
		if got := s.contract(t, n); !got.EndsOn.Equal(newEnd) || got.Program != models.Program24x7 || !got.StartsOn.Equal(shopDay) {
			t.Errorf("stored contract = %s %s..%s, want 24x7 %s..%s", got.Program, got.StartsOn, got.EndsOn, shopDay, newEnd)
		}
		terms := s.terms(t, n)
		s.wantTermKinds(t, n, models.TermInitial, models.TermRenewal)
		if r := terms[1]; !r.StartsOn.Equal(oldEnd.AddDays(1)) || !r.EndsOn.Equal(newEnd) || r.Program != models.Program24x7 {
			t.Errorf("renewal term = %s %s..%s, want 24x7 %s..%s", r.Program, r.StartsOn, r.EndsOn, oldEnd.AddDays(1), newEnd)
		}
		s.wantAudited(t, "contract.renewed", id, 1)
		if got := s.letters(t, "contract_changed"); len(got) != 1 || !slices.Equal(got[0].To, []string{"pat@acme.example"}) {
			t.Errorf("contract_changed letters = %+v, want one to pat@acme.example", got)
		}

		// An ends_on before the day after the current one is refused and changes nothing.
		_, err = s.contracts.Renew(context.Background(), id, models.RenewalInput{EndsOn: newEnd.String()}, renewalStaff)
		wantCode(t, err, models.CodeValidation, "renewal to the current ends_on")
		s.wantTermCount(t, n, 2, "terms after the refused renewal")
	})
}

// Premier is added only while the program is current: a current contract takes it (an upgrade
// term from today, contract.upgraded); once the contract has lapsed it is
// premier_requires_program, and nothing is written.
func TestContractUpgradePremierOnlyWhileProgramIsCurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		ctx := context.Background()
		current, currentN := s.deskContract(t, "PO-C2")
		lapsed, lapsedN := s.deskContract(t, "PO-C3")
		today := shopDay.AddDays(100)
		s.on(today)

		v, err := s.contracts.Upgrade(ctx, current, models.UpgradeInput{Premier: boolp(true)}, renewalStaff)
		if err != nil {
			t.Fatalf("premier on a current contract: %v", err)
		}
		if !v.Contract.Premier || !s.contract(t, currentN).Premier {
			t.Errorf("premier not stored on the current contract")
		}
		terms := s.terms(t, currentN)
		s.wantTermKinds(t, currentN, models.TermInitial, models.TermUpgrade)
		if u := terms[1]; !u.StartsOn.Equal(today) || !u.Premier {
			t.Errorf("upgrade term = %s premier=%v, want from %s with premier", u.StartsOn, u.Premier, today)
		}
		s.wantAudited(t, "contract.upgraded", current, 1)

		s.on(shopDay.AddDays(364 + 1)) // the day after ends_on, no grace: lapsed
		_, err = s.contracts.Upgrade(ctx, lapsed, models.UpgradeInput{Premier: boolp(true)}, renewalStaff)
		wantCode(t, err, models.CodePremierRequiresProgram, "premier on a lapsed contract")
		if s.contract(t, lapsedN).Premier {
			t.Errorf("premier stored on a lapsed contract")
		}
		s.wantTermCount(t, lapsedN, 1, "terms of the lapsed contract")
		s.wantAudited(t, "contract.upgraded", lapsed, 0)
	})
}

// Grace keeps support on past ends_on for at most MaxGraceDays (60): ends_on+60 is granted as a
// grace term from ends_on+1, ends_on+61 is grace_too_long and changes nothing.
func TestContractGraceAtMostSixtyDays(t *testing.T) {
	eachContract(t, "PO-C4", func(t *testing.T, s *shop, id string, n int64) {
		ctx := context.Background()
		end := shopDay.AddDays(364)
		s.on(end.AddDays(-5))

		_, err := s.contracts.Grace(ctx, id, end.AddDays(models.MaxGraceDays+1).String(), "negotiating", renewalStaff)
		wantCode(t, err, models.CodeGraceTooLong, "grace of %d days", models.MaxGraceDays+1)
		if got := s.contract(t, n); !got.GraceUntil.IsZero() {
			t.Errorf("grace_until stored after a refused grace: %s", got.GraceUntil)
		}
		s.wantTermCount(t, n, 1, "terms after a refused grace")

		until := end.AddDays(models.MaxGraceDays)
		v, err := s.contracts.Grace(ctx, id, until.String(), "negotiating", renewalStaff)
		if err != nil {
			t.Fatalf("grace of %d days: %v", models.MaxGraceDays, err)
		}
		if !v.Contract.GraceUntil.Equal(until) || !s.contract(t, n).GraceUntil.Equal(until) {
			t.Errorf("grace_until = %s, want %s", s.contract(t, n).GraceUntil, until)
		}
		terms := s.terms(t, n)
		s.wantTermKinds(t, n, models.TermInitial, models.TermGrace)
		if g := terms[1]; !g.StartsOn.Equal(end.AddDays(1)) || !g.EndsOn.Equal(until) || g.Reason != "negotiating" {
			t.Errorf("grace term = %s..%s %q, want %s..%s \"negotiating\"", g.StartsOn, g.EndsOn, g.Reason, end.AddDays(1), until)
		}
		s.wantAudited(t, "contract.grace_granted", id, 1)
	})
}

// Terminating ends the contract today with a termination term and contract.terminated; after
// that it can be neither renewed nor terminated again (contract_terminated).
func TestContractTerminateEndsItToday(t *testing.T) {
	eachContract(t, "PO-C5", func(t *testing.T, s *shop, id string, n int64) {
		ctx := context.Background()
		today := shopDay.AddDays(40)
		s.on(today)

		if _, err := s.contracts.Terminate(ctx, id, "", renewalStaff); dbstore.ErrorCode(err) != models.CodeValidation {
			t.Errorf("terminate without a reason: %v, want %s", err, models.CodeValidation)
		}
		v, err := s.contracts.Terminate(ctx, id, "customer went bankrupt", renewalStaff)
		if err != nil {
			t.Fatalf("terminate: %v", err)
		}
		if !v.Contract.TerminatedOn.Equal(today) || !s.contract(t, n).TerminatedOn.Equal(today) {
			t.Errorf("terminated_on = %s, want %s", s.contract(t, n).TerminatedOn, today)
		}
		terms := s.terms(t, n)
		s.wantTermKinds(t, n, models.TermInitial, models.TermTermination)
		if x := terms[1]; !x.StartsOn.Equal(today) || !x.EndsOn.Equal(today) || x.Reason != "customer went bankrupt" {
			t.Errorf("termination term = %s..%s %q, want %s..%s with the reason", x.StartsOn, x.EndsOn, x.Reason, today, today)
		}
		s.wantAudited(t, "contract.terminated", id, 1)
		if status, _ := v.Status(today, 90); status != models.StatusTerminated {
			t.Errorf("status on the day of termination = %s, want %s", status, models.StatusTerminated)
		}

		_, err = s.contracts.Renew(ctx, id, models.RenewalInput{EndsOn: shopDay.AddDays(800).String()}, renewalStaff)
		wantCode(t, err, models.CodeContractTerminated, "renew after termination")
		_, err = s.contracts.Terminate(ctx, id, "again", renewalStaff)
		wantCode(t, err, models.CodeContractTerminated, "terminate twice")
		s.wantTermCount(t, n, 2, "terms after the refused actions")
	})
}

// The portal's questions on both dialects: the renewal dashboard's tiles agree with the lists
// they stand for (and stop at models.PageMax), and a license's entitlements for every version at
// once agree with Support asked version by version.

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
