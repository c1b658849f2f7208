package store

// A second factor: TOTP (RFC 6238) with one-time recovery codes, and the second step of a
// sign-in. Every piece of state lives in the database (the pending mfa_token, the last time step
// used, the recovery codes), so that a sign-in started on one replica finishes on any other.

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"

	"entitled/mailer"
	"entitled/models"
)

// totpFactor is a user's TOTP factor: the secret sealed under ENTITLED_SECRET.
type totpFactor struct {
	UserID      int64 `gorm:"primaryKey;autoIncrement:false"`
	Secret      []byte
	ConfirmedAt *time.Time
	LastStep    int64
	CreatedAt   time.Time
}

func (totpFactor) TableName() string { return "mfa_totp" }

type recoveryCode struct {
	ID        int64
	UserID    int64
	CodeHash  string
	CreatedAt time.Time
	UsedAt    *time.Time
}

func (recoveryCode) TableName() string { return "mfa_recovery_codes" }

type mfaChallenge struct {
	ID           int64
	UserID       int64
	TokenHash    string
	PasswordMark string
	Tries        int
	CreatedAt    time.Time
	ExpiresAt    time.Time
	UsedAt       *time.Time
}

func (mfaChallenge) TableName() string { return "mfa_challenges" }

// totpSecretAD binds a sealed TOTP secret to its purpose and user, so that a sealed secret
// copied to another user's row does not open.
func totpSecretAD(userID int64) string { return "entitled totp secret " + itoa64(userID) }

// mfaState is the identity service's second-factor settings and its in-process note of when
// each session's last_seen_at was last written.
type mfaState struct {
	sealer   *keySealer // nil: no ENTITLED_SECRET was given (WithMFA), so no TOTP enrolment
	policy   models.StaffMFAPolicy
	webauthn *webauthn.WebAuthn // the relying party of passkeys (SetRelyingParty); nil: none

	mu      sync.Mutex
	touched map[int64]time.Time // session id → when this replica last wrote its last_seen_at
}

// WithMFA gives the identity service ENTITLED_SECRET, which seals TOTP secrets, and
// ENTITLED_STAFF_MFA. Without it, enrolling a factor fails (unavailable) and staff MFA is
// optional.
func (s *Identity) WithMFA(secret string, policy models.StaffMFAPolicy) (*Identity, error) {
	sealer, err := newKeySealer(secret)
	if err != nil {
		return nil, err
	}
	s.mfa.sealer, s.mfa.policy = sealer, policy
	if err := s.SetRelyingParty(s.baseURL); err != nil {
		// Not a reason to stop: only passkeys need a relying party.
		s.store.log.Warn("passkeys are off: ENTITLED_BASE_URL cannot be a WebAuthn relying party (use a host name, not an IP address)", "error", err)
	}
	return s, nil
}

// passwordMark is what a pending sign-in remembers of the password hash it checked.
func passwordMark(hash string) string { return tokenHash("password:" + hash) }

// recoveryHash is what the database keeps of a recovery code: 80 random bits, so a fast hash
// serves (as for tokens), salted with the user so that equal codes of two users differ.
func recoveryHash(userID int64, code string) string {
	return tokenHash("recovery:" + itoa64(userID) + ":" + code)
}

// hasFactor reports whether the user has a confirmed second factor: a TOTP factor or a passkey.
func hasFactor(db *gorm.DB, userID int64) (bool, error) {
	m, err := factorMethods(db, userID)
	return len(m) > 0, err
}

// hasTOTP reports whether the user has a confirmed TOTP factor.
func hasTOTP(db *gorm.DB, userID int64) (bool, error) {
	var n int64
	err := db.Model(&totpFactor{}).Where("user_id = ? AND confirmed_at IS NOT NULL", userID).Count(&n).Error
	return n > 0, err
}

