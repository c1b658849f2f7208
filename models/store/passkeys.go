package store

// Passkeys (WebAuthn, github.com/go-webauthn/webauthn) as a second factor, in the portal: named
// passkeys registered, listed and removed on the Security page, and one used as the second step
// of a sign-in in place of a TOTP code. A ceremony's challenge lives in webauthn_ceremonies, so
// that the answer may reach any replica. The relying party is ENTITLED_BASE_URL: its host is the
// RP ID, its origin the only origin accepted.

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"gorm.io/gorm"

	"entitled/models"
)

type passkeyRow struct {
	ID           int64
	UserID       int64
	Name         string
	CredentialID []byte
	Credential   string
	CreatedAt    time.Time
	LastUsedAt   *time.Time
}

func (passkeyRow) TableName() string { return "passkeys" }

type webauthnCeremony struct {
	ID          int64
	KeyHash     string
	UserID      int64
	SessionData string
	ExpiresAt   time.Time
}

func (webauthnCeremony) TableName() string { return "webauthn_ceremonies" }

// ceremonyTTL bounds how long a browser may take to answer a WebAuthn prompt.
const ceremonyTTL = 5 * time.Minute

// SetRelyingParty makes baseURL (ENTITLED_BASE_URL) the WebAuthn relying party: its host is the
// RP ID, its scheme, host and port the one origin accepted. Errors: validation_failed.
func (s *Identity) SetRelyingParty(baseURL string) error {
	u, err := url.Parse(baseURL)
	if err != nil || u.Hostname() == "" {
		return models.Errorf(models.CodeValidation, "passkeys need ENTITLED_BASE_URL to be an absolute URL")
	}
	w, err := webauthn.New(&webauthn.Config{RPID: u.Hostname(), RPDisplayName: "entitled (" + u.Hostname() + ")",
		RPOrigins: []string{u.Scheme + "://" + u.Host}})
	if err != nil {
		return err
	}
	s.mfa.webauthn = w
	return nil
}

// webauthnUser is a user as the library sees one.
type webauthnUser struct {
	u     models.User
	creds []webauthn.Credential
}

func (w *webauthnUser) WebAuthnID() []byte                         { return []byte(itoa64(w.u.ID)) }
func (w *webauthnUser) WebAuthnName() string                       { return w.u.Email }
func (w *webauthnUser) WebAuthnDisplayName() string                { return w.u.Name }
func (w *webauthnUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// loadWebAuthnUser reads the user and their passkeys.
func loadWebAuthnUser(db *gorm.DB, userID int64) (*webauthnUser, []passkeyRow, error) {
	var w webauthnUser
	if err := db.Take(&w.u, userID).Error; err != nil {
		return nil, nil, err
	}
	var rows []passkeyRow
	if err := db.Where("user_id = ?", userID).Order("id").Find(&rows).Error; err != nil {
		return nil, nil, err
	}
	for _, r := range rows {
		var c webauthn.Credential
		if err := json.Unmarshal([]byte(r.Credential), &c); err != nil {
			return nil, nil, err
		}
		w.creds = append(w.creds, c)
	}
	return &w, rows, nil
}

// putCeremony stores a ceremony's session data under key (replacing an earlier one).
func (s *Identity) putCeremony(ctx context.Context, key string, userID int64, sd *webauthn.SessionData) error {
	b, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	now := s.store.Clock.Now()
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("key_hash = ? OR expires_at < ?", tokenHash(key), now).Delete(&webauthnCeremony{}).Error; err != nil {
			return err
		}
		return tx.Create(&webauthnCeremony{KeyHash: tokenHash(key), UserID: userID, SessionData: string(b), ExpiresAt: now.Add(ceremonyTTL)}).Error
	})
}

// takeCeremony consumes the ceremony stored under key, in tx.
func takeCeremony(tx *gorm.DB, now time.Time, key string, userID int64) (*webauthn.SessionData, error) {
	var c webauthnCeremony
	err := tx.Where("key_hash = ? AND user_id = ? AND expires_at > ?", tokenHash(key), userID, now).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, errNoCeremony
	}
	if err != nil {
		return nil, err
	}
	r := tx.Where("id = ?", c.ID).Delete(&webauthnCeremony{})
	if r.Error != nil {
		return nil, r.Error
	}
	if r.RowsAffected == 0 {
		return nil, errNoCeremony
	}
	var sd webauthn.SessionData
	return &sd, json.Unmarshal([]byte(c.SessionData), &sd)
}

