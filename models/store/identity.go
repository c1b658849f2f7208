package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"entitled/mailer"
	"entitled/models"
)

const apiKeyTouchStep = time.Minute // last_used_at is written at most this often per key

// Purposes of single-use tokens.
const (
	purposeVerifyEmail   = "verify_email"
	purposeResetPassword = "reset_password"
)

type session struct {
	ID        int64
	UserID    int64
	TokenHash string
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
	IP        string
	UserAgent string
	// LastSeenAt is when the session was last used, written at most every SessionTouchStep.
	LastSeenAt *time.Time
}

func (session) TableName() string { return "sessions" }

type userToken struct {
	ID        int64
	UserID    int64
	Purpose   string
	TokenHash string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
	// A verification token issued by a signup carries that signup's password hash and name, which
	// following its link sets (nil on reset tokens).
	PasswordHash *string
	Name         *string
}

func (userToken) TableName() string { return "user_tokens" }

// Outbox queues letters, and other jobs, in the caller's transaction (mailer.Outbox is the real
// one).
type Outbox interface {
	Queue(ctx context.Context, tx *sql.Tx, m mailer.Message, to, cc []string) (mailer.Letter, error)
	InsertJob(ctx context.Context, tx *sql.Tx, args river.JobArgs) error
}

// Identity is the service for users, sessions, staff and API keys.
type Identity struct {
	store   *Store
	outbox  Outbox
	hasher  *hasher
	baseURL string
	paced   *pacer   // password checks from addresses over their failure limit
	mfa     mfaState // second factors: ENTITLED_SECRET's sealer, ENTITLED_STAFF_MFA (mfa.go)
}

// NewIdentity makes the identity service. baseURL is where letters' links point.
func NewIdentity(store *Store, outbox Outbox, baseURL string) *Identity {
	return &Identity{store: store, outbox: outbox, hasher: newHasher(), paced: newPacer(models.OverLimitChecksPerSecond, models.OverLimitChecksBurst),
		baseURL: strings.TrimRight(baseURL, "/")}
}

// queue renders and queues a letter in tx. With capped set, a kind already sent LettersPerHour
// times to the address this hour is silently dropped.
func (s *Identity) queue(ctx context.Context, tx *gorm.DB, m mailer.Message, to string, capped bool) error {
	to, ok := mailable(to)
	if !ok {
		// An address stored before addresses were checked as they are now cannot take mail: the
		// change stands without its letter.
		s.store.log.WarnContext(ctx, "letter not queued to an address that cannot take mail", "kind", m.Template())
		return nil
	}
	if capped {
		ok, err := letterAllowed(tx, s.store.Clock.Now(), to, m.Template())
		if err != nil || !ok {
			return err
		}
	}
	_, err := queueLetter(ctx, tx, s.outbox, m, []string{to}, nil)
	return err
}

// issueToken stores a new single-use token for the user and returns it (only its hash is kept).
func issueToken(tx *gorm.DB, now time.Time, userID int64, purpose string, ttl time.Duration) (string, error) {
	tok := newToken()
	err := tx.Create(&userToken{UserID: userID, Purpose: purpose, TokenHash: tokenHash(tok), CreatedAt: now, ExpiresAt: now.Add(ttl)}).Error
	return tok, err
}

// useToken consumes a single-use token and loads its user into u: it must exist, be of the
// purpose, unused and unexpired. The conditional update makes two concurrent uses of one token
// succeed once.
func useToken(tx *gorm.DB, now time.Time, token, purpose string, u *models.User) (*userToken, error) {
	bad := models.Errorf(models.CodeInvalidToken, "the link is invalid, has expired or was used already; ask for a new one")
	if token == "" || len(token) > 128 {
		return nil, bad
	}
	var t userToken
	err := tx.Where("token_hash = ? AND purpose = ?", tokenHash(token), purpose).Take(&t).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, err
	}
	res := tx.Model(&userToken{}).Where("id = ? AND used_at IS NULL AND expires_at > ?", t.ID, now).Update("used_at", now)
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected == 0 {
		return nil, bad
	}
	return &t, tx.Take(u, t.UserID).Error
}

// voidTokens marks every unused token of the purpose of the user used.
func voidTokens(tx *gorm.DB, now time.Time, userID int64, purpose string) error {
	return tx.Model(&userToken{}).Where("user_id = ? AND purpose = ? AND used_at IS NULL", userID, purpose).
		Update("used_at", now).Error
}

