package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"

	"entitled/mailer"
	"entitled/models"
)

// Members lists a license's members (users whose address is verified: see verifiedUser).
// Errors: as access with the admin role.
func (s *Registrations) Members(ctx context.Context, p *models.Principal, ln string) (_ []models.MemberView, err error) {
	defer wrapErr(&err, "list members")
	return adminList(ctx, s, p, ln, func(tx *gorm.DB, lic *models.License) ([]models.MemberView, error) {
		return memberViews(tx, lic.ID, "")
	})
}

// adminTx runs fn in a transaction for p, who must be the admin of the license ln.
// Errors: as access with the admin role.
func (s *Registrations) adminTx(ctx context.Context, p *models.Principal, ln string, fn func(tx *gorm.DB, acc *licenseAccess) error) error {
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		acc, err := access(tx, p, ln, models.MemberAdmin)
		if err != nil {
			return err
		}
		return fn(tx, acc)
	})
}

// adminList is what list finds on the license ln, read for p, who must be its admin.
// Errors: as access with the admin role.
func adminList[T any](ctx context.Context, s *Registrations, p *models.Principal, ln string, list func(tx *gorm.DB, lic *models.License) ([]T, error)) ([]T, error) {
	var out []T
	err := s.store.read(ctx, func(tx *gorm.DB) error {
		acc, err := access(tx, p, ln, models.MemberAdmin)
		if err != nil {
			return err
		}
		out, err = list(tx, &acc.License)
		return err
	})
	return out, err
}

// PutMember gives the person with the email exactly the roles on the license, through
// grantByEmail: a user whose address is verified at once; an address with no user, or whose user
// has not verified it yet, gets an invitation letter and a pending grant that takes effect when
// the address is verified. Staff support may do this on any license (helpRequestID then names the
// ticket in the audit log). Errors: as access with the admin role, validation_failed, last_admin.
func (s *Registrations) PutMember(ctx context.Context, p *models.Principal, ln, email string, roles []string, helpRequestID string, a models.Actor) (_ *models.PutMemberResult, err error) {
	return s.PutMemberIfMatch(ctx, p, ln, email, roles, helpRequestID, "", a)
}

// PutMemberIfMatch is PutMember under an If-Match precondition: when ifMatch is set, the member
// must exist and its ETag (models.MemberView.ETag) match. Errors: as PutMember,
// precondition_failed.
func (s *Registrations) PutMemberIfMatch(ctx context.Context, p *models.Principal, ln, email string, roles []string, helpRequestID, ifMatch string, a models.Actor) (_ *models.PutMemberResult, err error) {
	defer wrapErr(&err, "set a member's roles")
	var res models.PutMemberResult
	// Who may comes before what is wrong with the request: a stranger learns nothing.
	err = s.adminTx(ctx, p, ln, func(tx *gorm.DB, acc *licenseAccess) error {
		var v models.Validation
		email = models.CheckEmail(&v, "email", email)
		if len(roles) == 0 {
			v.Add("roles", models.FieldRequired, "name at least one role: admin, support, license (remove a member with DELETE)")
		}
		roles = normaliseRoles(&v, "roles", roles)
		if err := v.Err(); err != nil {
			return err
		}
		if err := lockAddress(tx, email); err != nil {
			return err
		}
		if err := lockLicense(tx, acc.License.ID); err != nil {
			return err
		}
		if ifMatch != "" {
			cur, err := memberByEmail(tx, acc.License.ID, email)
			if err != nil {
				return err
			}
			if cur == nil {
				return models.Errorf(models.CodePreconditionFailed, "%s is not a member of license %s: If-Match matches nothing", email, acc.License.LicenseNumber)
			}
			if err := models.CheckIfMatch(ifMatch, cur.ETag(acc.License.LicenseNumber)); err != nil {
				return err
			}
		}
		now := s.store.Clock.Now()
		details := map[string]any{"email": email, "roles": roles}
		if helpRequestID != "" {
			details["help_request_id"] = helpRequestID
		}
		g, err := s.grantByEmail(ctx, tx, p, &acc.License, email, roles, details, a, now)
		if err != nil {
			return err
		}
		if g.Invited {
			res.Invited = true
			return nil
		}
		m := g.Member
		res.Member = &models.MemberView{Email: g.User.Email, Name: g.User.Name, UserID: g.User.ID, Roles: m.Roles(), Since: m.Since, GrantVersion: m.GrantVersion}
		if !g.Changed {
			return nil
		}
		if err := emitMember(ctx, tx, s.outbox, now, &acc.License, g.User.Email, m); err != nil {
			return err
		}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "member.granted", SubjectType: "license", SubjectID: acc.License.LicenseNumber,
			LicenseID: acc.License.ID, Details: details})
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// grantOutcome is what grantByEmail did.
type grantOutcome struct {
	User    *models.User   // the user with the address; nil when there is none
	Member  *models.Member // the membership now; nil when invited
	Changed bool           // the membership changed
	Invited bool           // the grant waits for the address to be verified
}

// grantByEmail is the one way a grant of roles to a person named by email address is made: PUT
// member (API and portal), staff support's "make admin", and the approval of a join request all
// come here. A user whose address is verified gets exactly the roles at once (putMember). An
// address with no user — or whose user has not verified it yet — counts as "no account yet": it
// gets an invitation (invite), a pending grant that acceptInvitations turns into the membership
// when the address is verified, never before. Otherwise whoever signed up first with a
// colleague's address (which anyone can do) would hold the colleague's roles, admin included, at
// once and without ever proving the address theirs. The caller has checked access, validated
// email and roles, and locked the address (lockAddress, where an invitation can result) and the
// license; it writes its own audit entry for a grant (invite writes member.invited).
func (s *Registrations) grantByEmail(ctx context.Context, tx *gorm.DB, p *models.Principal, lic *models.License, email string, roles []string, details map[string]any, a models.Actor, now time.Time) (*grantOutcome, error) {
	var u models.User
	err := tx.Where("email = ?", email).Take(&u).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return &grantOutcome{Invited: true}, s.invite(ctx, tx, p, lic, email, roles, details, a, now)
	case err != nil:
		return nil, err
	case !u.Verified():
		return &grantOutcome{User: &u, Invited: true}, s.invite(ctx, tx, p, lic, email, roles, details, a, now)
	}
	m, changed, err := putMember(tx, now, lic.ID, u.ID, roles, a)
	if err != nil {
		return nil, err
	}
	return &grantOutcome{User: &u, Member: m, Changed: changed}, nil
}

