package verify

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// LicenseClaims are the claims of a license key: a compact JWS (typ lic+jwt) that a product
// verifies offline on the machine it is bound to.
type LicenseClaims struct {
	Issuer      string           `json:"iss"`
	ID          string           `json:"jti"` // the key's id: a re-issue keeps it
	IssuedAt    *jwt.NumericDate `json:"iat"`
	ExpiresAt   *jwt.NumericDate `json:"exp,omitempty"` // trial and subscription licenses only
	License     string           `json:"lic"`
	SKU         string           `json:"sku"`
	VerMajor    int              `json:"ver_major"`
	Fingerprint string           `json:"fp"`
	Host        string           `json:"host"`
	// SupportEndsOn is the license's support end (YYYY-MM-DD) when the key was issued; absent for
	// a license without support.
	SupportEndsOn string `json:"support_ends_on,omitempty"`
	// Status points at this key's bit in a token status list; nil on keys issued before status
	// lists existed.
	Status *StatusClaim `json:"status,omitempty"`
}

func (c *LicenseClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *LicenseClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *LicenseClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *LicenseClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *LicenseClaims) GetSubject() (string, error)                  { return "", nil }
func (c *LicenseClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// StaticKeys is a fixed set of Ed25519 public keys by kid, such as a JWKS file shipped with a
// product.
type StaticKeys map[string]ed25519.PublicKey

// PublicKey returns the key with the kid, or ErrUnknownKey.
func (s StaticKeys) PublicKey(_ context.Context, kid string) (ed25519.PublicKey, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// ParseJWKS reads a JWK Set (entitled's /.well-known/jwks.json, saved to a file) and keeps its
// Ed25519 signing keys.
func ParseJWKS(data []byte) (StaticKeys, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("verify: not a JWK Set: %w", err)
	}
	keys := StaticKeys(signingKeys(doc.Keys))
	if len(keys) == 0 {
		return nil, errors.New("verify: the JWK Set has no Ed25519 signing key")
	}
	return keys, nil
}

// LicenseKeyOptions say what a license key must be for.
type LicenseKeyOptions struct {
	Issuer      string // entitled's ENTITLED_BASE_URL; required
	Fingerprint string // this machine's fingerprint; "" skips the check (not advised)
	SKU         string // this product's SKU; "" skips the check
	VerMajor    int    // this product's major version; 0 skips the check
	Leeway      time.Duration
	Now         func() time.Time
	// StatusList is a status list the caller downloaded and checked (ParseStatusList): a key that
	// carries a status is checked against it, fully offline. The key's list must be this one
	// and the list must not be past its exp.
	StatusList *StatusList
	// StatusLists checks a key's status online instead, fetching its list as Verify does (a
	// Verifier's StatusLists, or NewStatusLists), under StatusListFailure.
	StatusLists       *StatusLists
	StatusListFailure StatusListFailure
	// A key that carries a status is not checked when neither is given: a product that never
	// downloads a list does not learn that its key was released.
}

// Errors of VerifyLicenseKey beyond the token's own, for errors.Is.
var (
	ErrOtherMachine = errors.New("verify: the license key is for another machine")
	ErrOtherProduct = errors.New("verify: the license key is for another product or major version")
)

// VerifyLicenseKey checks a license key offline against keys (ParseJWKS of a saved JWKS): the
// EdDSA signature by a key of the set, typ lic+jwt, iss, exp when the key has one (trial and
// subscription licenses), iat, and that it is for this machine, product and major version; then
// its status-list bit, when it carries one and opts give a list (ErrRevoked once the key was
// released or its contract terminated).
func VerifyLicenseKey(keys KeySource, key string, opts LicenseKeyOptions) (*LicenseClaims, error) {
	if opts.Issuer == "" {
		return nil, errors.New("verify: LicenseKeyOptions.Issuer is required")
	}
	popts := []jwt.ParserOption{jwt.WithValidMethods([]string{Algorithm}), jwt.WithIssuer(opts.Issuer), jwt.WithIssuedAt(), jwt.WithLeeway(opts.Leeway),
		jwt.WithStrictDecoding()}
	if opts.Now != nil {
		popts = append(popts, jwt.WithTimeFunc(opts.Now))
	}
	if err := wellFormed(key); err != nil {
		return nil, fmt.Errorf("verify: %s: %w", describe(err), err)
	}
	claims := new(LicenseClaims)
	_, err := jwt.NewParser(popts...).ParseWithClaims(key, claims, keyFunc(context.Background(), keys, TypLicense))
	switch {
	case err != nil:
		return nil, fmt.Errorf("verify: %s: %w", describe(err), err)
	case opts.Fingerprint != "" && claims.Fingerprint != opts.Fingerprint:
		return nil, ErrOtherMachine
	case opts.SKU != "" && claims.SKU != opts.SKU, opts.VerMajor != 0 && claims.VerMajor != opts.VerMajor:
		return nil, ErrOtherProduct
	}
	if err := licenseKeyStatus(claims, opts); err != nil {
		return nil, err
	}
	return claims, nil
}

// licenseKeyStatus checks the key's status against the list the options give, if any.
func licenseKeyStatus(claims *LicenseClaims, opts LicenseKeyOptions) error {
	if claims.Status == nil {
		return nil
	}
	ref := claims.Status.StatusList
	switch {
	case opts.StatusList != nil:
		now := time.Now()
		if opts.Now != nil {
			now = opts.Now()
		}
		switch {
		case ref.URI != opts.StatusList.URI:
			return fmt.Errorf("%w: the key's status is in another list", ErrNoStatusList)
		case !now.Before(opts.StatusList.Expires):
			return fmt.Errorf("%w: the list given is past its exp", ErrNoStatusList)
		}
		return opts.StatusList.check(ref.Index)
	case opts.StatusLists != nil:
		return opts.StatusLists.Check(context.Background(), ref, opts.StatusListFailure)
	}
	return nil
}
