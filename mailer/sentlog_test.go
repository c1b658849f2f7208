package mailer_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"entitled/mailer"
	"entitled/mailer/mailtest"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// sentEnv is a migrated database with a River client whose mail worker sends through the
// transport it was given, with the sent log or without it. The client is not started.
type sentEnv struct {
	store  *dbstore.Store
	client *river.Client[*sql.Tx]
	outbox *mailer.Outbox
	sent   *mailer.SentLog
}

func newSentEnv(t *testing.T, d dbstore.Dialect, tr mailer.Transport, withLog bool) *sentEnv {
	t.Helper()
	store := storetest.Open(t, d, nil)
	sent := mailer.NewSentLog(store.SQLDB())
	w := &mailer.Worker{Transport: tr, From: testFrom}
	if withLog {
		w.Sent = sent
	}
	workers := river.NewWorkers()
	mailer.AddWorkers(workers, w)
	client := storetest.NewJobs(t, store, &river.Config{Queues: mailer.RiverQueues(), Workers: workers})
	return &sentEnv{store: store, client: client, outbox: mailer.NewOutbox(client, mustRenderer(t)), sent: sent}
}

func (e *sentEnv) start(t *testing.T) {
	t.Helper()
	storetest.RunJobs(t, e.client)
}

// mailJobIDs are the ids of the mail queue's jobs.
func mailJobIDs(t *testing.T, store *dbstore.Store) []int64 {
	t.Helper()
	return storetest.Rows(t, store, "SELECT id FROM river_job WHERE queue = 'mail' ORDER BY id",
		func(r *sql.Rows) (id int64, err error) {
			err = r.Scan(&id)
			return id, err
		})
}

// allDoneAfter reports whether there are n mail jobs, every one completed after at least
// attempts attempts.
func allDoneAfter(jobs []jobRow, n, attempts int) bool {
	if !allInState(jobs, n, "completed") {
		return false
	}
	for _, j := range jobs {
		if j.Attempt < attempts {
			return false
		}
	}
	return true
}

// A letter's job that runs again after the mail server accepted the letter (as River runs a job
// it rescues when the process died before recording it completed) does not send the letter
// again: the worker recorded it in the sent log right after the server's 250, and looks there
// first. Without the sent log the same run sends every letter a second time, which is the gap
// the log closes (issue 16, item 10).
func TestSentLetterIsNotSentAgainWhenItsJobRunsAgain(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		t.Parallel()
		for _, tt := range []struct {
			name    string
			withLog bool
			copies  int
		}{
			{"with the sent log", true, 1},
			{"without it", false, 2},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				sink := mailtest.Start(t)
				env := newSentEnv(t, d, smtpTo(t, sink), tt.withLog)
				env.start(t)
				const n = 5
				letters := map[string]mailer.Letter{}
				for _, l := range queueLetters(t, &mailEnv{store: env.store, client: env.client, outbox: env.outbox}, n) {
					letters[l.MessageID] = l
				}
				waitUntil(t, func() string { return "first run" }, func() bool { return allDoneAfter(mailJobs(t, env.store), n, 1) })
				for id := range letters {
					if sent, err := env.sent.WasSent(context.Background(), id); err != nil || sent != tt.withLog {
						t.Errorf("WasSent(%s) = %v, %v after delivery; want %v", id, sent, err, tt.withLog)
					}
				}

				// Run every job again, as a rescue does.
				for _, id := range mailJobIDs(t, env.store) {
					if _, err := env.client.JobRetry(context.Background(), id); err != nil {
						t.Fatalf("JobRetry(%d): %v", id, err)
					}
				}
				waitUntil(t, func() string { return "second run" }, func() bool { return allDoneAfter(mailJobs(t, env.store), n, 2) })

				got := sink.ByMessageID(t)
				for id := range letters {
					if got[id] != tt.copies {
						t.Errorf("letter %s delivered %d times, want %d", id, got[id], tt.copies)
					}
				}
				if len(got) != n {
					t.Errorf("the sink has %d distinct Message-IDs, want %d", len(got), n)
				}
			})
		}
	})
}

