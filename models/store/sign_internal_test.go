package store

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entitled-dev/entitled/verify"
)

// The token written out by hand is golang-jwt's, byte for byte: Ed25519 signatures are
// deterministic, so the same key, header and claims give the same string.
func TestSign_SameBytesAsGolangJWT(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sg := signer{kid: "kid-1_x", key: key}
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	claims := &verify.Claims{Issuer: "https://entitled.example", Subject: "42", Audience: "downloads",
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)), ID: "jti-1",
		License: "LN-0000-0000-0000-0000", Roles: []string{"admin"}, Entitlements: []string{"downloads.read"}}
	for _, typ := range []string{verify.TypEntitlement, verify.TypLicense} {
		got, kid, err := sg.sign(typ, claims)
		if err != nil || kid != sg.kid {
			t.Fatalf("%s: %v, kid %q", typ, err, kid)
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		tok.Header["typ"], tok.Header["kid"] = typ, sg.kid
		want, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", typ, got, want)
		}
	}
}
