package store

import (
	"context"
	"errors"
	"strings"

	"gorm.io/gorm"

	"entitled/models"
)

// PutStaff creates or updates a staff user with exactly the given roles. A new user is created
// verified: the superadmin (or the operator at the console) vouches for the address. Returns the
// user and whether it was created. Errors: validation_failed.
func (s *Identity) PutStaff(ctx context.Context, in models.StaffInput, a models.Actor) (_ *models.User, _ bool, err error) {
	defer wrapErr(&err, "set staff roles")
	var v models.Validation
	email := models.CheckEmail(&v, "email", in.Email)
	name := models.CheckName(&v, "name", in.Name, false)
	roles := normaliseSet(&v, "roles", in.Roles, models.StaffRoles())
	if in.Password != "" {
		checkPassword(&v, "password", in.Password)
	}
	if err := v.Err(); err != nil {
		return nil, false, err
	}
	hash := ""
	if in.Password != "" {
		var err error
		if hash, err = s.hasher.hash(ctx, in.Password); err != nil {
			return nil, false, err
		}
	}
	var u models.User
	created := false
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		err := tx.Where("email = ?", email).Take(&u).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			if hash == "" {
				v.Add("password", models.FieldRequired, "is required to create a new staff user")
				return v.Err()
			}
			if name == "" {
				name = email[:strings.IndexByte(email, '@')]
			}
			u = models.User{Email: email, Name: name, PasswordHash: hash, EmailVerifiedAt: &now, StaffRoles: strings.Join(roles, ","), CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(&u).Error; err != nil {
				return err
			}
			created = true
		case err != nil:
			return err
		default:
			unverified := u.EmailVerifiedAt == nil
			if unverified && hash == "" && len(roles) > 0 {
				// Anyone may have signed up with this address (and kept a session): staff rights
				// go to it only with a password the administrator sets, which takes the account over.
				v.Add("password", models.FieldRequired, "is required: this address has an account whose email is not verified yet, and a new password takes it over")
				return v.Err()
			}
			before := u.StaffRoles
			u.StaffRoles, u.UpdatedAt = strings.Join(roles, ","), now
			cols := []string{"staff_roles", "updated_at"}
			if hash != "" {
				u.PasswordHash = hash
				cols = append(cols, "password_hash")
				// A new password set by an administrator ends the user's sessions and voids the
				// reset links issued before it.
				if err := tx.Model(&session{}).Where("user_id = ? AND revoked_at IS NULL", u.ID).Update("revoked_at", now).Error; err != nil {
					return err
				}
				if err := voidTokens(tx, now, u.ID, purposeResetPassword); err != nil {
					return err
				}
			}
			if unverified && hash != "" {
				// The administrator vouches for the address: it is verified now, its pending
				// verification links (with another password) die, and grants waiting for it apply.
				u.EmailVerifiedAt = &now
				cols = append(cols, "email_verified_at")
				if err := voidTokens(tx, now, u.ID, purposeVerifyEmail); err != nil {
					return err
				}
				if err := acceptInvitations(ctx, tx, s.outbox, now, &u); err != nil {
					return err
				}
			}
			if name != "" {
				u.Name = name
				cols = append(cols, "name")
			}
			if err := tx.Model(&u).Select(cols).Updates(&u).Error; err != nil {
				return err
			}
			if before == u.StaffRoles && hash == "" {
				return nil
			}
		}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "staff.updated", SubjectType: "user", SubjectID: itoa64(u.ID),
			Details: map[string]any{"email": u.Email, "roles": roles, "created": created, "password_set": hash != ""}})
	})
	if err != nil {
		return nil, false, err
	}
	return &u, created, nil
}

// ListStaff lists users with any staff role, a page at a time.
func (s *Identity) ListStaff(ctx context.Context, page models.Page) (_ []models.User, _ string, err error) {
	defer wrapErr(&err, "list staff")
	q := s.store.db.WithContext(ctx).Model(&models.User{}).Where("staff_roles <> ''")
	return pageOf[models.User](q, page, func(u models.User) int64 { return u.ID })
}

// staffContact is a staff user a letter goes to.
type staffContact struct {
	Name  string
	Email string
}

// staffWith lists the staff users who hold any of roles, by address.
func staffWith(tx *gorm.DB, roles ...string) ([]staffContact, error) {
	conds := make([]string, len(roles))
	args := make([]any, len(roles))
	for i, r := range roles {
		conds[i] = "(',' || staff_roles || ',') LIKE ?"
		args[i] = "%," + r + ",%"
	}
	var out []staffContact
	err := tx.Table("users").Select("name, email").Where(strings.Join(conds, " OR "), args...).Order("email").Scan(&out).Error
	return out, err
}