// A job whose letter a process that then died had sent and recorded (the row written, the job
// still "running" when River rescued it) completes without sending; the letters beside it go
// out once each.
func TestRescuedJobOfALetterRecordedAsSentSendsNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		t.Parallel()
		sink := mailtest.Start(t)
		env := newSentEnv(t, d, smtpTo(t, sink), true)
		letters := queueLetters(t, &mailEnv{store: env.store, client: env.client, outbox: env.outbox}, 4)
		sentBefore := letters["user0@example.com"].MessageID
		if err := env.sent.MarkSent(context.Background(), sentBefore); err != nil {
			t.Fatal(err)
		}
		env.start(t)
		waitUntil(t, func() string { return "jobs" }, func() bool { return allInState(mailJobs(t, env.store), 4, "completed") })
		got := sink.ByMessageID(t)
		for to, l := range letters {
			want := 1
			if l.MessageID == sentBefore {
				want = 0
			}
			if got[l.MessageID] != want {
				t.Errorf("letter to %s delivered %d times, want %d", to, got[l.MessageID], want)
			}
		}
	})
}

// MarkSent is idempotent; Prune forgets only rows older than its cut-off; WasSent tells.
func TestSentLogMarkAndPrune(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		t.Parallel()
		ctx := context.Background()
		store := storetest.Open(t, d, nil)
		log := mailer.NewSentLog(store.SQLDB())
		for range 2 {
			if err := log.MarkSent(ctx, "<new@example.com>"); err != nil {
				t.Fatalf("MarkSent: %v", err)
			}
		}
		old := time.Now().Add(-mailer.SentKeep - time.Hour).UTC()
		if _, err := store.SQLDB().Exec(`INSERT INTO sent_letters (message_id, sent_at) VALUES ($1, $2)`, "<old@example.com>", old); err != nil {
			t.Fatal(err)
		}
		n, err := log.Prune(ctx, time.Now().Add(-mailer.SentKeep))
		if err != nil || n != 1 {
			t.Errorf("Prune = %d, %v; want 1 row", n, err)
		}
		for id, want := range map[string]bool{"<new@example.com>": true, "<old@example.com>": false, "<never@example.com>": false} {
			if got, err := log.WasSent(ctx, id); err != nil || got != want {
				t.Errorf("WasSent(%s) = %v, %v; want %v", id, got, err, want)
			}
		}
		// The hourly job prunes the same way.
		w := &mailer.PruneSentWorker{Sent: log}
		if err := w.Work(ctx, &river.Job[mailer.PruneSentArgs]{JobRow: &rivertype.JobRow{}}); err != nil {
			t.Errorf("PruneSentWorker: %v", err)
		}
	})
}

// countingTransport counts the letters handed to it.
type countingTransport struct{ sent []string }

func (c *countingTransport) Send(_ context.Context, _ string, l mailer.Letter) error {
	c.sent = append(c.sent, l.MessageID)
	return nil
}

func letterJob(l mailer.Letter) *river.Job[mailer.SendLetterArgs] {
	return &river.Job[mailer.SendLetterArgs]{JobRow: &rivertype.JobRow{ID: 1, Attempt: 2, MaxAttempts: mailer.MaxAttempts}, Args: mailer.SendLetterArgs{Letter: l}}
}

// When the sent log cannot be read, the worker does not send blindly (that could be a second
// copy): the attempt fails, to be retried.
func TestWorkerDoesNotSendWhenTheSentLogCannotBeRead(t *testing.T) {
	t.Parallel()
	store := storetest.Open(t, dbstore.SQLite, nil)
	tr := &countingTransport{}
	w := &mailer.Worker{Transport: tr, Sent: mailer.NewSentLog(store.SQLDB())}
	l, err := mustRenderer(t).Render(mailer.TestLetter{}, []string{"ops@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	store.SQLDB().Close()
	if err := w.Work(context.Background(), letterJob(l)); err == nil {
		t.Errorf("Work succeeded with the database closed")
	}
	if len(tr.sent) != 0 {
		t.Errorf("the letter was sent %d times without knowing whether it went out before", len(tr.sent))
	}
}

// A letter queued before addresses were checked as they are now (to an address literal) is
// cancelled at once: every retry would be refused the same way, for five hours.
func TestWorkerCancelsALetterToAnAddressItCannotSendTo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := &mailer.Worker{Transport: &mailer.FileTransport{Dir: dir}}
	l, err := mustRenderer(t).Render(mailer.TestLetter{}, []string{"ops@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.To = []string{"x@[10.0.0.1]"} // as a job queued by an older build holds it
	err = w.Work(context.Background(), letterJob(l))
	var cancel *rivertype.JobCancelError
	if !errors.As(err, &cancel) || !errors.Is(err, mailer.ErrBadAddress) {
		t.Errorf("Work = %v, want the job cancelled with ErrBadAddress", err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		sort.Strings(files)
		t.Errorf("the letter was written: %q", files)
	}
}
