package mailer_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"entitled/mailer/mailtest"
	"entitled/models"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"entitled/mailer"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// waitLimit bounds every wait for the queue; the slowest case (two retries, 2 s + 4 s) needs a
// fraction of it. Waits end as soon as their condition holds.
const waitLimit = 60 * time.Second

// mailEnv is a migrated database with a running River client that delivers letters through
// the transport it was given.
type mailEnv struct {
	store   *dbstore.Store
	client  *river.Client[*sql.Tx]
	outbox  *mailer.Outbox
	reg     *prometheus.Registry
	metrics *mailer.Metrics
}

func mustStartMail(t *testing.T, d dbstore.Dialect, tr mailer.Transport) *mailEnv {
	t.Helper()
	store := storetest.Open(t, d, nil)
	reg := prometheus.NewPedanticRegistry()
	metrics := mailer.NewMetrics(reg)
	workers := river.NewWorkers()
	mailer.AddWorkers(workers, &mailer.Worker{Transport: tr, From: testFrom, Metrics: metrics})
	client := storetest.StartJobs(t, store, &river.Config{Queues: mailer.RiverQueues(), Workers: workers})
	return &mailEnv{store: store, client: client, outbox: mailer.NewOutbox(client, mustRenderer(t)), reg: reg, metrics: metrics}
}

// wantMailCounts checks the mail metrics: entitled_mail_sent_total, and
// entitled_mail_failures_total of each kind in failures (other kinds are not checked).
func (e *mailEnv) wantMailCounts(t *testing.T, sent float64, failures map[string]float64) {
	t.Helper()
	if v := counter(t, e.reg, "entitled_mail_sent_total"); v != sent {
		t.Errorf("entitled_mail_sent_total = %v, want %v", v, sent)
	}
	for kind, want := range failures {
		if v := counter(t, e.reg, "entitled_mail_failures_total", "kind", kind); v != want {
			t.Errorf("%s failures = %v, want %v", kind, v, want)
		}
	}
}

