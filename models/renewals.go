package models

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// contractStatuses are the statuses a contract list can be filtered on.
var contractStatuses = []string{StatusFuture, StatusActive, StatusExpiring, StatusGrace, StatusLapsed, StatusTerminated}

// ContractStatuses are the statuses a contract list can be filtered on, in a fresh slice the
// caller may change.
func ContractStatuses() []string { return slices.Clone(contractStatuses) }

// MaxWithinDays bounds expiring_within_days and within_days (ten years).
const MaxWithinDays = 3650

// ContractFilter narrows the renewal desk's list of contracts. Zero fields do not filter.
type ContractFilter struct {
	// Status is a computed status, matched exactly: active does not include expiring.
	Status  string
	Program string
	// Within, when HasWithin, keeps the current contracts (active, expiring, grace) with
	// days_left <= Within, and orders the list grace first, then soonest ends_on.
	Within    int
	HasWithin bool
	// AccountID is the 7-digit Account ID.
	AccountID string
	// Q matches a License Number exactly, or a part of the License Number, the account's name, the
	// contact's name or email, case-insensitively.
	Q string
	// Owner is the email of the renewal record's owner, or OwnerNone (renewal_pipeline.go).
	Owner string
	// Stage is the renewal record's stage as it reads today (models.EffectiveStage).
	Stage string
}

// ParseContractFilter reads the query parameters of GET /contracts. Errors: validation_failed,
// naming each bad parameter.
func ParseContractFilter(status, program, within, accountID, q string) (ContractFilter, error) {
	var v Validation
	f := ContractFilter{}
	if status != "" {
		f.Status = strings.ToLower(strings.TrimSpace(status))
		if !slices.Contains(contractStatuses, f.Status) {
			v.Add("status", FieldInvalid, "must be one of "+strings.Join(contractStatuses, ", "))
		}
	}
	if program != "" {
		f.Program = CheckProgram(&v, "program", program)
	}
	if within != "" {
		f.Within, f.HasWithin = parseWithin(&v, "expiring_within_days", within)
	}
	if accountID != "" {
		id, ok := ParseAccountID(accountID)
		if !ok {
			v.Add("account_id", FieldInvalid, "must be a 7-digit Account ID")
		}
		f.AccountID = id
	}
	f.Q = strings.TrimSpace(q)
	if len(f.Q) > 200 {
		v.Add("q", FieldTooLong, "must be at most 200 characters")
	}
	return f, v.Err()
}

// ParseWithinDays reads within_days of GET /renewals; empty is def. Errors: validation_failed.
func ParseWithinDays(raw string, def int) (int, error) {
	if raw == "" {
		return def, nil
	}
	var v Validation
	n, _ := parseWithin(&v, "within_days", raw)
	return n, v.Err()
}

func parseWithin(v *Validation, field, raw string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < 0 || n > MaxWithinDays {
		v.Add(field, FieldInvalid, fmt.Sprintf("must be a whole number of days from 0 to %d", MaxWithinDays))
		return 0, false
	}
	return n, true
}

// ContractList is one page of contracts, with the day their statuses were computed on.
type ContractList struct {
	Items []ContractView
	Next  string // "" on the last page
	Today Date
}

// StatusPredicate is the SQL condition on a contract row (alias c) that holds exactly when
// ContractStatus gives status on the day today with the renewal window: the same rule, written
// over the stored dates. A registered trial has both dates stored (registration writes
// TrialEndsOn), an unregistered one neither; trial is a boolean column.
func StatusPredicate(status string, today Date, window int) (string, []any) {
	d, w := today, today.AddDays(window)
	switch status {
	case StatusTerminated:
		return "c.terminated_on IS NOT NULL", nil
	case StatusFuture:
		return "c.terminated_on IS NULL AND (c.starts_on IS NULL OR c.ends_on IS NULL OR c.starts_on > ?)", []any{d}
	case StatusActive: // covered today, and beyond the renewal window unless a trial (no window)
		return "c.terminated_on IS NULL AND c.starts_on <= ? AND c.ends_on >= ? AND (c.trial OR c.ends_on > ?)", []any{d, d, w}
	case StatusExpiring:
		return "c.terminated_on IS NULL AND NOT c.trial AND c.starts_on <= ? AND c.ends_on >= ? AND c.ends_on <= ?", []any{d, d, w}
	case StatusGrace:
		return "c.terminated_on IS NULL AND c.starts_on <= ? AND c.ends_on < ? AND c.grace_until >= ?", []any{d, d, d}
	case StatusLapsed:
		return "c.terminated_on IS NULL AND c.starts_on <= ? AND c.ends_on < ? AND (c.grace_until IS NULL OR c.grace_until < ?)", []any{d, d, d}
	}
	return "1 = 0", nil
}

// ExportRow is one contract of a spreadsheet export: the contract with its license, account and
// product, and its notices and terms already flattened to text by the query ("90@2026-04-01;
// 60@2026-05-01", "initial 2025-07-01..2026-06-30 24x7;renewal …").
type ExportRow struct {
	View     ContractView // without Terms and Notices
	Status   string       // on the day of the export, with the renewal window
	DaysLeft int
	Notices  string
	Terms    string
	// RenewalStage is the renewal record's stage as it reads on the day (View.Renewal holds the
	// rest of the record).
	RenewalStage string
}
