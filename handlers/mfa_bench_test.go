package handlers

// The cost of the second step: a sign-in with the password only, against the password and then a
// TOTP code (two requests), through the real router, sequentially, with latency percentiles.
//
//	go test -run x -bench 'Login' -benchtime 100x ./handlers/

import (
	"net/http"
	"testing"
	"time"

	"entitled/models/storetest"
)

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
