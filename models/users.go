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
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Roles is the user's staff roles as a list (empty for customers).
func (u *User) Roles() []string { return ParseRoleList(u.StaffRoles) }

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
}
