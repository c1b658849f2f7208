package models

import "testing"

// ruleDate reads a YYYY-MM-DD date for the rule tables (status, entitlements); a typo in a table
// is a bug of the test, so it panics.
func ruleDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// The contract used throughout: standard support for 2025, renewal window 90 days.
var (
	ruleStarts = ruleDate("2025-01-01")
	ruleEnds   = ruleDate("2025-12-31")
)

const ruleWindow = 90

func ruleContract() *SupportFacts {
	return &SupportFacts{Program: ProgramStandard, StartsOn: ruleStarts, EndsOn: ruleEnds}
}

// ruleWith returns a copy of the facts changed by f, so that each row states only what differs.
func ruleWith(c *SupportFacts, f func(*SupportFacts)) *SupportFacts {
	cp := *c
	f(&cp)
	return &cp
}

// Contract status is computed from the dates and the day: every status, and every boundary day.
func TestContractStatus(t *testing.T) {
	graced := ruleWith(ruleContract(), func(c *SupportFacts) { c.GraceUntil = ruleEnds.AddDays(30) })
	terminated := ruleWith(ruleContract(), func(c *SupportFacts) { c.TerminatedOn = ruleDate("2025-06-30") })
	registered := ruleDate("2025-03-01")
	trial := &SupportFacts{Program: ProgramStandard, Trial: true, StartsOn: registered, EndsOn: TrialEndsOn(registered)}

	tests := []struct {
		name     string
		facts    *SupportFacts
		today    Date
		window   int
		status   string
		daysLeft int
	}{
		{"no contract is none", nil, ruleDate("2025-06-15"), ruleWindow, StatusNone, 0},

		{"the day before starts_on is future", ruleContract(), ruleStarts.AddDays(-1), ruleWindow, StatusFuture, 365},
		{"starts_on itself is active", ruleContract(), ruleStarts, ruleWindow, StatusActive, 364},
		{"mid-term is active", ruleContract(), ruleDate("2025-06-15"), ruleWindow, StatusActive, 199},
		{"the day before the window (days_left = window+1) is active", ruleContract(), ruleEnds.AddDays(-91), ruleWindow, StatusActive, 91},
		{"the window's first day (days_left = window) is expiring", ruleContract(), ruleEnds.AddDays(-90), ruleWindow, StatusExpiring, 90},
		{"ends_on itself is covered: expiring, 0 days left", ruleContract(), ruleEnds, ruleWindow, StatusExpiring, 0},
		{"ends_on+1 without grace is lapsed", ruleContract(), ruleEnds.AddDays(1), ruleWindow, StatusLapsed, -1},
		{"long after ends_on is lapsed", ruleContract(), ruleEnds.AddDays(400), ruleWindow, StatusLapsed, -400},
		{"the window is configurable: 30 days", ruleContract(), ruleEnds.AddDays(-31), 30, StatusActive, 31},
		{"a window of 0 makes only ends_on expiring", ruleContract(), ruleEnds, 0, StatusExpiring, 0},
		{"a term shorter than the window is expiring from its first day", &SupportFacts{Program: ProgramStandard, StartsOn: ruleStarts, EndsOn: ruleStarts.AddDays(30)}, ruleStarts, ruleWindow, StatusExpiring, 30},

		{"a grace granted early changes nothing while the term runs", graced, ruleEnds, ruleWindow, StatusExpiring, 0},
		{"ends_on+1 within grace is grace", graced, ruleEnds.AddDays(1), ruleWindow, StatusGrace, -1},
		{"grace_until itself is grace", graced, ruleEnds.AddDays(30), ruleWindow, StatusGrace, -30},
		{"grace_until+1 is lapsed", graced, ruleEnds.AddDays(31), ruleWindow, StatusLapsed, -31},
		{"a grace_until not past ends_on gives no grace", ruleWith(ruleContract(), func(c *SupportFacts) { c.GraceUntil = ruleEnds }), ruleEnds.AddDays(1), ruleWindow, StatusLapsed, -1},

		{"terminated on its termination day, 0 days left", terminated, ruleDate("2025-06-30"), ruleWindow, StatusTerminated, 0},
		{"terminated after: days_left counts from the termination date", terminated, ruleDate("2025-07-10"), ruleWindow, StatusTerminated, -10},
		{"terminated wins over grace", ruleWith(graced, func(c *SupportFacts) { c.TerminatedOn = ruleEnds.AddDays(5) }), ruleEnds.AddDays(10), ruleWindow, StatusTerminated, -10},
		{"terminated after it lapsed: days_left counts from ends_on, not the later termination", ruleWith(ruleContract(), func(c *SupportFacts) { c.TerminatedOn = ruleEnds.AddDays(20) }), ruleEnds.AddDays(30), ruleWindow, StatusTerminated, -30},
		{"terminated before it started is terminated", ruleWith(ruleContract(), func(c *SupportFacts) { c.TerminatedOn = ruleStarts.AddDays(-10) }), ruleStarts.AddDays(-5), ruleWindow, StatusTerminated, -5},

		{"a trial not registered yet is future", &SupportFacts{Program: ProgramStandard, Trial: true}, ruleDate("2025-06-15"), ruleWindow, StatusFuture, 0},
		{"a trial's registration day is active with 30 days left, never expiring", trial, registered, ruleWindow, StatusActive, 30},
		{"a trial's day 29 is active", trial, registered.AddDays(29), ruleWindow, StatusActive, 1},
		{"a trial's day 30 (its ends_on) is active", trial, registered.AddDays(30), ruleWindow, StatusActive, 0},
		{"a trial's day 31 is lapsed", trial, registered.AddDays(31), ruleWindow, StatusLapsed, -1},
		{"a trial with only its start known ends 30 days later", &SupportFacts{Program: ProgramStandard, Trial: true, StartsOn: registered}, registered.AddDays(31), ruleWindow, StatusLapsed, -1},
		{"a trial before its registration day is future", trial, registered.AddDays(-1), ruleWindow, StatusFuture, 31},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, days := ContractStatus(tt.facts, tt.today, tt.window)
			if status != tt.status || days != tt.daysLeft {
				t.Errorf("ContractStatus on %s = %s, %d; want %s, %d", tt.today, status, days, tt.status, tt.daysLeft)
			}
		})
	}
}

