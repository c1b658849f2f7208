package models

import (
	"crypto/rand"
	"strings"
	"testing"
)

// Every generated number parses back to itself, in any case and with or without hyphens.
func TestLicenseNumber_RoundTrip(t *testing.T) {
	for i := 0; i < 2000; i++ {
		ln := randomLicenseNumber()
		if len(ln) != len("LN-7KQ2-M9XD-44TB-R1ZC") || !strings.HasPrefix(ln, "LN-") {
			t.Fatalf("bad shape %q", ln)
		}
		for _, in := range []string{ln, strings.ToLower(ln), strings.ReplaceAll(ln, "-", ""), " " + ln[3:] + " "} {
			got, err := ParseLicenseNumber(in)
			if err != nil || got != ln {
				t.Fatalf("ParseLicenseNumber(%q) = %q, %v; want %q", in, got, err, ln)
			}
		}
	}
}

// Crockford decoding: I and L read as 1, O as 0.
func TestLicenseNumber_CrockfordAliases(t *testing.T) {
	for i := 0; i < 500; i++ {
		ln := randomLicenseNumber()
		typed := strings.NewReplacer("1", "l", "0", "O").Replace(ln[3:])
		if got, err := ParseLicenseNumber(typed); err != nil || got != ln {
			t.Fatalf("ParseLicenseNumber(%q) = %q, %v; want %q", typed, got, err, ln)
		}
	}
}

// Every single-character substitution at every position is caught, exhaustively over the 31
// other characters, for many random numbers.
func TestLicenseNumber_CatchesEverySubstitution(t *testing.T) {
	for n := 0; n < 300; n++ {
		ln := randomLicenseNumber()
		body := []byte(strings.ReplaceAll(ln[3:], "-", ""))
		for pos := range body {
			orig := body[pos]
			for _, c := range []byte(crockford) {
				if c == orig {
					continue
				}
				body[pos] = c
				if _, err := ParseLicenseNumber(string(body)); err == nil {
					t.Fatalf("%s with position %d changed to %c is accepted", ln, pos, c)
				}
			}
			body[pos] = orig
		}
	}
}

// Every swap of two different neighbouring characters is caught, at every position.
func TestLicenseNumber_CatchesEveryAdjacentSwap(t *testing.T) {
	swaps := 0
	for n := 0; n < 3000; n++ {
		ln := randomLicenseNumber()
		body := []byte(strings.ReplaceAll(ln[3:], "-", ""))
		for pos := 0; pos+1 < len(body); pos++ {
			if body[pos] == body[pos+1] {
				continue
			}
			body[pos], body[pos+1] = body[pos+1], body[pos]
			if _, err := ParseLicenseNumber(string(body)); err == nil {
				t.Fatalf("%s with positions %d and %d swapped is accepted", ln, pos, pos+1)
			}
			body[pos], body[pos+1] = body[pos+1], body[pos]
			swaps++
		}
	}
	if swaps < 10000 {
		t.Fatalf("only %d swaps tried", swaps)
	}
}

// The check character is one of the 32 Crockford characters (not the mod-37 extras).
func TestLicenseNumber_CheckIsCrockford(t *testing.T) {
	for i := 0; i < 1000; i++ {
		ln := randomLicenseNumber()
		if !strings.ContainsRune(crockford, rune(ln[len(ln)-1])) {
			t.Fatalf("%s ends with a character outside the alphabet", ln)
		}
	}
}

func TestLicenseNumber_Malformed(t *testing.T) {
	for _, in := range []string{"", "LN-", "LN-7KQ2-M9XD-44TB", "LN-7KQ2-M9XD-44TB-R1ZC-0000", "LN-7KQ2-M9XD-44TB-R1Z*", "LN-7KQ2-M9XD-44TB-R1ZU", "' OR '1'='1", "LN-\x00\x00\x00\x00-M9XD-44TB-R1ZC"} {
		_, err := ParseLicenseNumber(in)
		if errorCode(err) != CodeInvalidLicenseNumber {
			t.Errorf("ParseLicenseNumber(%q) error %v, want %s", in, err, CodeInvalidLicenseNumber)
		}
	}
}

// The parser never panics and accepts only canonical-checkable input.
func FuzzParseLicenseNumber(f *testing.F) {
	f.Add("LN-7KQ2-M9XD-44TB-R1ZC")
	f.Add(randomLicenseNumber())
	f.Add("ln7kq2m9xd44tbr1zc")
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, s string) {
		ln, err := ParseLicenseNumber(s)
		if err != nil {
			if errorCode(err) != CodeInvalidLicenseNumber {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		again, err := ParseLicenseNumber(ln)
		if err != nil || again != ln {
			t.Fatalf("canonical %q does not parse to itself: %q %v", ln, again, err)
		}
	})
}

// randomLicenseNumber is a fresh random License Number, as the store makes them.
func randomLicenseNumber() string {
	random := make([]byte, LicenseNumberRandomBytes)
	rand.Read(random)
	return LicenseNumberFrom(random)
}
