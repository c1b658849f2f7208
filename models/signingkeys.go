package models

import (
	"log/slog"
	"slices"
	"time"
)

// Signing key purposes: entitlement tokens and license keys never share a key.
const (
	PurposeEntitlement = "entitlement"
	PurposeLicense     = "license"
)

// keyPurposes lists the purposes, each of which always has one active key.
var keyPurposes = []string{PurposeEntitlement, PurposeLicense}

// KeyPurposes lists the purposes, each of which always has one active key, in a fresh slice the
// caller may change.
func KeyPurposes() []string { return slices.Clone(keyPurposes) }

// Signing key states. A key is published in the JWKS while it is next, active or retiring, and
// signs only while it is active.
const (
	KeyNext     = "next"     // published, not signing yet: verifiers learn it before it signs
	KeyActive   = "active"   // signs; one per purpose
	KeyRetiring = "retiring" // no longer signs; published while what it signed may still be shown
	KeyRetired  = "retired"  // unpublished
)

// KeySkew is the clock difference between entitled and verifiers that a retiring entitlement key
// allows for beyond the token lifetime (verify's default leeway is the same).
const KeySkew = time.Minute

// SigningKey is an Ed25519 key pair. The private half is kept sealed with AES-256-GCM under a key
// derived from ENTITLED_SECRET; the secret itself is never stored.
type SigningKey struct {
	ID          int64
	Kid         string // RFC 7638 thumbprint of the public key
	Purpose     string
	State       string
	PublicKey   []byte
	PrivateKey  []byte    // sealed: nonce || AES-256-GCM(seed), the kid as additional data
	CreatedAt   time.Time // published from then on
	ActivatesAt time.Time // signs from then on (a next key is promoted then)
	ActivatedAt *time.Time
	RetiringAt  *time.Time // stopped signing
	RetireAfter *time.Time // an entitlement key is unpublished then: the last token it signed has expired
	RetiredAt   *time.Time
}

// Published reports whether the key is in the JWKS.
func (k *SigningKey) Published() bool { return k.State != KeyRetired }

// KeyringOptions configure a Keyring.
type KeyringOptions struct {
	Secret   string        // ENTITLED_SECRET
	MaxAge   time.Duration // ENTITLED_JWKS_MAX_AGE: how long verifiers may cache the JWKS
	TokenTTL time.Duration // ENTITLED_TOKEN_TTL: how long an entitlement token lives
	// Refresh is how often the keys are re-read from the database, so that every replica sees a
	// rotation within that time. 0: 5 s.
	Refresh time.Duration
	Log     *slog.Logger
}
