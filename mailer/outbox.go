package mailer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"entitled/models"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// QueueMail is the River queue letters are delivered from. It has workers of its own so that a
// slow or failing mail server never holds up other jobs.
const QueueMail = "mail"

// MaxAttempts is how many times a letter is tried before River gives up on it. With the
// backoff of Worker.NextRetry (2 s doubling, at most 15 minutes) 25 attempts span about five
// hours, long enough to ride out a mail server's outage or a fix to the settings.
const MaxAttempts = 25

// SendLetterArgs are the arguments of the job that delivers one letter.
type SendLetterArgs struct {
	Letter Letter `json:"letter"`
}

// Kind implements river.JobArgs.
func (SendLetterArgs) Kind() string { return "send_letter" }

// InsertOpts implements river.JobArgsWithInsertOpts: letters go to QueueMail.
func (SendLetterArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMail, MaxAttempts: MaxAttempts}
}

// RiverQueues is the queue configuration the server's River client starts with: the default
// queue for other jobs, QueueMail for letters, and models.WebhookQueue for webhook deliveries
// (each mostly waits on a receiver, up to 10 s, so a dead one must not hold up the rest). River
// fetches at most a queue's worth of workers every 100 ms, so the workers bound a replica's
// rate: 16 mail workers send about 150 letters/s (4 fell behind the soak's order and
// registration rate); 16 webhook workers drained about 110 deliveries/s (1,000 changes to 4
// endpoints took 36 s), so the webhook queue has 64, whose goroutines mostly wait on receivers.
func RiverQueues() map[string]river.QueueConfig {
	return map[string]river.QueueConfig{
		river.QueueDefault:  {MaxWorkers: 4},
		QueueMail:           {MaxWorkers: 16},
		models.WebhookQueue: {MaxWorkers: 64},
	}
}

// AddWorkers registers the mail workers with a River client's workers.
func AddWorkers(workers *river.Workers, w *Worker) {
	river.AddWorker(workers, w)
}

// Inserter inserts a job inside a transaction; *river.Client[*sql.Tx] is one.
type Inserter interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Outbox queues letters. A letter is a job row written in the caller's transaction: it is sent
// only if that transaction commits, and then at least once, by Worker.
type Outbox struct {
	ins Inserter
	r   *Renderer
}

// NewOutbox makes an outbox that renders with r and inserts jobs with ins.
func NewOutbox(ins Inserter, r *Renderer) *Outbox {
	return &Outbox{ins: ins, r: r}
}

// Renderer is the renderer the outbox uses, for callers that need its base URL to build links.
func (o *Outbox) Renderer() *Renderer { return o.r }

// Queue renders m for the recipients and inserts its delivery job in tx. It returns the letter
// as queued (its MessageID is what the receiver will see). Errors: ErrNoRecipient and
// ErrBadAddress (wrapped) for bad recipients; anything else is a template or database failure.
func (o *Outbox) Queue(ctx context.Context, tx *sql.Tx, m Message, to, cc []string) (Letter, error) {
	if tx == nil {
		// Without a transaction the letter could go out for a change that then rolls back.
		return Letter{}, errors.New("mailer: Queue needs the caller's transaction")
	}
	l, err := o.r.Render(m, to, cc)
	if err != nil {
		return Letter{}, err
	}
	if _, err := o.ins.InsertTx(ctx, tx, SendLetterArgs{Letter: l}, nil); err != nil {
		return Letter{}, fmt.Errorf("mailer: queue letter %q: %w", l.Kind, err)
	}
	return l, nil
}

// InsertJob inserts a job of any kind in tx, with the options its args give (River's InsertTx),
// for work that must happen only if tx commits, such as letters decided after the answer.
func (o *Outbox) InsertJob(ctx context.Context, tx *sql.Tx, args river.JobArgs) error {
	if tx == nil {
		return errors.New("mailer: InsertJob needs the caller's transaction")
	}
	if _, err := o.ins.InsertTx(ctx, tx, args, nil); err != nil {
		return fmt.Errorf("mailer: insert job %q: %w", args.Kind(), err)
	}
	return nil
}
