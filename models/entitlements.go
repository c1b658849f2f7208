package models

import "slices"

// Entitlement names (contract: "Entitlements — one pure function decides them").
const (
	EntitlementAssetsRead     = "assets.read"
	EntitlementSupportCases   = "support.cases"
	EntitlementSupportKB      = "support.kb"
	EntitlementSupportChat    = "support.chat"
	EntitlementDownloadsRead  = "downloads.read"
	EntitlementLicenseKeys    = "license.keys"
	EntitlementSupportPremier = "support.premier"
)

// entitlementNames lists every entitlement in the fixed order in which Entitlements answers.
var entitlementNames = []string{
	EntitlementAssetsRead,
	EntitlementSupportCases,
	EntitlementSupportKB,
	EntitlementSupportChat,
	EntitlementDownloadsRead,
	EntitlementLicenseKeys,
	EntitlementSupportPremier,
}

// EntitlementNames lists every entitlement in the fixed order in which Entitlements answers, in a
// fresh slice the caller may change.
func EntitlementNames() []string { return slices.Clone(entitlementNames) }

// IsEntitlement reports whether name is one of EntitlementNames.
func IsEntitlement(name string) bool { return slices.Contains(entitlementNames, name) }

// Denial reasons, in the order they are tested: where several apply, the first is given. They
// are also the code of a 403 on a license's routes: not_a_member and role_missing are
// CodeNotAMember and CodeRoleMissing themselves.
const (
	ReasonNotAMember          = CodeNotAMember  // "not_a_member"
	ReasonRoleMissing         = CodeRoleMissing // "role_missing"
	ReasonVersionDiscontinued = "version_discontinued"
	ReasonNoSupportContract   = "no_support_contract"
	ReasonSupportNotStarted   = "support_not_started"
	ReasonSupportTerminated   = "support_terminated"
	ReasonTrialExpired        = "trial_expired"
	ReasonSupportLapsed       = "support_lapsed"
	ReasonPremierNotPurchased = "premier_not_purchased"
)

// denialReasons lists the reasons in the order they are tested.
var denialReasons = []string{
	ReasonNotAMember,
	ReasonRoleMissing,
	ReasonVersionDiscontinued,
	ReasonNoSupportContract,
	ReasonSupportNotStarted,
	ReasonSupportTerminated,
	ReasonTrialExpired,
	ReasonSupportLapsed,
	ReasonPremierNotPurchased,
}

// DenialReasons lists the reasons in the order they are tested, in a fresh slice the caller may
// change.
func DenialReasons() []string { return slices.Clone(denialReasons) }

// Entitlement is one answer: allowed, or denied with its reason.
type Entitlement struct {
	Name    string `json:"name"`
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason,omitempty"` // empty when allowed
}

// LicenseFacts are what the rules need of a license.
type LicenseFacts struct {
	Kind         string // perpetual, subscription or trial
	OrderedOn    Date   // what a license without support may key: versions released on or before it
	RegisteredOn Date   // a trial's support starts here; zero before its first admin registered
}

// Facts are the license's kind and dates for the entitlement rules.
func (l *License) Facts() LicenseFacts {
	return LicenseFacts{Kind: l.Kind, OrderedOn: l.OrderedOn, RegisteredOn: l.RegisteredOn}
}

// EntitlementInput is everything the entitlement rules read. Nothing else — no database, no
// clock — goes into the answer.
type EntitlementInput struct {
	// Member is whether the user is a member of the license at all; Roles are the member's roles
	// (admin, support, license). A member may have no role.
	Member bool
	Roles  []string
	// License is the license asked about.
	License LicenseFacts
	// Contract is the license's support contract (a subscription's subscription); nil for a
	// license bought without support.
	Contract *SupportFacts
	// Version is the product version asked about. Callers that were given no version pass the
	// product's newest version that is not discontinued (contract: the token's `ent` and
	// /entitlements/check without version=). nil means there is no version to judge: the phase
	// is not checked, and the release-date exemptions never apply, so downloads and keys need a
	// current contract — as for a release newer than anything paid for.
	Version *ProductVersion
	// Today is the UTC day the answer is for; RenewalWindowDays is the renewal window (it only
	// tells active from expiring, which give the same entitlements, but the status is computed
	// once, the same way everywhere).
	Today             Date
	RenewalWindowDays int
}

// Entitlements is every entitlement of the license for the member on the day, in the order of
// EntitlementNames, each allowed or denied with the first applicable reason of DenialReasons.
func Entitlements(in EntitlementInput) []Entitlement {
	d := newDecision(in)
	out := make([]Entitlement, len(entitlementNames))
	for i, name := range entitlementNames {
		reason := d.reason(name)
		out[i] = Entitlement{Name: name, Allowed: reason == "", Reason: reason}
	}
	return out
}

