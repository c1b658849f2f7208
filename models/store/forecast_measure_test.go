package store_test

// The renewal forecast's time over 100,000 contracts on each dialect, with the plans of its two
// queries (to show the indexes at work). It seeds for a minute, so it runs only when asked:
//
//	ENTITLED_MEASURE=1 go test -run TestMeasure_Forecast -v -count=1 ./models/store/

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

func TestMeasure_Forecast(t *testing.T) {
	if os.Getenv("ENTITLED_MEASURE") != "1" {
		t.Skip("a measurement: set ENTITLED_MEASURE=1 to run it")
	}
	const n = 100_000
	// spread: ends_on runs over this many days around today. Over two years about half the
	// contracts are due in the 12 months ahead (PostgreSQL rightly reads the whole table for
	// that); over ten years about a tenth are, and the range of the ends_on index pays.
	for _, spread := range []int{730, 3650} {
		t.Run(fmt.Sprintf("ends over %d days", spread), func(t *testing.T) { measureForecast(t, n, spread) })
	}
}

func measureForecast(t *testing.T, n, spread int) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		k := newDesk(t, d)
		// ends_on spread over two years around today; one in 50 terminated, one in 100 a trial.
		spec := func(i int) storetest.Contract {
			c := storetest.Contract{StartsOn: day(i%spread - spread/2 - 365), EndsOn: day(i%spread - spread/2), Trial: i%100 == 99}
			if i%50 == 7 {
				c.TerminatedOn = day(i%spread - spread/2 - 35)
			}
			return c
		}
		start := time.Now()
		seeded := storetest.SeedContracts(t, k.store, n, spec)
		// Every contract's open record (with a value in one of two currencies, a stage and an
		// owner-less next step), and for half of them the previous term's record, renewed in time
		// or late: the history the renewal rate reads.
		now := k.clock.Now()
		stages := []string{models.StageUntouched, models.StageContacted, models.StageQuoted, models.StageCommitted}
		var recs []models.RenewalRecord
		for i, s := range seeded {
			c := spec(i)
			minor, cur := int64(100_000+i%50*1000), []string{"EUR", "USD"}[i%2]
			recs = append(recs, models.RenewalRecord{ContractID: s.ContractID, TermEndsOn: c.EndsOn, Stage: stages[i%4],
				ValueMinor: &minor, Currency: &cur, CreatedAt: now, UpdatedAt: now})
			if i%2 == 0 {
				closed, prev := now, c.EndsOn.AddDays(-365)
				renewed := prev.AddDays(-10)
				if i%6 == 0 {
					renewed = prev.AddDays(20) // late: counts lapsed
				}
				recs = append(recs, models.RenewalRecord{ContractID: s.ContractID, TermEndsOn: prev, Stage: models.StageWon,
					RenewedOn: renewed, CoveredUntil: prev, ClosedAt: &closed, CreatedAt: now, UpdatedAt: now})
			}
		}
		if err := k.store.GormDB().CreateInBatches(recs, 2000).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := k.store.SQLDB().ExecContext(ctx, "ANALYZE"); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: seeded %d contracts and %d renewal records in %s", d, n, len(recs), time.Since(start).Round(time.Millisecond))

		f, err := k.contracts.Forecast(ctx, 12) // warm the caches
		if err != nil {
			t.Fatal(err)
		}
		due := 0
		for _, m := range f.Months {
			due += m.Due
		}
		var times []time.Duration
		for range 7 {
			t0 := time.Now()
			if _, err := k.contracts.Forecast(ctx, 12); err != nil {
				t.Fatal(err)
			}
			times = append(times, time.Since(t0))
		}
		slices.Sort(times)
		t.Logf("%s: Forecast(12) over %d contracts (%d due in the 12 months ahead): min %s, median %s, max %s (7 runs)",
			d, n, due, times[0].Round(time.Microsecond), times[len(times)/2].Round(time.Microsecond), times[len(times)-1].Round(time.Microsecond))
		plan, err := k.contracts.ExplainForecast(ctx, 12)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: plan of the forecast's two queries:\n%s", d, plan)
	})
}
