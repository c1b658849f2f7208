package store_test

// The renewal pipeline's records on both dialects: migration 00013 opens an untouched record for
// every existing contract; an order's support value is the record's value; a renewal (by the
// desk or by order) closes the record as won and opens the next term's with the owner and value
// carried over, a renewal order's own value replacing it.

import (
	"context"
	"errors"
	"slices"
	"testing"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// records are a contract's renewal records, oldest first.
func records(tb testing.TB, s *dbstore.Store, contractID int64) []models.RenewalRecord {
	tb.Helper()
	var out []models.RenewalRecord
	if err := s.GormDB().Where("contract_id = ?", contractID).Order("id").Find(&out).Error; err != nil {
		tb.Fatal(err)
	}
	return out
}

func money(r models.RenewalRecord) string {
	if m := r.Value(); m != nil {
		return m.Amount() + " " + m.Currency
	}
	return "none"
}

func TestMigration00013_OpensAnUntouchedRecordForEveryContract(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		s := storetest.Open(t, d, nil)
		if err := s.MigrateTo(ctx, 12); err != nil {
			t.Fatalf("migrate down to 12: %v", err)
		}
		current := storetest.SeedContract(t, s, storetest.Contract{StartsOn: day(-100), EndsOn: day(265)})
		lapsed := storetest.SeedContract(t, s, storetest.Contract{StartsOn: day(-500), EndsOn: day(-135)})
		trial := storetest.SeedContract(t, s, storetest.Contract{Trial: true})
		if err := s.MigrateTo(ctx, 13); err != nil {
			t.Fatalf("migrate up to 13: %v", err)
		}
		for _, c := range []storetest.Seeded{current, lapsed, trial} {
			recs := records(t, s, c.ContractID)
			if len(recs) != 1 || recs[0].Stage != models.StageUntouched || recs[0].ClosedAt != nil || recs[0].OwnerID != nil || recs[0].Value() != nil {
				t.Errorf("contract %d: records %+v, want one open untouched record", c.ContractID, recs)
			}
		}
		if got := records(t, s, current.ContractID)[0].TermEndsOn; !got.Equal(day(265)) {
			t.Errorf("term_ends_on = %s, want %s", got, day(265))
		}
	})
}