// factorMethods are the methods of the user's second factors, as mfa_required lists them.
func factorMethods(db *gorm.DB, userID int64) ([]string, error) {
	var out []string
	on, err := hasTOTP(db, userID)
	if err != nil {
		return nil, err
	}
	if on {
		out = append(out, models.MFAMethodTOTP)
	}
	var n int64
	if err := db.Model(&passkeyRow{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
		return nil, err
	}
	if n > 0 {
		out = append(out, models.MFAMethodPasskey)
	}
	// Recovery codes come with the authenticator app, and only unused ones can finish a sign-in.
	var codes int64
	if err := db.Model(&recoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&codes).Error; err != nil {
		return nil, err
	}
	if codes > 0 {
		out = append(out, models.MFAMethodRecovery)
	}
	return out, nil
}

// startMFA is Login's branch for a right password of an account with a second factor: instead
// of a session it stores a pending sign-in and returns its token. It returns nil when the
// account has no factor.
func (s *Identity) startMFA(ctx context.Context, u *models.User) (*models.MFAChallenge, error) {
	methods, err := factorMethods(s.store.db.WithContext(ctx), u.ID)
	if err != nil || len(methods) == 0 {
		return nil, translate(err)
	}
	tok, now := newToken(), s.store.Clock.Now()
	ch := mfaChallenge{UserID: u.ID, TokenHash: tokenHash(tok), PasswordMark: passwordMark(u.PasswordHash), CreatedAt: now, ExpiresAt: now.Add(models.MFATokenTTL)}
	if err := s.store.db.WithContext(ctx).Create(&ch).Error; err != nil {
		return nil, translate(err)
	}
	return &models.MFAChallenge{Token: tok, Methods: methods, ExpiresIn: models.MFATokenTTL}, nil
}

// errWrongCode is a wrong code inside LoginMFA's transaction; it rolls the transaction back and
// is counted as a failed sign-in outside it.
var errWrongCode = models.Errorf(models.CodeInvalidMFACode, "the code is wrong or was used already")

// LoginMFA finishes a sign-in that answered mfa_required: with the mfa_token and a TOTP code or
// an unused recovery code, it opens the session Login would have. The token is good for
// models.MFATokenTTL and models.MFATokenTries codes, right or wrong; each try is counted before
// the code is looked at, so that parallel tries cannot exceed the limit. A wrong code counts as a
// failed login of the account (and of the address), as a wrong password does. A TOTP code is
// taken once: the step it is for must be later than the last one accepted, and the conditional
// UPDATE that records it lets exactly one of two sign-ins racing with one code through.
// Errors: validation_failed, mfa_token_invalid, invalid_mfa_code, too_many_attempts.
func (s *Identity) LoginMFA(ctx context.Context, mfaToken, code, ip, userAgent string) (_ *models.LoginResult, err error) {
	defer wrapErr(&err, "finish a sign-in with a second factor")
	var v models.Validation
	v.Required("mfa_token", mfaToken)
	v.Required("code", code)
	if err := v.Err(); err != nil {
		return nil, err
	}
	code = models.NormaliseMFACode(code)
	return s.loginSecondStep(ctx, mfaToken, ip, userAgent, func(tx *gorm.DB, userID int64, now time.Time) error {
		switch models.MFACodeKind(code) {
		case models.MFAMethodTOTP:
			return s.takeTOTP(tx, userID, code, now, true)
		case models.MFAMethodRecovery:
			return takeRecoveryCode(tx, userID, code, now)
		}
		return errWrongCode
	})
}

// loginSecondStep is the second step of a sign-in with any factor: it counts the try, runs check
// (errWrongCode when the factor is refused) in the transaction that spends the mfa_token and opens
// the session, and counts a refusal as a failed login.
func (s *Identity) loginSecondStep(ctx context.Context, mfaToken, ip, userAgent string, check func(tx *gorm.DB, userID int64, now time.Time) error) (_ *models.LoginResult, err error) {
	defer wrapErr(&err, "finish a sign-in with a second factor")
	badToken := models.Errorf(models.CodeMFATokenInvalid, "the sign-in has expired or took too many wrong codes; sign in with your password again")
	if mfaToken == "" || len(mfaToken) > 128 {
		return nil, badToken
	}
	db := s.store.db.WithContext(ctx)
	now := s.store.Clock.Now()
	var ch mfaChallenge
	err = db.Where("token_hash = ?", tokenHash(mfaToken)).Take(&ch).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, badToken
	}
	if err != nil {
		return nil, translate(err)
	}
	var u models.User
	if err := db.Take(&u, ch.UserID).Error; err != nil {
		return nil, translate(err)
	}
	if err := s.store.checkLimit(ctx, models.LoginPerAccount, u.Email); err != nil {
		return nil, err
	}
	// The try counts whatever follows.
	res := db.Model(&mfaChallenge{}).Where("id = ? AND used_at IS NULL AND expires_at > ? AND tries < ?", ch.ID, now, models.MFATokenTries).
		Update("tries", gorm.Expr("tries + 1"))
	if res.Error != nil {
		return nil, translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, badToken
	}
	if len(userAgent) > 512 {
		userAgent = userAgent[:512]
	}
	tok := newSessionToken()
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		if err := check(tx, u.ID, now); err != nil {
			return err
		}
		// The token is spent, and only while the password is still the one it was given for
		// (a reset or change since then ends the pending sign-in too).
		r := tx.Model(&mfaChallenge{}).Where("id = ? AND used_at IS NULL", ch.ID).Update("used_at", now)
		if r.Error != nil {
			return r.Error
		}
		if r.RowsAffected == 0 {
			return badToken
		}
		var cur models.User
		if err := tx.Take(&cur, u.ID).Error; err != nil {
			return err
		}
		if passwordMark(cur.PasswordHash) != ch.PasswordMark {
			return badToken
		}
		u = cur
		return tx.Create(&session{UserID: u.ID, TokenHash: tokenHash(tok), CreatedAt: now, ExpiresAt: now.Add(models.SessionTTL),
			IP: ip, UserAgent: strings.ToValidUTF8(userAgent, ""), LastSeenAt: &now}).Error
	})
	if errors.Is(err, errWrongCode) {
		if err := s.store.recordFailure(ctx, models.LoginPerAccount, u.Email); err != nil {
			return nil, err
		}
		if err := s.store.recordFailure(ctx, models.LoginPerAddress, ip); err != nil {
			return nil, err
		}
		return nil, errWrongCode
	}
	if err != nil {
		return nil, err
	}
	return &models.LoginResult{Token: tok, ExpiresIn: models.SessionTTL, User: &u}, nil
}

