package handlers

// BenchmarkTokenIssue measures POST /v1/entitlements/token end to end: the real router on a fresh
// database of each dialect, behind httptest, as a member's client calls it: the session is
// checked, the license, membership, contract and versions are read, the entitlements computed
// and the token signed (Ed25519). Nothing is written.
//
//	go test -run x -bench TokenIssue -benchtime 3s ./handlers/

import (
	"fmt"
	"net/http"
	"runtime"
	"testing"

	"entitled/models/storetest"
)

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
			rate := func(b *testing.B) {
				if s := b.Elapsed().Seconds(); s > 0 {
					b.ReportMetric(float64(b.N)/s, "tokens/s")
				}
			}
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if _, err := issueRaw(a, admin.token, body); err != nil {
						b.Fatal(err)
					}
				}
				rate(b)
			})
			p := (benchParallelGoroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
			b.Run(fmt.Sprintf("parallel%d", p*runtime.GOMAXPROCS(0)), func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(p)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := issueRaw(a, admin.token, body); err != nil {
							b.Error(err)
							return
						}
					}
				})
				rate(b)
			})
		})
	}
}