// mustStartMailToSink is mustStartMail with the SMTP transport to a new sink, which it answers
// too (faults set on it before the test queues letters apply to them all).
func mustStartMailToSink(t *testing.T, d dbstore.Dialect) (*mailEnv, *mailtest.Sink) {
	t.Helper()
	sink := mailtest.Start(t)
	tr, err := mailer.NewTransport(sink.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	return mustStartMail(t, d, tr), sink
}

// inTx runs fn in a transaction on the store's database, as a service's transaction is (River
// writes the job into the *sql.Tx under it): it commits when fn returns nil, and rolls back
// otherwise.
func inTx(store *dbstore.Store, fn func(tx *sql.Tx) error) error {
	tx, err := store.SQLDB().BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// queue queues m in a transaction of its own, the way a service does. fail makes the
// transaction roll back after queueing.
func queue(t *testing.T, store *dbstore.Store, outbox *mailer.Outbox, m mailer.Message, to []string, fail bool) mailer.Letter {
	t.Helper()
	errRollback := errors.New("roll back")
	var l mailer.Letter
	err := inTx(store, func(sqlTx *sql.Tx) error {
		var err error
		if l, err = outbox.Queue(context.Background(), sqlTx, m, to, nil); err != nil {
			return err
		}
		if fail {
			return errRollback
		}
		return nil
	})
	if fail && !errors.Is(err, errRollback) || !fail && err != nil {
		t.Fatalf("transaction: %v", err)
	}
	return l
}

type jobRow struct {
	State   string
	Attempt int
}

// mailJobs are the rows of the mail queue, oldest first.
func mailJobs(t *testing.T, store *dbstore.Store) []jobRow {
	t.Helper()
	return storetest.Rows(t, store, "SELECT state, attempt FROM river_job WHERE queue = 'mail' ORDER BY id",
		func(r *sql.Rows) (j jobRow, err error) {
			err = r.Scan(&j.State, &j.Attempt)
			return j, err
		})
}

// waitUntil polls cond until it holds, failing the test with what() if waitLimit passes first.
func waitUntil(t *testing.T, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func allInState(jobs []jobRow, n int, state string) bool {
	if len(jobs) != n {
		return false
	}
	for _, j := range jobs {
		if j.State != state {
			return false
		}
	}
	return true
}

// counter reads a counter from the registry; labels are name=value pairs.
func counter(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

// A letter queued in a transaction that rolls back is never sent: the job row rolled back
// with everything else.
func TestRolledBackLetterIsNeverSent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		t.Parallel()
		env, sink := mustStartMailToSink(t, d)
		ghost := queue(t, env.store, env.outbox, mailer.PasswordReset{Name: "Ghost", Link: testBaseURL + "/reset-password?token=ghost"}, []string{"ghost@example.com"}, true)
		// A letter committed after it goes out: the worker has polled the queue since the
		// rollback, so the rolled-back letter had every chance to be sent, and was not.
		real := queue(t, env.store, env.outbox, mailer.TestLetter{}, []string{"ops@example.com"}, false)
		waitUntil(t, func() string { return fmt.Sprintf("jobs %v", mailJobs(t, env.store)) }, func() bool {
			return allInState(mailJobs(t, env.store), 1, "completed")
		})
		msgs := sink.Messages()
		if len(msgs) != 1 {
			t.Fatalf("sink got %d messages, want only the committed one", len(msgs))
		}
		if got := mustParseMessage(t, msgs[0].Data).Header.Get("Message-Id"); got != real.MessageID || got == ghost.MessageID {
			t.Errorf("delivered Message-ID %q, want the committed letter's %q", got, real.MessageID)
		}
		if n := sink.RcptAttempts("ghost@example.com"); n != 0 {
			t.Errorf("the rolled-back letter's recipient was tried %d times", n)
		}
	})
}

// When the mail server answers 451 for a while, every letter still arrives, exactly once and
// under its own Message-ID, after River's retries.
func TestTemporaryFailuresAreRetriedUntilDelivered(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		t.Parallel()
		env, sink := mustStartMailToSink(t, d)
		sink.SetTempFailFirst(2) // each recipient: 451, 451, then accepted
		const n = 5
		want := map[string]mailer.Letter{}
		for i := range n {
			to := fmt.Sprintf("user%d@example.com", i)
			l := queue(t, env.store, env.outbox, mailer.VerifyEmail{Name: "User", Link: testBaseURL + "/verify?token=t" + fmt.Sprint(i)}, []string{to}, false)
			want[l.MessageID] = l
		}
		waitUntil(t, func() string { return fmt.Sprintf("jobs %v", mailJobs(t, env.store)) }, func() bool {
			return allInState(mailJobs(t, env.store), n, "completed")
		})

		got := map[string]int{}
		for _, m := range sink.Messages() {
			p := mustParseMessage(t, m.Data)
			id := p.Header.Get("Message-Id")
			got[id]++
			l, ok := want[id]
			if !ok {
				t.Errorf("delivered a letter with unknown Message-ID %q", id)
				continue
			}
			checkDelivered(t, m.Data, l, testFrom)
			if len(m.To) != 1 || m.To[0] != l.To[0] {
				t.Errorf("letter %s went to %q, want %q", id, m.To, l.To)
			}
		}
		for id := range want {
			if got[id] != 1 {
				t.Errorf("letter %s delivered %d times, want exactly once", id, got[id])
			}
		}
		for i, j := range mailJobs(t, env.store) {
			if j.Attempt != 3 {
				t.Errorf("job %d: %d attempts, want 3 (two refusals, then delivery)", i, j.Attempt)
			}
		}
		for i := range n {
			if a := sink.RcptAttempts(fmt.Sprintf("user%d@example.com", i)); a != 3 {
				t.Errorf("user%d was tried %d times, want 3", i, a)
			}
		}
		env.wantMailCounts(t, n, map[string]float64{"temporary": 2 * n, "permanent": 0})
	})
}

// A 550 is final: the job is cancelled after one attempt instead of being retried 25 times.
func TestPermanentFailureCancelsTheJob(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		t.Parallel()
		env, sink := mustStartMailToSink(t, d)
		sink.SetRefuseAll(true)
		queue(t, env.store, env.outbox, mailer.PasswordChanged{Name: "Gone"}, []string{"gone@example.com"}, false)
		waitUntil(t, func() string { return fmt.Sprintf("jobs %v", mailJobs(t, env.store)) }, func() bool {
			return allInState(mailJobs(t, env.store), 1, "cancelled")
		})
		if j := mailJobs(t, env.store)[0]; j.Attempt != 1 {
			t.Errorf("cancelled after %d attempts, want 1", j.Attempt)
		}
		if n := len(sink.Messages()); n != 0 {
			t.Errorf("sink got %d messages, want none", n)
		}
		env.wantMailCounts(t, 0, map[string]float64{"permanent": 1, "temporary": 0})
	})
}

