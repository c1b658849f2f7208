package models

import (
	"slices"
	"sort"
	"time"
)

// LapseNoticeOffset is the offset_days of the lapse notice in renewal_notices and notices_sent.
const LapseNoticeOffset = -1

// LapseNoticeCatchUpDays is how late a lapse notice still goes out: the sweep owes it from the
// day after the contract's last covered day, and a pass missed while every replica was down
// catches up for this many days. Older lapses are not written to, so that turning the sweep on
// for a database with years of history does not write to every customer who ever lapsed.
const LapseNoticeCatchUpDays = 30

// DigestDays is the horizon of the digest's "expiring this week": 0 ≤ days_left ≤ 7.
const DigestDays = 7

// Letter kinds of the renewal desk (mailer.Message.Template()).
const (
	LetterRenewalNotice = "renewal_notice"
	LetterLapseNotice   = "lapse_notice"
	LetterDigest        = "renewal_digest"
)

// NoticeOffsets turns ENTITLED_RENEWAL_NOTICE_DAYS into the sweep's offsets: distinct,
// non-negative, ascending. Errors: validation_failed.
func NoticeOffsets(days []int) ([]int, error) {
	var v Validation
	out := []int{}
	for _, d := range days {
		if d < 0 || d > MaxWithinDays {
			v.Add("renewal_notice_days", FieldInvalid, "offsets are whole numbers of days before ends_on, from 0")
			continue
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	sort.Ints(out)
	return out, v.Err()
}

// LastCoveredDay is the last day a contract gives support on without a renewal: ends_on, or
// grace_until when staff granted grace. Zero when there is no end yet.
func LastCoveredDay(c *SupportFacts) Date {
	c = c.withTrialEnd()
	if c == nil {
		return Date{}
	}
	if c.GraceUntil.After(c.EndsOn) {
		return c.GraceUntil
	}
	return c.EndsOn
}

// NoticeDue is the rule of the renewal desk's letters: the notice a contract is owed on a day, as
// its offset_days, or false when it is owed none. offsets are ascending (NoticeOffsets).
//
//   - A renewal notice while the contract is active or expiring (days_left ≥ 0): the one of the
//     smallest offset ≥ days_left. So a contract that enters the window late, or a pass that was
//     missed, gets only the nearest notice. Never for a trial: it is not renewed.
//   - The lapse notice (LapseNoticeOffset) once the contract is lapsed: from the day after
//     ends_on, or after grace_until when grace was granted, for LapseNoticeCatchUpDays days.
//   - Nothing for a future, grace or terminated contract.
//
// Whether that notice went out already is not decided here but by the unique row of
// renewal_notices: one per (contract, ends_on, offset), so a renewal (a new ends_on) starts
// afresh and an upgrade (the same ends_on) sends nothing new.
func NoticeDue(c *SupportFacts, today Date, offsets []int) (int, bool) {
	if c == nil {
		return 0, false
	}
	status, days := ContractStatus(c, today, 0)
	switch status {
	case StatusActive, StatusExpiring:
		if c.Trial {
			return 0, false
		}
		for _, o := range offsets {
			if o >= days {
				return o, true
			}
		}
	case StatusLapsed:
		if today.AddDays(-1 - LapseNoticeCatchUpDays).After(LastCoveredDay(c)) {
			return 0, false
		}
		return LapseNoticeOffset, true
	}
	return 0, false
}

// QueuedLetter is a letter a pass queued, reported once its transaction committed.
type QueuedLetter struct {
	Kind          string // LetterRenewalNotice, LetterLapseNotice or LetterDigest
	ContractID    int64  // 0 for the digest
	LicenseNumber string
	EndsOn        Date
	OffsetDays    int
	DaysLeft      int
	To            []string
	Cc            []string
	MessageID     string
}

// UndeliverableNotice is a notice a pass did not queue because the primary contact's address
// cannot take mail (one stored before addresses were checked as they are now, such as an address
// literal x@[10.0.0.1]). No renewal_notices row is written for it, so a later pass sends it
// once the contact is corrected (PATCH /v1/accounts/{id}), while it is still due.
type UndeliverableNotice struct {
	Kind          string // LetterRenewalNotice or LetterLapseNotice
	ContractID    int64
	LicenseNumber string
	AccountID     string
	OffsetDays    int
	Address       string // the stored address, as it is: personal data, for the operator only
}

// PassOptions are the callbacks of a pass; any may be nil.
type PassOptions struct {
	// Progress is called after each batch with the contracts handled so far and in all.
	Progress func(done, total int)
	// Queued is called for each letter, after the transaction that queued it committed.
	Queued func(QueuedLetter)
	// Undeliverable is called for each notice skipped for its address, after its batch
	// committed. The pass goes on with every other contract.
	Undeliverable func(UndeliverableNotice)
}

// PassReport sums up a pass.
type PassReport struct {
	Day            Date
	Contracts      int // contracts that looked due and were examined
	RenewalNotices int
	LapseNotices   int
	DigestLetters  int
	Undeliverable  int // notices not queued because the primary contact's address cannot take mail (models.ValidEmail)
}

// Letters is how many letters the pass queued.
func (r PassReport) Letters() int { return r.RenewalNotices + r.LapseNotices + r.DigestLetters }

// NextSweep is when the daily sweep runs next after t: at 00:05 UTC, just after the day (and so
// the days_left of every contract) changed.
func NextSweep(t time.Time) time.Time {
	t = t.UTC()
	next := time.Date(t.Year(), t.Month(), t.Day(), 0, 5, 0, 0, time.UTC)
	if !next.After(t) {
		next = next.AddDate(0, 0, 1)
	}
	return next
}
