package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
	"github.com/entitled-dev/entitled/verify"
)

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
