package mailer

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// maxBackoff caps the wait between attempts of a letter.
const maxBackoff = 15 * time.Minute

// Worker is the River worker that delivers queued letters.
type Worker struct {
	river.WorkerDefaults[SendLetterArgs]

	Transport Transport
	From      string       // ENTITLED_MAIL_FROM; "" means DefaultFrom
	Log       *slog.Logger // nil: discard
	Metrics   *Metrics     // nil: not counted
	// Sent records each letter the mail server accepted, right after its 250, and is looked
	// up before sending, so that a job River runs again (rescued after the process died before
	// River recorded it completed) does not send its letter twice. nil: nothing is recorded,
	// and a rescued job sends again.
	Sent *SentLog
}

// markSentTimeout bounds the write of a sent letter's row. It runs on a context of its own: a
// letter the server accepted is recorded even when the job's context ends just then.
const markSentTimeout = 15 * time.Second

// Work sends the letter, unless Sent says it went out already. A permanent refusal (IsPermanent)
// or a letter that cannot be sent at all (ErrBadAddress, ErrNoRecipient: a letter queued before
// Render checked as it does now) cancels the job, since every retry would fail the same way;
// any other failure is returned so that River retries it.
func (w *Worker) Work(ctx context.Context, job *river.Job[SendLetterArgs]) error {
	l := job.Args.Letter
	from := w.From
	if from == "" {
		from = DefaultFrom
	}
	// Recipients are counted, not listed: addresses are personal data and the Message-ID
	// already finds the letter.
	log := w.logger().With(
		"job_id", job.ID,
		"kind", l.Kind,
		"message_id", l.MessageID,
		"recipients", len(l.To)+len(l.Cc),
		"attempt", job.Attempt,
	)
	if w.Sent != nil && l.MessageID != "" {
		sent, err := w.Sent.WasSent(ctx, l.MessageID)
		if err != nil {
			// Without the answer a send could be a second one: try again later, as after a
			// temporary failure (River records the error, or rescues the job if it cannot).
			log.WarnContext(ctx, "cannot tell whether the letter was sent already, will retry", "error", err)
			return err
		}
		if sent {
			log.InfoContext(ctx, "letter was sent already (its job ran again after the mail server accepted it), not sending it again")
			return nil
		}
	}
	err := w.Transport.Send(ctx, from, l)
	switch {
	case err == nil:
		if w.Sent != nil && l.MessageID != "" {
			mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markSentTimeout)
			if err := w.Sent.MarkSent(mctx, l.MessageID); err != nil {
				log.ErrorContext(ctx, "letter sent but not recorded as sent: if its job runs again it is sent again", "error", err)
			}
			cancel()
		}
		w.Metrics.sent()
		log.InfoContext(ctx, "letter sent")
		return nil
	case errors.Is(err, ErrBadAddress) || errors.Is(err, ErrNoRecipient):
		w.Metrics.failed(failurePermanent)
		log.WarnContext(ctx, "letter cannot be sent to its recipients, not retrying", "error", err)
		return river.JobCancel(err)
	case IsPermanent(err):
		w.Metrics.failed(failurePermanent)
		log.WarnContext(ctx, "letter refused permanently, not retrying", "error", err)
		return river.JobCancel(err)
	default:
		w.Metrics.failed(failureTemporary)
		if job.Attempt >= job.MaxAttempts {
			log.ErrorContext(ctx, "letter not sent, giving up after the last attempt", "error", err)
		} else {
			log.WarnContext(ctx, "letter not sent, will retry", "error", err, "retry_in", backoff(job.Attempt))
		}
		return err
	}
}

// NextRetry waits min(2^attempt seconds, 15 minutes) after a failed attempt: 2 s after the
// first, so a short outage costs little, and no more than 15 minutes once it has lasted.
func (w *Worker) NextRetry(job *river.Job[SendLetterArgs]) time.Time {
	return time.Now().Add(backoff(job.Attempt))
}

// Timeout gives a delivery 60 s, twice the SMTP transport's own bound, so that the transport
// reports its timeout before River cancels the context.
func (w *Worker) Timeout(*river.Job[SendLetterArgs]) time.Duration { return 60 * time.Second }

func backoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt >= 10 { // 2^10 s is past the cap already; stop before the shift overflows
		return maxBackoff
	}
	return min(time.Duration(1<<attempt)*time.Second, maxBackoff)
}

func (w *Worker) logger() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Log
}
