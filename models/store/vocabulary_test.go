package store_test

import (
	"slices"
	"testing"
	"time"

	"entitled/models"
	"github.com/entitled-dev/entitled/verify"
)

// verify imports nothing of entitled (another team vendors it alone), so it repeats entitled's
// entitlement vocabulary; models/store imports both, so the check that the copies agree lives
// here. Each list is in declaration order, which for the reasons is the order they are tested.
func TestModelsAndVerifyShareTheVocabulary(t *testing.T) {
	// Denial reasons verify can give: a token's holder is always a member (no not_a_member), and
	// the token does not say whether the license is a trial (a lapsed trial is support_lapsed).
	tokenReasons := slices.DeleteFunc(slices.Clone(models.DenialReasons()), func(r string) bool {
		return r == models.ReasonNotAMember || r == models.ReasonTrialExpired
	})
	cases := []struct {
		what          string
		models, token []string
	}{
		{"contract statuses", []string{
			models.StatusNone, models.StatusFuture, models.StatusActive, models.StatusExpiring,
			models.StatusGrace, models.StatusLapsed, models.StatusTerminated,
		}, []string{
			verify.StatusNone, verify.StatusFuture, verify.StatusActive, verify.StatusExpiring,
			verify.StatusGrace, verify.StatusLapsed, verify.StatusTerminated,
		}},
		{"denial reasons, in order", tokenReasons, []string{
			verify.ReasonRoleMissing, verify.ReasonVersionDiscontinued, verify.ReasonNoSupportContract,
			verify.ReasonSupportNotStarted, verify.ReasonSupportTerminated, verify.ReasonSupportLapsed,
			verify.ReasonPremierNotPurchased,
		}},
		{"version phases", models.Phases(), []string{
			verify.PhaseFull, verify.PhaseLimited, verify.PhaseDiscontinued,
		}},
		{"entitlement names", models.EntitlementNames(), []string{
			verify.AssetsRead, verify.SupportCases, verify.SupportKB, verify.SupportChat,
			verify.DownloadsRead, verify.LicenseKeys, verify.SupportPremier,
		}},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			if len(c.models) != len(c.token) {
				t.Errorf("models has %d, verify %d:\n  models: %v\n  verify: %v", len(c.models), len(c.token), c.models, c.token)
			}
			for i := range min(len(c.models), len(c.token)) {
				if c.models[i] != c.token[i] {
					t.Errorf("element %d: models %q, verify %q", i, c.models[i], c.token[i])
				}
			}
		})
	}
}

// The rules verify repeats give the same answers as models' for every status, entitlement and
// phase: whether a status is current and the reason it denies support with; which entitlements
// need a role; that a discontinued version is never downloadable.
func TestModelsAndVerifyApplyTheSameRules(t *testing.T) {
	released := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	statuses := []string{
		models.StatusNone, models.StatusFuture, models.StatusActive, models.StatusExpiring,
		models.StatusGrace, models.StatusLapsed, models.StatusTerminated,
	}
	for _, status := range statuses {
		t.Run("status "+status, func(t *testing.T) {
			c := &verify.Claims{Roles: []string{models.MemberSupport}, Support: verify.Support{Status: status}}
			ok, reason := verify.CanDownload(c, released, verify.PhaseFull)
			if ok != models.IsCurrent(status) {
				t.Errorf("verify says current = %v, models.IsCurrent = %v", ok, models.IsCurrent(status))
			}
			if want := models.StatusReason(status, false); reason != want {
				t.Errorf("verify's reason %q, models.StatusReason %q", reason, want)
			}
			if got := verify.Reason(c, verify.SupportCases); !ok && got != models.StatusReason(status, false) {
				t.Errorf("verify.Reason(support.cases) = %q, models.StatusReason %q", got, models.StatusReason(status, false))
			}
		})
	}
	for _, name := range models.EntitlementNames() {
		t.Run("roles for "+name, func(t *testing.T) {
			// A member with no role, on a license without support.
			_, modelsReason, known := models.Check(models.EntitlementInput{Member: true, Today: models.DateOf(released)}, name)
			if !known {
				t.Fatalf("models does not know %s", name)
			}
			tokenReason := verify.Reason(&verify.Claims{Support: verify.Support{Status: verify.StatusNone}}, name)
			if (modelsReason == models.ReasonRoleMissing) != (tokenReason == verify.ReasonRoleMissing) {
				t.Errorf("a member with no role: models %q, verify %q", modelsReason, tokenReason)
			}
			// With every role, role_missing never comes up on either side.
			all := []string{models.MemberAdmin, models.MemberSupport, models.MemberLicense}
			_, modelsReason, _ = models.Check(models.EntitlementInput{Member: true, Roles: all, Today: models.DateOf(released)}, name)
			tokenReason = verify.Reason(&verify.Claims{Roles: all, Support: verify.Support{Status: verify.StatusNone}}, name)
			if modelsReason == models.ReasonRoleMissing || tokenReason == verify.ReasonRoleMissing {
				t.Errorf("a member with every role: models %q, verify %q", modelsReason, tokenReason)
			}
		})
	}
	for _, phase := range models.Phases() {
		t.Run("phase "+phase, func(t *testing.T) {
			c := &verify.Claims{Roles: []string{models.MemberSupport}, Support: verify.Support{Status: verify.StatusActive}}
			ok, reason := verify.CanDownload(c, released, phase)
			if discontinued := phase == models.PhaseDiscontinued; ok == discontinued || (discontinued && reason != models.ReasonVersionDiscontinued) {
				t.Errorf("under active support, phase %s: verify says (%v, %q)", phase, ok, reason)
			}
		})
	}
}
