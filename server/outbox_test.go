package main

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"entitled/mailer"
	"entitled/mailer/mailtest"
	"entitled/models/store"
)

// deliveryTimeout bounds the wait for a letter. After a SIGKILL the new server first waits out
// the dead one's job-queue leadership (River's leader TTL, 15 s) before retries are rescheduled.
const deliveryTimeout = 90 * time.Second

// queueTestLetter runs "entitled mail test --to addr" against the setup's database and returns
// the Message-ID it printed.
func queueTestLetter(t *testing.T, s setup, to string) string {
	t.Helper()
	out := mustCLI(t, s, "", "mail", "test", "--to", to)
	m := regexp.MustCompile(`^queued (<[^>\s]+>) to (\S+)\n$`).FindStringSubmatch(out)
	if m == nil || m[2] != to {
		t.Fatalf("mail test printed %q, want \"queued <message-id> to %s\"", out, to)
	}
	return m[1]
}

// With no SMTP server configured, a letter that a CLI command queues is written by the running
// server as a complete .eml file in <data dir>/mail.
func TestQueuedLetterIsWrittenAsEMLWithoutSMTP(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir()}
	startServer(t, s)
	const to = "x@example.test"
	id := queueTestLetter(t, s, to)

	dir := filepath.Join(s.DataDir, "mail")
	var files []string
	eventually(t, deliveryTimeout, "an .eml file in "+dir, func() bool {
		files, _ = filepath.Glob(filepath.Join(dir, "*.eml"))
		return len(files) > 0
	})
	if len(files) != 1 {
		t.Fatalf("%d .eml files, want 1: %q", len(files), files)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatalf("%s is not a message: %v", files[0], err)
	}
	checkLetter(t, msg, to, id)
	if body, err := io.ReadAll(msg.Body); err != nil || len(body) == 0 {
		t.Errorf("the letter's body is empty or cut off (%d bytes, %v)", len(body), err)
	}
}

// checkLetter checks the headers every letter needs: the recipient, a subject and the
// Message-ID the outbox gave it when it was queued.
func checkLetter(t *testing.T, msg *mail.Message, to, messageID string) {
	t.Helper()
	rcpts, err := msg.Header.AddressList("To")
	if err != nil || len(rcpts) != 1 || rcpts[0].Address != to {
		t.Errorf("To: %q (%v), want %s", msg.Header.Get("To"), err, to)
	}
	if msg.Header.Get("Subject") == "" {
		t.Errorf("the letter has no Subject")
	}
	if got := msg.Header.Get("Message-ID"); got != messageID {
		t.Errorf("Message-ID %q, want %q as mail test printed", got, messageID)
	}
}

// A queued letter is delivered exactly once, with the Message-ID it was queued with, whether the
// server that tried it first was killed (SIGKILL) while the letter waited for its retry, or no
// server ran at all when it was queued. The second server is a new process on the same database.
func TestLetterIsDeliveredExactlyOnceAcrossRestarts(t *testing.T) {
	eachDialectInParallel(t, func(t *testing.T, d store.Dialect) {
		t.Run("server killed after a refused attempt", func(t *testing.T) {
			t.Parallel()
			sink, s := mailedSetup(t, d)
			sink.SetTempFailFirst(1 << 30) // every RCPT gets 451 until the switch below
			const to = "crash@example.test"

			first := startServer(t, s)
			id := queueTestLetter(t, s, to)
			db := openDB(t, s.DatabaseURL)
			eventually(t, deliveryTimeout, "a refused attempt, with the letter waiting for its retry", func() bool {
				j := letterJob(t, db)
				return sink.RcptAttempts(to) >= 1 && j.state == "retryable" && j.attempts >= 1 && j.retryNotDue
			})
			if n := len(sink.To(to)); n != 0 {
				t.Fatalf("the sink accepted %d letters while refusing every recipient", n)
			}
			first.kill()

			sink.SetTempFailFirst(0)
			startServer(t, s)
			waitDeliveredOnce(t, sink, db, to, id)
		})
		t.Run("queued while no server runs", func(t *testing.T) {
			t.Parallel()
			sink, s := mailedSetup(t, d)
			const to = "later@example.test"

			id := queueTestLetter(t, s, to)
			db := openDB(t, s.DatabaseURL)
			if j := letterJob(t, db); j.state != "available" {
				t.Fatalf("queued letter's job is %q, want available", j.state)
			}
			startServer(t, s)
			waitDeliveredOnce(t, sink, db, to, id)
		})
	})
}