// takeTOTP accepts a TOTP code of the user's factor (confirmed, or pending when confirmed is
// false) and records its step, or answers errWrongCode.
func (s *Identity) takeTOTP(tx *gorm.DB, userID int64, code string, now time.Time, confirmed bool) error {
	if s.mfa.sealer == nil {
		return models.Errorf(models.CodeUnavailable, "second factors need ENTITLED_SECRET")
	}
	var f totpFactor
	q := tx.Where("user_id = ?", userID)
	if confirmed {
		q = q.Where("confirmed_at IS NOT NULL")
	} else {
		q = q.Where("confirmed_at IS NULL")
	}
	if err := q.Take(&f).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return errWrongCode
	} else if err != nil {
		return err
	}
	secret, err := s.mfa.sealer.openBytes(totpSecretAD(userID), f.Secret)
	if err != nil {
		return err
	}
	for _, step := range models.TOTPCandidateSteps(now, f.LastStep) {
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(step*int64(models.TOTPPeriod/time.Second), 0).UTC(), totpOpts)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		r := tx.Model(&totpFactor{}).Where("user_id = ? AND last_step < ?", userID, step).Update("last_step", step)
		if r.Error != nil {
			return r.Error
		}
		if r.RowsAffected == 0 {
			return errWrongCode // another sign-in took this code (or a later one) first
		}
		return nil
	}
	return errWrongCode
}

