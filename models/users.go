package models

import (
	"strings"
	"time"
)

// Lifetimes of the things identity hands out.
const (
	SessionTTL     = 12 * time.Hour // a session ends 12 hours after login, or at logout or reset
	VerifyTokenTTL = 24 * time.Hour
	ResetTokenTTL  = time.Hour
)

// Codes of identity errors.
const (
	CodeInvalidCredentials = "invalid_credentials"
	CodeInvalidToken       = "invalid_token"
	CodeEmailUnverified    = "email_unverified"
)

// User is a person: a customer, or staff when StaffRoles is not empty.
type User struct {
	ID              int64
	Email           string
	Name            string
	PasswordHash    string
	EmailVerifiedAt *time.Time
	StaffRoles      string // comma-separated, canonical order
	// OIDCSubject is the `sub` of the identity provider a staff user signs in with (single
	// sign-on); "" for a user who signs in with a password.
	OIDCSubject string `gorm:"column:oidc_subject"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Roles is the user's staff roles as a list (empty for customers).
func (u *User) Roles() []string { return ParseRoleList(u.StaffRoles) }

// HasPassword reports whether the user can sign in with a password. A user created by single
// sign-on has none (PasswordHash "", which no password matches): their identity provider owns
// their credentials and their second factor, so ENTITLED_STAFF_MFA does not apply to them.
func (u *User) HasPassword() bool { return u.PasswordHash != "" }

// SignsInWithSSO reports whether the user was created by, and is matched at, single sign-on.
func (u *User) SignsInWithSSO() bool { return u.OIDCSubject != "" }

// Verified reports whether the user confirmed the email address.
func (u *User) Verified() bool { return u.EmailVerifiedAt != nil }

// NormaliseEmail trims and lower-cases an address: emails compare case-insensitively.
func NormaliseEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// SignupInput is a new account's details.
type SignupInput struct {
	Email    string
	Password string
	Name     string
}

// LoginResult is a new session.
type LoginResult struct {
	Token     string
	ExpiresIn time.Duration
	User      *User
	// MFA, when set, is the second step the sign-in still needs (mfa_required): Token is empty.
	MFA *MFAChallenge
}