var errNoCeremony = models.Errorf(models.CodeValidation, "the passkey prompt has expired; try again")

// PasskeysAvailable reports whether passkeys can be used here (ENTITLED_BASE_URL names a host).
func (s *Identity) PasskeysAvailable() bool { return s.mfa.webauthn != nil }

func (s *Identity) passkeysOn() error {
	if s.mfa.webauthn == nil {
		return models.Errorf(models.CodeUnavailable, "passkeys need ENTITLED_BASE_URL")
	}
	return nil
}

// BeginPasskeyRegistration starts adding a passkey for the principal: the options for
// navigator.credentials.create, as JSON. The challenge is kept for the principal's session.
// Errors: unavailable.
func (s *Identity) BeginPasskeyRegistration(ctx context.Context, p *models.Principal) (_ []byte, err error) {
	defer wrapErr(&err, "start a passkey registration")
	if err := s.passkeysOn(); err != nil {
		return nil, err
	}
	w, _, err := loadWebAuthnUser(s.store.db.WithContext(ctx), p.UserID)
	if err != nil {
		return nil, translate(err)
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range w.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, sd, err := s.mfa.webauthn.BeginRegistration(w, webauthn.WithExclusions(exclude),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred))
	if err != nil {
		return nil, err
	}
	if err := s.putCeremony(ctx, "register:"+itoa64(p.SessionID), p.UserID, sd); err != nil {
		return nil, err
	}
	return json.Marshal(creation)
}

// FinishPasskeyRegistration checks the browser's answer to the registration's challenge and keeps
// the passkey under name. The user gets a letter and the audit log a row.
// Errors: validation_failed (no name, a name too long, a wrong or expired answer).
func (s *Identity) FinishPasskeyRegistration(ctx context.Context, p *models.Principal, name string, response []byte, a models.Actor) (err error) {
	defer wrapErr(&err, "register a passkey")
	if err := s.passkeysOn(); err != nil {
		return err
	}
	var v models.Validation
	name = models.CheckPasskeyName(&v, name)
	if err := v.Err(); err != nil {
		return err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return models.Errorf(models.CodeValidation, "the browser's passkey answer could not be read")
	}
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		sd, err := takeCeremony(tx, now, "register:"+itoa64(p.SessionID), p.UserID)
		if err != nil {
			return err
		}
		w, _, err := loadWebAuthnUser(tx, p.UserID)
		if err != nil {
			return err
		}
		cred, err := s.mfa.webauthn.CreateCredential(w, *sd, parsed)
		if err != nil {
			return models.Errorf(models.CodeValidation, "the passkey was not accepted")
		}
		b, err := json.Marshal(cred)
		if err != nil {
			return err
		}
		if err := tx.Create(&passkeyRow{UserID: p.UserID, Name: name, CredentialID: cred.ID, Credential: string(b), CreatedAt: now}).Error; err != nil {
			return err
		}
		return s.factorChangedMethod(ctx, tx, now, p.UserID, a, true, "passkey", "A passkey ("+name+")")
	})
}

// Passkeys lists the principal's passkeys.
func (s *Identity) Passkeys(ctx context.Context, p *models.Principal) (_ []models.Passkey, err error) {
	defer wrapErr(&err, "list passkeys")
	var rows []passkeyRow
	if err := s.store.db.WithContext(ctx).Where("user_id = ?", p.UserID).Order("id").Find(&rows).Error; err != nil {
		return nil, translate(err)
	}
	out := make([]models.Passkey, 0, len(rows))
	for _, r := range rows {
		out = append(out, models.Passkey{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt})
	}
	return out, nil
}

