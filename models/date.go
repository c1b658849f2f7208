package models

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// Date is a calendar day in UTC (contract: dates are YYYY-MM-DD, UTC days). It is stored as a
// DATE on PostgreSQL and as YYYY-MM-DD text on SQLite, and compares correctly as either.
type Date struct {
	t time.Time // midnight UTC; the zero Time is "no date"
}

// DateOf is the UTC day of an instant.
func DateOf(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)}
}

// NewDate makes a date from its parts.
func NewDate(y int, m time.Month, d int) Date { return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)} }

// The range of dates the API takes (contract: YYYY-MM-DD between 1970-01-01 and 9999-12-31).
// Without a bound, 0001-01-01 would be the zero Time, which Date reads as "no date": stored as
// NULL, an order's ends_on would vanish and its contract stay future for ever.
var (
	MinDate = NewDate(1970, time.January, 1)
	MaxDate = NewDate(9999, time.December, 31)
)

// ErrDateOutOfRange is ParseDate's error for a well-formed date outside MinDate…MaxDate.
var ErrDateOutOfRange = errors.New("date out of range: dates are between 1970-01-01 and 9999-12-31")

// ParseDate reads a date from input: YYYY-MM-DD between MinDate and MaxDate (ErrDateOutOfRange
// otherwise). Every date the API, the portal's forms and the order system give goes through it
// (CheckDate).
func ParseDate(s string) (Date, error) {
	d, err := ParseDay(s)
	if err != nil {
		return Date{}, err
	}
	if d.Before(MinDate) || d.After(MaxDate) {
		return Date{}, ErrDateOutOfRange
	}
	return d, nil
}

// ParseDay reads YYYY-MM-DD with no range check: for reading what is stored.
func ParseDay(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, err
	}
	return Date{t}, nil
}

func (d Date) IsZero() bool { return d.t.IsZero() }

func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.t.Format(time.DateOnly)
}

// AddDays is the date n days later (earlier for negative n).
func (d Date) AddDays(n int) Date { return Date{d.t.AddDate(0, 0, n)} }

// DaysUntil is the number of days from d to e (negative when e is before d). It counts whole
// days of Unix time, both being midnight UTC: time.Duration would saturate at about 292 years.
func (d Date) DaysUntil(e Date) int { return int((e.t.Unix() - d.t.Unix()) / secondsPerDay) }

const secondsPerDay = 24 * 60 * 60

func (d Date) Before(e Date) bool { return d.t.Before(e.t) }
func (d Date) After(e Date) bool  { return d.t.After(e.t) }
func (d Date) Equal(e Date) bool  { return d.t.Equal(e.t) }

// Time is midnight UTC of the day.
func (d Date) Time() time.Time { return d.t }

// Value stores the date as YYYY-MM-DD (NULL when zero).
func (d Date) Value() (driver.Value, error) {
	if d.IsZero() {
		return nil, nil
	}
	return d.String(), nil
}

// Scan reads a DATE (PostgreSQL gives a time.Time) or YYYY-MM-DD text (SQLite).
func (d *Date) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d = Date{}
		return nil
	case time.Time:
		*d = DateOf(v)
		return nil
	case string:
		return d.scanText(v)
	case []byte:
		return d.scanText(string(v))
	}
	return fmt.Errorf("models.Date: cannot scan %T", src)
}

func (d *Date) scanText(s string) error {
	if len(s) >= 10 {
		if p, err := ParseDay(s[:10]); err == nil {
			*d = p
			return nil
		}
	}
	return fmt.Errorf("models.Date: cannot read %q", s)
}

// MarshalJSON writes "YYYY-MM-DD", or null for no date.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + d.String() + `"`), nil
}
