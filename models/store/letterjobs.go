package store

// The letters of the anonymous letter-sending requests (signup, forgot password, account
// recovery) are decided after the answer. The request itself does the same work whatever the
// address (validation, and one job inserted in a transaction), so neither its answer nor the time
// it takes tells whether the address has an account; the job then looks the address up and queues
// the letter, if any, through the outbox in a transaction of its own, under the per-recipient
// letter caps.

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"gorm.io/gorm"

	"entitled/mailer"
	"entitled/models"
)

// letterJobAttempts is how often a letter job is tried before River gives up on it (with
// River's backoff, a few hours: long enough to ride out a database restart).
const letterJobAttempts = 10

// letterRequest is what every letter job carries: the address the request named and when it was
// answered (the letter caps and the links' lifetimes count from then). Its InsertOpts are every
// letter job's. The three jobs stay three types, since River finds a job's worker by its kind,
// and the kinds are in the rows of jobs already queued; embedding keeps their JSON as it was.
type letterRequest struct {
	Email string    `json:"email"`
	At    time.Time `json:"at"`
}

func (letterRequest) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: river.QueueDefault, MaxAttempts: letterJobAttempts}
}

// signupLetterArgs is the job of a signup: the verification letter, carrying a link that sets
// this signup's password and name, or the notice to an address that has a verified account. The
// password is there as its argon2id hash only.
type signupLetterArgs struct {
	letterRequest
	Name         string `json:"name"`
	PasswordHash string `json:"password_hash"`
}

func (signupLetterArgs) Kind() string { return "signup_letter" }

// forgotLetterArgs is the job of a forgotten password: a reset letter if the address has an
// account.
type forgotLetterArgs struct{ letterRequest }

func (forgotLetterArgs) Kind() string { return "password_reset_letter" }

// recoverLetterArgs is the job of an account recovery: a letter listing the accounts whose
// primary contact the address is, if any.
type recoverLetterArgs struct{ letterRequest }

func (recoverLetterArgs) Kind() string { return "account_recovery_letter" }

// riverTx is the *sql.Tx under a GORM transaction, which River's InsertTx and JobCompleteTx (and
// so the outbox) take: what they insert commits or rolls back with tx.
func riverTx(tx *gorm.DB) (*sql.Tx, error) {
	pool := tx.Statement.ConnPool
	if p, ok := pool.(*gorm.PreparedStmtTX); ok { // PrepareStmt (SQLite)
		pool = p.Tx
	}
	t, ok := pool.(*sql.Tx)
	if !ok {
		return nil, errors.New("store: not inside a transaction")
	}
	return t, nil
}

// queueLetter renders m and queues it to to and cc through outbox in the GORM transaction tx:
// the letter exists if and only if tx commits. Every letter the store sends is queued here or
// by queueLetters.
func queueLetter(ctx context.Context, tx *gorm.DB, outbox Outbox, m mailer.Message, to, cc []string) (mailer.Letter, error) {
	if outbox == nil {
		return mailer.Letter{}, errors.New("store: no outbox to queue a letter with")
	}
	sqlTx, err := riverTx(tx)
	if err != nil {
		return mailer.Letter{}, err
	}
	return outbox.Queue(ctx, sqlTx, m, to, cc)
}

// manyQueuer is an outbox that queues many letters with one statement (mailer.Outbox).
type manyQueuer interface {
	QueueMany(ctx context.Context, tx *sql.Tx, out []mailer.Outgoing) ([]mailer.Letter, error)
}

// queueLetters queues every letter of out in tx, as queueLetter does, with one statement when the
// outbox can.
func queueLetters(ctx context.Context, tx *gorm.DB, outbox Outbox, out []mailer.Outgoing) ([]mailer.Letter, error) {
	if outbox == nil {
		return nil, errors.New("store: no outbox to queue letters with")
	}
	sqlTx, err := riverTx(tx)
	if err != nil {
		return nil, err
	}
	if m, ok := outbox.(manyQueuer); ok {
		return m.QueueMany(ctx, sqlTx, out)
	}
	letters := make([]mailer.Letter, 0, len(out))
	for _, o := range out {
		l, err := outbox.Queue(ctx, sqlTx, o.Message, o.To, o.Cc)
		if err != nil {
			return nil, err
		}
		letters = append(letters, l)
	}
	return letters, nil
}

