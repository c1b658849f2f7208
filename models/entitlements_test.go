package models

import (
	"slices"
	"strings"
	"testing"
)

// verdicts is the expected answer for every entitlement: its denial reason, "" when allowed.
type verdicts map[string]string

// every is the same verdict for all seven entitlements.
func every(reason string) verdicts {
	v := verdicts{}
	for _, name := range EntitlementNames() {
		v[name] = reason
	}
	return v
}

// but changes the verdicts of some entitlements: but(name, reason, name, reason, …).
func (v verdicts) but(pairs ...string) verdicts {
	out := verdicts{}
	for k, r := range v {
		out[k] = r
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		out[pairs[i]] = pairs[i+1]
	}
	return out
}

// supportDenied is every support.* (premier included) denied for reason, the rest allowed.
func supportDenied(reason string) verdicts {
	return every("").but(EntitlementSupportCases, reason, EntitlementSupportKB, reason, EntitlementSupportChat, reason, EntitlementSupportPremier, reason)
}

const granted = "" // the verdict of an allowed entitlement

// Versions of the product, by when they were released against the contract of 2025.
var (
	verBefore   = &ProductVersion{Version: "4.0", ReleasedOn: ruleDate("2024-06-01"), Phase: PhaseFull}
	verOnEnds   = &ProductVersion{Version: "4.5", ReleasedOn: ruleEnds, Phase: PhaseFull}
	verAfter    = &ProductVersion{Version: "5.0", ReleasedOn: ruleEnds.AddDays(1), Phase: PhaseFull}
	verLimited  = &ProductVersion{Version: "3.0", ReleasedOn: ruleDate("2023-06-01"), Phase: PhaseLimited}
	verDisc     = &ProductVersion{Version: "2.0", ReleasedOn: ruleDate("2022-06-01"), Phase: PhaseDiscontinued}
	allRoles    = []string{MemberAdmin, MemberSupport, MemberLicense}
	midTerm     = ruleDate("2025-06-15")
	terminateOn = ruleDate("2025-06-30")
)

// asMember is a member with every role on a perpetual license ordered on the contract's first day,
// asking about verBefore in mid-term; rows change what they are about.
func asMember(c *SupportFacts) EntitlementInput {
	return EntitlementInput{
		Member:            true,
		Roles:             allRoles,
		License:           LicenseFacts{Kind: KindPerpetual, OrderedOn: ruleStarts, RegisteredOn: ruleStarts},
		Contract:          c,
		Version:           verBefore,
		Today:             midTerm,
		RenewalWindowDays: ruleWindow,
	}
}

func (in EntitlementInput) roles(r ...string) EntitlementInput         { in.Roles = r; return in }
func (in EntitlementInput) on(d Date) EntitlementInput                 { in.Today = d; return in }
func (in EntitlementInput) version(v *ProductVersion) EntitlementInput { in.Version = v; return in }
func (in EntitlementInput) kind(k string) EntitlementInput             { in.License.Kind = k; return in }
func (in EntitlementInput) registered(d Date) EntitlementInput {
	in.License.RegisteredOn = d
	return in
}
func (in EntitlementInput) ordered(d Date) EntitlementInput { in.License.OrderedOn = d; return in }

func premierContract() *SupportFacts {
	return ruleWith(ruleContract(), func(c *SupportFacts) { c.Premier = true })
}

func graceContract() *SupportFacts {
	return ruleWith(premierContract(), func(c *SupportFacts) { c.GraceUntil = ruleEnds.AddDays(30) })
}

func terminatedContract() *SupportFacts {
	return ruleWith(premierContract(), func(c *SupportFacts) { c.TerminatedOn = terminateOn })
}

var trialRegistered = ruleDate("2025-03-01")

func trialContract() *SupportFacts {
	return &SupportFacts{Program: ProgramStandard, Trial: true, StartsOn: trialRegistered, EndsOn: TrialEndsOn(trialRegistered)}
}

