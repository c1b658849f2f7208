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

// TrialDays is how long a trial's support runs from its registration date.
const TrialDays = 30

// SupportFacts are the dates and flags of a support contract that its status depends on. A nil
// *SupportFacts is a license without support.
type SupportFacts struct {
	Program      string
	Premier      bool
	Trial        bool
	StartsOn     Date // zero for a trial not registered yet
	EndsOn       Date
	GraceUntil   Date
	TerminatedOn Date
}

// ContractStatus is the status of a contract on a day, with days_left (ends_on − today; 0 on the
// last covered day, negative after; 0 when there is no end date yet). window is the renewal
// window in days: an active contract with 0 ≤ days_left ≤ window is expiring (never a trial).
func ContractStatus(c *SupportFacts, today Date, window int) (status string, daysLeft int) {
	switch {
	case c == nil:
		return StatusNone, 0
	case !c.TerminatedOn.IsZero():
		return StatusTerminated, today.DaysUntil(c.TerminatedOn)
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