// insertJob inserts a job (a letter job of this file) in the GORM transaction tx.
func insertJob(ctx context.Context, tx *gorm.DB, outbox Outbox, args river.JobArgs) error {
	if outbox == nil {
		return errors.New("store: no outbox to insert a job with")
	}
	sqlTx, err := riverTx(tx)
	if err != nil {
		return err
	}
	return outbox.InsertJob(ctx, sqlTx, args)
}

// requestLetter checks the address an anonymous letter request names and inserts, in a
// transaction of its own, the job that job makes of the request.
func (s *Store) requestLetter(ctx context.Context, outbox Outbox, email string, job func(letterRequest) river.JobArgs) error {
	var v models.Validation
	email = models.CheckEmail(&v, "email", email)
	if err := v.Err(); err != nil {
		return err
	}
	return s.withTx(ctx, func(tx *gorm.DB) error {
		return insertJob(ctx, tx, outbox, job(letterRequest{Email: email, At: s.Clock.Now()}))
	})
}

// QueueTestLetter queues the test letter of "entitled mail test" to one address through outbox,
// in a transaction of its own; a running server's worker sends it. It checks the mail settings
// end to end, so the address is the operator's to choose: the letter caps do not apply.
func (s *Store) QueueTestLetter(ctx context.Context, outbox Outbox, to string) (mailer.Letter, error) {
	var letter mailer.Letter
	err := s.withTx(ctx, func(tx *gorm.DB) error {
		var err error
		letter, err = queueLetter(ctx, tx, outbox, mailer.TestLetter{}, []string{to}, nil)
		return err
	})
	return letter, wrap(err, "queue the test letter")
}

// AddWorkers registers the workers of the letter jobs that signup, forgot password and account
// recovery insert on a River client's workers. Every client that works the default queue of a
// database these requests write to needs them. The letters are queued with the River client that
// runs the job, rendered for baseURL (ENTITLED_BASE_URL), which their links point to.
func AddWorkers(workers *river.Workers, store *Store, baseURL string) {
	lw := &letterWorkers{store: store, links: mailer.NewLinks(baseURL)}
	lw.renderer, lw.err = mailer.NewRenderer(baseURL)
	river.AddWorker(workers, &letterWorker[signupLetterArgs]{letterWorkers: lw, letter: lw.signupLetter})
	river.AddWorker(workers, &letterWorker[forgotLetterArgs]{letterWorkers: lw, letter: lw.forgotLetter})
	river.AddWorker(workers, &letterWorker[recoverLetterArgs]{letterWorkers: lw, letter: lw.recoverLetter})
}

// letterWorkers is what the letter jobs' workers share.
type letterWorkers struct {
	store    *Store
	links    mailer.Links
	renderer *mailer.Renderer
	err      error // of the renderer: every job fails with it
}

// run runs fn in one transaction with an outbox on the River client that runs job, and
// completes the job in that same transaction: a letter is queued once, even when the worker dies
// between the commit and River's own record of the job's end.
func run[T river.JobArgs](ctx context.Context, w *letterWorkers, job *river.Job[T], fn func(tx *gorm.DB, outbox Outbox) error) error {
	if w.err != nil {
		return w.err
	}
	client, err := river.ClientFromContextSafely[*sql.Tx](ctx)
	if err != nil {
		return err
	}
	outbox := mailer.NewOutbox(client, w.renderer)
	err = w.store.withTx(ctx, func(tx *gorm.DB) error {
		if err := fn(tx, outbox); err != nil {
			return err
		}
		sqlTx, err := riverTx(tx)
		if err != nil {
			return err
		}
		_, err = river.JobCompleteTx[riverdriver.Driver[*sql.Tx]](ctx, sqlTx, job)
		return err
	})
	if errors.Is(err, mailer.ErrBadAddress) || errors.Is(err, mailer.ErrNoRecipient) {
		return river.JobCancel(err) // trying again would not help
	}
	return err
}

