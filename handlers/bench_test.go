package handlers

// Benchmarks of the API through the real router on each dialect, with latency percentiles
// reported beside ns/op where a tail matters: the registration race and the online entitlement
// check first, then orders, renewals, tokens, the second step of sign-in and the anonymous
// letters. Each says how to run it; for example
//
//	go test -run x -bench 'Register|EntitlementCheck' -benchtime 2s ./handlers/

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

// latencies collects request durations to report p50 and p99.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B, unit string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	at := func(q float64) float64 { return float64(l.d[int(q*float64(len(l.d)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, unit)
	}
}

func benchGet(c *http.Client, url, token string) (int, error) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// BenchmarkEntitlementCheck: GET /v1/entitlements/check by an introspection key for a member, 8
// clients at once.
func BenchmarkEntitlementCheck(b *testing.B) {
	for _, d := range storetest.Dialects(b) {
		b.Run(string(d), func(b *testing.B) {
			a := newTestApp(b, d)
			ops := a.newStaff(b, models.RoleOps).token
			sku := a.newProduct(b, ops, [3]string{"1.0", "2025-06-01", "full"}, [3]string{"2.0", "2026-01-01", "full"})
			body, _ := a.order(map[string]any{"sku": sku, "quantity": 3, "kind": "perpetual", "support": map[string]any{"program": "standard", "ends_on": "2027-06-30"}})
			r := a.do(b, "POST", "/v1/orders", ops, body)
			ln := licensesOf(r)[0]["license_number"].(string)
			u := a.newUser(b)
			want(b, a.register(b, u.token, map[string]any{"license_number": ln}), http.StatusCreated)
			key := a.newAPIKey(b, models.ScopeEntitlementsIntrospect)
			url := a.srv.URL + "/v1/entitlements/check?license_number=" + ln + "&entitlement=downloads.read&user=" + u.email
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var lat latencies
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					start := time.Now()
					status, err := benchGet(client, url, key)
					if err != nil || status != http.StatusOK {
						b.Errorf("check: %d %v", status, err)
						return
					}
					lat.add(time.Since(start))
				}
			})
			lat.report(b, "checks/s")
		})
	}
}

// BenchmarkRegister: verified users register fresh licenses (each becomes its first admin), 8
// clients at once; the licenses are ordered before the timer starts.
func BenchmarkRegister(b *testing.B) {
	for _, d := range storetest.Dialects(b) {
		b.Run(string(d), func(b *testing.B) {
			a := newTestApp(b, d)
			ops := a.newStaff(b, models.RoleOps).token
			sku := a.newProduct(b, ops, [3]string{"1.0", "2025-06-01", "full"})
			var lns []string
			for len(lns) < b.N {
				items := []map[string]any{}
				for i := 0; i < 100 && len(lns)+len(items) < b.N; i++ {
					items = append(items, map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual"})
				}
				body, _ := a.order(items...)
				r := a.do(b, "POST", "/v1/orders", ops, body)
				want(b, r, http.StatusCreated)
				for _, l := range licensesOf(r) {
					lns = append(lns, l["license_number"].(string))
				}
			}
			users := make([]*testUser, 8)
			for i := range users {
				users[i] = a.newUser(b)
			}
			var next atomic.Int64
			var lat latencies
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					u := users[int(i)%len(users)]
					start := time.Now()
					r := a.register(b, u.token, map[string]any{"license_number": lns[i]})
					if r.status != http.StatusCreated {
						b.Errorf("register: %s", r)
						return
					}
					lat.add(time.Since(start))
				}
			})
			lat.report(b, "registrations/s")
		})
	}
}

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

// BenchmarkRenewalsCSVExport measures GET /v1/renewals?format=csv over 100,000 contracts (and
// 10,000, to show that memory does not grow with the rows): the real router behind httptest, the
// contracts seeded in bulk with SQL. While the export runs, a sampler reads runtime.MemStats every
// millisecond; the benchmark reports the peak HeapInuse above what it was before the request
// (server and client together: they share the process), the rows per second and the file's size.
//
//	go test -run '^$' -bench RenewalsCSVExport -benchtime 1x ./handlers/
//	BENCH_CSV_ROWS=300000 go test -run '^$' -bench RenewalsCSVExport -benchtime 1x ./handlers/

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

// BenchmarkTokenIssue measures POST /v1/entitlements/token end to end: the real router on a fresh
// database of each dialect, behind httptest, as a member's client calls it: the session is
// checked, the license, membership, contract and versions are read, the entitlements computed
// and the token signed (Ed25519). Nothing is written.
//
//	go test -run x -bench TokenIssue -benchtime 3s ./handlers/

func BenchmarkTokenIssue(b *testing.B) {
	for _, d := range storetest.Dialects(b) {
		b.Run(string(d), func(b *testing.B) {
			a := newTestApp(b, d)
			ln, admin, _ := a.tokenLicense(b)
			tr := a.srv.Client().Transport.(*http.Transport).Clone()
			tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
			b.Cleanup(tr.CloseIdleConnections)
			a.srv.Client().Transport = tr
			body := `{"license_number":"` + ln + `","audience":"downloads"}`
			if _, err := issueRaw(a, admin.token, body); err != nil {
				b.Fatal(err)
			}
			benchSerialAndParallel(b, "tokens/s", func() error {
				_, err := issueRaw(a, admin.token, body)
				return err
			})
		})
	}
}

