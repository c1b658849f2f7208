package handlers

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"entitled/models"
	"entitled/models/storetest"
)

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
