package models

import (
	"sort"
	"testing"
)

func TestVersion_ComparesNumerically(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1.10", "1.9", 1},
		{"1.9", "1.10", -1},
		{"2", "1.99.99", 1},
		{"1.2", "1.2.0", 0},
		{"1.2.0.0", "1.2", 0},
		{"10.0", "9.9", 1},
		{"0.1", "0.01", 0},
	}
	for _, c := range cases {
		a, err1 := ParseVersion(c.a)
		b, err2 := ParseVersion(c.b)
		if err1 != nil || err2 != nil {
			t.Fatalf("parse %s, %s: %v %v", c.a, c.b, err1, err2)
		}
		if got := a.Compare(b); got != c.want {
			t.Errorf("%s vs %s = %d, want %d", c.a, c.b, got, c.want)
		}
		// The stored sort key orders exactly as Compare does.
		keyCmp := 0
		switch {
		case a.SortKey() < b.SortKey():
			keyCmp = -1
		case a.SortKey() > b.SortKey():
			keyCmp = 1
		}
		if keyCmp != c.want {
			t.Errorf("sort keys %q vs %q order %d, want %d", a.SortKey(), b.SortKey(), keyCmp, c.want)
		}
	}
}

func TestVersion_MajorAndShape(t *testing.T) {
	v, err := ParseVersion("4.2.1")
	if err != nil || v.Major() != 4 || v.String() != "4.2.1" {
		t.Fatalf("4.2.1 → %v %v", v, err)
	}
	for _, bad := range []string{"", "1.", ".1", "1..2", "v1", "1.2.3.4.5", "1234567", "1.-2", "1.2a"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
	list := []string{"1.10", "1.9", "1.2", "2.0", "1.10.1"}
	sort.Slice(list, func(i, j int) bool {
		a, _ := ParseVersion(list[i])
		b, _ := ParseVersion(list[j])
		return a.Compare(b) < 0
	})
	if got := list; got[0] != "1.2" || got[1] != "1.9" || got[4] != "2.0" {
		t.Errorf("sorted %v", got)
	}
}
