package store

import (
	"context"

	"gorm.io/gorm"

	"entitled/models"
)

// defaultVersion is the version entitlements are answered for when none is asked about: the
// newest that is not discontinued, or, when every one is, the newest (so that the answer says
// version_discontinued).
func (s *Store) defaultVersion(tx *gorm.DB, productID int64) (*models.ProductVersion, error) {
	versions, err := s.productVersions(tx, productID)
	if err != nil {
		return nil, err
	}
	if v := newestSupported(versions); v != nil {
		return v, nil
	}
	if len(versions) > 0 {
		v := versions[len(versions)-1]
		return &v, nil
	}
	return nil, nil
}

// findVersion is the product's version asked about, or the default one when none is.
// Errors: version_not_found.
func (s *Store) findVersion(tx *gorm.DB, productID int64, version string) (*models.ProductVersion, error) {
	if version == "" {
		return s.defaultVersion(tx, productID)
	}
	ver, err := models.ParseVersion(version)
	if err != nil {
		return nil, models.Errorf(models.CodeVersionNotFound, "there is no version %q", models.Clip(version, 32))
	}
	versions, err := s.productVersions(tx, productID)
	if err != nil {
		return nil, err
	}
	key := ver.SortKey()
	for _, pv := range versions {
		if pv.SortKey == key {
			return &pv, nil
		}
	}
	return nil, models.Errorf(models.CodeVersionNotFound, "this product has no version %s", ver.String())
}

// entitlementInput gathers the rules' inputs for a member (nil: not a member) of a license.
func (s *Licenses) entitlementInput(d *models.LicenseDetail, m *models.Member, v *models.ProductVersion, today models.Date) models.EntitlementInput {
	in := models.EntitlementInput{License: d.License.Facts(), Contract: d.Contract.Facts(), Version: v, Today: today, RenewalWindowDays: s.RenewalWindowDays}
	if m != nil {
		in.Member, in.Roles = true, m.Roles()
	}
	return in
}

// Support shows a license's support to a member (entitlements for their roles) or to staff of any
// role, for the version asked about or the default one.
// Errors: invalid_license_number, not_found, not_a_member, version_not_found.
func (s *Licenses) Support(ctx context.Context, p *models.Principal, ln, version string) (_ *models.SupportView, err error) {
	defer wrapErr(&err, "read support status")
	var out *models.SupportView
	err = s.store.read(ctx, func(db *gorm.DB) error {
		acc, err := s.store.hotAccess(ctx, p, ln)
		if err != nil {
			return err
		}
		d := &acc.Detail
		v, err := s.store.findVersion(db, d.License.ProductID, version)
		if err != nil {
			return err
		}
		today := s.Today()
		out = &models.SupportView{LicenseNumber: d.License.LicenseNumber, Summary: d.Summary(today, s.RenewalWindowDays), Version: v}
		if c := d.Contract; c != nil {
			out.ContractID, out.GraceUntil, out.TerminatedOn = c.ID, c.GraceUntil, c.TerminatedOn
			if c.Trial && !c.StartsOn.IsZero() {
				out.TrialEndsOn = c.EndsOn
			}
			out.Targets = models.TargetsFor(c.Program, models.PremierCurrent(c.Facts(), out.Summary.Status))
		}
		out.Entitlements = models.Entitlements(s.entitlementInput(d, acc.Member, v, today))
		return nil
	})
	return out, err
}

// Check answers whether a user holds one entitlement on a license. A user asks for themself; an
// API key with entitlements:introspect asks about any user by email. A user who is not a member —
// or a license or user that does not exist — is {allowed:false, reason:not_a_member}, so that
// the answer tells nothing more. Errors: invalid_license_number, validation_failed,
// version_not_found, forbidden.
func (s *Licenses) Check(ctx context.Context, p *models.Principal, in models.CheckInput) (_ *models.CheckResult, err error) {
	defer wrapErr(&err, "check an entitlement")
	var v models.Validation
	if in.LicenseNumber == "" {
		v.Add("license_number", models.FieldRequired, "is required")
	}
	if in.Entitlement == "" {
		v.Add("entitlement", models.FieldRequired, "is required")
	} else if !models.IsEntitlement(in.Entitlement) {
		v.Add("entitlement", models.FieldInvalid, "is not an entitlement; one of assets.read, support.cases, support.kb, support.chat, downloads.read, license.keys, support.premier")
	}
	if p.Kind == models.PrincipalAPIKey && in.User == "" {
		v.Add("user", models.FieldRequired, "an API key asks about a user: give user=<email>")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	ln, err := models.ParseLicenseNumber(in.LicenseNumber)
	if err != nil {
		return nil, err
	}
	if p.IsUser() && in.User != "" && models.NormaliseEmail(in.User) != p.Email {
		return nil, models.Errorf(models.CodeForbidden, "you may check only your own entitlements")
	}
	denied := &models.CheckResult{Allowed: false, Reason: models.ReasonNotAMember}
	var out *models.CheckResult
	err = s.store.read(ctx, func(db *gorm.DB) error {
		var h *hotLicense
		var err error
		if p.Kind == models.PrincipalAPIKey {
			h, err = s.store.loadHotLicense(ctx, ln, 0, models.NormaliseEmail(in.User))
		} else {
			h, err = s.store.loadHotLicense(ctx, ln, p.UserID, "")
		}
		if err != nil {
			return err
		}
		if h == nil {
			out = denied
			return nil
		}
		d, m := &h.Detail, h.Member
		ver, err := s.store.findVersion(db, d.License.ProductID, in.Version)
		if err != nil {
			return err
		}
		if p.Kind == models.PrincipalAPIKey && h.UserID == 0 {
			out = denied
			return nil
		}
		today := s.Today()
		allowed, reason, _ := models.Check(s.entitlementInput(d, m, ver, today), in.Entitlement)
		status, _ := models.ContractStatus(d.Contract.Facts(), today, s.RenewalWindowDays)
		out = &models.CheckResult{Allowed: allowed, Reason: reason, Status: status}
		if ver != nil {
			out.Version = ver.Version
		}
		return nil
	})
	return out, err
}

// VersionSupport is a license's entitlements for one version of its product.
type VersionSupport struct {
	Version      models.ProductVersion
	Entitlements []models.Entitlement
}

// SupportByVersion answers Support's entitlements for every version of the license's product at
// once, oldest version first, to a member (for their roles) or to staff of any role.
// Errors: invalid_license_number, not_found, not_a_member.
func (s *Licenses) SupportByVersion(ctx context.Context, p *models.Principal, ln string) (_ []VersionSupport, err error) {
	defer wrapErr(&err, "read support by version")
	var out []VersionSupport
	err = s.store.read(ctx, func(db *gorm.DB) error {
		acc, err := s.store.hotAccess(ctx, p, ln)
		if err != nil {
			return err
		}
		versions, err := s.store.productVersions(db, acc.Detail.License.ProductID)
		if err != nil {
			return err
		}
		today := s.Today()
		out = make([]VersionSupport, 0, len(versions))
		for _, v := range versions { // v is a copy: the cached slice is not handed out
			out = append(out, VersionSupport{Version: v, Entitlements: models.Entitlements(s.entitlementInput(&acc.Detail, acc.Member, &v, today))})
		}
		return nil
	})
	return out, err
}
