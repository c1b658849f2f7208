package store_test

// Benchmarks of the store: the renewal desk on 100,000 contracts seeded in bulk with SQL, then the
// pure-code ones (token signing, License Numbers) that CI runs once.
//
// BenchmarkNoticePass times one pass of the notice sweep (insert-only River client, so the
// letters stay queued): "typical" has ends_on spread over [today-120, today+365), so about a
// quarter of the contracts are owed a notice on the first pass; "all-due" has every contract
// in its last 90 days (100,000 letters in one pass, the worst case); "steady" is the next pass
// of the same day, which finds nothing to send.
//
// BenchmarkContractList times the list queries and logs their plans (EXPLAIN ANALYZE on
// PostgreSQL, EXPLAIN QUERY PLAN on SQLite; -v shows them whole), to show that the status
// filters use the indexes.
//
//	go test -run '^$' -bench NoticePass -benchtime 1x ./models/store/
//	go test -run '^$' -bench ContractList -v ./models/store/

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
	"github.com/entitled-dev/entitled/verify"
)

var benchContracts = 100_000

func init() {
	if n := os.Getenv("BENCH_CONTRACTS"); n != "" {
		benchContracts, _ = strconv.Atoi(n)
	}
}

func BenchmarkNoticePass(b *testing.B) {
	for _, d := range storetest.Dialects(b) {
		for _, tc := range []struct {
			name   string
			ends   func(i int) int // ends_on in days from today
			warmup bool            // run one pass before timing
		}{
			{"typical", func(i int) int { return i%485 - 120 }, false},
			{"all-due", func(i int) int { return i % 91 }, false},
			{"steady", func(i int) int { return i%485 - 120 }, true},
		} {
			b.Run(fmt.Sprintf("%s/%s", d, tc.name), func(b *testing.B) {
				var letters int
				var cpu time.Duration
				for range b.N {
					b.StopTimer()
					k := newDesk(b, d)
					storetest.SeedContracts(b, k.store, benchContracts, func(i int) storetest.Contract {
						return storetest.Contract{StartsOn: day(-400), EndsOn: day(tc.ends(i)), Program: models.ProgramStandard}
					})
					if tc.warmup {
						k.pass(b)
					}
					before := cpuTime()
					b.StartTimer()
					rep := k.pass(b)
					b.StopTimer()
					cpu += cpuTime() - before
					letters = rep.Letters()
				}
				b.ReportMetric(float64(letters), "letters")
				b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
				b.ReportMetric(float64(benchContracts*b.N)/b.Elapsed().Seconds(), "contracts/s")
			})
		}
	}
}

// cpuTime is the CPU time (user and system) the process has used: on a shared machine, a
// measure of the pass's work that other processes do not inflate.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkContractList(b *testing.B) {
	ctx := context.Background()
	for _, d := range storetest.Dialects(b) {
		b.Run(string(d), func(b *testing.B) {
			k := newDesk(b, d)
			storetest.SeedContracts(b, k.store, benchContracts, func(i int) storetest.Contract {
				c := storetest.Contract{StartsOn: day(-400 + i%200), EndsOn: day(i%1500 - 700), Program: models.ProgramStandard}
				switch {
				case i%50 == 0:
					c.TerminatedOn = day(-(i % 300))
				case i%20 == 0 && i%1500 < 700 && i%1500 > 640:
					c.GraceUntil = c.EndsOn.AddDays(60)
				}
				return c
			})
			if err := k.store.GormDB().Exec("ANALYZE").Error; err != nil { // planner statistics, as autovacuum would gather
				b.Fatal(err)
			}
			page, _ := dbstore.ParseContractPage("50", "")
			for _, q := range []struct {
				name string
				f    models.ContractFilter
			}{
				{"status=expiring", models.ContractFilter{Status: models.StatusExpiring}},
				{"status=grace", models.ContractFilter{Status: models.StatusGrace}},
				{"status=terminated", models.ContractFilter{Status: models.StatusTerminated}},
				{"status=future", models.ContractFilter{Status: models.StatusFuture}},
				{"expiring_within_days=90", models.ContractFilter{Within: 90, HasWithin: true}},
			} {
				plan, err := k.contracts.Explain(ctx, q.f, page, d == dbstore.Postgres)
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("%s %s:\n%s", d, q.name, plan)
				b.Run(q.name, func(b *testing.B) {
					for range b.N {
						if _, err := k.contracts.List(ctx, q.f, page); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkSignEntitlementToken: one Ed25519 entitlement token, as /v1/entitlements/token signs
// it (the key is in memory; no database round trip).
func BenchmarkSignEntitlementToken(b *testing.B) {
	store := storetest.Open(b, dbstore.SQLite, nil)
	k := keyring(b, store, secretA)
	ctx := context.Background()
	if err := k.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	claims := &verify.Claims{
		Issuer: "http://127.0.0.1", Subject: "42", Audience: "cases", ID: "jti", Account: "1234567", License: dbstore.NewLicenseNumber(),
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
		Roles: []string{"support"}, Entitlements: []string{"support.cases", "support.kb", "downloads.read"},
	}
	for b.Loop() {
		if _, _, err := k.Sign(ctx, models.PurposeEntitlement, verify.TypEntitlement, claims); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLicenseNumberNew(b *testing.B) {
	for b.Loop() {
		if dbstore.NewLicenseNumber() == "" {
			b.Fatal("empty license number")
		}
	}
}