// queueLetterTo queues a letter to one address in tx.
func queueLetterTo(ctx context.Context, tx *gorm.DB, outbox Outbox, m mailer.Message, to string) error {
	_, err := queueLetter(ctx, tx, outbox, m, []string{to}, nil)
	return err
}

// letterUser is the user with email, or nil when there is none: the account may have been
// deleted since the letter was asked for, and then there is no one to write to.
func letterUser(tx *gorm.DB, email string) (*models.User, error) {
	var u models.User
	err := tx.Where("email = ?", email).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// letterWorker works the letter jobs of one kind: letter decides and queues each job's letter, in
// the transaction of run.
type letterWorker[T river.JobArgs] struct {
	river.WorkerDefaults[T]
	*letterWorkers
	letter func(ctx context.Context, tx *gorm.DB, outbox Outbox, a T) error
}

// Work decides and queues the job's letter, and completes the job, in one transaction.
func (w *letterWorker[T]) Work(ctx context.Context, job *river.Job[T]) error {
	return run(ctx, w.letterWorkers, job, func(tx *gorm.DB, outbox Outbox) error {
		return w.letter(ctx, tx, outbox, job.Args)
	})
}

// signupLetter sends a verified account's address the notice, and any other address a fresh
// verification link that carries this signup's password hash and name.
func (w *letterWorkers) signupLetter(ctx context.Context, tx *gorm.DB, outbox Outbox, a signupLetterArgs) error {
	u, err := letterUser(tx, a.Email)
	if err != nil || u == nil {
		return err
	}
	if u.Verified() {
		ok, err := letterAllowed(tx, a.At, a.Email, mailer.SignupExisting{}.Template())
		if err != nil || !ok {
			return err
		}
		return queueLetterTo(ctx, tx, outbox, mailer.SignupExisting{Name: u.Name}, a.Email)
	}
	ok, err := letterAllowed(tx, a.At, a.Email, mailer.VerifyEmail{}.Template())
	if err != nil || !ok {
		return err
	}
	tok := newToken()
	hash, name := a.PasswordHash, a.Name
	t := userToken{UserID: u.ID, Purpose: purposeVerifyEmail, TokenHash: tokenHash(tok), CreatedAt: a.At,
		ExpiresAt: a.At.Add(models.VerifyTokenTTL), PasswordHash: &hash, Name: &name}
	if err := tx.Create(&t).Error; err != nil {
		return err
	}
	return queueLetterTo(ctx, tx, outbox, mailer.VerifyEmail{Name: a.Name, Link: w.links.Verify(tok)}, a.Email)
}

// forgotLetter sends the address a reset link if it has an account.
func (w *letterWorkers) forgotLetter(ctx context.Context, tx *gorm.DB, outbox Outbox, a forgotLetterArgs) error {
	u, err := letterUser(tx, a.Email)
	if err != nil || u == nil {
		return err
	}
	if u.SignsInWithSSO() {
		// Single sign-on staff have no password, and must not get one by mail: the IdP
		// alone lets them in (and shuts them out when they leave).
		return nil
	}
	ok, err := letterAllowed(tx, a.At, a.Email, mailer.PasswordReset{}.Template())
	if err != nil || !ok {
		return err
	}
	tok, err := issueToken(tx, a.At, u.ID, purposeResetPassword, models.ResetTokenTTL)
	if err != nil {
		return err
	}
	return queueLetterTo(ctx, tx, outbox, mailer.PasswordReset{Name: u.Name, Link: w.links.ResetPassword(tok)}, a.Email)
}

// recoverLetter sends the address its accounts' numbers if it is the primary contact of any.
func (w *letterWorkers) recoverLetter(ctx context.Context, tx *gorm.DB, outbox Outbox, a recoverLetterArgs) error {
	return recoveryLetter(ctx, tx, outbox, w.links, a.Email, a.At)
}

// insertWebhookJob inserts the job of a webhook delivery in the GORM transaction tx: it is sent
// if and only if tx commits.
func insertWebhookJob(ctx context.Context, tx *gorm.DB, outbox Outbox, args WebhookDeliveryArgs) error {
	return insertJob(ctx, tx, outbox, args)
}
