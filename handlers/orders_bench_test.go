package handlers

// BenchmarkPlaceOrder measures POST /v1/orders end to end: the real router on a fresh database of
// each dialect, behind httptest, authenticated with an orders:write API key, as the order system
// calls it. Each iteration places a new order (fresh order_ref, new account) with one new license
// that has support, so it measures the whole write: account, license number draw, license,
// contract, term, audit rows, and the welcome letter queued in the same transaction. The harness's
// River client delivers those letters to the in-process SMTP sink while the benchmark runs, as a
// server's outbox worker would: its polling and job updates compete for the database like they do
// in production.
//
//	go test -run x -bench PlaceOrder -benchtime 3s ./handlers/

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"

	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

// benchParallelGoroutines is how many clients the parallel variant runs at once (rounded up to a
// multiple of GOMAXPROCS, which is how b.RunParallel counts).
const benchParallelGoroutines = 8

func BenchmarkPlaceOrder(b *testing.B) {
	for _, d := range storetest.Dialects(b) {
		b.Run(string(d), func(b *testing.B) {
			bo := newOrderBench(b, d)
			benchSerialAndParallel(b, "orders/s", bo.place)
		})
	}
}

// benchSerialAndParallel runs op as two sub-benchmarks: "serial", and "parallelN" on N goroutines
// (benchParallelGoroutines at the least, the same number on each CPU). Each reports its rate in
// unit.
func benchSerialAndParallel(b *testing.B, unit string, op func() error) {
	b.Helper()
	rate := func(b *testing.B) {
		if s := b.Elapsed().Seconds(); s > 0 {
			b.ReportMetric(float64(b.N)/s, unit)
		}
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		rate(b)
	})
	p := (benchParallelGoroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
	b.Run(fmt.Sprintf("parallel%d", p*runtime.GOMAXPROCS(0)), func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(p)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(); err != nil {
					b.Error(err) // Fatal must not be called from RunParallel's goroutines
					return
				}
			}
		})
		rate(b)
	})
}

// orderBench is one server with a product to order and a key to order it with.
type orderBench struct {
	url    string
	key    string
	client *http.Client
	seq    atomic.Int64 // makes order refs and contacts unique across every run of the server
}

func newOrderBench(b *testing.B, d store.Dialect) *orderBench {
	b.Helper()
	a := newTestApp(b, d)
	ops := a.newStaff(b, models.RoleOps)
	want(b, a.do(b, "POST", "/v1/products", ops.token, map[string]string{"sku": "BENCH-SRV", "name": "Bench Server"}), http.StatusCreated)
	// The httptest client keeps two idle connections per host; the parallel variant needs one per
	// goroutine, or every request beyond two would dial anew.
	tr := a.srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	b.Cleanup(tr.CloseIdleConnections)
	bo := &orderBench{url: a.srv.URL + "/v1/orders", key: a.newAPIKey(b, models.ScopeOrdersWrite), client: &http.Client{Transport: tr}}
	// One order before any timing, so that the first measured one finds warm connections and caches.
	if err := bo.place(); err != nil {
		b.Fatal(err)
	}
	return bo
}

// place posts one order and checks that it was taken.
func (o *orderBench) place() error {
	n := o.seq.Add(1)
	body := fmt.Appendf(nil, `{"order_ref":"BENCH-%d","account":{"name":"Bench Customer %d"},`+
		`"primary_contact":{"name":"Buyer %d","email":"buyer%d@example.test"},`+
		`"items":[{"sku":"BENCH-SRV","quantity":5,"kind":"perpetual",`+
		`"support":{"program":"24x7","premier":true,"starts_on":"2026-03-02","ends_on":"2027-03-01"}}]}`, n, n, n, n)
	req, err := http.NewRequest(http.MethodPost, o.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+o.key)
	res, err := o.client.Do(req)
	if err != nil {
		return fmt.Errorf("order %d: %w", n, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("order %d: read answer: %w", n, err)
	}
	if res.StatusCode != http.StatusCreated {
		return fmt.Errorf("order %d: got %d %s, want 201", n, res.StatusCode, bytes.TrimSpace(raw))
	}
	if !bytes.Contains(raw, []byte(`"order_ref":"BENCH-`)) {
		return fmt.Errorf("order %d: the answer is not an order: %s", n, raw)
	}
	return nil
}
