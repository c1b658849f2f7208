package models

import (
	"regexp"
	"strings"
	"testing"
)

// canonicalLN is the only shape ParseLicenseNumber may answer with.
var canonicalLN = regexp.MustCompile(`^LN(-[0-9A-HJKMNP-TV-Z]{4}){4}$`)

// lnFromSeed makes the fifteen random characters of a License Number from fuzz bytes (short
// seeds are padded with zeros, so every input gives a number) and adds the check character.
func lnFromSeed(seed []byte) []byte {
	vals := make([]byte, lnChars)
	for i := 0; i < lnChars-1 && i < len(seed); i++ {
		vals[i] = seed[i] % 32
	}
	vals[lnChars-1] = lnCheck(vals)
	return vals
}

// FuzzLicenseNumber checks the parser against its contract with three inputs at once:
//   - s, any text: ParseLicenseNumber never panics, refuses with invalid_license_number only,
//     and whatever it accepts is made of ASCII Crockford characters (and the separators people
//     type), comes back in canonical form, and that form parses to itself in any case, with or
//     without hyphens;
//   - seed: a valid number built from it is accepted, in every spelling people type;
//   - pos, repl: changing the character at pos to any other character, or swapping it with its
//     neighbour, is refused, which is what the check character guarantees (GF(32) weights).
func FuzzLicenseNumber(f *testing.F) {
	f.Add("LN-7KQ2-M9XD-44TB-R1ZC", []byte("0123456789abcde"), uint8(0), byte(1))
	f.Add(randomLicenseNumber(), []byte{31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31}, uint8(15), byte(0))
	f.Add("ln7kq2m9xd44tbr1zc", []byte{}, uint8(14), byte(31))
	f.Add("\xff\xfe", []byte{0}, uint8(7), byte(200))
	f.Fuzz(func(t *testing.T, s string, seed []byte, pos uint8, repl byte) {
		// 1. Arbitrary input.
		ln, err := ParseLicenseNumber(s)
		if err != nil {
			if code := errorCode(err); code != CodeInvalidLicenseNumber {
				t.Fatalf("ParseLicenseNumber(%q): error %v has code %q, want %s", s, err, code, CodeInvalidLicenseNumber)
			}
		} else {
			if !canonicalLN.MatchString(ln) {
				t.Fatalf("ParseLicenseNumber(%q) = %q, not in canonical form", s, ln)
			}
			// Only ASCII may be read as a License Number character: a look-alike from another
			// script (dotless ı, long ſ) that upper-cases to a Latin letter is not one.
			if inner := strings.TrimSpace(s); strings.IndexFunc(inner, func(r rune) bool { return r > 0x7f }) >= 0 {
				t.Fatalf("ParseLicenseNumber(%q) = %q: accepted non-ASCII characters", s, ln)
			}
			for _, again := range []string{ln, strings.ToLower(ln), strings.ReplaceAll(ln, "-", ""), ln[3:]} {
				if got, err := ParseLicenseNumber(again); err != nil || got != ln {
					t.Fatalf("ParseLicenseNumber(%q) = %q, %v; want %q (from %q)", again, got, err, ln, s)
				}
			}
		}

		// 2. A valid number made from the seed.
		vals := lnFromSeed(seed)
		canon := formatLicenseNumber(vals)
		typed := []string{canon, strings.ToLower(canon), strings.ReplaceAll(canon, "-", ""), " " + canon[3:] + " ",
			strings.NewReplacer("1", "l", "0", "o").Replace(canon[3:]), strings.NewReplacer("1", "I", "0", "O").Replace(canon)}
		for _, in := range typed {
			if got, err := ParseLicenseNumber(in); err != nil || got != canon {
				t.Fatalf("ParseLicenseNumber(%q) = %q, %v; want %q", in, got, err, canon)
			}
		}

		// 3. One substituted character and one swap of neighbours are caught.
		i := int(pos) % lnChars
		if v := repl % 32; v != vals[i] {
			changed := append([]byte(nil), vals...)
			changed[i] = v
			if got, err := ParseLicenseNumber(formatLicenseNumber(changed)); err == nil {
				t.Fatalf("%s with character %d changed to %c is accepted as %s", canon, i, crockford[v], got)
			}
		}
		if j := i + 1; j < lnChars && vals[i] != vals[j] {
			swapped := append([]byte(nil), vals...)
			swapped[i], swapped[j] = swapped[j], swapped[i]
			if got, err := ParseLicenseNumber(formatLicenseNumber(swapped)); err == nil {
				t.Fatalf("%s with characters %d and %d swapped is accepted as %s", canon, i, j, got)
			}
		}
	})
}