var totpOpts = totp.ValidateOpts{Period: uint(models.TOTPPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// takeRecoveryCode spends one unused recovery code of the user, or answers errWrongCode.
func takeRecoveryCode(tx *gorm.DB, userID int64, code string, now time.Time) error {
	r := tx.Model(&recoveryCode{}).Where("user_id = ? AND code_hash = ? AND used_at IS NULL", userID, recoveryHash(userID, code)).
		Update("used_at", now)
	if r.Error != nil {
		return r.Error
	}
	if r.RowsAffected == 0 {
		return errWrongCode
	}
	return nil
}

// EnrolTOTP starts adding a TOTP factor: a fresh secret, pending until ConfirmTOTP sees a code
// of it. Starting again replaces a pending secret. Errors: conflict (a factor is on already:
// disable it first), unavailable (no ENTITLED_SECRET).
func (s *Identity) EnrolTOTP(ctx context.Context, p *models.Principal) (_ *models.TOTPEnrolment, err error) {
	defer wrapErr(&err, "start a TOTP enrolment")
	if !p.IsUser() {
		return nil, models.Errorf(models.CodeForbidden, "only a person can add a second factor")
	}
	if s.mfa.sealer == nil {
		return nil, models.Errorf(models.CodeUnavailable, "second factors need ENTITLED_SECRET")
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.totpIssuer(), AccountName: p.Email, Period: uint(models.TOTPPeriod / time.Second),
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		on, err := hasTOTP(tx, p.UserID)
		if err != nil {
			return err
		}
		if on {
			return models.Errorf(models.CodeConflict, "an authenticator app is set up already; remove it first to set up another")
		}
		if err := tx.Where("user_id = ?", p.UserID).Delete(&totpFactor{}).Error; err != nil {
			return err
		}
		return tx.Create(&totpFactor{UserID: p.UserID, Secret: s.mfa.sealer.sealBytes(totpSecretAD(p.UserID), []byte(key.Secret())),
			CreatedAt: s.store.Clock.Now()}).Error
	})
	if err != nil {
		return nil, err
	}
	return &models.TOTPEnrolment{Secret: key.Secret(), URI: key.URL()}, nil
}

// ConfirmTOTP turns the pending TOTP factor on with a code of it, and returns the recovery codes,
// readable only now (the database keeps their hashes). Any earlier recovery codes die. The user
// gets a letter and the audit log a row, with the change.
// Errors: validation_failed (no code, a wrong one, or nothing pending).
func (s *Identity) ConfirmTOTP(ctx context.Context, p *models.Principal, code string, a models.Actor) (_ []string, err error) {
	defer wrapErr(&err, "confirm a TOTP factor")
	var v models.Validation
	v.Required("code", code)
	if err := v.Err(); err != nil {
		return nil, err
	}
	code = models.NormaliseMFACode(code)
	var codes []string
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		if models.MFACodeKind(code) != models.MFAMethodTOTP {
			return errWrongCode
		}
		if err := s.takeTOTP(tx, p.UserID, code, now, false); err != nil {
			return err
		}
		if err := tx.Model(&totpFactor{}).Where("user_id = ?", p.UserID).Update("confirmed_at", now).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", p.UserID).Delete(&recoveryCode{}).Error; err != nil {
			return err
		}
		codes = make([]string, 0, models.RecoveryCodeCount)
		for range models.RecoveryCodeCount {
			var b [10]byte
			_, _ = rand.Read(b[:])
			c := models.RecoveryCodeFromBytes(b)
			if err := tx.Create(&recoveryCode{UserID: p.UserID, CodeHash: recoveryHash(p.UserID, c), CreatedAt: now}).Error; err != nil {
				return err
			}
			codes = append(codes, models.FormatRecoveryCode(c))
		}
		return s.factorChanged(ctx, tx, now, p.UserID, a, true)
	})
	if errors.Is(err, errWrongCode) {
		v.Add("code", "incorrect", "is not the current code of the authenticator app just set up (start again if you have not scanned the newest QR code)")
		return nil, v.Err()
	}
	return codes, err
}

// DisableTOTP removes the TOTP factor and its recovery codes, after checking the password; a
// wrong one counts as a failed login of the account. Pending sign-ins of the user end.
// Errors: validation_failed (no or a wrong password), not_found (no factor), too_many_attempts.
func (s *Identity) DisableTOTP(ctx context.Context, p *models.Principal, password string, a models.Actor) (err error) {
	defer wrapErr(&err, "remove a TOTP factor")
	if err := s.checkPassword(ctx, p, "password", password); err != nil {
		return err
	}
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		confirmed, err := hasTOTP(tx, p.UserID)
		if err != nil {
			return err
		}
		r := tx.Where("user_id = ?", p.UserID).Delete(&totpFactor{})
		if r.Error != nil {
			return r.Error
		}
		if r.RowsAffected == 0 {
			return models.Errorf(models.CodeNotFound, "no authenticator app is set up")
		}
		if !confirmed {
			return nil // an enrolment never confirmed, cancelled: no factor was on, nothing to tell
		}
		if err := tx.Where("user_id = ?", p.UserID).Delete(&recoveryCode{}).Error; err != nil {
			return err
		}
		if err := tx.Model(&mfaChallenge{}).Where("user_id = ? AND used_at IS NULL", p.UserID).Update("used_at", now).Error; err != nil {
			return err
		}
		return s.factorChanged(ctx, tx, now, p.UserID, a, false)
	})
}

// checkPassword checks the principal's password as ChangePassword does: throttled, and a wrong
// one counted. Errors: validation_failed (field), too_many_attempts.
func (s *Identity) checkPassword(ctx context.Context, p *models.Principal, field, password string) error {
	var v models.Validation
	v.Required(field, password)
	if err := v.Err(); err != nil {
		return err
	}
	if err := s.store.checkLimit(ctx, models.LoginPerAccount, p.Email); err != nil {
		return err
	}
	var u models.User
	if err := s.store.db.WithContext(ctx).Take(&u, p.UserID).Error; err != nil {
		return translate(err)
	}
	ok, err := s.hasher.verify(ctx, password, u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		if err := s.store.recordFailure(ctx, models.LoginPerAccount, u.Email); err != nil {
			return err
		}
		var v models.Validation
		v.Add(field, "incorrect", "is not your current password")
		return v.Err()
	}
	return nil
}

