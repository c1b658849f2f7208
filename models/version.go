package models

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a product version of dotted numbers ("2", "1.10", "4.2.1"), compared numerically
// part by part (1.10 > 1.9); missing parts count as 0, so 1.2 and 1.2.0 are the same version.
type Version struct {
	Parts []int
}

// ParseVersion reads a dotted version of one to four parts, each at most six digits.
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) == 0 || len(parts) > 4 {
		return Version{}, fmt.Errorf("a version is one to four dotted numbers, such as 4.2.1")
	}
	v := Version{}
	for _, p := range parts {
		if p == "" || len(p) > 6 || strings.TrimLeft(p, "0123456789") != "" {
			return Version{}, fmt.Errorf("a version is one to four dotted numbers, such as 4.2.1")
		}
		n, _ := strconv.Atoi(p)
		v.Parts = append(v.Parts, n)
	}
	return v, nil
}

// Major is the first part.
func (v Version) Major() int { return v.Parts[0] }

// String is the version with its parts as given, without leading zeros.
func (v Version) String() string {
	s := make([]string, len(v.Parts))
	for i, p := range v.Parts {
		s[i] = strconv.Itoa(p)
	}
	return strings.Join(s, ".")
}

// SortKey orders versions numerically as text: each part zero-padded to six digits, trailing
// zero parts dropped, so that equal versions have equal keys.
func (v Version) SortKey() string {
	parts := v.Parts
	for len(parts) > 1 && parts[len(parts)-1] == 0 {
		parts = parts[:len(parts)-1]
	}
	s := make([]string, len(parts))
	for i, p := range parts {
		s[i] = fmt.Sprintf("%06d", p)
	}
	return strings.Join(s, ".")
}

// Compare is -1, 0 or 1 as v is older than, the same as, or newer than w.
func (v Version) Compare(w Version) int {
	n := max(len(v.Parts), len(w.Parts))
	for i := 0; i < n; i++ {
		a, b := 0, 0
		if i < len(v.Parts) {
			a = v.Parts[i]
		}
		if i < len(w.Parts) {
			b = w.Parts[i]
		}
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
	}
	return 0
}