// Signup creates an unverified user and, after answering, sends the verification letter. When
// the email has a verified account already, nothing changes and the address gets a notice
// instead; when it has an unverified one, the password and name stay as they are until a link is
// followed, and the address gets a fresh link that carries this signup's password and name (see
// Verify). The caller cannot tell these apart, not even by the time the answer takes: the request
// does the same work whatever the address (the password hash, an insert that does nothing when
// the address is taken, one job), and the job (signupLetter) looks at what the address has.
// Errors: validation_failed.
func (s *Identity) Signup(ctx context.Context, in models.SignupInput) (err error) {
	defer wrapErr(&err, "sign up")
	var v models.Validation
	email := models.CheckEmail(&v, "email", in.Email)
	checkPassword(&v, "password", in.Password)
	name := models.CheckName(&v, "name", in.Name, true)
	if err := v.Err(); err != nil {
		return err
	}
	hash, err := s.hasher.hash(ctx, in.Password)
	if err != nil {
		return err
	}
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		// A new address gets its (unverified) user at once, so that it can log in right away; a
		// taken one is left alone by the very same statement.
		u := models.User{Email: email, Name: name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
		if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "email"}}, DoNothing: true}).Create(&u).Error; err != nil {
			return err
		}
		return insertJob(ctx, tx, s.outbox, signupLetterArgs{letterRequest: letterRequest{Email: email, At: now}, Name: name, PasswordHash: hash})
	})
}

// Verify confirms a user's email with the token of a verification letter. The password and name
// become those of the signup that sent the letter, every other verification link of the user dies,
// and every session of the user ends: whoever signed up first with someone else's address, and
// logged in, gains nothing. A link of a user verified already changes nothing.
// Errors: invalid_token.
func (s *Identity) Verify(ctx context.Context, token string, a models.Actor) (_ *models.User, err error) {
	defer wrapErr(&err, "verify an address")
	var u models.User
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		t, err := useToken(tx, now, token, purposeVerifyEmail, &u)
		if err != nil {
			return err
		}
		if u.EmailVerifiedAt == nil {
			cols := []string{"email_verified_at", "updated_at"}
			u.EmailVerifiedAt, u.UpdatedAt = &now, now
			passwordSet := t.PasswordHash != nil && *t.PasswordHash != ""
			if passwordSet {
				u.PasswordHash = *t.PasswordHash
				cols = append(cols, "password_hash")
			}
			if t.Name != nil && *t.Name != "" {
				u.Name = *t.Name
				cols = append(cols, "name")
			}
			// Conditional: of two links followed at the same instant, one verifies (and sets its
			// password); the other finds the address verified and changes nothing.
			res := tx.Model(&models.User{}).Where("id = ? AND email_verified_at IS NULL", u.ID).Select(cols).Updates(&u)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				if err := tx.Take(&u, t.UserID).Error; err != nil {
					return err
				}
				a.Kind, a.ID, a.Email = models.ActorUser, u.ID, u.Email
				return writeAudit(tx, now, a, models.AuditRecord{Action: "user.verified", SubjectType: "user", SubjectID: itoa64(u.ID)})
			}
			if err := voidTokens(tx, now, u.ID, purposeVerifyEmail); err != nil {
				return err
			}
			if passwordSet {
				// A password change voids the reset links issued before it.
				if err := voidTokens(tx, now, u.ID, purposeResetPassword); err != nil {
					return err
				}
			}
			if err := tx.Model(&session{}).Where("user_id = ? AND revoked_at IS NULL", u.ID).Update("revoked_at", now).Error; err != nil {
				return err
			}
			// Grants to this address made before it had an account take effect now.
			if err := acceptInvitations(ctx, tx, s.outbox, now, &u); err != nil {
				return err
			}
		}
		a.Kind, a.ID, a.Email = models.ActorUser, u.ID, u.Email
		return writeAudit(tx, now, a, models.AuditRecord{Action: "user.verified", SubjectType: "user", SubjectID: itoa64(u.ID)})
	})
	return &u, err
}