// The cost of the second step: a sign-in with the password only, against the password and then a
// TOTP code (two requests), through the real router, sequentially, with latency percentiles.
//
//	go test -run x -bench 'Login' -benchtime 100x ./handlers/

func BenchmarkLogin(b *testing.B) {
	for _, d := range storetest.Dialects(b) {
		a := newTestApp(b, d)
		plain := a.newUser(b)
		second := a.newUser(b)
		secret, _ := a.withTOTP(b, second)
		b.Run(string(d)+"/password only", func(b *testing.B) {
			var l latencies
			for b.Loop() {
				start := time.Now()
				r := a.do(b, "POST", "/v1/auth/login", "", map[string]string{"email": plain.email, "password": plain.password})
				l.add(time.Since(start))
				if r.status != http.StatusOK {
					b.Fatalf("login: %s", r)
				}
			}
			l.report(b, "logins/s")
		})
		b.Run(string(d)+"/password then TOTP code", func(b *testing.B) {
			var l, step latencies
			for b.Loop() {
				a.clock.Advance(30 * time.Second) // a fresh code each time: a code counts once
				start := time.Now()
				r := a.do(b, "POST", "/v1/auth/login", "", map[string]string{"email": second.email, "password": second.password})
				mid := time.Now()
				ok := a.loginMFA(b, r.str("mfa_token"), totpCode(b, secret, a.clock.Now()))
				step.add(time.Since(mid))
				l.add(time.Since(start))
				if ok.status != http.StatusOK {
					b.Fatalf("second step: %s", ok)
				}
			}
			l.report(b, "logins/s")
			step.mu.Lock()
			defer step.mu.Unlock()
			if n := len(step.d); n > 0 {
				var sum time.Duration
				for _, d := range step.d {
					sum += d
				}
				b.ReportMetric(float64(sum.Microseconds())/float64(n)/1000, "step2-mean-ms")
			}
		})
	}
}

// BenchmarkAnonymousLetters times the answers of the anonymous letter-sending endpoints (forgot,
// recover, signup) for an address that has an account (or is an account's contact) and for one
// that has none, on each dialect, through the whole router. Each iteration sends one request of
// each, in alternating order, so that both meet the same load on the machine; the letter jobs run
// before each request (not timed), so that it meets an idle database, as a lone prober's would.
// What is timed is the answer, which must not tell the two apart: it reports the median of each
// (known-median-ns, unknown-median-ns) and their mean (known-ns, unknown-ns). Run it with
//
//	go test -run '^$' -bench AnonymousLetters -benchtime 100x ./handlers/
func BenchmarkAnonymousLetters(b *testing.B) {
	for _, d := range storetest.Dialects(b) {
		a := newTestApp(b, d)
		known := a.newUser(b)
		ops := a.newStaff(b, models.RoleOps).token
		_, _, contact := a.freshLicense(b, ops, nil)
		const password = "some passphrase or other"
		type request struct {
			path   string
			status int
			body   func(i int) map[string]string
		}
		email := func(addr string) func(int) map[string]string {
			return func(int) map[string]string { return map[string]string{"email": addr} }
		}
		signup := func(addr func(i int) string) func(int) map[string]string {
			return func(i int) map[string]string {
				return map[string]string{"email": addr(i), "password": password, "name": "Somebody"}
			}
		}
		const forgot, recoverPath, signUp = "/v1/auth/password/forgot", "/v1/accounts/recover", "/v1/auth/signup"
		cases := []struct {
			name           string
			known, unknown request
		}{
			{"forgot", request{forgot, http.StatusAccepted, email(known.email)}, request{forgot, http.StatusAccepted, email("nobody@example.test")}},
			{"recover", request{recoverPath, http.StatusAccepted, email(contact)}, request{recoverPath, http.StatusAccepted, email("nobody@example.test")}},
			{"signup", request{signUp, http.StatusCreated, signup(func(int) string { return known.email })},
				request{signUp, http.StatusCreated, signup(func(i int) string { return fmt.Sprintf("bench-%s-%d@example.test", d, i) })}},
		}
		for _, c := range cases {
			b.Run(string(d)+"/"+c.name, func(b *testing.B) {
				var tookKnown, tookUnknown []time.Duration
				send := func(r request, i int) time.Duration {
					b.StopTimer()
					a.drainMail(b)
					body := r.body(i)
					b.StartTimer()
					start := time.Now()
					res := a.do(b, "POST", r.path, "", body)
					took := time.Since(start)
					if res.status != r.status {
						b.Fatalf("%s answered %s, want %d", r.path, res, r.status)
					}
					return took
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if i%2 == 0 {
						tookKnown = append(tookKnown, send(c.known, i))
						tookUnknown = append(tookUnknown, send(c.unknown, i))
					} else {
						tookUnknown = append(tookUnknown, send(c.unknown, i))
						tookKnown = append(tookKnown, send(c.known, i))
					}
				}
				b.StopTimer()
				for _, m := range []struct {
					name string
					took []time.Duration
				}{{"known", tookKnown}, {"unknown", tookUnknown}} {
					var sum time.Duration
					for _, t := range m.took {
						sum += t
					}
					slices.Sort(m.took)
					b.ReportMetric(float64(m.took[len(m.took)/2].Nanoseconds()), m.name+"-median-ns")
					b.ReportMetric(float64(sum.Nanoseconds())/float64(len(m.took)), m.name+"-ns")
				}
			})
		}
	}
}