func trialMember() EntitlementInput {
	return asMember(trialContract()).kind(KindTrial).registered(trialRegistered).ordered(trialRegistered).
		version(&ProductVersion{Version: "4.0", ReleasedOn: trialRegistered.AddDays(10), Phase: PhaseFull})
}

// entitlementRows is the contract's entitlement table, row by row and reason by reason.
var entitlementRows = []struct {
	name string
	in   EntitlementInput
	want verdicts
}{
	// Who: membership and roles.
	{"a non-member is denied everything, even assets.read", EntitlementInput{Contract: premierContract(), Version: verBefore, Today: midTerm, RenewalWindowDays: ruleWindow},
		every(ReasonNotAMember)},
	{"Member=false decides, whatever roles are passed", asMember(premierContract()).withMember(false),
		every(ReasonNotAMember)},
	{"a member with no role sees their assets and nothing else", asMember(premierContract()).roles(),
		every(ReasonRoleMissing).but(EntitlementAssetsRead, granted)},
	{"admin alone grants no support, downloads or keys", asMember(premierContract()).roles(MemberAdmin),
		every(ReasonRoleMissing).but(EntitlementAssetsRead, granted)},
	{"support gives support.*, downloads and premier, not keys", asMember(premierContract()).roles(MemberSupport),
		every(granted).but(EntitlementLicenseKeys, ReasonRoleMissing)},
	{"license gives keys, not support or downloads", asMember(premierContract()).roles(MemberLicense),
		every(ReasonRoleMissing).but(EntitlementAssetsRead, granted, EntitlementLicenseKeys, granted)},

	// Current contracts: active, expiring, grace.
	{"active standard: everything but premier", asMember(ruleContract()),
		every(granted).but(EntitlementSupportPremier, ReasonPremierNotPurchased)},
	{"active with premier: everything", asMember(premierContract()),
		every(granted)},
	{"24x7 with premier: everything", asMember(ruleWith(premierContract(), func(c *SupportFacts) { c.Program = Program24x7 })),
		every(granted)},
	{"starts_on itself is covered", asMember(premierContract()).on(ruleStarts),
		every(granted)},
	{"the window's day before (days_left = window+1), active", asMember(premierContract()).on(ruleEnds.AddDays(-ruleWindow - 1)),
		every(granted)},
	{"the window's first day (days_left = window), expiring gives the same", asMember(premierContract()).on(ruleEnds.AddDays(-ruleWindow)),
		every(granted)},
	{"ends_on itself is covered", asMember(premierContract()).on(ruleEnds),
		every(granted)},
	{"a current contract downloads and keys a version released after ends_on", asMember(premierContract()).version(verAfter),
		every(granted)},
	{"grace on ends_on+1 restores everything, new releases included", asMember(graceContract()).on(ruleEnds.AddDays(1)).version(verAfter),
		every(granted)},
	{"grace_until itself is still grace", asMember(graceContract()).on(ruleEnds.AddDays(30)).version(verAfter),
		every(granted)},
	{"premier without the add-on, in grace", asMember(ruleWith(graceContract(), func(c *SupportFacts) { c.Premier = false })).on(ruleEnds.AddDays(1)),
		every(granted).but(EntitlementSupportPremier, ReasonPremierNotPurchased)},
	{"premier without a base program is not premier", asMember(ruleWith(premierContract(), func(c *SupportFacts) { c.Program = "" })),
		every(granted).but(EntitlementSupportPremier, ReasonPremierNotPurchased)},

	// Lapsed: what was paid for stays, the rest needs current support.
	{"ends_on+1: a version released before ends_on stays downloadable and keyable", asMember(premierContract()).on(ruleEnds.AddDays(1)),
		supportDenied(ReasonSupportLapsed)},
	{"lapsed: a version released on ends_on was paid for", asMember(premierContract()).on(ruleEnds.AddDays(1)).version(verOnEnds),
		supportDenied(ReasonSupportLapsed)},
	{"lapsed: a version released the day after ends_on needs current support", asMember(premierContract()).on(ruleEnds.AddDays(1)).version(verAfter),
		every(ReasonSupportLapsed).but(EntitlementAssetsRead, granted)},
	{"grace_until+1 lapses like ends_on+1", asMember(graceContract()).on(ruleEnds.AddDays(31)).version(verAfter),
		every(ReasonSupportLapsed).but(EntitlementAssetsRead, granted)},
	{"premier on a lapsed program is lapsed, not premier_not_purchased", asMember(premierContract()).on(ruleEnds.AddDays(1)).roles(MemberSupport),
		supportDenied(ReasonSupportLapsed).but(EntitlementLicenseKeys, ReasonRoleMissing)},

	// Lifecycle phases.
	{"a discontinued version is not downloadable, and keys are not gated by phase", asMember(premierContract()).version(verDisc),
		every(granted).but(EntitlementDownloadsRead, ReasonVersionDiscontinued)},
	{"a limited version is downloadable like a full one", asMember(premierContract()).version(verLimited),
		every(granted)},
	{"a limited version released before ends_on stays downloadable after lapse", asMember(premierContract()).on(ruleEnds.AddDays(1)).version(verLimited),
		supportDenied(ReasonSupportLapsed)},
	{"role_missing comes before version_discontinued", asMember(premierContract()).roles(MemberLicense).version(verDisc),
		every(ReasonRoleMissing).but(EntitlementAssetsRead, granted, EntitlementLicenseKeys, granted)},
	{"version_discontinued comes before support_lapsed", asMember(premierContract()).on(ruleEnds.AddDays(1)).version(verDisc),
		supportDenied(ReasonSupportLapsed).but(EntitlementDownloadsRead, ReasonVersionDiscontinued)},

	// Future: nothing paid for yet.
	{"the day before starts_on: nothing of support, downloads or keys, of any version", asMember(premierContract()).on(ruleStarts.AddDays(-1)),
		every(ReasonSupportNotStarted).but(EntitlementAssetsRead, granted)},
	{"future, even a version released long before", asMember(premierContract()).on(ruleStarts.AddDays(-1)).version(verLimited),
		every(ReasonSupportNotStarted).but(EntitlementAssetsRead, granted)},
	{"future: version_discontinued comes first for downloads", asMember(premierContract()).on(ruleStarts.AddDays(-1)).version(verDisc),
		every(ReasonSupportNotStarted).but(EntitlementAssetsRead, granted, EntitlementDownloadsRead, ReasonVersionDiscontinued)},

	// Terminated: the termination date is the ends_on of the table.
	{"terminated: support ends, versions released before the termination stay", asMember(terminatedContract()).on(terminateOn.AddDays(10)),
		supportDenied(ReasonSupportTerminated)},
	{"terminated on its termination day already", asMember(terminatedContract()).on(terminateOn),
		supportDenied(ReasonSupportTerminated)},
	{"terminated: a version released on the termination date stays", asMember(terminatedContract()).on(terminateOn.AddDays(10)).version(&ProductVersion{Version: "4.1", ReleasedOn: terminateOn, Phase: PhaseFull}),
		supportDenied(ReasonSupportTerminated)},
	{"terminated: a version released after the termination but before ends_on is not paid for", asMember(terminatedContract()).on(terminateOn.AddDays(10)).version(&ProductVersion{Version: "4.2", ReleasedOn: terminateOn.AddDays(1), Phase: PhaseFull}),
		every(ReasonSupportTerminated).but(EntitlementAssetsRead, granted)},
	{"terminated after it lapsed: a version released after ends_on is not paid for", asMember(ruleWith(ruleContract(), func(c *SupportFacts) { c.TerminatedOn = ruleEnds.AddDays(40) })).on(ruleEnds.AddDays(50)).version(&ProductVersion{Version: "5.0", ReleasedOn: ruleEnds.AddDays(20), Phase: PhaseFull}),
		every(ReasonSupportTerminated).but(EntitlementAssetsRead, granted)},
	{"terminated before it started: nothing was paid for", asMember(ruleWith(ruleContract(), func(c *SupportFacts) { c.TerminatedOn = ruleStarts.AddDays(-3) })).on(ruleStarts.AddDays(-2)),
		every(ReasonSupportTerminated).but(EntitlementAssetsRead, granted)},

	// Trials: 30 days from registration, then trial_expired.
	{"trial registration day: standard support, no premier", trialMember().on(trialRegistered),
		every(granted).but(EntitlementSupportPremier, ReasonPremierNotPurchased)},
	{"trial day 30 (its ends_on) is covered", trialMember().on(trialRegistered.AddDays(30)),
		every(granted).but(EntitlementSupportPremier, ReasonPremierNotPurchased)},
	{"trial day 31: support has expired, what was released during the trial stays", trialMember().on(trialRegistered.AddDays(31)),
		supportDenied(ReasonTrialExpired)},
	{"trial day 31: a version released after the trial needs support", trialMember().on(trialRegistered.AddDays(31)).version(&ProductVersion{Version: "5.0", ReleasedOn: trialRegistered.AddDays(31), Phase: PhaseFull}),
		every(ReasonTrialExpired).but(EntitlementAssetsRead, granted)},
	{"a trial not registered yet has not started", asMember(&SupportFacts{Program: ProgramStandard, Trial: true}).kind(KindTrial).registered(Date{}),
		every(ReasonSupportNotStarted).but(EntitlementAssetsRead, granted)},
	{"a trial contract without dates runs from the license's registration date", asMember(&SupportFacts{Program: ProgramStandard, Trial: true}).kind(KindTrial).registered(trialRegistered).version(trialMember().Version).on(trialRegistered.AddDays(31)),
		supportDenied(ReasonTrialExpired)},
	{"a trial license's contract expires as a trial even if not flagged", asMember(ruleWith(trialContract(), func(c *SupportFacts) { c.Trial = false })).kind(KindTrial).on(trialRegistered.AddDays(31)).version(trialMember().Version),
		supportDenied(ReasonTrialExpired)},

	// A license bought without support (status none).
	{"no contract: support and downloads need one, keys cover what was ordered", asMember(nil).ordered(ruleDate("2025-03-01")),
		every(ReasonNoSupportContract).but(EntitlementAssetsRead, granted, EntitlementLicenseKeys, granted)},
	{"no contract: a version released on the order day is keyable", asMember(nil).ordered(verOnEnds.ReleasedOn).version(verOnEnds),
		every(ReasonNoSupportContract).but(EntitlementAssetsRead, granted, EntitlementLicenseKeys, granted)},
	{"no contract: a version released after the order day is not", asMember(nil).ordered(verOnEnds.ReleasedOn).version(verAfter),
		every(ReasonNoSupportContract).but(EntitlementAssetsRead, granted)},
	{"no contract: version_discontinued comes before no_support_contract", asMember(nil).version(verDisc).ordered(ruleDate("2025-03-01")),
		every(ReasonNoSupportContract).but(EntitlementAssetsRead, granted, EntitlementDownloadsRead, ReasonVersionDiscontinued, EntitlementLicenseKeys, granted)},
	{"no contract and no role: role_missing comes before no_support_contract", asMember(nil).roles(MemberAdmin),
		every(ReasonRoleMissing).but(EntitlementAssetsRead, granted)},

	// A subscription's contract is its subscription.
	{"an active subscription is like an active contract", asMember(ruleContract()).kind(KindSubscription),
		every(granted).but(EntitlementSupportPremier, ReasonPremierNotPurchased)},
	{"a subscription past ends_on keeps what was released before it", asMember(ruleContract()).kind(KindSubscription).on(ruleEnds.AddDays(1)),
		supportDenied(ReasonSupportLapsed)},
	{"a subscription past ends_on: a newer version is support_lapsed", asMember(ruleContract()).kind(KindSubscription).on(ruleEnds.AddDays(1)).version(verAfter),
		every(ReasonSupportLapsed).but(EntitlementAssetsRead, granted)},
	{"a subscription without its subscription keys nothing", asMember(nil).kind(KindSubscription),
		every(ReasonNoSupportContract).but(EntitlementAssetsRead, granted)},

	// No version to judge (the product has none that is not discontinued).
	{"no version, current contract: downloads and keys allowed", asMember(premierContract()).version(nil),
		every(granted)},
	{"no version, lapsed: downloads and keys need current support", asMember(premierContract()).version(nil).on(ruleEnds.AddDays(1)),
		every(ReasonSupportLapsed).but(EntitlementAssetsRead, granted)},
	{"no version, no contract: keys need a contract", asMember(nil).version(nil),
		every(ReasonNoSupportContract).but(EntitlementAssetsRead, granted)},
}

