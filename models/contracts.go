package models

import "time"

// Codes of contract actions.
const (
	CodeGraceTooLong       = "grace_too_long"
	CodeContractTerminated = "contract_terminated"
	CodeTrialNotRenewable  = "trial_not_renewable"
)

// MaxGraceDays is how far past ends_on renewal staff may keep support on.
const MaxGraceDays = 60

// GraceRefusal says why grace until day cannot be granted on a contract that ends on endsOn (and
// is neither terminated nor open-ended): FieldInvalid when day is not after endsOn,
// CodeGraceTooLong when it is more than MaxGraceDays after it, "" when it can. The API and the
// portal's first step ask the same question.
func GraceRefusal(endsOn, day Date) string {
	switch {
	case !day.After(endsOn):
		return FieldInvalid
	case day.After(endsOn.AddDays(MaxGraceDays)):
		return CodeGraceTooLong
	}
	return ""
}

// ContractView is a contract with everything renewal staff see of it.
type ContractView struct {
	Contract Contract
	License  License
	Account  Account
	Product  Product
	Terms    []ContractTerm
	Notices  []NoticeSent
	Renewal  *RenewalRecord // the current term's renewal record (renewal_pipeline.go)
	Notes    []ContractNote // loaded by the contract's own page only
}

// NoticeSent is a letter of the renewal desk that went out for a contract: a renewal notice
// OffsetDays before EndsOn, or the lapse notice (OffsetDays = LapseNoticeOffset, -1).
type NoticeSent struct {
	EndsOn     Date
	OffsetDays int
	SentAt     time.Time
}

// Status is the contract's status on a day.
func (v *ContractView) Status(today Date, window int) (string, int) {
	return ContractStatus(v.Contract.Facts(), today, window)
}

// RenewalInput is a new term.
type RenewalInput struct {
	EndsOn  string
	Program string
	Premier *bool
}

// UpgradeInput changes a contract's program or premier from today.
type UpgradeInput struct {
	Program string
	Premier *bool
}