func TestRenewalRecords_ValueFromOrdersCarriedOverAndWonOnRenewal(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		s := newShop(t, d)
		owner := models.User{Email: "rita@vendor.example", Name: "Rita", PasswordHash: "x", StaffRoles: models.RoleRenewals,
			CreatedAt: s.clock.Now(), UpdatedAt: s.clock.Now()}
		if err := s.store.GormDB().Create(&owner).Error; err != nil {
			t.Fatal(err)
		}
		staff := models.Actor{Kind: models.ActorStaff, ID: owner.ID, Email: owner.Email}

		in := newServerOrder("ORD-V1", 5)
		in.Items[0].Support.Value = &models.MoneyInput{Amount: "12000.00", Currency: "EUR"}
		res := s.place(t, in)
		c := res.Licenses[0].Contract
		recs := records(t, s.store, c.ID)
		if len(recs) != 1 || recs[0].Stage != models.StageUntouched || money(recs[0]) != "12000.00 EUR" {
			t.Fatalf("after the order: %+v, want one untouched record worth 12000.00 EUR", recs)
		}
		if _, err := s.contracts.PatchRenewal(ctx, itoa64(c.ID), models.RenewalPatch{OwnerSet: true, Owner: owner.Email, Stage: models.StageCommitted}, "", staff); err != nil {
			t.Fatal(err)
		}

		// By the desk: no value given, so the value and the owner carry over.
		v, err := s.contracts.Renew(ctx, itoa64(c.ID), models.RenewalInput{EndsOn: c.EndsOn.AddDays(365).String()}, staff)
		if err != nil {
			t.Fatal(err)
		}
		recs = records(t, s.store, c.ID)
		if len(recs) != 2 || recs[0].Stage != models.StageWon || recs[0].ClosedAt == nil {
			t.Fatalf("after the renewal: %+v, want the ended term's record won and closed", recs)
		}
		next := recs[1]
		if next.Stage != models.StageUntouched || next.ClosedAt != nil || next.OwnerID == nil || *next.OwnerID != owner.ID || money(next) != "12000.00 EUR" ||
			!next.TermEndsOn.Equal(v.Contract.EndsOn) {
			t.Errorf("the new term's record: %+v, want untouched, owner and value carried over, for the new ends_on", next)
		}
		if v.Renewal == nil || v.Renewal.ID != next.ID || v.Renewal.OwnerEmail != owner.Email {
			t.Errorf("the renewal's answer shows record %+v, want the new one with its owner", v.Renewal)
		}

		// By order, with the renewal's own value: it replaces the carried one.
		ln := res.Licenses[0].License.LicenseNumber
		renewal := models.OrderInput{OrderRef: "ORD-V2", AccountID: res.Account.AccountID, AccountName: "Acme Ltd", ContactName: "Pat Buyer", ContactEmail: "pat@acme.example",
			Items: []models.OrderItem{{LicenseNumber: ln, Support: &models.SupportInput{EndsOn: v.Contract.EndsOn.AddDays(365).String(),
				Value: &models.MoneyInput{Amount: "13500.50", Currency: "EUR"}}}}}
		s.place(t, renewal)
		recs = records(t, s.store, c.ID)
		if len(recs) != 3 || recs[1].Stage != models.StageWon || recs[1].ClosedAt == nil {
			t.Fatalf("after the renewal order: %+v", recs)
		}
		if last := recs[2]; last.Stage != models.StageUntouched || money(last) != "13500.50 EUR" || last.OwnerID == nil {
			t.Errorf("after the renewal order: %+v, want untouched, 13500.50 EUR, owner kept", last)
		}
		s.wantRows(t, 1, "open records", "renewal_records", "contract_id = ? AND closed_at IS NULL", c.ID)

		// A bad value refuses the order, naming the field.
		bad := newServerOrder("ORD-V3", 1)
		bad.Items[0].Support.Value = &models.MoneyInput{Amount: "12000", Currency: "euro"}
		_, err = s.orders.Place(ctx, bad, orderSystem)
		wantFieldCodes(t, err, map[string]string{"items[0].support.value.amount": models.FieldInvalid, "items[0].support.value.currency": models.FieldInvalid})
	})
}

// wantFieldCodes fails unless err is validation_failed with exactly these field codes.
func wantFieldCodes(tb testing.TB, err error, want map[string]string) {
	tb.Helper()
	var e *models.Error
	if !errors.As(err, &e) || e.Code != models.CodeValidation {
		tb.Fatalf("err = %v, want validation_failed", err)
	}
	got := map[string]string{}
	for _, f := range e.Fields {
		got[f.Field] = f.Code
	}
	if len(got) != len(want) {
		tb.Errorf("fields = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			tb.Errorf("fields = %v, want %v", got, want)
		}
	}
}

// openRecords opens the untouched record of every seeded contract that has none, as migration
// 00013 does for the contracts that exist when it runs (storetest.SeedContracts writes rows, not
// orders).
func openRecords(tb testing.TB, s *dbstore.Store) {
	tb.Helper()
	if err := s.GormDB().Exec(`INSERT INTO renewal_records (contract_id, term_ends_on, stage, created_at, updated_at)
		SELECT id, ends_on, 'untouched', updated_at, updated_at FROM contracts WHERE id NOT IN (SELECT contract_id FROM renewal_records)`).Error; err != nil {
		tb.Fatal(err)
	}
}

