package models

import (
	"testing"
	"time"
)

func TestEntityTag_ChangesWithEveryPart(t *testing.T) {
	at := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	later := at.Add(time.Microsecond)
	base := EntityTag("webhook", "1", "https://a.example", TagTime(&at))
	for name, other := range map[string]string{
		"kind":      EntityTag("product", "1", "https://a.example", TagTime(&at)),
		"a part":    EntityTag("webhook", "1", "https://b.example", TagTime(&at)),
		"a time":    EntityTag("webhook", "1", "https://a.example", TagTime(&later)),
		"no time":   EntityTag("webhook", "1", "https://a.example", TagTime(nil)),
		"a border":  EntityTag("webhook", "1https://a.example", "", TagTime(&at)),
		"one more":  EntityTag("webhook", "1", "https://a.example", TagTime(&at), ""),
		"one fewer": EntityTag("webhook", "1", "https://a.example"),
	} {
		if other == base {
			t.Errorf("a different %s gives the same tag %s", name, base)
		}
	}
	inZone := at.In(time.FixedZone("x", 3600))
	if again := EntityTag("webhook", "1", "https://a.example", TagTime(&inZone)); again != base {
		t.Errorf("the same instant in another zone: %s, want %s", again, base)
	}
	if len(base) < 3 || base[0] != '"' || base[len(base)-1] != '"' {
		t.Errorf("%s is not a quoted strong tag", base)
	}
}

func TestCheckIfMatch(t *testing.T) {
	const cur = `"abc"`
	for _, tc := range []struct {
		header string
		ok     bool
	}{
		{"", true},
		{"*", true},
		{`"abc"`, true},
		{`"x", "abc"`, true},
		{`"abd"`, false},
		{`W/"abc"`, false}, // If-Match compares strongly
		{`abc`, false},
	} {
		err := CheckIfMatch(tc.header, cur)
		if (err == nil) != tc.ok {
			t.Errorf("If-Match %q against %s: %v, want ok=%v", tc.header, cur, err, tc.ok)
		}
		if err != nil {
			if e, _ := err.(*Error); e == nil || e.Code != CodePreconditionFailed {
				t.Errorf("If-Match %q: %v, want precondition_failed", tc.header, err)
			}
		}
	}
}
