package handlers

// BenchmarkRenewalsCSVExport measures GET /v1/renewals?format=csv over 100,000 contracts (and
// 10,000, to show that memory does not grow with the rows): the real router behind httptest, the
// contracts seeded in bulk with SQL. While the export runs, a sampler reads runtime.MemStats every
// millisecond; the benchmark reports the peak HeapInuse above what it was before the request
// (server and client together: they share the process), the rows per second and the file's size.
//
//	go test -run '^$' -bench RenewalsCSVExport -benchtime 1x ./handlers/
//	BENCH_CSV_ROWS=300000 go test -run '^$' -bench RenewalsCSVExport -benchtime 1x ./handlers/

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

// seedRenewals seeds n current contracts ending over the next ten years (all of them in
// within_days=3650), some with commas and quotes in their names.
func seedRenewals(tb testing.TB, s *store.Store, n int, now time.Time) {
	tb.Helper()
	today := models.DateOf(now)
	storetest.SeedContracts(tb, s, n, func(i int) storetest.Contract {
		c := storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(i % 3650), Program: models.ProgramStandard}
		if i%10 == 0 {
			c.AccountName = fmt.Sprintf(`Account %d, "Holdings" Inc.`, i)
			c.Program, c.Premier = models.Program24x7, true
		}
		return c
	})
}

func BenchmarkRenewalsCSVExport(b *testing.B) {
	for _, d := range storetest.Dialects(b) {
		sizes := []int{10_000, 100_000}
		if n, err := strconv.Atoi(os.Getenv("BENCH_CSV_ROWS")); err == nil {
			sizes = []int{n}
		}
		for _, n := range sizes {
			b.Run(fmt.Sprintf("%s/%d", d, n), func(b *testing.B) {
				a := newTestApp(b, d)
				seedRenewals(b, a.store, n, testStart)
				key := a.newAPIKey(b, models.ScopeRenewalsRead)
				var peak uint64
				var size int64
				b.ResetTimer()
				for range b.N {
					p, sz := exportOnce(b, a.srv.URL+"/v1/renewals?format=csv&within_days=3650", key, n)
					peak, size = max(peak, p), sz
				}
				b.StopTimer()
				b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
				b.ReportMetric(float64(size)/(1<<20), "csv-MiB")
			})
		}
	}
}

// exportOnce downloads the export, counting its records, and returns the peak HeapInuse above
// the baseline seen while it ran, and the bytes received.
func exportOnce(b *testing.B, url, key string, rows int) (uint64, int64) {
	b.StopTimer()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	stop := make(chan struct{})
	var peak uint64
	var wg sync.WaitGroup
	wg.Go(func() {
		var m runtime.MemStats
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	b.StartTimer()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	lines := 0
	br := bufio.NewReaderSize(res.Body, 32<<10)
	for {
		line, err := br.ReadSlice('\n')
		size += int64(len(line))
		if len(line) > 0 && line[len(line)-1] == '\n' {
			lines++
		}
		if err == io.EOF {
			break
		}
		if err != nil && err != bufio.ErrBufferFull {
			b.Fatal(err)
		}
	}
	res.Body.Close()
	b.StopTimer()
	close(stop)
	wg.Wait()
	if res.StatusCode != http.StatusOK || lines < rows+1 {
		b.Fatalf("export: %s, %d lines for %d rows", res.Status, lines, rows)
	}
	b.StartTimer()
	if peak < base {
		return 0, size
	}
	return peak - base, size
}
