package mailer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// SentKeep is how long SentLog remembers a letter: far longer than any job of it can still run
// (a stuck job is rescued after minutes, and MaxAttempts retries span about five hours), and
// short enough that the table stays small.
const SentKeep = 3 * 24 * time.Hour

// SentLog records, by Message-ID, the letters the mail server accepted, in the sent_letters
// table (migration 00009) of the database the job queue lives in. Worker writes a row right
// after the server's 250, in a transaction of its own, and looks for it before sending.
//
// It closes the gap River leaves: River records a job as completed asynchronously, in batches,
// so when the process dies many letters the mail server accepted are still "running", and their
// jobs are rescued and run again minutes later. With SentLog the rescued job finds the row and
// does not send again; only a letter whose 250 arrived in the instant before its row was
// committed can still go out twice (with the same Message-ID).
//
// Its statements use $1 placeholders, which both drivers take (pgx, and modernc.org/sqlite,
// which reads $N as the N-th argument), and ON CONFLICT, which both dialects have.
type SentLog struct {
	db *sql.DB
}

// NewSentLog makes a sent log on db, the store's *sql.DB (SQLite or PostgreSQL, migrated).
func NewSentLog(db *sql.DB) *SentLog { return &SentLog{db: db} }

// WasSent reports whether the letter with this Message-ID was recorded as sent.
func (s *SentLog) WasSent(ctx context.Context, messageID string) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, `SELECT 1 FROM sent_letters WHERE message_id = $1`, messageID).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("mailer: look up sent letter: %w", err)
	}
	return true, nil
}

// MarkSent records that the letter with this Message-ID was sent, now. Recording it again
// changes nothing.
func (s *SentLog) MarkSent(ctx context.Context, messageID string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sent_letters (message_id, sent_at) VALUES ($1, $2) ON CONFLICT (message_id) DO NOTHING`,
		messageID, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("mailer: record sent letter: %w", err)
	}
	return nil
}

// Prune forgets the letters sent before t, and returns how many.
func (s *SentLog) Prune(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sent_letters WHERE sent_at < $1`, t.UTC())
	if err != nil {
		return 0, fmt.Errorf("mailer: prune sent letters: %w", err)
	}
	return res.RowsAffected()
}

// PruneSentArgs is the hourly job that forgets letters sent more than SentKeep ago.
type PruneSentArgs struct{}

// Kind implements river.JobArgs.
func (PruneSentArgs) Kind() string { return "prune_sent_letters" }

// PruneSentWorker runs PruneSentArgs.
type PruneSentWorker struct {
	river.WorkerDefaults[PruneSentArgs]
	Sent *SentLog
}

// Work prunes the sent log.
func (w *PruneSentWorker) Work(ctx context.Context, _ *river.Job[PruneSentArgs]) error {
	_, err := w.Sent.Prune(ctx, time.Now().Add(-SentKeep))
	return err
}

// PruneSentJob is the periodic job of PruneSentWorker: hourly, and at once when a replica
// becomes River's leader.
func PruneSentJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return PruneSentArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}
