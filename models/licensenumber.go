package models

import (
	"strings"
)

// A License Number is "LN-" and four groups of four Crockford base32 characters: fifteen random
// characters (75 bits) and a check character. The check character makes the weighted sum of all
// sixteen characters zero in GF(32) with weights α^1…α^16, all distinct and non-zero: a single
// substituted character changes the sum by (error × weight) ≠ 0, and two swapped neighbours a, b
// change it by (a − b)(w_i − w_{i+1}) ≠ 0, so both are always caught. (A sum mod 32 cannot
// catch every swap, since 32 is not prime.)

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// CodeInvalidLicenseNumber is the error for a License Number that is malformed or whose check
// character is wrong. It is refused before any lookup and never counts as a guess.
const CodeInvalidLicenseNumber = "invalid_license_number"

const lnChars = 16 // characters after "LN-", hyphens aside

// GF(32) arithmetic over the primitive polynomial x^5 + x^2 + 1.
var gfExp, gfLog = gfTables()

func gfTables() (exp [62]byte, log [32]byte) {
	x := byte(1)
	for i := 0; i < 31; i++ {
		exp[i], exp[i+31] = x, x
		log[x] = byte(i)
		x <<= 1
		if x&0x20 != 0 {
			x ^= 0x25
		}
	}
	return exp, log
}

func gfMul(a, b byte) byte {
	if a == 0 || b == 0 {
		return 0
	}
	return gfExp[int(gfLog[a])+int(gfLog[b])]
}

func gfInv(a byte) byte { return gfExp[31-int(gfLog[a])] }

// lnWeight is the weight of position i (0-based): α^(i+1).
func lnWeight(i int) byte { return gfExp[(i+1)%31] }

// lnCheck is the character value that makes the weighted sum of the first fifteen plus it zero.
func lnCheck(vals []byte) byte {
	var sum byte
	for i, v := range vals[:lnChars-1] {
		sum ^= gfMul(lnWeight(i), v)
	}
	return gfMul(sum, gfInv(lnWeight(lnChars-1)))
}

// LicenseNumberRandomBytes is how many random bytes LicenseNumberFrom takes: one per random
// character.
const LicenseNumberRandomBytes = lnChars - 1

// LicenseNumberFrom makes the License Number, in canonical form, whose fifteen random characters
// are the low five bits of the first LicenseNumberRandomBytes bytes of random (256 is a multiple
// of 32, so uniform bytes give uniform characters). The randomness is the caller's (the store
// draws it from crypto/rand), which keeps this package free of it. It panics if random is short.
func LicenseNumberFrom(random []byte) string {
	if len(random) < LicenseNumberRandomBytes {
		panic("models: LicenseNumberFrom needs LicenseNumberRandomBytes random bytes")
	}
	vals := make([]byte, lnChars)
	for i := range LicenseNumberRandomBytes {
		vals[i] = random[i] & 31
	}
	vals[lnChars-1] = lnCheck(vals)
	return formatLicenseNumber(vals)
}

func formatLicenseNumber(vals []byte) string {
	var b strings.Builder
	b.WriteString("LN")
	for i, v := range vals {
		if i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(crockford[v])
	}
	return b.String()
}

// ParseLicenseNumber reads a License Number as people type it: any case, with or without the
// hyphens and the "LN" prefix, I and L read as 1, O as 0 (Crockford's decoding). It returns the
// canonical form, or invalid_license_number when the shape or the check character is wrong.
func ParseLicenseNumber(s string) (string, error) {
	// Built only when it is refused: every entitlement check parses a License Number (twice).
	bad := func() error {
		return Errorf(CodeInvalidLicenseNumber, "%q is not a valid License Number: a License Number has the form LN-XXXX-XXXX-XXXX-XXXX, four groups of four letters and digits (copy it from the order confirmation); check for a mistyped character", Clip(s, 40))
	}
	// ASCII upper-casing only: strings.ToUpper would read a look-alike from another script (the
	// dotless ı, the long ſ) as a Latin letter and accept it. Found by FuzzLicenseNumber.
	t := strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, strings.TrimSpace(s))
	t = strings.ReplaceAll(t, "-", "")
	t = strings.ReplaceAll(t, " ", "")
	if len(t) == lnChars+2 && strings.HasPrefix(t, "LN") {
		t = t[2:]
	}
	if len(t) != lnChars {
		return "", bad()
	}
	vals := make([]byte, lnChars)
	for i := 0; i < lnChars; i++ {
		v, ok := crockfordValue(t[i])
		if !ok {
			return "", bad()
		}
		vals[i] = v
	}
	var sum byte
	for i, v := range vals {
		sum ^= gfMul(lnWeight(i), v)
	}
	if sum != 0 {
		return "", bad()
	}
	return formatLicenseNumber(vals), nil
}

func crockfordValue(c byte) (byte, bool) {
	switch c {
	case 'I', 'L':
		c = '1'
	case 'O':
		c = '0'
	}
	i := strings.IndexByte(crockford, c)
	if i < 0 {
		return 0, false
	}
	return byte(i), true
}

// Clip shortens s for an error message.
func Clip(s string, n int) string {
	if len(s) <= n {
		return strings.ToValidUTF8(s, "")
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