// A trial's ends_on is the registration date + 30 days, across month and leap-day boundaries.
func TestStatus_TrialEndsOn(t *testing.T) {
	for reg, want := range map[string]string{
		"2025-03-01": "2025-03-31",
		"2025-01-15": "2025-02-14",
		"2024-02-15": "2024-03-16", // 2024 is a leap year
		"2025-12-10": "2026-01-09",
	} {
		if got := TrialEndsOn(ruleDate(reg)); got.String() != want {
			t.Errorf("TrialEndsOn(%s) = %s; want %s", reg, got, want)
		}
	}
}

// The paid-for day is ends_on, or a terminated contract's termination date when that is earlier;
// a contract that never started (or a trial never registered) paid for no day.
func TestStatus_PaidThrough(t *testing.T) {
	tests := []struct {
		name  string
		facts *SupportFacts
		want  string // "" = paid for nothing
	}{
		{"no contract", nil, ""},
		{"a running contract: its ends_on", ruleContract(), "2025-12-31"},
		{"terminated mid-term: the termination date", ruleWith(ruleContract(), func(c *SupportFacts) { c.TerminatedOn = ruleDate("2025-06-30") }), "2025-06-30"},
		{"terminated on its first day: that day", ruleWith(ruleContract(), func(c *SupportFacts) { c.TerminatedOn = ruleStarts }), "2025-01-01"},
		{"terminated after it lapsed: still its ends_on", ruleWith(ruleContract(), func(c *SupportFacts) { c.TerminatedOn = ruleDate("2026-02-01") }), "2025-12-31"},
		{"terminated before it started: nothing", ruleWith(ruleContract(), func(c *SupportFacts) { c.TerminatedOn = ruleStarts.AddDays(-1) }), ""},
		{"a trial not registered: nothing", &SupportFacts{Program: ProgramStandard, Trial: true}, ""},
		{"a trial with its start only: start + 30", &SupportFacts{Program: ProgramStandard, Trial: true, StartsOn: ruleDate("2025-03-01")}, "2025-03-31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := PaidThrough(tt.facts)
			if ok != (tt.want != "") || got.String() != tt.want {
				t.Errorf("PaidThrough = %s, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

// Each status that is not current denies support for its own reason; a lapsed trial "expired".
func TestStatus_Reason(t *testing.T) {
	tests := []struct {
		status string
		trial  bool
		want   string
	}{
		{StatusActive, false, ""},
		{StatusExpiring, false, ""},
		{StatusGrace, false, ""},
		{StatusActive, true, ""},
		{StatusNone, false, ReasonNoSupportContract},
		{StatusFuture, false, ReasonSupportNotStarted},
		{StatusFuture, true, ReasonSupportNotStarted},
		{StatusTerminated, false, ReasonSupportTerminated},
		{StatusLapsed, false, ReasonSupportLapsed},
		{StatusLapsed, true, ReasonTrialExpired},
	}
	for _, tt := range tests {
		if got := StatusReason(tt.status, tt.trial); got != tt.want {
			t.Errorf("StatusReason(%s, trial=%v) = %q; want %q", tt.status, tt.trial, got, tt.want)
		}
		if IsCurrent(tt.status) != (tt.want == "") {
			t.Errorf("IsCurrent(%s) = %v, but its reason is %q", tt.status, IsCurrent(tt.status), tt.want)
		}
	}
}

// Premier is current only with a standard or 24x7 program that is itself current.
func TestStatus_PremierCurrent(t *testing.T) {
	premier := ruleWith(ruleContract(), func(c *SupportFacts) { c.Premier = true })
	tests := []struct {
		name   string
		facts  *SupportFacts
		status string
		want   bool
	}{
		{"premier on a current standard program", premier, StatusActive, true},
		{"premier on a 24x7 program in grace", ruleWith(premier, func(c *SupportFacts) { c.Program = Program24x7 }), StatusGrace, true},
		{"premier while expiring", premier, StatusExpiring, true},
		{"premier on a lapsed program", premier, StatusLapsed, false},
		{"premier on a terminated program", premier, StatusTerminated, false},
		{"premier on a future program", premier, StatusFuture, false},
		{"premier without a program", ruleWith(premier, func(c *SupportFacts) { c.Program = "" }), StatusActive, false},
		{"no premier", ruleContract(), StatusActive, false},
		{"no contract", nil, StatusNone, false},
	}
	for _, tt := range tests {
		if got := PremierCurrent(tt.facts, tt.status); got != tt.want {
			t.Errorf("%s: PremierCurrent = %v; want %v", tt.name, got, tt.want)
		}
	}
}