type invitation struct {
	ID         int64
	LicenseID  int64
	Email      string
	Roles      string
	TokenHash  string
	InvitedBy  *int64
	CreatedAt  time.Time
	AcceptedAt *time.Time
}

func (invitation) TableName() string { return "invitations" }

// invite records a pending grant for an address with no verified user and sends the invitation
// (only grantByEmail calls it). A second invitation to the same address replaces the roles of the
// first.
func (s *Registrations) invite(ctx context.Context, tx *gorm.DB, p *models.Principal, lic *models.License, email string, roles []string, details map[string]any, a models.Actor, now time.Time) error {
	tok := newToken()
	var inv invitation
	err := tx.Where("license_id = ? AND email = ? AND accepted_at IS NULL", lic.ID, email).Take(&inv).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		inv = invitation{LicenseID: lic.ID, Email: email, Roles: joinRoles(roles), TokenHash: tokenHash(tok), CreatedAt: now}
		if p.IsUser() {
			inv.InvitedBy = &p.UserID
		}
		if err := tx.Create(&inv).Error; err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		if err := tx.Model(&invitation{}).Where("id = ?", inv.ID).Updates(map[string]any{"roles": joinRoles(roles), "token_hash": tokenHash(tok)}).Error; err != nil {
			return err
		}
	}
	if err := writeAudit(tx, now, a, models.AuditRecord{Action: "member.invited", SubjectType: "license", SubjectID: lic.LicenseNumber, LicenseID: lic.ID, Details: details}); err != nil {
		return err
	}
	ok, err := letterAllowed(tx, now, email, mailer.Invitation{}.Template())
	if err != nil || !ok {
		return err
	}
	product, err := productName(tx, lic.ProductID)
	if err != nil {
		return err
	}
	by := p.Name
	if by == "" {
		by = "An administrator"
	}
	return s.queue(ctx, tx, mailer.Invitation{InvitedBy: by, LicenseNumber: lic.LicenseNumber, ProductName: product,
		Roles: strings.Join(roles, ", "), Link: s.links.Invitation(tok)}, email)
}