// waitDeliveredOnce waits for the letter to reach the sink, for its job to complete and for the
// job queue to be idle (room for any duplicate to show), and checks that the sink has it exactly
// once.
func waitDeliveredOnce(t *testing.T, sink *mailtest.Sink, db *store.Store, to, id string) {
	t.Helper()
	eventually(t, deliveryTimeout, "the letter to be delivered", func() bool { return len(sink.To(to)) > 0 })
	eventually(t, deliveryTimeout, "the letter's job to complete", func() bool { return letterJob(t, db).state == "completed" })
	waitQueueIdle(t, db)
	got := sink.To(to)
	if len(got) != 1 {
		t.Fatalf("the sink has %d letters to %s, want exactly 1", len(got), to)
	}
	msg := got[0].Parse(t)
	checkLetter(t, msg, to, id)
}

// job is the queue's view of the one letter in these tests.
type job struct {
	state       string // River's job state; "" before it is queued
	attempts    int
	retryNotDue bool // its next attempt is at least half a second away
}

func letterJob(t *testing.T, db *store.Store) job {
	t.Helper()
	// Each dialect stores instants its own way; River writes SQLite's as "YYYY-MM-DD HH:MM:SS.SSS" UTC.
	later := `now() + interval '500 milliseconds'`
	if db.Dialect == store.SQLite {
		later = `strftime('%Y-%m-%d %H:%M:%f', 'now', '+0.5 seconds')`
	}
	var j job
	err := db.SQLDB().QueryRow(`SELECT state, attempt, CASE WHEN scheduled_at > `+later+` THEN 1 ELSE 0 END
		FROM river_job WHERE kind = 'send_letter'`).Scan(&j.state, &j.attempts, &j.retryNotDue)
	if errors.Is(err, sql.ErrNoRows) {
		return job{}
	}
	if err != nil {
		t.Fatalf("read the letter's job: %v", err)
	}
	return j
}

// A running server whose mail server hangs for 30 s (accepts connections and says nothing) is
// held no longer than its production SMTP deadline (mailer.DefaultSMTPTimeout, with nothing
// shortened for the test): each attempt made during the hang is abandoned, retried, and once the
// mail server answers again every letter queued by "entitled mail test" arrives exactly once,
// with the Message-ID the command printed.
func TestServerRidesOutAHungMailServerAndDeliversEveryLetterOnce(t *testing.T) {
	eachDialectInParallel(t, func(t *testing.T, d store.Dialect) {
		sink, s := mailedSetup(t, d)
		sink.SetHangFor(30 * time.Second) // the figure; it starts before the first attempt
		startServer(t, s)

		const n = 10
		ids := map[string]string{} // recipient → Message-ID
		for i := range n {
			to := fmt.Sprintf("hang%d@example.test", i)
			ids[to] = queueTestLetter(t, s, to)
		}
		db := openDB(t, s.DatabaseURL)
		// The hang (30 s), one abandoned attempt (30 s, overlapping it) and a retry fit well in
		// this; it bounds a broken deadline, which would hold the workers for good.
		limit := 30*time.Second + mailer.DefaultSMTPTimeout + deliveryTimeout
		eventually(t, limit, "every letter's job to complete", func() bool {
			return count(t, db, `SELECT COUNT(*) FROM river_job WHERE kind = 'send_letter' AND state = 'completed'`) == n
		})
		waitQueueIdle(t, db) // room for a duplicate to show

		for to, id := range ids {
			got := sink.To(to)
			if len(got) != 1 {
				t.Errorf("%s got %d letters, want exactly 1", to, len(got))
				continue
			}
			msg := got[0].Parse(t)
			checkLetter(t, msg, to, id)
		}
		retried := count(t, db, `SELECT COUNT(*) FROM river_job WHERE kind = 'send_letter' AND attempt > 1`)
		hung := sink.Faults().Hung
		if hung == 0 || retried == 0 {
			t.Errorf("%d connections hung and %d letters retried: the hang was never met", hung, retried)
		}
		t.Logf("%s: %d letters queued, %d attempts hung until the deadline, %d letters retried, %d delivered", d, n, hung, retried, len(sink.Messages()))
	})
}
