package models_test

// Benchmarks of what every hot request runs besides the database: the pure rules (contract
// status, the entitlement list, one check), License Number parsing and token signing. CI runs
// each once (-benchtime 1x) so that they keep compiling and working; compare runs with
//
//	go test -run '^$' -bench 'Rules|LicenseNumber|Sign' -count 10 ./models/ ./models/store/ > new.txt; benchstat old.txt new.txt

import (
	"testing"

	"entitled/models"
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
	ln := models.LicenseNumberFrom([]byte("fifteen bytes!!"))
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
