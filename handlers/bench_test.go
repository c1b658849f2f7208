package handlers

// Benchmarks of the registration race and of the online entitlement check, through the real
// router on each dialect, with latency percentiles reported beside ns/op.
//
//	go test -run x -bench 'Register|EntitlementCheck' -benchtime 2s ./handlers/

import (
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entitled/models"
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