// Without SMTP the same pipeline writes .eml files.
func TestQueuedLetterLandsInMailDirectory(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "mail")
		tr, err := mailer.NewTransport("", dir)
		if err != nil {
			t.Fatal(err)
		}
		env := mustStartMail(t, d, tr)
		link := testBaseURL + "/verify?token=FileT0ken"
		l := queue(t, env.store, env.outbox, mailer.VerifyEmail{Name: "Ada", Link: link}, []string{"ada@example.com"}, false)
		waitUntil(t, func() string { return fmt.Sprintf("jobs %v", mailJobs(t, env.store)) }, func() bool {
			return allInState(mailJobs(t, env.store), 1, "completed")
		})
		raw := mustReadFile(t, filepath.Join(dir, mailer.FileName(l.MessageID)))
		checkDelivered(t, raw, l, testFrom)
	})
}

func TestQueueNeedsRecipientAndTransaction(t *testing.T) {
	store := storetest.Open(t, dbstore.SQLite, nil)
	client := storetest.NewJobs(t, store, &river.Config{})
	outbox := mailer.NewOutbox(client, mustRenderer(t))
	err := inTx(store, func(sqlTx *sql.Tx) error {
		_, err := outbox.Queue(context.Background(), sqlTx, mailer.TestLetter{}, nil, nil)
		return err
	})
	if !errors.Is(err, mailer.ErrNoRecipient) {
		t.Errorf("Queue without recipients = %v, want ErrNoRecipient", err)
	}
	if _, err := outbox.Queue(context.Background(), nil, mailer.TestLetter{}, []string{"a@example.com"}, nil); err == nil {
		t.Error("Queue without a transaction succeeded")
	}
	if jobs := mailJobs(t, store); len(jobs) != 0 {
		t.Errorf("river_job has %d mail jobs, want none", len(jobs))
	}
}

// otherArgs is a job of another queue, which the mail gauge must not count.
type otherArgs struct{}

func (otherArgs) Kind() string { return "other" }

// gauges reads the queue-depth gauge by state.
func gauges(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "entitled_mail_queue_jobs" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "state" {
					out[lp.GetValue()] = m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

func TestQueueDepthCountsMailJobsByState(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		t.Parallel()
		store := storetest.Open(t, d, nil)
		// An insert-only client: nothing works the jobs, so they stay where they are put.
		client := storetest.NewJobs(t, store, &river.Config{})
		outbox := mailer.NewOutbox(client, mustRenderer(t))
		queue(t, store, outbox, mailer.TestLetter{}, []string{"a@example.com"}, false)
		queue(t, store, outbox, mailer.TestLetter{}, []string{"b@example.com"}, false)
		queue(t, store, outbox, mailer.TestLetter{}, []string{"c@example.com"}, true) // rolled back
		err := inTx(store, func(sqlTx *sql.Tx) error {
			l, err := mustRenderer(t).Render(mailer.TestLetter{}, []string{"later@example.com"}, nil)
			if err != nil {
				return err
			}
			if _, err := client.InsertTx(context.Background(), sqlTx, mailer.SendLetterArgs{Letter: l}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}); err != nil {
				return err
			}
			_, err = client.InsertTx(context.Background(), sqlTx, otherArgs{}, nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}

		got := gauges(t, mailer.QueueDepth(store.SQLDB()))
		want := map[string]float64{
			"available": 2, "scheduled": 1, "retryable": 0, "running": 0,
			"completed": 0, "discarded": 0, "cancelled": 0, "pending": 0,
		}
		if fmt.Sprint(sortedPairs(got)) != fmt.Sprint(sortedPairs(want)) {
			t.Errorf("entitled_mail_queue_jobs = %v, want %v", sortedPairs(got), sortedPairs(want))
		}
	})
}

func sortedPairs(m map[string]float64) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(out)
	return out
}

// A failing query is a failed scrape, reported, not a panic and not a zero.
func TestQueueDepthReportsQueryErrors(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "empty.db")) // no river_job table
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(mailer.QueueDepth(db))
	if _, err := reg.Gather(); err == nil {
		t.Fatal("gather succeeded without a river_job table")
	}
}

// SendLetterArgs route letters to the mail queue with room for a long outage.
func TestSendLetterArgsInsertOpts(t *testing.T) {
	args := mailer.SendLetterArgs{}
	if args.Kind() != "send_letter" {
		t.Errorf("Kind = %q", args.Kind())
	}
	if o := args.InsertOpts(); o.Queue != mailer.QueueMail || o.MaxAttempts != 25 {
		t.Errorf("InsertOpts = %+v, want queue %q and 25 attempts", o, mailer.QueueMail)
	}
	q := mailer.RiverQueues()
	if q[river.QueueDefault].MaxWorkers < 1 || q[mailer.QueueMail].MaxWorkers < 1 || q[models.WebhookQueue].MaxWorkers < 1 {
		t.Errorf("RiverQueues = %+v, want workers on the default, mail and webhook queues", q)
	}
}
