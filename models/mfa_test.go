package models

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTOTPCandidateSteps_OneStepEitherSide_LaterThanTheLastUsed(t *testing.T) {
	now := time.Unix(30*1000+12, 0) // step 1000
	tests := []struct {
		name string
		last int64
		want []int64
	}{
		{"nothing used yet", 0, []int64{999, 1000, 1001}},
		{"the previous step used", 999, []int64{1000, 1001}},
		{"the current step used: only the next", 1000, []int64{1001}},
		{"the next step used: none", 1001, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TOTPCandidateSteps(now, tt.last); !slices.Equal(got, tt.want) {
				t.Errorf("TOTPCandidateSteps(step 1000, last %d) = %v, want %v", tt.last, got, tt.want)
			}
		})
	}
}

func TestMFACodeKind_SixDigitsOrARecoveryCode(t *testing.T) {
	tests := map[string]string{
		"123456":              MFAMethodTOTP,
		" 123 456 ":           MFAMethodTOTP,
		"ABCD-EFGH-2345-67AB": MFAMethodRecovery,
		"abcd efgh 2345 67ab": MFAMethodRecovery,
		"12345":               "",
		"1234567":             "",
		"abcd-efgh-2345-67a1": "", // 1 is not base32
		"":                    "",
		"１２３４５６":              "", // full-width digits are not digits here
	}
	for in, want := range tests {
		if got := MFACodeKind(NormaliseMFACode(in)); got != want {
			t.Errorf("MFACodeKind(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRecoveryCode_SpelledAndGroupedInFours(t *testing.T) {
	c := RecoveryCodeFromBytes([10]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	if c != "aaaaaaaaaaaaaaab" {
		t.Errorf("RecoveryCodeFromBytes(…1) = %q", c)
	}
	if MFACodeKind(c) != MFAMethodRecovery {
		t.Errorf("a spelled recovery code %q is not recognised", c)
	}
	if got := FormatRecoveryCode(c); got != "aaaa-aaaa-aaaa-aaab" || NormaliseMFACode(got) != c {
		t.Errorf("FormatRecoveryCode = %q; normalised back %q", got, NormaliseMFACode(got))
	}
}

func TestMFAEnrolmentRequired_OnlyStaffWithAPasswordUnderRequired(t *testing.T) {
	staff := &User{StaffRoles: RoleSupport, PasswordHash: "x"}
	sso := &User{StaffRoles: RoleSupport, OIDCSubject: "sub-1"}
	customer := &User{PasswordHash: "x"}
	tests := []struct {
		name   string
		policy StaffMFAPolicy
		u      *User
		factor bool
		want   bool
	}{
		{"staff, required, no factor", StaffMFARequired, staff, false, true},
		{"staff, required, a factor", StaffMFARequired, staff, true, false},
		{"staff, optional", StaffMFAOptional, staff, false, false},
		{"single sign-on staff (no password)", StaffMFARequired, sso, false, false},
		{"customer", StaffMFARequired, customer, false, false},
	}
	for _, tt := range tests {
		if got := MFAEnrolmentRequired(tt.policy, tt.u, tt.factor); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	for in, want := range map[string]StaffMFAPolicy{"": StaffMFAOptional, "optional": StaffMFAOptional, "Required": StaffMFARequired} {
		if got, ok := ParseStaffMFAPolicy(in); !ok || got != want {
			t.Errorf("ParseStaffMFAPolicy(%q) = %q, %v", in, got, ok)
		}
	}
	if _, ok := ParseStaffMFAPolicy("always"); ok {
		t.Error(`ParseStaffMFAPolicy("always") accepted`)
	}
}

// FuzzMFACode: whatever a person types, normalising never panics, is idempotent, and a code it
// calls TOTP or recovery is exactly six digits or sixteen base32 letters.
func FuzzMFACode(f *testing.F) {
	for _, s := range []string{"123456", "abcd-efgh-2345-67ab", "", " - ", "１２３４５６", "\x00\xff", "ABCD EFGH 2345 67AB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormaliseMFACode(s)
		if NormaliseMFACode(n) != n {
			t.Fatalf("NormaliseMFACode is not idempotent on %q: %q", s, n)
		}
		switch MFACodeKind(n) {
		case MFAMethodTOTP:
			if len(n) != TOTPDigits {
				t.Fatalf("%q taken for a TOTP code", n)
			}
		case MFAMethodRecovery:
			if len(n) != 16 {
				t.Fatalf("%q taken for a recovery code", n)
			}
		}
	})
}

// A passkey's name is a label a person types: required, at most MaxPasskeyName characters
// (counted as characters, not bytes), and no control characters, NUL included (PostgreSQL's
// text refuses it).
func TestCheckPasskeyName(t *testing.T) {
	for _, tc := range []struct {
		raw, want, code string
	}{
		{"  Work laptop ", "Work laptop", ""},
		{"", "", FieldRequired},
		{"   ", "", FieldRequired},
		{strings.Repeat("é", MaxPasskeyName), strings.Repeat("é", MaxPasskeyName), ""},
		{strings.Repeat("é", MaxPasskeyName+1), strings.Repeat("é", MaxPasskeyName+1), FieldTooLong},
		{"key\x00one", "key\x00one", FieldInvalid},
		{"key\none", "key\none", FieldInvalid},
		{"key\xffone", "key\xffone", FieldInvalid},
	} {
		var v Validation
		got := CheckPasskeyName(&v, tc.raw)
		code := ""
		if err := v.Err(); err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != "name" {
				t.Fatalf("%q: %v", tc.raw, err)
			}
			code = e.Fields[0].Code
		}
		if got != tc.want || code != tc.code {
			t.Errorf("%q: %q, %q; want %q, %q", tc.raw, got, code, tc.want, tc.code)
		}
	}
}