func (in EntitlementInput) withMember(m bool) EntitlementInput { in.Member = m; return in }

// Entitlements answers every entitlement, in the fixed order, with the first applicable reason.
func TestEntitlements(t *testing.T) {
	for _, tt := range entitlementRows {
		t.Run(tt.name, func(t *testing.T) {
			got := Entitlements(tt.in)
			if len(got) != len(EntitlementNames()) {
				t.Fatalf("got %d entitlements; want all %d", len(got), len(EntitlementNames()))
			}
			var diffs []string
			for i, e := range got {
				if e.Name != EntitlementNames()[i] {
					t.Fatalf("entitlement %d is %s; want %s (fixed order)", i, e.Name, EntitlementNames()[i])
				}
				if e.Allowed != (e.Reason == "") {
					t.Errorf("%s: allowed=%v with reason %q", e.Name, e.Allowed, e.Reason)
				}
				if want := tt.want[e.Name]; e.Reason != want {
					diffs = append(diffs, e.Name+": got "+show(e.Reason)+", want "+show(want))
				}
				// The single check agrees with the list.
				allowed, reason, known := Check(tt.in, e.Name)
				if !known || allowed != e.Allowed || reason != e.Reason {
					t.Errorf("Check(%s) = %v, %q, %v; Entitlements says %v, %q", e.Name, allowed, reason, known, e.Allowed, e.Reason)
				}
			}
			if len(diffs) > 0 {
				t.Errorf("on %s:\n\t%s", tt.in.Today, strings.Join(diffs, "\n\t"))
			}
		})
	}
}

