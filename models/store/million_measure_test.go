package store_test

// The renewal desk over a million contracts (issue 24, item 5): the daily notice pass with 2.5%
// of them owed a notice, the forecast, the first page of /renewals, and the CSV of every contract
// streamed with the heap's peak — on a database seeded by the load harness beforehand, since a
// million rows take minutes to write:
//
//	go run ./cmd/loadgen seed-contracts --database-url sqlite:///tmp/million.db --contracts 1000000 --due-share 0.025
//	go run ./cmd/loadgen seed-contracts --database-url 'postgres://postgres@127.0.0.1:5432/million?sslmode=disable' --contracts 1000000 --due-share 0.025
//	ENTITLED_MEASURE=1 ENTITLED_MILLION_SQLITE=sqlite:///tmp/million.db \
//	  ENTITLED_MILLION_POSTGRES='postgres://postgres@127.0.0.1:5432/million?sslmode=disable' \
//	  go test -run TestMeasure_Million -v -count=1 -timeout 30m ./models/store/
//
// It runs on the day the data was seeded for (the seed lays ends_on out around its today). The
// pass's notice rows, jobs and digest are deleted again at the end, so that it can be re-run.

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

func TestMeasure_Million(t *testing.T) {
	if os.Getenv("ENTITLED_MEASURE") != "1" {
		t.Skip("a measurement: set ENTITLED_MEASURE=1 (and ENTITLED_MILLION_SQLITE / ENTITLED_MILLION_POSTGRES) to run it")
	}
	for _, env := range []string{"ENTITLED_MILLION_SQLITE", "ENTITLED_MILLION_POSTGRES"} {
		url := os.Getenv(env)
		t.Run(env, func(t *testing.T) {
			if url == "" {
				t.Skipf("%s is not set", env)
			}
			measureMillion(t, url)
		})
	}
}

