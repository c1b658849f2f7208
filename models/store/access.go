package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"entitled/models"
)

// lockLicense serialises changes to one license's members. On PostgreSQL it locks the license
// row until the transaction ends; SQLite transactions hold the database's write lock from BEGIN
// (_txlock=immediate), so there is nothing more to take.
func lockLicense(tx *gorm.DB, licenseID int64) error {
	if tx.Dialector.Name() != "postgres" {
		return nil
	}
	return tx.Exec("SELECT id FROM licenses WHERE id = ? FOR UPDATE", licenseID).Error
}

// Unverified accounts hold no membership that counts. Anyone can sign up with any address, so
// an account whose email address is not verified yet is "no account yet": a grant to it waits as
// an invitation (grantByEmail) until the address is verified, which only its owner can do. Such
// an account can hold a members row only from before grants waited (when a grant to an unverified
// account took effect at once, which let whoever signed up with a colleague's address act as
// that colleague). Such a row is dormant, as a pending invitation is: it gives no access
// (access), is not listed (Members, MyLicenses, Memberships), gets no admins' letters
// (licenseAdminEmails) and is not an admin the license keeps (putMember); it takes effect when
// the address is verified, like the invitation it should have been. An admin or staff support may
// still remove it (RemoveMember). verifiedUser is the SQL condition on the joined users row.
const verifiedUser = "users.email_verified_at IS NOT NULL"

// lockAddress serialises, on PostgreSQL, a grant by address (PutMember) with the acceptance of
// that address's invitations when it is verified (acceptInvitations): otherwise a grant that read
// the user as unverified could commit its invitation just after the verification looked for
// invitations, and wait for ever. Whichever comes second sees what the first did. It is taken
// before lockLicense (acceptInvitations takes license locks after it too), so the two cannot
// deadlock. SQLite transactions are serial already.
func lockAddress(tx *gorm.DB, email string) error {
	if tx.Dialector.Name() != "postgres" {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(hashtext(?))", "grant:"+email).Error
}

// claimLicense makes userID the license's registrant (claimed_by, registered_on today) if it has
// none yet, and reports whether this call did. It is the one rule for "this license has an
// admin": a first registration claims it (the conditional UPDATE is what lets exactly one of many
// simultaneous registrants win), and so does every other way a verified user becomes admin of a
// license nobody registered — staff support's "make admin", an accepted invitation — so that from
// then on a registration waits for an admin (202) instead of making a second "first" admin. A
// trial's support starts on the day its license is claimed (a is recorded on the trial's term).
func claimLicense(tx *gorm.DB, licenseID, userID int64, a models.Actor, now time.Time) (bool, error) {
	today := models.DateOf(now)
	claim := tx.Model(&models.License{}).Where("id = ? AND claimed_by IS NULL", licenseID).
		Updates(map[string]any{"claimed_by": userID, "registered_on": today, "updated_at": now})
	if claim.Error != nil || claim.RowsAffected == 0 {
		return false, claim.Error
	}
	var lic models.License
	if err := tx.Take(&lic, licenseID).Error; err != nil {
		return false, err
	}
	if lic.Kind != models.KindTrial {
		return true, nil
	}
	var c models.Contract
	err := tx.Where("license_id = ?", licenseID).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && !c.StartsOn.IsZero()) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	c.StartsOn, c.EndsOn, c.UpdatedAt = today, models.TrialEndsOn(today), now
	if err := tx.Model(&models.Contract{}).Where("id = ?", c.ID).Updates(map[string]any{"starts_on": c.StartsOn, "ends_on": c.EndsOn, "updated_at": now}).Error; err != nil {
		return false, err
	}
	return true, appendTerm(tx, newTerm(&c, models.TermTrial, a, "trial started at registration", nil, now))
}

