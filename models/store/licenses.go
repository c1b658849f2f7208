package store

import (
	"context"
	"crypto/rand"
	"time"

	"gorm.io/gorm"

	"entitled/models"
)

// appendTerm records a term of the contract, numbered after the last one.
func newTerm(c *models.Contract, kind string, a models.Actor, reason string, orderID *int64, now time.Time) models.ContractTerm {
	t := models.ContractTerm{ContractID: c.ID, Kind: kind, StartsOn: c.StartsOn, EndsOn: c.EndsOn, Program: c.Program, Premier: c.Premier,
		OrderID: orderID, ActorKind: a.Kind, Reason: reason, CreatedAt: now}
	if a.ID != 0 {
		t.ActorID = &a.ID
	}
	if a.Email != "" {
		t.ActorEmail = &a.Email
	}
	return t
}

// Licenses is the service that shows licenses to their members and to staff.
type Licenses struct {
	store *Store
	// RenewalWindowDays is how close to ends_on a contract counts as expiring.
	RenewalWindowDays int
}

// NewLicenses makes the licenses service.
func NewLicenses(store *Store, renewalWindowDays int) *Licenses {
	return &Licenses{store: store, RenewalWindowDays: renewalWindowDays}
}

// Today is the current UTC day by the store's clock.
func (s *Licenses) Today() models.Date { return models.DateOf(s.store.Clock.Now()) }

// NewLicenseNumber returns a fresh random License Number in canonical form, its fifteen random
// characters drawn from crypto/rand.
func NewLicenseNumber() string {
	random := make([]byte, models.LicenseNumberRandomBytes)
	if _, err := rand.Read(random); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms (Go 1.24+ never returns an error)
	}
	return models.LicenseNumberFrom(random)
}

// LicenseFor shows one license to a member (with their roles) or to staff of any role.
// Errors: invalid_license_number, not_found, not_a_member.
func (s *Registrations) LicenseFor(ctx context.Context, p *models.Principal, ln string) (_ *models.LicenseDetail, _ []string, err error) {
	defer wrapErr(&err, "read a license")
	var d *models.LicenseDetail
	var roles []string
	err = s.store.read(ctx, func(tx *gorm.DB) error {
		acc, err := access(tx, p, ln, "")
		if err != nil {
			return err
		}
		if acc.Member != nil {
			roles = acc.Member.Roles()
		}
		d, err = loadLicenseDetail(tx, "licenses.id = ?", acc.License.ID)
		return err
	})
	return d, roles, err
}

// MyLicenses lists the licenses the user is a member of, a page at a time: none while the user's
// address is not verified (see verifiedUser).
func (s *Registrations) MyLicenses(ctx context.Context, p *models.Principal, page models.Page) (_ []models.MyLicense, _ string, err error) {
	defer wrapErr(&err, "list my licenses")
	if !p.IsUser() || !p.EmailVerified {
		return []models.MyLicense{}, "", nil
	}
	db := s.store.db.WithContext(ctx)
	q := db.Model(&models.Member{}).Where("user_id = ? AND (role_admin OR role_support OR role_license)", p.UserID)
	members, next, err := pageOf[models.Member](q, page, func(m models.Member) int64 { return m.ID })
	if err != nil {
		return nil, "", err
	}
	out := make([]models.MyLicense, 0, len(members))
	for _, m := range members {
		d, err := loadLicenseDetail(db, "licenses.id = ?", m.LicenseID)
		if err != nil {
			return nil, "", translate(err)
		}
		out = append(out, models.MyLicense{Detail: *d, Roles: m.Roles()})
	}
	return out, next, nil
}

// LicenseAudit lists a license's audit entries, newest first. Errors: as access with the admin role.
func (s *Registrations) LicenseAudit(ctx context.Context, p *models.Principal, ln string, page models.Page) (_ []models.AuditEntry, _ string, err error) {
	defer wrapErr(&err, "list a license's audit")
	var licenseID int64
	err = s.store.read(ctx, func(tx *gorm.DB) error {
		acc, err := access(tx, p, ln, models.MemberAdmin)
		if err != nil {
			return err
		}
		licenseID = acc.License.ID
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return s.store.ListAudit(ctx, models.AuditFilter{LicenseID: licenseID}, page)
}