// Check answers one entitlement: known is false for a name that is not an entitlement (the
// caller's 400 validation_failed), and then allowed is false and reason empty.
func Check(in EntitlementInput, name string) (allowed bool, reason string, known bool) {
	if !IsEntitlement(name) {
		return false, "", false
	}
	reason = newDecision(in).reason(name)
	return reason == "", reason, true
}

// AllowedEntitlements is the names of the allowed entitlements, in order: a token's `ent` claim.
func AllowedEntitlements(ents []Entitlement) []string {
	names := []string{}
	for _, e := range ents {
		if e.Allowed {
			names = append(names, e.Name)
		}
	}
	return names
}

// decision is the input with the contract's status worked out once.
type decision struct {
	in          EntitlementInput
	status      string // ContractStatus: none, future, active, expiring, grace, lapsed, terminated
	trial       bool
	paidThrough Date // the last day the contract paid for (EffectiveEndsOn), when paid is true
	paid        bool
}

func newDecision(in EntitlementInput) decision {
	c := in.Contract
	trial := in.License.Kind == KindTrial || (c != nil && c.Trial)
	// A trial's support runs from the license's registration date (contract: "trial licenses run
	// from the registration date"). Registration stores these dates on the contract; where the
	// contract does not have them yet, the registration date the caller gave decides.
	if c != nil && trial && c.StartsOn.IsZero() && !in.License.RegisteredOn.IsZero() {
		f := *c
		f.Trial, f.StartsOn, f.EndsOn = true, in.License.RegisteredOn, TrialEndsOn(in.License.RegisteredOn)
		c = &f
	}
	status, _ := ContractStatus(c, in.Today, in.RenewalWindowDays)
	paidThrough, paid := PaidThrough(c)
	return decision{in: in, status: status, trial: trial, paidThrough: paidThrough, paid: paid}
}

// roleFor is the member role an entitlement needs; "" for any member.
func roleFor(name string) string {
	switch name {
	case EntitlementAssetsRead:
		return ""
	case EntitlementLicenseKeys:
		return MemberLicense
	}
	return MemberSupport
}

// reason is why name is denied, "" when it is allowed. The checks run in the contract's order of
// DenialReasons; the contract-status reasons exclude one another (a contract has one status), so
// the order only matters between membership, role, version phase, status, and premier.
func (d decision) reason(name string) string {
	in := d.in
	if !in.Member {
		return ReasonNotAMember
	}
	if role := roleFor(name); role != "" && !slices.Contains(in.Roles, role) {
		return ReasonRoleMissing
	}
	switch name {
	case EntitlementAssetsRead:
		// A lapsed customer can still see what they own, to renew it.
		return ""
	case EntitlementSupportCases, EntitlementSupportKB, EntitlementSupportChat:
		return StatusReason(d.status, d.trial)
	case EntitlementSupportPremier:
		if r := StatusReason(d.status, d.trial); r != "" {
			return r
		}
		if !PremierCurrent(in.Contract, d.status) {
			return ReasonPremierNotPurchased
		}
		return ""
	case EntitlementDownloadsRead:
		if in.Version != nil && in.Version.Phase == PhaseDiscontinued {
			return ReasonVersionDiscontinued
		}
		if d.status == StatusNone {
			// Without support nothing is downloadable, not even what was bought.
			return ReasonNoSupportContract
		}
		return d.versionReason()
	case EntitlementLicenseKeys:
		// The phase does not gate keys: the contract's table gates only downloads on it, and a
		// customer still runs (and moves to new machines) the discontinued version they own.
		if d.status == StatusNone {
			// A license bought without support keys what was bought: versions released on or
			// before the day it was ordered. That holds for a perpetual license only: a
			// subscription's contract is its subscription, and a trial always has one.
			if in.License.Kind != KindSubscription && in.License.Kind != KindTrial && d.releasedOnOrBefore(in.License.OrderedOn) {
				return ""
			}
			return ReasonNoSupportContract
		}
		return d.versionReason()
	}
	return "" // not reached for the names of EntitlementNames
}

// versionReason is the rule that downloads and keys share once there is a contract: a current
// contract gives every version; otherwise a version released on or before the last paid-for day
// (ends_on, or a terminated contract's termination date) stays available, and a newer one is
// denied for the contract's status. A future contract has paid for nothing yet.
func (d decision) versionReason() string {
	switch {
	case d.status == StatusFuture:
		return ReasonSupportNotStarted
	case IsCurrent(d.status):
		return ""
	case d.paid && d.releasedOnOrBefore(d.paidThrough):
		return ""
	}
	return StatusReason(d.status, d.trial)
}

// releasedOnOrBefore reports whether the version asked about was released on or before day. With
// no version there is nothing released to exempt. A release date in the future (a scheduled
// release) is used as given.
func (d decision) releasedOnOrBefore(day Date) bool {
	v := d.in.Version
	return v != nil && !day.IsZero() && !v.ReleasedOn.After(day)
}
