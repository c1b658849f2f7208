package store

// Staff single sign-on: the store's half. The relying party (discovery, PKCE, state, nonce, the
// ID token's signature) is package handlers/sso; what it verified arrives here as a
// models.SSOIdentity, and SignInOIDC turns it into a user and a session.

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"entitled/models"
)

// maxOIDCSubject bounds the `sub` claim: OpenID Connect says at most 255 ASCII characters.
const maxOIDCSubject = 255

// SignInOIDC signs in a person the company identity provider vouched for, and opens a portal
// session as Login does, in one transaction with its audit row ("user.signed_in_sso").
//
// The user is found by in.Subject. At first sign-in one is created: email verified (the IdP
// vouches for it) and no password (PasswordHash "", which no password matches, so the IdP stays
// the only way in). Their staff roles become in.Roles at every sign-in, so that a role removed at
// the IdP is gone at the next one (and, through the users row every session reads, from their
// other sessions at once). A person whose groups map to no role is refused; if the IdP still
// knows them as one of our users, that user loses every staff role and every session first. An
// email that belongs to another user is refused, never merged: linking a password account to an
// IdP subject would let whoever controls the IdP entry take over that account.
//
// Errors: validation_failed (the IdP sent no usable subject or email), forbidden (no mapped
// role), conflict (the email belongs to another user).
func (s *Identity) SignInOIDC(ctx context.Context, in models.SSOIdentity, ip, userAgent string) (_ *models.LoginResult, err error) {
	defer wrapErr(&err, "sign in via SSO")
	var v models.Validation
	if in.Subject == "" {
		v.Add("sub", models.FieldRequired, "is required")
	} else if len(in.Subject) > maxOIDCSubject || !utf8.ValidString(in.Subject) || strings.ContainsRune(in.Subject, 0) {
		v.Add("sub", models.FieldInvalid, "must be at most 255 characters of text")
	}
	email := models.CheckEmail(&v, "email", in.Email)
	roles := normaliseSet(&v, "roles", in.Roles, models.StaffRoles())
	if err := v.Err(); err != nil {
		return nil, err
	}
	var nameCheck models.Validation
	name := models.CheckName(&nameCheck, "name", in.Name, true)
	if nameCheck.Err() != nil {
		name = email[:strings.IndexByte(email, '@')] // the IdP's name is a courtesy: a bad one is not a reason to refuse
	}
	if len(userAgent) > 512 {
		userAgent = userAgent[:512]
	}
	tok := newSessionToken()
	var u models.User
	var refused error
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		q := tx.Where("oidc_subject = ?", in.Subject)
		if tx.Dialector.Name() == "postgres" {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		err := q.Take(&u).Error
		found := err == nil
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		if len(roles) == 0 {
			refused = models.Errorf(models.CodeForbidden, "your identity provider grants you no role here: ask for a group that gives staff access")
			if !found || u.StaffRoles == "" {
				return nil // nothing to take away: commit nothing
			}
			// Known here, but no longer granted anything: what they had goes now, not at the end
			// of their sessions.
			before := u.Roles()
			if err := tx.Model(&u).Select("staff_roles", "updated_at").Updates(map[string]any{"staff_roles": "", "updated_at": now}).Error; err != nil {
				return err
			}
			if err := tx.Model(&session{}).Where("user_id = ? AND revoked_at IS NULL", u.ID).Update("revoked_at", now).Error; err != nil {
				return err
			}
			a := models.SystemActor("single sign-on")
			a.IP = ip
			return writeAudit(tx, now, a, models.AuditRecord{Action: "staff.updated", SubjectType: "user", SubjectID: itoa64(u.ID),
				Details: map[string]any{"email": u.Email, "roles": []string{}, "roles_before": before, "via": "sso", "groups": in.Groups}})
		}
		// The email must not be another user's, whether the IdP sends it for the first time or
		// changed it since.
		var other []int64
		if err := tx.Model(&models.User{}).Where("email = ? AND oidc_subject <> ?", email, in.Subject).Limit(1).Pluck("id", &other).Error; err != nil {
			return err
		}
		if len(other) > 0 {
			refused = models.Errorf(models.CodeConflict, "the email address %s belongs to an account that signs in with a password: ask an administrator to sort it out (accounts are never merged)", email)
			return nil
		}
		created := !found
		before := []string{}
		if created {
			u = models.User{Email: email, Name: name, EmailVerifiedAt: &now, StaffRoles: strings.Join(roles, ","),
				OIDCSubject: in.Subject, CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(&u).Error; err != nil {
				return err
			}
		} else {
			before = u.Roles()
			cols := map[string]any{"staff_roles": strings.Join(roles, ","), "email": email, "name": name, "updated_at": now}
			if u.EmailVerifiedAt == nil {
				cols["email_verified_at"] = now
			}
			if err := tx.Model(&u).Updates(cols).Error; err != nil {
				return err
			}
		}
		sess := session{UserID: u.ID, TokenHash: tokenHash(tok), CreatedAt: now, ExpiresAt: now.Add(models.SessionTTL), IP: ip, UserAgent: strings.ToValidUTF8(userAgent, "")}
		if err := tx.Create(&sess).Error; err != nil {
			return err
		}
		a := models.Actor{Kind: models.ActorStaff, ID: u.ID, Email: email, IP: ip}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "user.signed_in_sso", SubjectType: "user", SubjectID: itoa64(u.ID),
			Details: map[string]any{"email": email, "created": created, "roles": roles, "roles_before": before, "groups": in.Groups}})
	})
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return nil, refused
	}
	return &models.LoginResult{Token: tok, ExpiresIn: models.SessionTTL, User: &u}, nil
}