// Login checks a password and opens a session. A wrong password and an unknown email fail alike
// (invalid_credentials, same work done). Only failures count, per account (even one that does not
// exist) and per client address. A locked account refuses every login, the right password
// included, until the lock ends. The address's limit refuses nobody up front, so that one client
// cannot lock out everyone behind its address: the password is checked first, a right one
// succeeds, and a wrong one from an address over its limit is answered too_many_attempts.
// Errors: validation_failed, invalid_credentials, too_many_attempts.
func (s *Identity) Login(ctx context.Context, email, password, ip, userAgent string) (_ *models.LoginResult, err error) {
	defer wrapErr(&err, "log in")
	var v models.Validation
	email = models.NormaliseEmail(email)
	v.Required("email", email)
	v.Required("password", password)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if len(email) > 254 || len(password) > models.PasswordMax*4 || strings.ContainsRune(email, 0) || !utf8.ValidString(email) {
		return nil, models.Errorf(models.CodeInvalidCredentials, "the email or password is wrong")
	}
	if err := s.store.checkLimit(ctx, models.LoginPerAccount, email); err != nil {
		return nil, err
	}
	var u models.User
	err = s.store.db.WithContext(ctx).Where("email = ?", email).Take(&u).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, translate(err)
	}
	// An address over its failure limit is not locked out (its other users' right passwords
	// still log in), but its password checks are paced, so that one client cannot keep every
	// hashing slot busy: beyond the pace it is refused before any hashing.
	over := s.store.checkLimit(ctx, models.LoginPerAddress, ip)
	if over != nil && ErrorCode(over) != models.CodeTooManyAttempts {
		return nil, over
	}
	if over != nil {
		if wait, ok := s.paced.take(ip, time.Now()); !ok {
			return nil, &models.Error{Code: models.CodeTooManyAttempts, Message: "too many failed attempts from this address; try again shortly", RetryAfter: wait}
		}
	}
	ok, err := s.hasher.verify(ctx, password, u.PasswordHash)
	if err != nil {
		return nil, err
	}
	if !ok {
		// Over the address's limit before this failure: answered 429 rather than 401.
		if err := s.store.recordFailure(ctx, models.LoginPerAccount, email); err != nil {
			return nil, err
		}
		if err := s.store.recordFailure(ctx, models.LoginPerAddress, ip); err != nil {
			return nil, err
		}
		if over != nil {
			return nil, over
		}
		return nil, models.Errorf(models.CodeInvalidCredentials, "the email or password is wrong")
	}
	// A second factor: no session yet, but a token for the second step (mfa.go).
	if ch, err := s.startMFA(ctx, &u); err != nil || ch != nil {
		return &models.LoginResult{MFA: ch, User: &u}, err
	}
	tok := newSessionToken()
	now := s.store.Clock.Now()
	if len(userAgent) > 512 {
		userAgent = userAgent[:512]
	}
	sess := session{UserID: u.ID, TokenHash: tokenHash(tok), CreatedAt: now, ExpiresAt: now.Add(models.SessionTTL), IP: ip, UserAgent: strings.ToValidUTF8(userAgent, ""), LastSeenAt: &now}
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		// The password was checked outside any transaction. A verification, reset or change
		// that committed since then ended every session and may have set another password: a
		// session opened now with the old one would outlive it. So the session is written only
		// while the password is still the one checked, the user's row locked (PostgreSQL; a
		// SQLite transaction holds the write lock already) until it commits.
		var hash []string
		q := tx.Model(&models.User{}).Where("id = ?", u.ID)
		if tx.Dialector.Name() == "postgres" {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		if err := q.Pluck("password_hash", &hash).Error; err != nil {
			return err
		}
		if len(hash) != 1 || hash[0] != u.PasswordHash {
			return models.Errorf(models.CodeInvalidCredentials, "the email or password is wrong")
		}
		return tx.Create(&sess).Error
	})
	if err != nil {
		return nil, err
	}
	return &models.LoginResult{Token: tok, ExpiresIn: models.SessionTTL, User: &u}, nil
}

// newSessionToken is a random session token that Authenticate cannot take for an API key: it
// tells the two apart by the ek_ prefix, which one random base64url token in 64³ starts with.
func newSessionToken() string {
	for {
		if tok := newToken(); !strings.HasPrefix(tok, apiKeyPrefix) {
			return tok
		}
	}
}

// Logout ends the principal's session (only that one).
func (s *Identity) Logout(ctx context.Context, p *models.Principal) (err error) {
	defer wrapErr(&err, "log out")
	if !p.IsUser() {
		return models.Errorf(models.CodeForbidden, "only a session can log out")
	}
	now := s.store.Clock.Now()
	return translate(s.store.db.WithContext(ctx).Model(&session{}).
		Where("id = ? AND revoked_at IS NULL", p.SessionID).Update("revoked_at", now).Error)
}