// factorChanged writes the audit row and queues the letter of a TOTP factor added or removed.
func (s *Identity) factorChanged(ctx context.Context, tx *gorm.DB, now time.Time, userID int64, a models.Actor, added bool) error {
	return s.factorChangedMethod(ctx, tx, now, userID, a, added, models.MFAMethodTOTP, "An authenticator app")
}

// factorChangedMethod writes the audit row and queues the letter of a second factor added or
// removed; method names it in the audit row, label in the letter.
func (s *Identity) factorChangedMethod(ctx context.Context, tx *gorm.DB, now time.Time, userID int64, a models.Actor, added bool, method, label string) error {
	var u models.User
	if err := tx.Take(&u, userID).Error; err != nil {
		return err
	}
	action := "user.mfa_removed"
	if added {
		action = "user.mfa_added"
	}
	if err := writeAudit(tx, now, a, models.AuditRecord{Action: action, SubjectType: "user", SubjectID: itoa64(userID),
		Details: map[string]any{"method": method}}); err != nil {
		return err
	}
	return s.queue(ctx, tx, mailer.SecondFactorChanged{Name: u.Name, Added: added, Method: label}, u.Email, false)
}

// MFAStatus says what second factor the user has, and whether ENTITLED_STAFF_MFA requires one.
func (s *Identity) MFAStatus(ctx context.Context, userID int64) (_ *models.MFAStatus, err error) {
	defer wrapErr(&err, "read a user's second factors")
	db := s.store.db.WithContext(ctx)
	var u models.User
	if err := db.Take(&u, userID).Error; err != nil {
		return nil, translate(err)
	}
	var st models.MFAStatus
	var f totpFactor
	err = db.Where("user_id = ?", userID).Take(&f).Error
	switch {
	case err == nil:
		st.TOTP, st.TOTPPending, st.ConfirmedAt = f.ConfirmedAt != nil, f.ConfirmedAt == nil, f.ConfirmedAt
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return nil, translate(err)
	}
	var n int64
	if err := db.Model(&recoveryCode{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&n).Error; err != nil {
		return nil, translate(err)
	}
	st.RecoveryLeft = int(n)
	if err := db.Model(&passkeyRow{}).Where("user_id = ?", userID).Count(&n).Error; err != nil {
		return nil, translate(err)
	}
	st.Passkeys = int(n)
	st.EnrolRequired = models.MFAEnrolmentRequired(s.mfa.policy, &u, st.TOTP || st.Passkeys > 0)
	return &st, nil
}

// enrolmentRequired is Authenticate's question: must this user add a factor before anything
// else? Only asked under ENTITLED_STAFF_MFA=required, of staff with a password.
func (s *Identity) enrolmentRequired(ctx context.Context, u *models.User) (bool, error) {
	if !models.MFAEnrolmentRequired(s.mfa.policy, u, false) {
		return false, nil
	}
	on, err := hasFactor(s.store.db.WithContext(ctx), u.ID)
	return !on, translate(err)
}

// pruneMFA deletes pending sign-ins that can no longer finish.
func (s *Identity) pruneMFA(ctx context.Context, now time.Time) (int64, error) {
	r := s.store.db.WithContext(ctx).Where("expires_at < ?", now.Add(-time.Hour)).Delete(&mfaChallenge{})
	return r.RowsAffected, translate(r.Error)
}

// PendingTOTP is the user's enrolment still waiting for its first code (for showing its QR code
// again), or nil when none is pending.
func (s *Identity) PendingTOTP(ctx context.Context, p *models.Principal) (_ *models.TOTPEnrolment, err error) {
	defer wrapErr(&err, "read a pending TOTP enrolment")
	if s.mfa.sealer == nil || !p.IsUser() {
		return nil, nil
	}
	var f totpFactor
	err = s.store.db.WithContext(ctx).Where("user_id = ? AND confirmed_at IS NULL", p.UserID).Take(&f).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, translate(err)
	}
	secret, err := s.mfa.sealer.openBytes(totpSecretAD(p.UserID), f.Secret)
	if err != nil {
		return nil, err
	}
	key, err := otp.NewKeyFromURL((&url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + s.totpIssuer() + ":" + p.Email,
		RawQuery: url.Values{"secret": {string(secret)}, "issuer": {s.totpIssuer()}, "algorithm": {"SHA1"}, "digits": {"6"}, "period": {"30"}}.Encode()}).String())
	if err != nil {
		return nil, err
	}
	return &models.TOTPEnrolment{Secret: key.Secret(), URI: key.URL()}, nil
}

// totpIssuer names this server in authenticator apps: the host of ENTITLED_BASE_URL.
func (s *Identity) totpIssuer() string {
	if u, err := url.Parse(s.baseURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "entitled"
}