func show(reason string) string {
	if reason == "" {
		return "allowed"
	}
	return reason
}

// The table above proves every reason of the contract, and every entitlement both allowed and
// denied.
func TestEntitlements_TableCoversEveryReason(t *testing.T) {
	seen := map[string]bool{}
	allowed, denied := map[string]bool{}, map[string]bool{}
	for _, tt := range entitlementRows {
		for name, r := range tt.want {
			seen[r] = true
			if r == "" {
				allowed[name] = true
			} else {
				denied[name] = true
			}
		}
	}
	for _, r := range DenialReasons() {
		if !seen[r] {
			t.Errorf("no row denies for %s", r)
		}
	}
	for _, name := range EntitlementNames() {
		if !allowed[name] || !denied[name] {
			t.Errorf("%s: allowed in some row %v, denied in some row %v; want both", name, allowed[name], denied[name])
		}
	}
}

// Where several reasons apply, the first in the contract's order is given. Each step removes the
// cause of the reason just given, and the next one in the order shows.
func TestEntitlements_FirstApplicableReason(t *testing.T) {
	lapsedDiscontinued := EntitlementInput{
		Member: false, Roles: nil, License: LicenseFacts{Kind: KindPerpetual, OrderedOn: ruleStarts},
		Contract: premierContract(), Version: &ProductVersion{Version: "9.0", ReleasedOn: ruleEnds.AddDays(5), Phase: PhaseDiscontinued},
		Today: ruleEnds.AddDays(10), RenewalWindowDays: ruleWindow,
	}
	steps := []struct {
		change string
		apply  func(*EntitlementInput)
		want   string
	}{
		{"a non-member, lapsed, asking for a discontinued version released after ends_on", func(*EntitlementInput) {}, ReasonNotAMember},
		{"made a member without a role", func(in *EntitlementInput) { in.Member = true }, ReasonRoleMissing},
		{"given the support role", func(in *EntitlementInput) { in.Roles = []string{MemberSupport} }, ReasonVersionDiscontinued},
		{"asking for a version in full life", func(in *EntitlementInput) { in.Version.Phase = PhaseFull }, ReasonSupportLapsed},
		{"the contract renewed into grace", func(in *EntitlementInput) { in.Contract.GraceUntil = ruleEnds.AddDays(30) }, ""},
	}
	in := lapsedDiscontinued
	for _, s := range steps {
		s.apply(&in)
		if _, got, _ := Check(in, EntitlementDownloadsRead); got != s.want {
			t.Fatalf("%s: downloads.read denied for %q; want %q", s.change, got, s.want)
		}
	}
	// For premier, the contract's status comes before the add-on.
	for _, tt := range []struct {
		name string
		in   EntitlementInput
		want string
	}{
		{"no contract before premier", asMember(nil), ReasonNoSupportContract},
		{"not started before premier", asMember(ruleContract()).on(ruleStarts.AddDays(-1)), ReasonSupportNotStarted},
		{"terminated before premier", asMember(ruleWith(ruleContract(), func(c *SupportFacts) { c.TerminatedOn = terminateOn })).on(terminateOn), ReasonSupportTerminated},
		{"trial expired before premier", trialMember().on(trialRegistered.AddDays(31)), ReasonTrialExpired},
		{"lapsed before premier", asMember(ruleContract()).on(ruleEnds.AddDays(1)), ReasonSupportLapsed},
		{"premier last", asMember(ruleContract()), ReasonPremierNotPurchased},
	} {
		if _, got, _ := Check(tt.in, EntitlementSupportPremier); got != tt.want {
			t.Errorf("%s: support.premier denied for %q; want %q", tt.name, got, tt.want)
		}
	}
}

