package models

// SupportView is a license's support as its members see it: status, dates, response targets and
// every entitlement with its reason.
type SupportView struct {
	LicenseNumber string
	ContractID    int64 // 0 without support
	Summary       SupportSummary
	GraceUntil    Date
	TerminatedOn  Date
	TrialEndsOn   Date
	Targets       Targets // zero without support
	Version       *ProductVersion
	Entitlements  []Entitlement
}

// CheckInput is one online entitlement check.
type CheckInput struct {
	LicenseNumber string
	Entitlement   string
	Version       string
	User          string // for API keys: the user asked about, by email
}

// CheckResult is the answer of a check.
type CheckResult struct {
	Allowed bool
	Reason  string
	Status  string
	Version string
}
