package models

import "time"

// Limits on guessing License Numbers, service tags and Account IDs: failed lookups per user and
// per client address. A wrong check character is refused before any lookup and never counts.
var (
	LookupPerUser    = Limit{Scope: "lookup_user", Max: 20, Window: time.Hour}
	LookupPerAddress = Limit{Scope: "lookup_address", Max: 20, Window: time.Hour}
)

// Join request states.
const (
	RequestPending   = "pending"
	RequestApproved  = "approved"
	RequestRejected  = "rejected"
	RequestWithdrawn = "withdrawn"
)

// JoinRequest is a registration that waits for an admin.
type JoinRequest struct {
	ID               int64
	UserID           int64
	LicenseID        *int64
	AccountID        *int64
	Status           string
	CreatedAt        time.Time
	DecidedAt        *time.Time
	DecidedBy        *int64
	DecidedLicenseID *int64
	Roles            string
}

// RegistrationInput names what to register: one of a License Number, a service tag or an
// Account ID.
type RegistrationInput struct {
	LicenseNumber string
	ServiceTag    string
	AccountID     string
}

// Registration outcomes.
const (
	Registered        = "registered"       // the caller became the license's first admin (201)
	RegistrationWaits = "pending"          // a join request waits for an admin (202)
	AlreadyMember     = "already_a_member" // nothing to do (200)
)

// RegistrationResult is what a registration did.
type RegistrationResult struct {
	Outcome       string // Registered, RegistrationWaits or AlreadyMember
	LicenseNumber string
	Roles         []string
	RequestID     int64
}
