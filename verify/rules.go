package verify

import (
	"time"
)

// Denial reasons, as entitled names them (the code of a 403). Where several apply, the first in
// this order is given.
const (
	ReasonRoleMissing         = "role_missing"
	ReasonVersionDiscontinued = "version_discontinued"
	ReasonNoSupportContract   = "no_support_contract"
	ReasonSupportNotStarted   = "support_not_started"
	ReasonSupportTerminated   = "support_terminated"
	ReasonSupportLapsed       = "support_lapsed"
	ReasonPremierNotPurchased = "premier_not_purchased"
)

// ReasonRevoked is the code of a token whose status-list bit is set: the grant behind it changed
// or ended (or, for a license key, the key was released or its contract terminated). Unlike the
// reasons above it is about the token, not about an entitlement: Verify gives it, with 401 (RFC
// 6750 counts a revoked token as invalid_token, which the Bearer challenge says), and Reason never
// does.
const ReasonRevoked = "revoked"

// Support statuses of the support claim.
const (
	StatusNone       = "none"
	StatusFuture     = "future"
	StatusActive     = "active"
	StatusExpiring   = "expiring"
	StatusGrace      = "grace"
	StatusLapsed     = "lapsed"
	StatusTerminated = "terminated"
)

// Version phases.
const (
	PhaseFull         = "full"
	PhaseLimited      = "limited"
	PhaseDiscontinued = "discontinued"
)

// current reports whether a support status gives support: active, expiring or grace.
func current(status string) bool {
	return status == StatusActive || status == StatusExpiring || status == StatusGrace
}

// statusReason is why a support status denies what needs current support ("" when current).
// A lapsed trial is support_lapsed here: the token does not say that it was a trial, and
// entitled itself says trial_expired.
func statusReason(status string) string {
	switch {
	case current(status):
		return ""
	case status == StatusNone, status == "":
		return ReasonNoSupportContract
	case status == StatusFuture:
		return ReasonSupportNotStarted
	case status == StatusTerminated:
		return ReasonSupportTerminated
	}
	return ReasonSupportLapsed
}

// roleFor is the member role an entitlement needs ("" for any member).
func roleFor(entitlement string) string {
	switch entitlement {
	case AssetsRead:
		return ""
	case LicenseKeys:
		return "license"
	}
	return "support"
}

// Reason says why the token does not grant an entitlement, as the code of a 403: role_missing,
// then what the support claim says (no_support_contract, support_not_started,
// support_terminated, support_lapsed), then premier_not_purchased or, for downloads and keys
// under current support, version_discontinued (the newest version's phase). It is "" when the
// token grants it.
func Reason(c *Claims, entitlement string) string {
	if c.Has(entitlement) {
		return ""
	}
	if role := roleFor(entitlement); role != "" && !c.HasRole(role) {
		return ReasonRoleMissing
	}
	if r := statusReason(c.Support.Status); r != "" {
		return r
	}
	switch entitlement {
	case SupportPremier:
		return ReasonPremierNotPurchased
	case DownloadsRead, LicenseKeys:
		return ReasonVersionDiscontinued
	}
	return "forbidden"
}

// CanDownload applies entitled's paid-for download rule to any version of the product, offline:
// the member needs the support role; a discontinued version is never downloadable; under current
// support (active, expiring, grace) every other version is; after support ends (lapsed,
// terminated) a version released on or before support.ends_on still is, and a newer one is not.
// Without support, or before it starts, nothing is. releasedOn is the version's release day
// (only its UTC date counts); phase is full, limited or discontinued. It returns whether the
// download is allowed and, when not, the reason (role_missing, version_discontinued,
// no_support_contract, support_not_started, support_terminated, support_lapsed).
func CanDownload(c *Claims, releasedOn time.Time, phase string) (bool, string) {
	if !c.HasRole("support") {
		return false, ReasonRoleMissing
	}
	if phase == PhaseDiscontinued {
		return false, ReasonVersionDiscontinued
	}
	status := c.Support.Status
	if current(status) {
		return true, ""
	}
	if status == StatusLapsed || status == StatusTerminated {
		if end, ok := c.Support.endsOn(); ok && !dayOf(releasedOn).After(end) {
			return true, ""
		}
	}
	return false, statusReason(status)
}

func (s Support) endsOn() (time.Time, bool) {
	if s.EndsOn == nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, *s.EndsOn)
	return t, err == nil
}

func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