// The forecast's SQL agrees with the rules computed in Go over the same contracts: the months
// ahead by the stage each contract reads as today (models.EffectiveStage over the list's views)
// and value per currency (EUR and USD); and the past months' renewals as scripted — renewed in
// time, renewed in grace (in time), renewed after a lapse (lapsed), never renewed (lapsed).
// Trials and terminated contracts are no renewals.
func TestForecast_AgreesWithTheRulesInGo(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		k := newDesk(t, d)
		staff := models.Actor{Kind: models.ActorStaff, Email: "desk@vendor.example"}
		const n = 48
		ends := func(i int) models.Date { return day(-330 + i*14) } // 2025-07-06 … 2027-04-25
		seeded := storetest.SeedContracts(t, k.store, n, func(i int) storetest.Contract {
			c := storetest.Contract{StartsOn: ends(i).AddDays(-364), EndsOn: ends(i)}
			switch i {
			case 5:
				c.Trial = true
			case 7:
				c.TerminatedOn = day(-10)
			}
			return c
		})
		openRecords(t, k.store)
		k.on(day(-400)) // stages chosen before every lapse
		for i, c := range seeded {
			p := models.RenewalPatch{}
			switch i % 3 {
			case 1:
				p.ValueSet, p.Value = true, &models.Money{Minor: int64(100000 + 137*i), Currency: "EUR"}
			case 2:
				p.ValueSet, p.Value = true, &models.Money{Minor: int64(250000 + 91*i), Currency: "USD"}
			}
			if st := []string{"", models.StageContacted, models.StageQuoted, models.StageCommitted, models.StageLost}[i%5]; st != "" {
				p.Stage = st
			}
			if p.Empty() {
				continue
			}
			if _, err := k.contracts.PatchRenewal(ctx, itoa64(c.ContractID), p, "", staff); err != nil {
				t.Fatal(err)
			}
		}
		type past struct{ due, renewed, lapsed int }
		wantHistory := map[string]*past{}
		for i, c := range seeded {
			e := ends(i)
			if !e.Before(deskDay) || i == 5 || i == 7 {
				continue
			}
			m := models.MonthKey(e)
			if wantHistory[m] == nil {
				wantHistory[m] = &past{}
			}
			h := wantHistory[m]
			h.due++
			id := itoa64(c.ContractID)
			renew := func(on models.Date) {
				k.on(on)
				if _, err := k.contracts.Renew(ctx, id, models.RenewalInput{EndsOn: e.AddDays(365).String()}, staff); err != nil {
					t.Fatalf("renew %d on %s: %v", i, on, err)
				}
			}
			switch i % 4 {
			case 0: // in time
				renew(e.AddDays(-10))
				h.renewed++
			case 1: // after the lapse
				renew(e.AddDays(20))
				h.lapsed++
			case 2: // in grace
				k.on(e.AddDays(-5))
				if _, err := k.contracts.Grace(ctx, id, e.AddDays(30).String(), "PO pending", staff); err != nil {
					t.Fatal(err)
				}
				renew(e.AddDays(15))
				h.renewed++
			case 3: // never
				h.lapsed++
			}
		}
		k.on(deskDay)
		today := deskDay

		got, err := k.contracts.Forecast(ctx, 12)
		if err != nil {
			t.Fatal(err)
		}
		// The months ahead, in Go: every contract of the list, its stage by models.EffectiveStage.
		page, err := dbstore.ParseContractPage("500", "")
		if err != nil {
			t.Fatal(err)
		}
		all, err := k.contracts.List(ctx, models.ContractFilter{}, page)
		if err != nil {
			t.Fatal(err)
		}
		wantMonths := map[string]*models.ForecastMonth{}
		for i := range 12 {
			m := models.NewForecastMonth(models.MonthKey(models.AddMonths(today, i)))
			wantMonths[m.Month] = &m
		}
		currencies := map[string]bool{}
		for _, v := range all.Items {
			c := v.Contract
			m := wantMonths[models.MonthKey(c.EndsOn)]
			if m == nil || c.Trial || !c.TerminatedOn.IsZero() {
				continue
			}
			stage := models.EffectiveStage(v.Renewal, &v.Contract, today, 90)
			m.Due++
			m.ByStage[stage]++
			if val := v.Renewal.Value(); val != nil {
				m.AddValue(val.Currency, stage, val.Minor)
				currencies[val.Currency] = true
			}
		}
		if !currencies["EUR"] || !currencies["USD"] {
			t.Fatalf("the months ahead hold values in %v, want EUR and USD", currencies)
		}
		if len(got.Months) != 12 || got.Months[0].Month != "2026-06" {
			t.Fatalf("months = %d from %s, want 12 from 2026-06", len(got.Months), got.Months[0].Month)
		}
		dueAhead := 0
		for _, m := range got.Months {
			w := wantMonths[m.Month]
			if w == nil || m.Due != w.Due || !mapsEqual(m.ByStage, w.ByStage) || !valuesEqual(m.Values, w.Values) {
				t.Errorf("month %s: SQL %+v, Go %+v", m.Month, m, w)
			}
			dueAhead += m.Due
		}
		if dueAhead == 0 {
			t.Error("nothing due ahead: the test proves nothing")
		}
		if len(got.History) != 12 || got.History[0].Month != "2025-06" || got.History[11].Month != "2026-05" {
			t.Fatalf("history %+v, want 2025-06 … 2026-05", got.History)
		}
		renewedAny := false
		for _, h := range got.History {
			w := wantHistory[h.Month]
			if w == nil {
				w = &past{}
			}
			if h.Due != w.due || h.Renewed != w.renewed || h.Lapsed != w.lapsed {
				t.Errorf("history %s: due %d renewed %d lapsed %d, want %d %d %d", h.Month, h.Due, h.Renewed, h.Lapsed, w.due, w.renewed, w.lapsed)
			}
			if w.due > 0 && (h.Rate == nil || *h.Rate != float64(w.renewed)/float64(w.due)) {
				t.Errorf("history %s: rate %v, want %d/%d", h.Month, h.Rate, w.renewed, w.due)
			}
			renewedAny = renewedAny || h.Renewed > 0
		}
		if !renewedAny {
			t.Error("no renewal in the history: the test proves nothing")
		}
		plan, err := k.contracts.ExplainForecast(ctx, 12)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s plan:\n%s", d, plan)
	})
}

