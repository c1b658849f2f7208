package models

import (
	"strings"
	"time"
)

// A second factor: TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps) with one-time recovery
// codes. The rules here are plain; models/store does the cryptography.
const (
	TOTPPeriod = 30 * time.Second
	TOTPDigits = 6
	// TOTPSkew is how many steps either side of the current one a code may be for (clock drift).
	TOTPSkew = 1
	// RecoveryCodeCount is how many recovery codes a confirmation hands out, shown once.
	RecoveryCodeCount = 10
	// MFATokenTTL and MFATokenTries bound the second step of a sign-in: the mfa_token a right
	// password earns is good for this long and this many codes.
	MFATokenTTL   = 5 * time.Minute
	MFATokenTries = 5
	// SessionTouchStep is how often, at most, a session's last_seen_at is written: often enough
	// to tell which sessions are in use, rarely enough that authenticating stays a cache hit.
	SessionTouchStep = time.Minute
)

// Methods of a second factor, as mfa_required lists them.
const (
	MFAMethodTOTP     = "totp"
	MFAMethodRecovery = "recovery_code"
	MFAMethodPasskey  = "passkey" // WebAuthn, in the portal
)

// StaffMFAPolicy is ENTITLED_STAFF_MFA.
type StaffMFAPolicy string

const (
	StaffMFAOptional StaffMFAPolicy = "optional"
	StaffMFARequired StaffMFAPolicy = "required"
)

// ParseStaffMFAPolicy reads ENTITLED_STAFF_MFA ("" is optional).
func ParseStaffMFAPolicy(s string) (StaffMFAPolicy, bool) {
	switch StaffMFAPolicy(strings.ToLower(strings.TrimSpace(s))) {
	case "", StaffMFAOptional:
		return StaffMFAOptional, true
	case StaffMFARequired:
		return StaffMFARequired, true
	}
	return "", false
}

// MFAEnrolmentRequired says whether a user must add a second factor before anything else: staff
// who sign in with a password, under ENTITLED_STAFF_MFA=required, without a confirmed factor.
// Staff of single sign-on have no password; their identity provider owns their second factor.
func MFAEnrolmentRequired(policy StaffMFAPolicy, u *User, hasFactor bool) bool {
	return policy == StaffMFARequired && u.StaffRoles != "" && u.HasPassword() && !hasFactor
}

// TOTPStep is the RFC 6238 time step of t.
func TOTPStep(t time.Time) int64 { return t.Unix() / int64(TOTPPeriod/time.Second) }

// TOTPCandidateSteps are the steps a code given at now may be for, oldest first, that are later
// than last (the last step accepted: a step is accepted once, which refuses a replay).
func TOTPCandidateSteps(now time.Time, last int64) []int64 {
	cur := TOTPStep(now)
	var out []int64
	for s := cur - TOTPSkew; s <= cur+TOTPSkew; s++ {
		if s > last {
			out = append(out, s)
		}
	}
	return out
}

// MFACodeKind tells what a second-factor code typed by a person is, after NormaliseMFACode: six
// digits are a TOTP code, sixteen letters and digits a recovery code, anything else neither ("").
func MFACodeKind(code string) string {
	switch {
	case len(code) == TOTPDigits && allIn(code, "0123456789"):
		return MFAMethodTOTP
	case len(code) == recoveryCodeLen && allIn(code, recoveryAlphabet):
		return MFAMethodRecovery
	}
	return ""
}

// recoveryAlphabet is RFC 4648 base32 in lower case: 16 of them carry 80 bits.
const (
	recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"
	recoveryCodeLen  = 16
)

// NormaliseMFACode takes what a person typed (spaces, dashes, either case) to the canonical form
// MFACodeKind and the stored hashes expect. No code has anything but ASCII letters and digits, so
// input with anything else, or overlong, becomes "", which matches nothing.
func NormaliseMFACode(s string) string {
	if len(s) > 64 {
		return ""
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '-' || c == '\t':
		case c >= 'A' && c <= 'Z':
			b = append(b, c+('a'-'A'))
		case c >= 0x80:
			return ""
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// FormatRecoveryCode groups a canonical recovery code in fours for reading: abcd-efgh-ijkl-mnop.
func FormatRecoveryCode(code string) string {
	var parts []string
	for len(code) > 4 {
		parts = append(parts, code[:4])
		code = code[4:]
	}
	return strings.Join(append(parts, code), "-")
}

func allIn(s, set string) bool {
	for _, r := range s {
		if !strings.ContainsRune(set, r) {
			return false
		}
	}
	return true
}

// RecoveryCodeFromBytes spells 10 random bytes as a canonical recovery code (base32, 16 letters).
func RecoveryCodeFromBytes(b [10]byte) string {
	var out [recoveryCodeLen]byte
	// 80 bits, five at a time.
	var acc uint64
	bits, j := 0, 0
	for _, x := range b {
		acc = acc<<8 | uint64(x)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out[j] = recoveryAlphabet[(acc>>uint(bits))&31]
			j++
		}
	}
	return string(out[:])
}

// TOTPEnrolment is a pending TOTP factor: the secret (base32) and the otpauth:// URI an
// authenticator app reads from a QR code.
type TOTPEnrolment struct {
	Secret string
	URI    string
}

// MFAChallenge is the answer to a right password of an account with a second factor: the token
// that finishes the sign-in with a code, and the methods it accepts.
type MFAChallenge struct {
	Token     string
	Methods   []string
	ExpiresIn time.Duration
}

// MFAStatus is what a user has of a second factor.
type MFAStatus struct {
	TOTP          bool // a confirmed TOTP factor
	TOTPPending   bool // enrolment started, not confirmed
	RecoveryLeft  int  // unused recovery codes
	Passkeys      int  // passkeys registered
	ConfirmedAt   *time.Time
	EnrolRequired bool // ENTITLED_STAFF_MFA=required applies and no factor yet
}

// Session is one sign-in of a user, as the user sees it.
type Session struct {
	ID         int64
	UserAgent  string
	IP         string
	CreatedAt  time.Time
	LastSeenAt *time.Time
	Current    bool
}

// Passkey is a registered WebAuthn credential, as its owner sees it.
type Passkey struct {
	ID         int64
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// MaxPasskeyName is the longest name a passkey may be given, in characters.
const MaxPasskeyName = 100

// CheckPasskeyName adds to v what is wrong with the name a user gives a passkey ("name": required,
// at most MaxPasskeyName characters, no control characters), and returns it trimmed.
func CheckPasskeyName(v *Validation, raw string) string {
	return checkText(v, "name", raw, true, MaxPasskeyName)
}