// ForgotPassword sends a reset letter, after answering, when the email has an account. The
// request does the same work whatever the address (one job); the job (forgotLetter) looks
// the address up. Errors: validation_failed.
func (s *Identity) ForgotPassword(ctx context.Context, email string) (err error) {
	defer wrapErr(&err, "queue a password reset")
	return s.store.requestLetter(ctx, s.outbox, email, func(r letterRequest) river.JobArgs { return forgotLetterArgs{r} })
}

// ResetPassword sets a new password with the token of a reset letter and ends every session of
// the user. Following the link proves the inbox is theirs, so it also verifies the email.
// Errors: validation_failed, invalid_token.
func (s *Identity) ResetPassword(ctx context.Context, token, password string, a models.Actor) (_ *models.User, err error) {
	defer wrapErr(&err, "reset a password")
	var v models.Validation
	v.Required("token", token)
	checkPassword(&v, "password", password)
	if err := v.Err(); err != nil {
		return nil, err
	}
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return nil, err
	}
	var u models.User
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		if _, err := useToken(tx, now, token, purposeResetPassword, &u); err != nil {
			return err
		}
		u.PasswordHash, u.UpdatedAt = hash, now
		if u.EmailVerifiedAt == nil {
			u.EmailVerifiedAt = &now
			// Verified now: an older verification link must not set another password later.
			if err := voidTokens(tx, now, u.ID, purposeVerifyEmail); err != nil {
				return err
			}
			if err := acceptInvitations(ctx, tx, s.outbox, now, &u); err != nil {
				return err
			}
		}
		if err := tx.Model(&u).Select("password_hash", "updated_at", "email_verified_at").Updates(&u).Error; err != nil {
			return err
		}
		// Every other reset link of this user dies with this one, and so does every session.
		if err := voidTokens(tx, now, u.ID, purposeResetPassword); err != nil {
			return err
		}
		if err := tx.Model(&session{}).Where("user_id = ? AND revoked_at IS NULL", u.ID).Update("revoked_at", now).Error; err != nil {
			return err
		}
		a.Kind, a.ID, a.Email = models.ActorUser, u.ID, u.Email
		if err := writeAudit(tx, now, a, models.AuditRecord{Action: "user.password_reset", SubjectType: "user", SubjectID: itoa64(u.ID)}); err != nil {
			return err
		}
		return s.queue(ctx, tx, mailer.PasswordChanged{Name: u.Name}, u.Email, true)
	})
	return &u, err
}

// ChangePassword changes the principal's password after checking the current one, ends every
// other session and voids every reset link issued before. A wrong current password counts as a
// failed login of the account.
// Errors: validation_failed, too_many_attempts.
func (s *Identity) ChangePassword(ctx context.Context, p *models.Principal, current, next string, a models.Actor) (_ *models.User, err error) {
	defer wrapErr(&err, "change a password")
	var v models.Validation
	v.Required("current_password", current)
	checkPassword(&v, "new_password", next)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := s.store.checkLimit(ctx, models.LoginPerAccount, p.Email); err != nil {
		return nil, err
	}
	var u models.User
	if err := s.store.db.WithContext(ctx).Take(&u, p.UserID).Error; err != nil {
		return nil, translate(err)
	}
	ok, err := s.hasher.verify(ctx, current, u.PasswordHash)
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := s.store.recordFailure(ctx, models.LoginPerAccount, u.Email); err != nil {
			return nil, err
		}
		v.Add("current_password", "incorrect", "is not your current password")
		return nil, v.Err()
	}
	hash, err := s.hasher.hash(ctx, next)
	if err != nil {
		return nil, err
	}
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		u.PasswordHash, u.UpdatedAt = hash, now
		if err := tx.Model(&u).Select("password_hash", "updated_at").Updates(&u).Error; err != nil {
			return err
		}
		if err := tx.Model(&session{}).Where("user_id = ? AND id <> ? AND revoked_at IS NULL", u.ID, p.SessionID).
			Update("revoked_at", now).Error; err != nil {
			return err
		}
		if err := voidTokens(tx, now, u.ID, purposeResetPassword); err != nil {
			return err
		}
		if err := writeAudit(tx, now, a, models.AuditRecord{Action: "user.password_changed", SubjectType: "user", SubjectID: itoa64(u.ID)}); err != nil {
			return err
		}
		return s.queue(ctx, tx, mailer.PasswordChanged{Name: u.Name}, u.Email, true)
	})
	return &u, err
}

