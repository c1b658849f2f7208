package models

import (
	"time"
)

// License kinds.
const (
	KindPerpetual    = "perpetual"
	KindSubscription = "subscription"
	KindTrial        = "trial"
)

// Account is an organisation that bought something.
type Account struct {
	ID           int64
	AccountID    string // the 7-digit number customers see
	Name         string
	ContactName  string
	ContactEmail string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// License is one purchased asset.
type License struct {
	ID            int64
	LicenseNumber string
	AccountID     int64
	ProductID     int64
	OrderID       int64
	Quantity      int
	Kind          string
	ServiceTag    *string
	OrderedOn     Date
	RegisteredOn  Date
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Contract is a license's support contract: the current program, premier and dates, which the
// append-only terms record the history of.
type Contract struct {
	ID           int64
	LicenseID    int64
	Program      string
	Premier      bool
	Trial        bool
	StartsOn     Date
	EndsOn       Date
	GraceUntil   Date
	TerminatedOn Date
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Facts are the contract's dates and flags for the status and entitlement rules.
func (c *Contract) Facts() *SupportFacts {
	if c == nil {
		return nil
	}
	return &SupportFacts{Program: c.Program, Premier: c.Premier, Trial: c.Trial, StartsOn: c.StartsOn, EndsOn: c.EndsOn,
		GraceUntil: c.GraceUntil, TerminatedOn: c.TerminatedOn}
}

// Term kinds: why a term was appended.
const (
	TermInitial     = "initial"
	TermTrial       = "trial"
	TermRenewal     = "renewal"
	TermUpgrade     = "upgrade"
	TermGrace       = "grace"
	TermTermination = "termination"
)

// ContractTerm is one entry of a contract's history: what the contract became, who did it, when
// and why. Terms are only ever appended.
type ContractTerm struct {
	ID         int64
	ContractID int64
	Seq        int
	Kind       string
	StartsOn   Date
	EndsOn     Date
	Program    string
	Premier    bool
	OrderID    *int64
	ActorKind  string
	ActorID    *int64
	ActorEmail *string
	Reason     string
	CreatedAt  time.Time
}

// CodeNotAMember is the 403 for a user who is not a member of the license they ask about.
const CodeNotAMember = "not_a_member"

// SupportSummary is a license's support as lists show it.
type SupportSummary struct {
	Status   string
	Program  string
	Premier  bool
	StartsOn Date
	EndsOn   Date
	DaysLeft int
}

// Summary computes the license's support status on a day with the renewal window.
func (d *LicenseDetail) Summary(today Date, window int) SupportSummary {
	status, days := ContractStatus(d.Contract.Facts(), today, window)
	s := SupportSummary{Status: status, DaysLeft: days}
	if c := d.Contract; c != nil {
		s.Program, s.Premier, s.StartsOn, s.EndsOn = c.Program, c.Premier, c.StartsOn, c.EndsOn
		if !c.TerminatedOn.IsZero() {
			s.EndsOn = EffectiveEndsOn(c.Facts())
		}
	}
	return s
}