func measureMillion(t *testing.T, url string) {
	ctx := context.Background()
	clock := models.NewFixedClock(time.Now().UTC())
	s, err := dbstore.Open(ctx, dbstore.OpenOptions{URL: url, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	// Closed after the pass is undone (cleanups run last first).
	t.Cleanup(func() { s.Close() })
	// Migrations newer than the seed, as the server would apply them.
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	d := s.Dialect
	var n int
	if err := s.SQLDB().QueryRowContext(ctx, "SELECT count(*) FROM contracts").Scan(&n); err != nil {
		t.Fatal(err)
	}
	outbox, _ := newOutbox(t, s, nil)
	contracts := dbstore.NewContracts(s, outbox, 90)
	sweep, err := dbstore.NewRenewals(s, outbox, baseURL, []int{90, 60, 30, 7})
	if err != nil {
		t.Fatal(err)
	}

	// ENTITLED_MILLION_PARTS picks some of pass,forecast,page,csv (default all).
	part := func(name string) bool {
		parts := os.Getenv("ENTITLED_MILLION_PARTS")
		return parts == "" || slices.Contains(strings.Split(parts, ","), name)
	}

	// The notice pass, then its rows undone.
	if part("pass") {
		measurePass(t, s, clock, sweep, n)
	}
	if part("forecast") {
		measureForecastMillion(t, contracts, d)
	}
	if part("page") {
		measureFirstPage(t, contracts, d)
	}
	if part("csv") {
		measureCSV(t, contracts, d)
	}
}

func timeIt(t *testing.T, d dbstore.Dialect, what string, runs int, fn func() error) {
	t.Helper()
	if err := fn(); err != nil { // warm the caches
		t.Fatal(err)
	}
	var times []time.Duration
	for range runs {
		t0 := time.Now()
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	t.Logf("%s: %s: min %s, median %s, max %s (%d runs)", d, what, times[0].Round(time.Microsecond),
		times[len(times)/2].Round(time.Microsecond), times[len(times)-1].Round(time.Microsecond), runs)
}

func measurePass(t *testing.T, s *dbstore.Store, clock *models.FixedClock, sweep *dbstore.Renewals, n int) {
	ctx := context.Background()
	d := s.Dialect
	var maxNotice, maxJob int64
	s.SQLDB().QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM renewal_notices").Scan(&maxNotice)
	s.SQLDB().QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM river_job").Scan(&maxJob)
	t0 := time.Now()
	rep, err := sweep.Pass(ctx, models.PassOptions{})
	took := time.Since(t0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: notice pass over %d contracts: %d candidates, %d renewal notices + %d lapse notices queued, %d digest letters in %s",
		d, n, rep.Contracts, rep.RenewalNotices, rep.LapseNotices, rep.DigestLetters, took.Round(time.Millisecond))
	t.Cleanup(func() {
		for _, q := range []struct {
			sql string
			arg any
		}{{"DELETE FROM renewal_notices WHERE id > ?", maxNotice}, {"DELETE FROM river_job WHERE id > ?", maxJob},
			{"DELETE FROM renewal_digests WHERE day = ?", models.DateOf(clock.Now())}} {
			sqlText := q.sql
			if d == dbstore.Postgres {
				sqlText = sqlText[:len(sqlText)-1] + "$1"
			}
			if _, err := s.SQLDB().ExecContext(ctx, sqlText, q.arg); err != nil {
				t.Errorf("undo the pass: %v", err)
			}
		}
	})

}

func measureForecastMillion(t *testing.T, contracts *dbstore.Contracts, d dbstore.Dialect) {
	ctx := context.Background()
	due := 0
	timeIt(t, d, "Forecast(12)", 7, func() error {
		f, err := contracts.Forecast(ctx, 12)
		if err == nil {
			due = 0
			for _, m := range f.Months {
				due += m.Due
			}
		}
		return err
	})
	t.Logf("%s: the forecast counts %d contracts due in the 12 months ahead", d, due)
	plan, err := contracts.ExplainForecast(ctx, 12)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: plan of the forecast:\n%s", d, plan)

}

// measureFirstPage times the first page of /renewals: what the handler asks for without parameters.
func measureFirstPage(t *testing.T, contracts *dbstore.Contracts, d dbstore.Dialect) {
	ctx := context.Background()
	within, _ := models.ParseWithinDays("", contracts.RenewalWindowDays)
	f := models.ContractFilter{Within: within, HasWithin: true}
	page, err := dbstore.ParseContractPage("", "")
	if err != nil {
		t.Fatal(err)
	}
	items := 0
	timeIt(t, d, fmt.Sprintf("/renewals first page (List, within %d days)", within), 21, func() error {
		l, err := contracts.List(ctx, f, page)
		if l != nil {
			items = len(l.Items)
		}
		return err
	})
	t.Logf("%s: the first page holds %d contracts", d, items)
	plan, err := contracts.Explain(ctx, f, page, d == dbstore.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: plan of the first page:\n%s", d, plan)

}

// measureCSV streams the CSV of every contract to io.Discard, the live heap sampled as it goes.
func measureCSV(t *testing.T, contracts *dbstore.Contracts, d dbstore.Dialect) {
	ctx := context.Background()
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	before := sample[0].Value.Uint64()
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				metrics.Read(s)
				peak = max(peak, s[0].Value.Uint64())
			}
		}
	}()
	w := csv.NewWriter(io.Discard)
	rows := 0
	t0 := time.Now()
	_, err := contracts.ExportContracts(ctx, models.ContractFilter{}, func(r *models.ExportRow) error {
		v := &r.View
		rows++
		return w.Write([]string{fmt.Sprint(v.Contract.ID), v.License.LicenseNumber, v.Account.AccountID, v.Account.Name,
			v.Account.ContactEmail, v.Product.Name, v.Contract.Program, v.Contract.StartsOn.String(), v.Contract.EndsOn.String(),
			r.Status, fmt.Sprint(r.DaysLeft), r.Notices, r.Terms, r.RenewalStage})
	})
	w.Flush()
	took := time.Since(t0)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%s: CSV of all %d contracts streamed in %s; live heap %.1f MiB before, peak %.1f MiB (+%.1f MiB), total allocated %.0f MiB",
		d, rows, took.Round(time.Millisecond), mib(before), mib(peak), mib(peak)-mib(before), mib(ms.TotalAlloc))
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// The renewal forecast's time over 100,000 contracts on each dialect, with the plans of its two
// queries (to show the indexes at work). It seeds for a minute, so it runs only when asked:
//
//	ENTITLED_MEASURE=1 go test -run TestMeasure_Forecast -v -count=1 ./models/store/

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