// acceptInvitations turns the pending grants to a newly verified address into memberships.
// Each grant that takes effect emits member.updated through outbox.
func acceptInvitations(ctx context.Context, tx *gorm.DB, outbox Outbox, now time.Time, u *models.User) error {
	if err := lockAddress(tx, u.Email); err != nil {
		return err
	}
	var invs []invitation
	if err := tx.Where("email = ? AND accepted_at IS NULL", u.Email).Order("license_id, id").Find(&invs).Error; err != nil {
		return err
	}
	for _, inv := range invs {
		if err := lockLicense(tx, inv.LicenseID); err != nil {
			return err
		}
		roles := models.ParseRoleList(inv.Roles)
		accepter := models.Actor{Kind: models.ActorUser, ID: u.ID, Email: u.Email}
		m, changed, err := putMember(tx, now, inv.LicenseID, u.ID, roles, accepter)
		if err != nil {
			return err
		}
		if err := tx.Model(&invitation{}).Where("id = ?", inv.ID).Update("accepted_at", now).Error; err != nil {
			return err
		}
		var lic models.License
		if err := tx.Take(&lic, inv.LicenseID).Error; err != nil {
			return err
		}
		if changed {
			if err := emitMember(ctx, tx, outbox, now, &lic, u.Email, m); err != nil {
				return err
			}
		}
		if err := writeAudit(tx, now, accepter, models.AuditRecord{Action: "member.invitation_accepted",
			SubjectType: "license", SubjectID: lic.LicenseNumber, LicenseID: lic.ID, Details: map[string]any{"email": u.Email, "roles": roles}}); err != nil {
			return err
		}
	}
	return nil
}

// RemoveMember takes every role of the member away. Admins and staff support may remove anyone;
// a member may remove themself. Errors: as access, member_not_found, last_admin.
func (s *Registrations) RemoveMember(ctx context.Context, p *models.Principal, ln, email string, a models.Actor) (err error) {
	defer wrapErr(&err, "remove a member")
	email = models.NormaliseEmail(email)
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		self := p.IsUser() && models.NormaliseEmail(p.Email) == email
		role := models.MemberAdmin
		if self {
			role = ""
		}
		acc, err := access(tx, p, ln, role)
		if err != nil {
			return err
		}
		if self && acc.Member == nil {
			return models.Errorf(models.CodeNotAMember, "you are not a member of license %s", acc.License.LicenseNumber)
		}
		if err := lockLicense(tx, acc.License.ID); err != nil {
			return err
		}
		var u models.User
		err = tx.Where("email = ?", email).Take(&u).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return models.Errorf(models.CodeMemberNotFound, "%s is not a member of this license", email)
		}
		if err != nil {
			return err
		}
		m, err := memberOf(tx, acc.License.ID, u.ID)
		if err != nil {
			return err
		}
		if m == nil {
			return models.Errorf(models.CodeMemberNotFound, "%s is not a member of this license", email)
		}
		now := s.store.Clock.Now()
		removed, _, err := putMember(tx, now, acc.License.ID, u.ID, nil, a)
		if err != nil {
			return err
		}
		if err := emitMember(ctx, tx, s.outbox, now, &acc.License, u.Email, removed); err != nil {
			return err
		}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "member.removed", SubjectType: "license", SubjectID: acc.License.LicenseNumber,
			LicenseID: acc.License.ID, Details: map[string]any{"email": email, "roles": m.Roles()}})
	})
}

// memberViews lists the license's active members (with a verified address), in the order they
// joined; email, when set, keeps only that address's.
func memberViews(tx *gorm.DB, licenseID int64, email string) ([]models.MemberView, error) {
	q := tx.Table("members").Select("users.email, users.name, members.*").Joins("JOIN users ON users.id = members.user_id").
		Where("members.license_id = ? AND (members.role_admin OR members.role_support OR members.role_license) AND "+verifiedUser, licenseID)
	if email != "" {
		q = q.Where("users.email = ?", email)
	}
	var rows []struct {
		Email string
		Name  string
		models.Member
	}
	if err := q.Order("members.id").Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]models.MemberView, 0, len(rows))
	for _, r := range rows {
		out = append(out, models.MemberView{Email: r.Email, Name: r.Name, UserID: r.Member.UserID, Roles: r.Member.Roles(), Since: r.Member.Since, GrantVersion: r.Member.GrantVersion})
	}
	return out, nil
}

// memberByEmail is the active member of the license with the address, or nil.
func memberByEmail(tx *gorm.DB, licenseID int64, email string) (*models.MemberView, error) {
	ms, err := memberViews(tx, licenseID, email)
	if err != nil || len(ms) == 0 {
		return nil, err
	}
	return &ms[0], nil
}