func mapsEqual[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func valuesEqual(a, b []models.ForecastValue) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Currency != b[i].Currency || a[i].Minor != b[i].Minor || !mapsEqual(a[i].ByStage, b[i].ByStage) {
			return false
		}
	}
	return true
}

// BenchmarkForecast times the forecast over benchContracts contracts (100,000 by default) with
// ends_on spread over [today-400, today+365), values in two currencies and every stage, and logs
// the plans of its two queries (index ranges on ends_on and term_ends_on):
//
//	go test -run '^$' -bench Forecast -benchtime 5x -v ./models/store/
func BenchmarkForecast(b *testing.B) {
	for _, d := range storetest.Dialects(b) {
		b.Run(string(d), func(b *testing.B) {
			ctx := context.Background()
			k := newDesk(b, d)
			storetest.SeedContracts(b, k.store, benchContracts, func(i int) storetest.Contract {
				return storetest.Contract{StartsOn: day(-800), EndsOn: day(i%765 - 400)}
			})
			openRecords(b, k.store)
			if err := k.store.GormDB().Exec(`UPDATE renewal_records SET value_minor = (id * 7919) % 10000000,
				currency = CASE WHEN id % 2 = 0 THEN 'EUR' ELSE 'USD' END,
				stage = CASE id % 5 WHEN 0 THEN 'untouched' WHEN 1 THEN 'contacted' WHEN 2 THEN 'quoted' WHEN 3 THEN 'committed' ELSE 'lost' END`).Error; err != nil {
				b.Fatal(err)
			}
			if d == dbstore.Postgres {
				if err := k.store.GormDB().Exec("ANALYZE").Error; err != nil {
					b.Fatal(err)
				}
			}
			plan, err := k.contracts.ExplainForecast(ctx, 12)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("%s plan:\n%s", d, plan)
			b.ResetTimer()
			for range b.N {
				if _, err := k.contracts.Forecast(ctx, 12); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// What the portal's renewal desk reads besides the API's lists, on both dialects: "my renewals"
// (OwnedBy), the staff who may own a renewal (RenewalOwners) and a contract's records of every
// term (RenewalHistory).

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
