package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"

	"entitled/models"
)

// Pending invitations: a license's admins see and cancel them; the invitation's link shows whom
// it is from and for which license before the invited person signs up.

// invitationRow is a pending invitation with what its views name.
type invitationRow struct {
	LicenseNumber string
	ProductName   string
	Email         string
	Roles         string
	InviterName   *string
	CreatedAt     time.Time
}

func (r *invitationRow) view() models.InvitationView {
	v := models.InvitationView{LicenseNumber: r.LicenseNumber, ProductName: r.ProductName, Email: r.Email,
		Roles: models.ParseRoleList(r.Roles), CreatedAt: r.CreatedAt.UTC()}
	if r.InviterName != nil {
		v.InvitedBy = *r.InviterName
	}
	return v
}

// pendingInvitations selects the pending invitations with their license, product and inviter.
func pendingInvitations(tx *gorm.DB) *gorm.DB {
	return tx.Table("invitations i").
		Select("l.license_number, p.name AS product_name, i.email, i.roles, u.name AS inviter_name, i.created_at").
		Joins("JOIN licenses l ON l.id = i.license_id").
		Joins("JOIN products p ON p.id = l.product_id").
		Joins("LEFT JOIN users u ON u.id = i.invited_by").
		Where("i.accepted_at IS NULL")
}

// Invitations lists a license's pending invitations, oldest first. Errors: as access with the
// admin role.
func (s *Registrations) Invitations(ctx context.Context, p *models.Principal, ln string) (_ []models.InvitationView, err error) {
	defer wrapErr(&err, "list invitations")
	return adminList(ctx, s, p, ln, licenseInvitations)
}

// licenseInvitations lists lic's pending invitations, oldest first.
func licenseInvitations(tx *gorm.DB, lic *models.License) ([]models.InvitationView, error) {
	var rows []invitationRow
	if err := pendingInvitations(tx).Where("i.license_id = ?", lic.ID).Order("i.id").Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]models.InvitationView, len(rows))
	for i := range rows {
		out[i] = rows[i].view()
	}
	return out, nil
}

// InvitationByToken is the pending invitation an invitation letter's token stands for, for the
// page its link opens. Errors: invitation_not_found (unknown, accepted or cancelled).
func (s *Registrations) InvitationByToken(ctx context.Context, token string) (_ *models.InvitationView, err error) {
	defer wrapErr(&err, "read an invitation")
	var row invitationRow
	err = s.store.read(ctx, func(tx *gorm.DB) error {
		return pendingInvitations(tx).Where("i.token_hash = ?", tokenHash(token)).Take(&row).Error
	})
	if errors.Is(err, gorm.ErrRecordNotFound) || token == "" {
		return nil, models.Errorf(models.CodeInvitationNotFound, "this invitation was accepted, cancelled or replaced by a newer one")
	}
	if err != nil {
		return nil, err
	}
	v := row.view()
	return &v, nil
}

// CancelInvitation withdraws the pending invitation to email: its link stops working, and the
// address gets nothing when it is verified. Errors: as access with the admin role,
// invitation_not_found.
func (s *Registrations) CancelInvitation(ctx context.Context, p *models.Principal, ln, email string, a models.Actor) (err error) {
	defer wrapErr(&err, "cancel an invitation")
	email = models.NormaliseEmail(email)
	return s.adminTx(ctx, p, ln, func(tx *gorm.DB, acc *licenseAccess) error {
		if err := lockLicense(tx, acc.License.ID); err != nil {
			return err
		}
		res := tx.Where("license_id = ? AND email = ? AND accepted_at IS NULL", acc.License.ID, email).Delete(&invitation{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return models.Errorf(models.CodeInvitationNotFound, "%s has no pending invitation to license %s", email, acc.License.LicenseNumber)
		}
		return writeAudit(tx, s.store.Clock.Now(), a, models.AuditRecord{Action: "member.invitation_cancelled", SubjectType: "license",
			SubjectID: acc.License.LicenseNumber, LicenseID: acc.License.ID, Details: map[string]any{"email": email}})
	})
}
