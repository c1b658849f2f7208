package models

import (
	"errors"
	"testing"
	"time"
)

// Dates are YYYY-MM-DD between 1970-01-01 and 9999-12-31: 0001-01-01, which is the zero Time
// that Date reads as "no date", is refused rather than stored as no date at all.
func TestParseDate_Bounds(t *testing.T) {
	tests := []struct {
		in      string
		ok      bool
		inRange bool // a well-formed date: refused with ErrDateOutOfRange when not ok
	}{
		{"1969-12-31", false, true},
		{"1970-01-01", true, true},
		{"2026-03-02", true, true},
		{"9999-12-31", true, true},
		{"0001-01-01", false, true},
		{"0000-01-01", false, true},
		{"10000-01-01", false, false},
		{"2026-02-30", false, false},
		{"2026-3-2", false, false},
		{"", false, false},
		{"2026-03-02T00:00:00Z", false, false},
	}
	for _, tt := range tests {
		d, err := ParseDate(tt.in)
		if tt.ok {
			if err != nil || d.String() != tt.in || d.IsZero() {
				t.Errorf("ParseDate(%q) = %v, %v; want the date", tt.in, d, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseDate(%q) = %v, want an error", tt.in, d)
			continue
		}
		if !d.IsZero() {
			t.Errorf("ParseDate(%q) refused but returned %v", tt.in, d)
		}
		if tt.inRange != errors.Is(err, ErrDateOutOfRange) {
			t.Errorf("ParseDate(%q): error %v; out of range: want %v", tt.in, err, tt.inRange)
		}
	}
	// What every input date goes through (orders, renewals, grace, versions) says which field.
	var v Validation
	if d := CheckDate(&v, "items[0].support.ends_on", "0001-01-01", true); !d.IsZero() {
		t.Errorf("checkDate kept %v", d)
	}
	err := v.Err()
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeValidation || len(e.Fields) != 1 || e.Fields[0].Field != "items[0].support.ends_on" {
		t.Fatalf("checkDate of 0001-01-01: %#v", err)
	}
}

// DaysUntil counts calendar days exactly, also across the whole range (time.Duration saturates
// at about 292 years).
func TestDaysUntil_FarDates(t *testing.T) {
	lo, hi := NewDate(1970, time.January, 1), NewDate(9999, time.December, 31)
	// Counted by the calendar: 365 days a year, 366 in leap years.
	want := 0
	for y := 1970; y <= 9999; y++ {
		want += 365
		if (y%4 == 0 && y%100 != 0) || y%400 == 0 {
			want++
		}
	}
	want-- // to 9999-12-31, not 10000-01-01
	if got := lo.DaysUntil(hi); got != want {
		t.Errorf("1970-01-01 → 9999-12-31: %d days, want %d", got, want)
	}
	if got := hi.DaysUntil(lo); got != -want {
		t.Errorf("9999-12-31 → 1970-01-01: %d days, want %d", got, -want)
	}
	if want != 2932896 {
		t.Errorf("the calendar count is %d, want 2932896", want)
	}
	today := NewDate(2026, time.March, 2)
	for _, tt := range []struct {
		to   Date
		want int
	}{
		{today, 0},
		{NewDate(2026, time.March, 3), 1},
		{NewDate(2026, time.March, 1), -1},
		{NewDate(2027, time.March, 2), 365},
		{NewDate(2028, time.March, 2), 731}, // 2028-02-29
		{hi, 2912382},
	} {
		if got := today.DaysUntil(tt.to); got != tt.want {
			t.Errorf("%s → %s: %d, want %d", today, tt.to, got, tt.want)
		}
	}
	// The contract's days_left for a far ends_on no longer saturates.
	_, left := ContractStatus(&SupportFacts{Program: ProgramStandard, StartsOn: today, EndsOn: hi}, today, 90)
	if left != 2912382 {
		t.Errorf("days_left to 9999-12-31: %d", left)
	}
}