// putMember gives a user exactly the roles on a license (none removes them), bumping the grant
// version on every change. It refuses to leave the license without an admin whose address is
// verified; an unverified account's admin role (see verifiedUser) counts for nothing, so taking
// it away is never refused. An admin role given to a verified user on a license nobody has
// registered claims it for them (claimLicense); a acts for the trial's term when that starts its
// support. Callers granting to a person by address use grantByEmail.
func putMember(tx *gorm.DB, now time.Time, licenseID, userID int64, roles []string, a models.Actor) (*models.Member, bool, error) {
	if slices.Contains(roles, models.MemberAdmin) {
		var verified int64
		if err := tx.Model(&models.User{}).Where("id = ? AND email_verified_at IS NOT NULL", userID).Count(&verified).Error; err != nil {
			return nil, false, err
		}
		if verified > 0 {
			if _, err := claimLicense(tx, licenseID, userID, a, now); err != nil {
				return nil, false, err
			}
		}
	}

	var m models.Member
	err := tx.Where("license_id = ? AND user_id = ?", licenseID, userID).Take(&m).Error
	isNew := errors.Is(err, gorm.ErrRecordNotFound)
	if err != nil && !isNew {
		return nil, false, err
	}
	if !isNew && slices.Equal(m.Roles(), roles) {
		return &m, false, nil
	}
	if !isNew && m.RoleAdmin && !slices.Contains(roles, models.MemberAdmin) {
		var others, self int64
		err := tx.Table("members").Joins("JOIN users ON users.id = members.user_id").
			Where("members.license_id = ? AND members.role_admin AND members.user_id <> ? AND "+verifiedUser, licenseID, userID).Count(&others).Error
		if err != nil {
			return nil, false, err
		}
		if others == 0 {
			if err := tx.Model(&models.User{}).Where("id = ? AND email_verified_at IS NOT NULL", userID).Count(&self).Error; err != nil {
				return nil, false, err
			}
		}
		if others == 0 && self > 0 {
			return nil, false, models.Errorf(models.CodeLastAdmin, "a license keeps at least one admin: make someone else admin first")
		}
	}
	wasActive := m.Active()
	oldStatus, hadStatus := m.Status()
	m.SetRoles(roles)
	m.UpdatedAt = now
	// Every grant version has an index of its own in a status list: the old one's bit is set
	// and the new one (if any role is left) gets a fresh index, all in this transaction.
	terminated, err := contractTerminated(tx, licenseID)
	if err != nil {
		return nil, false, err
	}
	if hadStatus {
		if err := revokeStatus(tx, now, oldStatus); err != nil {
			return nil, false, err
		}
	}
	var status *models.StatusRef
	if len(roles) > 0 {
		ref, err := allocateStatus(tx, now, terminated)
		if err != nil {
			return nil, false, err
		}
		status = &ref
	}
	if isNew {
		m = models.Member{LicenseID: licenseID, UserID: userID, GrantVersion: 1, Since: now, UpdatedAt: now}
		m.SetRoles(roles)
		m.StatusListID, m.StatusIdx = setStatusRef(status)
		return &m, true, tx.Create(&m).Error
	}
	if !wasActive {
		m.Since = now // rejoining after removal
	}
	m.GrantVersion++
	m.StatusListID, m.StatusIdx = setStatusRef(status)
	err = tx.Model(&models.Member{}).Where("id = ?", m.ID).Updates(map[string]any{
		"role_admin": m.RoleAdmin, "role_support": m.RoleSupport, "role_license": m.RoleLicense,
		"grant_version": m.GrantVersion, "since": m.Since, "updated_at": now,
		"status_list_id": m.StatusListID, "status_idx": m.StatusIdx,
	}).Error
	return &m, true, err
}

// memberOf loads the user's active membership of a license, or nil. It does not look at the
// user's address: callers asking for a principal's access go through access.
func memberOf(tx *gorm.DB, licenseID, userID int64) (*models.Member, error) {
	var m models.Member
	err := tx.Where("license_id = ? AND user_id = ?", licenseID, userID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !m.Active() {
		return nil, nil
	}
	return &m, nil
}

// licenseAdminEmails lists the emails of a license's admins (those whose address is verified:
// see verifiedUser).
func licenseAdminEmails(tx *gorm.DB, licenseIDs ...int64) ([]string, error) {
	var emails []string
	err := tx.Table("members").Distinct("users.email").Joins("JOIN users ON users.id = members.user_id").
		Where("members.license_id IN ? AND members.role_admin AND "+verifiedUser, licenseIDs).Order("users.email").Pluck("users.email", &emails).Error
	return emails, err
}

// normaliseRoles checks a member role list and returns it in canonical order.
func normaliseRoles(v *models.Validation, field string, roles []string) []string {
	return normaliseSet(v, field, roles, models.MemberRoles())
}

// licenseAccess is a license and what the principal is on it.
type licenseAccess struct {
	License models.License
	Member  *models.Member // nil for staff acting on a license they are not a member of
}

// access finds a license by its number and checks that the principal has the role on it (an
// empty role: any membership). Staff support and superadmin act as admin anywhere; any staff may
// look (role "" only). A user whose address is not verified is a member of nothing (see
// verifiedUser). The decision is models.LicenseAccess's; access loads what it decides on.
// Errors: invalid_license_number, not_found, not_a_member, role_missing.
func access(tx *gorm.DB, p *models.Principal, ln, role string) (*licenseAccess, error) {
	canonical, err := models.ParseLicenseNumber(ln)
	if err != nil {
		return nil, err
	}
	var lic models.License
	err = tx.Where("license_number = ?", canonical).Take(&lic).Error
	notFound := errors.Is(err, gorm.ErrRecordNotFound)
	if err != nil && !notFound {
		return nil, err
	}
	var m *models.Member
	if !notFound && p.IsUser() && p.EmailVerified {
		if m, err = memberOf(tx, lic.ID, p.UserID); err != nil {
			return nil, err
		}
	}
	var roles []string
	if m != nil {
		roles = m.Roles()
	}
	if code := models.LicenseAccess(p, !notFound, roles, role); code != "" {
		return nil, models.LicenseAccessError(code, canonical, role)
	}
	return &licenseAccess{License: lic, Member: m}, nil
}

// Memberships lists the user's licenses with roles, oldest first: none while the user's address
// is not verified (see verifiedUser).
func (s *Store) Memberships(ctx context.Context, userID int64) (_ []models.Membership, err error) {
	defer wrapErr(&err, "list memberships")
	var rows []struct {
		LicenseNumber string
		models.Member
	}
	err = s.db.WithContext(ctx).Table("members").Select("licenses.license_number, members.*").
		Joins("JOIN licenses ON licenses.id = members.license_id").
		Joins("JOIN users ON users.id = members.user_id").
		Where("members.user_id = ? AND (members.role_admin OR members.role_support OR members.role_license) AND "+verifiedUser, userID).
		Order("members.id").Scan(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make([]models.Membership, 0, len(rows))
	for _, r := range rows {
		out = append(out, models.Membership{LicenseNumber: r.LicenseNumber, Roles: r.Member.Roles()})
	}
	return out, nil
}

func joinRoles(roles []string) string { return strings.Join(roles, ",") }