// Authenticate resolves a bearer credential: an API key (ek_…) or a session token. Anything
// unknown, expired or revoked is unauthenticated.
func (s *Identity) Authenticate(ctx context.Context, bearer string) (_ *models.Principal, err error) {
	defer wrapErr(&err, "authenticate")
	bad := models.Errorf(models.CodeUnauthenticated, "the credentials are missing, expired or revoked")
	if bearer == "" || len(bearer) > 256 {
		return nil, bad
	}
	if strings.HasPrefix(bearer, apiKeyPrefix) {
		return s.authenticateAPIKey(ctx, bearer)
	}
	hash, now := tokenHash(bearer), s.store.Clock.Now()
	if p, ok := s.store.cache.principal(hash, now); ok {
		s.touchSession(ctx, p.SessionID, now)
		return p, nil
	}
	gen := s.store.cache.generation()
	var row struct {
		SessionID        int64
		SessionExpiresAt time.Time
		models.User
	}
	err = s.store.db.WithContext(ctx).Table("sessions").
		Select("sessions.id AS session_id, sessions.expires_at AS session_expires_at, users.*").
		Joins("JOIN users ON users.id = sessions.user_id").
		Where("sessions.token_hash = ? AND sessions.revoked_at IS NULL AND sessions.expires_at > ?", hash, now).
		Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, translate(err)
	}
	p := &models.Principal{
		Kind: models.PrincipalUser, UserID: row.User.ID, Email: row.User.Email, Name: row.User.Name,
		EmailVerified: row.User.Verified(), StaffRoles: row.User.Roles(), SessionID: row.SessionID,
	}
	if p.MFAEnrolmentRequired, err = s.enrolmentRequired(ctx, &row.User); err != nil {
		return nil, err
	}
	s.touchSession(ctx, p.SessionID, now)
	s.store.cache.putPrincipal(gen, hash, p, row.SessionExpiresAt)
	return p, nil
}

// User loads a user by id. Errors: not_found.
func (s *Identity) User(ctx context.Context, id int64) (_ *models.User, err error) {
	defer wrapErr(&err, "read a user")
	var u models.User
	if err := s.store.db.WithContext(ctx).Take(&u, id).Error; err != nil {
		return nil, translate(err)
	}
	return &u, nil
}

// FindUsers lists users whose email starts with the given text (staff support repairs
// registrations with it), a page at a time in id order.
func (s *Identity) FindUsers(ctx context.Context, email string, page models.Page) (_ []models.User, _ string, err error) {
	defer wrapErr(&err, "find users")
	q := s.store.db.WithContext(ctx).Model(&models.User{})
	if e := models.NormaliseEmail(email); e != "" {
		q = q.Where("email LIKE ? ESCAPE '\\'", likePrefix(e))
	}
	return pageOf[models.User](q, page, func(u models.User) int64 { return u.ID })
}

// PruneExpired deletes sessions and single-use tokens that can no longer be used.
func (s *Identity) PruneExpired(ctx context.Context) (_ int64, err error) {
	defer wrapErr(&err, "prune expired sessions and tokens")
	now := s.store.Clock.Now()
	db := s.store.db.WithContext(ctx)
	r1 := db.Where("expires_at < ? OR revoked_at < ?", now, now.Add(-24*time.Hour)).Delete(&session{})
	if r1.Error != nil {
		return 0, translate(r1.Error)
	}
	r2 := db.Where("expires_at < ?", now.Add(-24*time.Hour)).Delete(&userToken{})
	if r2.Error != nil {
		return 0, translate(r2.Error)
	}
	n, err := s.store.PruneThrottles(ctx)
	if err != nil {
		return 0, err
	}
	n3, err := s.pruneMFA(ctx, now)
	return r1.RowsAffected + r2.RowsAffected + n + n3, err
}

// likePrefix escapes LIKE's wildcards in s and appends %.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}

// pageOf runs q ordered by id after the page's cursor and returns the page and the next cursor.
func pageOf[T any](q *gorm.DB, page models.Page, id func(T) int64) ([]T, string, error) {
	if page.After != 0 {
		q = q.Where("id > ?", page.After)
	}
	var out []T
	if err := q.Order("id").Limit(page.Limit + 1).Find(&out).Error; err != nil {
		return nil, "", translate(err)
	}
	out, next := trimPage(out, page.Limit, id)
	return out, next, nil
}
