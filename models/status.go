package models

// Contract statuses (contract: "Contract status"). They are always computed from dates and the
// clock, never stored.
const (
	StatusNone       = "none" // a license bought without support
	StatusFuture     = "future"
	StatusActive     = "active"
	StatusExpiring   = "expiring"
	StatusGrace      = "grace"
	StatusLapsed     = "lapsed"
	StatusTerminated = "terminated"
)

// Support programs.
const (
	ProgramStandard = "standard"
	Program24x7     = "24x7"
)

// TrialDays is how long a trial's support runs from its registration date: ends_on is the
// registration date + TrialDays (see TrialEndsOn).
const TrialDays = 30

// TrialEndsOn is a trial's ends_on: its registration date + 30 days. The contract says exactly
// "ends_on = registration date + 30 days", and ends_on itself is covered, so a trial registered on
// day 0 is active through day 30 and lapsed on day 31 (days_left is 30 on the registration day).
// Registration stores it on the trial's contract when the first admin registers.
func TrialEndsOn(registeredOn Date) Date { return registeredOn.AddDays(TrialDays) }

// SupportFacts are the dates and flags of a support contract that its status depends on. A nil
// *SupportFacts is a license without support.
type SupportFacts struct {
	Program      string
	Premier      bool
	Trial        bool
	StartsOn     Date // zero for a trial not registered yet
	EndsOn       Date // zero for a trial not registered yet
	GraceUntil   Date
	TerminatedOn Date
}

// withTrialEnd fills a trial's ends_on from its start when only the start is known, so that a
// trial's end is decided here (TrialEndsOn) and nowhere else.
func (c *SupportFacts) withTrialEnd() *SupportFacts {
	if c == nil || !c.Trial || c.StartsOn.IsZero() || !c.EndsOn.IsZero() {
		return c
	}
	f := *c
	f.EndsOn = TrialEndsOn(c.StartsOn)
	return &f
}

// EffectiveEndsOn is the contract's ends_on as the rules read it: its ends_on, or for a
// terminated contract its termination date ("a terminated contract's paid-for date is its
// termination date") — but never later than ends_on, so that terminating a contract that had
// already lapsed does not extend what was paid for. Zero when there is no end date yet.
func EffectiveEndsOn(c *SupportFacts) Date {
	if c == nil {
		return Date{}
	}
	c = c.withTrialEnd()
	end := c.EndsOn
	if !c.TerminatedOn.IsZero() && (end.IsZero() || c.TerminatedOn.Before(end)) {
		end = c.TerminatedOn
	}
	return end
}

// PaidThrough is the last day the contract paid for, and false when it paid for no day at all: a
// trial never registered, or a contract terminated before it started. Versions released on or
// before this day stay downloadable (and keyable) after support ends.
func PaidThrough(c *SupportFacts) (Date, bool) {
	if c == nil {
		return Date{}, false
	}
	c = c.withTrialEnd()
	end := EffectiveEndsOn(c)
	if c.StartsOn.IsZero() || end.IsZero() || end.Before(c.StartsOn) {
		return Date{}, false
	}
	return end, true
}

// ContractStatus is the status of a contract on a day, with days_left = ends_on − today (0 on the
// last covered day, negative after; 0 when there is no end date yet, i.e. a trial not yet
// registered). For a terminated contract, ends_on is EffectiveEndsOn: its termination date, so
// days_left counts from the day it ended. window is the renewal window in days: an active
// contract with 0 ≤ days_left ≤ window is expiring — never a trial, which gets no renewal.
//
// The order of the checks is the contract's: terminated (staff ended it, whatever the dates say),
// future (today < starts_on, or a trial before registration), active or expiring (ends_on itself
// covered), grace (ends_on < today ≤ grace_until), lapsed.
func ContractStatus(c *SupportFacts, today Date, window int) (status string, daysLeft int) {
	c = c.withTrialEnd()
	switch {
	case c == nil:
		return StatusNone, 0
	case !c.TerminatedOn.IsZero():
		return StatusTerminated, today.DaysUntil(EffectiveEndsOn(c))
	case c.StartsOn.IsZero() || c.EndsOn.IsZero():
		return StatusFuture, 0 // a trial before its first admin registered
	}
	daysLeft = today.DaysUntil(c.EndsOn)
	switch {
	case today.Before(c.StartsOn):
		return StatusFuture, daysLeft
	case daysLeft >= 0 && !c.Trial && daysLeft <= window:
		return StatusExpiring, daysLeft
	case daysLeft >= 0:
		return StatusActive, daysLeft
	case !c.GraceUntil.IsZero() && !today.After(c.GraceUntil):
		return StatusGrace, daysLeft
	}
	return StatusLapsed, daysLeft
}

// IsCurrent reports whether a status gives support: active, expiring or grace.
func IsCurrent(status string) bool {
	return status == StatusActive || status == StatusExpiring || status == StatusGrace
}

// PremierCurrent reports whether the premier add-on gives its targets and support.premier: only
// with a standard or 24x7 program on the same contract, and only while that program is current.
// status is the contract's ContractStatus.
func PremierCurrent(c *SupportFacts, status string) bool {
	return c != nil && c.Premier && IsProgram(c.Program) && IsCurrent(status)
}

// IsProgram reports whether p is a support program (standard or 24x7).
func IsProgram(p string) bool { return p == ProgramStandard || p == Program24x7 }

// StatusReason is the denial reason that a contract status gives an entitlement which needs
// current support, and "" for a current status: none → no_support_contract, future →
// support_not_started, terminated → support_terminated, lapsed → trial_expired for a trial and
// support_lapsed otherwise. Handlers that refuse an action for want of support (a 403) use it
// as the error code.
func StatusReason(status string, trial bool) string {
	switch status {
	case StatusNone:
		return ReasonNoSupportContract
	case StatusFuture:
		return ReasonSupportNotStarted
	case StatusTerminated:
		return ReasonSupportTerminated
	case StatusLapsed:
		return LapseReason(trial)
	}
	return ""
}

// LapseReason is why a lapsed contract denies support: trial_expired for a trial, whose support
// simply ran its 30 days, and support_lapsed for a contract that was not renewed.
func LapseReason(trial bool) string {
	if trial {
		return ReasonTrialExpired
	}
	return ReasonSupportLapsed
}