// RemovePasskey removes one of the principal's passkeys after checking the password.
// Errors: validation_failed (no or a wrong password), not_found (another user's, or none),
// too_many_attempts.
func (s *Identity) RemovePasskey(ctx context.Context, p *models.Principal, id int64, password string, a models.Actor) (err error) {
	defer wrapErr(&err, "remove a passkey")
	if err := s.checkPassword(ctx, p, "password", password); err != nil {
		return err
	}
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		var row passkeyRow
		if err := tx.Where("id = ? AND user_id = ?", id, p.UserID).Take(&row).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return models.Errorf(models.CodeNotFound, "you have no such passkey")
		} else if err != nil {
			return err
		}
		if err := tx.Delete(&passkeyRow{}, row.ID).Error; err != nil {
			return err
		}
		if on, err := hasFactor(tx, p.UserID); err != nil {
			return err
		} else if !on {
			// The last factor is gone: sign-ins waiting for one end.
			if err := tx.Model(&mfaChallenge{}).Where("user_id = ? AND used_at IS NULL", p.UserID).Update("used_at", now).Error; err != nil {
				return err
			}
		}
		return s.factorChangedMethod(ctx, tx, now, p.UserID, a, false, "passkey", "A passkey ("+row.Name+")")
	})
}

// BeginPasskeyLogin answers the options for navigator.credentials.get for the second step of the
// sign-in of mfaToken, as JSON. Errors: mfa_token_invalid, unavailable.
func (s *Identity) BeginPasskeyLogin(ctx context.Context, mfaToken string) (_ []byte, err error) {
	defer wrapErr(&err, "start a passkey sign-in")
	if err := s.passkeysOn(); err != nil {
		return nil, err
	}
	ch, err := s.pendingChallenge(ctx, mfaToken)
	if err != nil {
		return nil, err
	}
	w, _, err := loadWebAuthnUser(s.store.db.WithContext(ctx), ch.UserID)
	if err != nil {
		return nil, translate(err)
	}
	if len(w.creds) == 0 {
		return nil, models.Errorf(models.CodeValidation, "this account has no passkey")
	}
	assertion, sd, err := s.mfa.webauthn.BeginLogin(w)
	if err != nil {
		return nil, err
	}
	if err := s.putCeremony(ctx, "login:"+mfaToken, ch.UserID, sd); err != nil {
		return nil, err
	}
	return json.Marshal(assertion)
}

// pendingChallenge is the unfinished, unexpired sign-in of mfaToken with tries left.
func (s *Identity) pendingChallenge(ctx context.Context, mfaToken string) (*mfaChallenge, error) {
	var ch mfaChallenge
	err := s.store.db.WithContext(ctx).Where("token_hash = ? AND used_at IS NULL AND expires_at > ? AND tries < ?",
		tokenHash(mfaToken), s.store.Clock.Now(), models.MFATokenTries).Take(&ch).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, models.Errorf(models.CodeMFATokenInvalid, "the sign-in has expired or took too many wrong codes; sign in with your password again")
	}
	return &ch, translate(err)
}

// LoginPasskey finishes a sign-in that answered mfa_required with the browser's answer to
// BeginPasskeyLogin's challenge, as LoginMFA does with a code (the same tries, the same limit).
// Errors: as LoginMFA's.
func (s *Identity) LoginPasskey(ctx context.Context, mfaToken string, response []byte, ip, userAgent string) (*models.LoginResult, error) {
	if err := s.passkeysOn(); err != nil {
		return nil, err
	}
	parsed, perr := protocol.ParseCredentialRequestResponseBytes(response)
	return s.loginSecondStep(ctx, mfaToken, ip, userAgent, func(tx *gorm.DB, userID int64, now time.Time) error {
		if perr != nil {
			return errWrongCode
		}
		sd, err := takeCeremony(tx, now, "login:"+mfaToken, userID)
		if errors.Is(err, errNoCeremony) {
			return errWrongCode
		} else if err != nil {
			return err
		}
		w, rows, err := loadWebAuthnUser(tx, userID)
		if err != nil {
			return err
		}
		cred, err := s.mfa.webauthn.ValidateLogin(w, *sd, parsed)
		if err != nil {
			return errWrongCode
		}
		b, err := json.Marshal(cred)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if string(r.CredentialID) == string(cred.ID) {
				return tx.Model(&passkeyRow{}).Where("id = ?", r.ID).Updates(map[string]any{"credential": string(b), "last_used_at": now}).Error
			}
		}
		return errWrongCode
	})
}
