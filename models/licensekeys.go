package models

import "time"

// CodeSeatsExhausted is the 409 for a new machine on a license whose every seat has one.
const CodeSeatsExhausted = "seats_exhausted"

// LicenseKey is an issued license key: a seat's key for one major version. A seat is a machine
// (fingerprint): the distinct fingerprints of a license's unreleased keys.
type LicenseKey struct {
	ID            int64
	LicenseID     int64
	Fingerprint   string
	Hostname      string
	Version       string
	VerMajor      int
	Kids          string // the signing keys that signed it, comma-separated
	IssuedBy      *int64
	IssuedAt      time.Time
	ReissuedAt    *time.Time
	ExpiresAt     *time.Time
	SupportEndsOn Date
	ReleasedAt    *time.Time
	ReleasedBy    *int64
	ReleaseReason string
	// StatusListID and StatusIdx are the key's index in a token status list (statuslist.go).
	StatusListID *int64
	StatusIdx    *int64
	// Token is the key as last signed ('' for a key issued before tokens were kept).
	Token string
}

// LicenseKeyInput is a request for a key.
type LicenseKeyInput struct {
	Fingerprint string
	Hostname    string
	Version     string
}

// IssuedLicenseKey is a signed key with its row; Created says whether it took a new key (201)
// rather than answering the machine's existing one for that major version (200).
type IssuedLicenseKey struct {
	Key     LicenseKey
	Token   string
	Created bool
}

// LicenseKeyView is an issued key as lists show it.
type LicenseKeyView struct {
	LicenseKey
	IssuedTo string // the email of who asked for it
}