// An unknown entitlement name is not an answer but the caller's 400.
func TestEntitlements_CheckUnknownName(t *testing.T) {
	for _, name := range []string{"", "support", "downloads.write", "ASSETS.READ"} {
		if allowed, reason, known := Check(asMember(premierContract()), name); known || allowed || reason != "" {
			t.Errorf("Check(%q) = %v, %q, %v; want unknown", name, allowed, reason, known)
		}
	}
}

// A token's ent claim is the allowed names, in the fixed order.
func TestEntitlements_AllowedNames(t *testing.T) {
	got := AllowedEntitlements(Entitlements(asMember(premierContract()).on(ruleEnds.AddDays(1))))
	want := []string{EntitlementAssetsRead, EntitlementDownloadsRead, EntitlementLicenseKeys}
	if !slices.Equal(got, want) {
		t.Errorf("AllowedEntitlements = %v; want %v", got, want)
	}
	if got := AllowedEntitlements(Entitlements(EntitlementInput{Today: midTerm})); got == nil || len(got) != 0 {
		t.Errorf("AllowedEntitlements for a non-member = %#v; want an empty, non-nil list", got)
	}
}

// The inputs are not changed by the rules: a trial's filled-in dates are the rules' own copy.
func TestEntitlements_DoNotChangeInput(t *testing.T) {
	c := &SupportFacts{Program: ProgramStandard, Trial: true}
	Entitlements(asMember(c).kind(KindTrial).registered(trialRegistered))
	if !c.StartsOn.IsZero() || !c.EndsOn.IsZero() {
		t.Fatalf("the contract facts were changed: %+v", *c)
	}
}
