package models_test

// Benchmarks of what every hot request runs besides the database: the pure rules (contract
// status, the entitlement list, one check), License Number parsing and token signing. CI runs
// each once (-benchtime 1x) so that they keep compiling and working; compare runs with
//
//	go test -run '^$' -bench 'Rules|LicenseNumber|Sign' -count 10 ./models/ > new.txt; benchstat old.txt new.txt

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"entitled/models"
	"entitled/models/storetest"
	"entitled/verify"
)

func mustDate(b *testing.B, s string) models.Date {
	b.Helper()
	d, err := models.ParseDate(s)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// benchInput is a support member of a subscription in its renewal window asking about a
// current version: the commonest case of a check.
func benchInput(b *testing.B) models.EntitlementInput {
	return models.EntitlementInput{
		Member:  true,
		Roles:   []string{models.MemberSupport},
		License: models.LicenseFacts{Kind: "subscription", OrderedOn: mustDate(b, "2025-06-01"), RegisteredOn: mustDate(b, "2025-06-02")},
		Contract: &models.SupportFacts{Program: models.ProgramStandard, StartsOn: mustDate(b, "2025-06-01"),
			EndsOn: mustDate(b, "2026-12-31"), GraceUntil: mustDate(b, "2027-01-30")},
		Version:           &models.ProductVersion{Version: "2.0", SortKey: "00002.00000.00000", Major: 2, ReleasedOn: mustDate(b, "2026-01-01"), Phase: "full"},
		Today:             mustDate(b, "2026-11-28"),
		RenewalWindowDays: 90,
	}
}

func BenchmarkRulesContractStatus(b *testing.B) {
	in := benchInput(b)
	for b.Loop() {
		if s, _ := models.ContractStatus(in.Contract, in.Today, in.RenewalWindowDays); s == "" {
			b.Fatal("no status")
		}
	}
}

func BenchmarkRulesEntitlements(b *testing.B) {
	in := benchInput(b)
	for b.Loop() {
		if len(models.Entitlements(in)) == 0 {
			b.Fatal("no entitlements")
		}
	}
}

func BenchmarkRulesCheck(b *testing.B) {
	in := benchInput(b)
	for b.Loop() {
		if ok, _, _ := models.Check(in, "downloads.read"); !ok {
			b.Fatal("downloads.read refused to a support member of a current contract")
		}
	}
}

func BenchmarkLicenseNumberParse(b *testing.B) {
	ln := models.NewLicenseNumber()
	lower := []byte(ln)
	for i, c := range lower { // what a person types: lower case, the same number
		if c >= 'A' && c <= 'Z' {
			lower[i] = c + 'a' - 'A'
		}
	}
	for b.Loop() {
		if _, err := models.ParseLicenseNumber(string(lower)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLicenseNumberNew(b *testing.B) {
	for b.Loop() {
		if models.NewLicenseNumber() == "" {
			b.Fatal("empty license number")
		}
	}
}

// BenchmarkSignEntitlementToken: one Ed25519 entitlement token, as /v1/entitlements/token signs
// it (the key is in memory; no database round trip).
func BenchmarkSignEntitlementToken(b *testing.B) {
	store := storetest.Open(b, models.SQLite, nil)
	k := keyring(b, store, secretA)
	ctx := context.Background()
	if err := k.Ensure(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	claims := &verify.Claims{
		Issuer: "http://127.0.0.1", Subject: "42", Audience: "cases", ID: "jti", Account: "1234567", License: models.NewLicenseNumber(),
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
		Roles: []string{"support"}, Entitlements: []string{"support.cases", "support.kb", "downloads.read"},
	}
	for b.Loop() {
		if _, _, err := k.Sign(ctx, models.PurposeEntitlement, verify.TypEntitlement, claims); err != nil {
			b.Fatal(err)
		}
	}
}
