package mailer_test

// Mail faults (issue #12): the mail server refuses for a while, hangs, or drops the connection
// in the middle of a letter, while a dozen letters or more wait in the real outbox, worked by the
// real River worker with its production retry policy, on both dialects. Each test holds the
// outbox to its promise: every letter arrives, under the Message-ID it was queued with, exactly
// once, except when the connection is lost after the final dot, where it may arrive again under
// the same Message-ID.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/textproto"
	"slices"
	"sync"
	"testing"
	"time"

	"entitled/mailer"
	"entitled/mailer/mailtest"
	"entitled/models/store"
	"entitled/models/storetest"
)

// faultLetters is how many letters each fault test queues: more than the mail queue's four
// workers, so that letters wait for each other as well as for the server.
const faultLetters = 15

// attempts wraps the real transport and keeps the error and duration of every failed delivery,
// so that a test can say how the failures failed. Deliveries go through unchanged.
type attempts struct {
	mailer.Transport
	mu    sync.Mutex
	errs  []error
	spans []time.Duration
}

func (a *attempts) Send(ctx context.Context, from string, l mailer.Letter) error {
	start := time.Now()
	err := a.Transport.Send(ctx, from, l)
	if err != nil {
		a.mu.Lock()
		a.errs = append(a.errs, err)
		a.spans = append(a.spans, time.Since(start))
		a.mu.Unlock()
	}
	return err
}

// failedSpans is how long each failed attempt took, in the order of failures().
func (a *attempts) failedSpans() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Duration(nil), a.spans...)
}

func (a *attempts) failures() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]error(nil), a.errs...)
}

// smtpTo is the real SMTP transport for the sink, with the production settings.
func smtpTo(t *testing.T, sink *mailtest.Sink) *mailer.SMTPTransport {
	t.Helper()
	tr, err := mailer.ParseSMTPURL(sink.URL())
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// queueLetters queues n letters, one to each of user0@example.com …, each in its own
// transaction, and returns them by recipient.
func queueLetters(t *testing.T, env *mailEnv, n int) map[string]mailer.Letter {
	t.Helper()
	out := map[string]mailer.Letter{}
	for i := range n {
		to := fmt.Sprintf("user%d@example.com", i)
		out[to] = queue(t, env.store, env.outbox, mailer.VerifyEmail{Name: "User", Link: testBaseURL + "/verify?token=t" + fmt.Sprint(i)}, []string{to}, false)
	}
	return out
}

// waitAllCompleted waits until every one of n mail jobs is completed, failing after limit.
func waitAllCompleted(t *testing.T, env *mailEnv, n int, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !allInState(mailJobs(t, env.store), n, "completed") {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %d completed letters after %v: jobs %v", n, limit, mailJobs(t, env.store))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// copies checks every message the sink stored against the letter queued for its recipient
// (the same Message-ID, headers and parts) and returns how many copies each recipient got.
// A message for nobody in want fails the test.
func copies(t *testing.T, sink *mailtest.Sink, want map[string]mailer.Letter) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, m := range sink.Messages() {
		if len(m.To) != 1 {
			t.Errorf("a message went to %q, want a single recipient", m.To)
			continue
		}
		l, ok := want[m.To[0]]
		if !ok {
			t.Errorf("a message went to %q, for whom nothing was queued", m.To[0])
			continue
		}
		checkDelivered(t, m.Data, l, testFrom) // Message-ID, subject, text and HTML as queued
		got[m.To[0]]++
	}
	return got
}

// checkExactlyOnce fails unless every queued letter was stored exactly once.
func checkExactlyOnce(t *testing.T, sink *mailtest.Sink, want map[string]mailer.Letter) {
	t.Helper()
	got := copies(t, sink, want)
	for _, to := range slices.Sorted(maps.Keys(want)) {
		if got[to] != 1 {
			t.Errorf("%s got %d copies of %s, want exactly 1", to, got[to], want[to].MessageID)
		}
	}
}

// checkTemporary fails for any failed attempt that was permanent: a permanent error would have
// cancelled the letter instead of retrying it.
func checkTemporary(t *testing.T, errs []error) {
	t.Helper()
	for _, err := range errs {
		if mailer.IsPermanent(err) {
			t.Errorf("a transient fault was taken as permanent: %v", err)
		}
	}
}

// first is the first of errs, for the log, or nil.
func first(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}

// A mail server that answers every session with a 4xx for a while (421 instead of its greeting,
// 451 to EHLO, MAIL FROM, RCPT TO or at the end of DATA, in turn) and then recovers costs only
// time: each letter is retried until the server takes it, and arrives exactly once.
func TestMailServerOutageOf4xxRepliesEndsWithEveryLetterDeliveredOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		sink := mailtest.Start(t)
		// The outage lasts until the test ends it, once every letter has been refused twice:
		// then each letter has met the outage, whatever the machine's speed.
		sink.SetTempFailFor(time.Hour)
		tr := &attempts{Transport: smtpTo(t, sink)}
		env := mustStartMail(t, d, tr)
		want := queueLetters(t, env, faultLetters)
		waitUntil(t, func() string { return fmt.Sprintf("jobs %v", mailJobs(t, env.store)) }, func() bool {
			jobs := mailJobs(t, env.store)
			for _, j := range jobs {
				if j.Attempt < 2 || j.State == "running" {
					return false
				}
			}
			return len(jobs) == faultLetters
		})
		sink.SetTempFailFor(0) // the server recovers
		waitAllCompleted(t, env, faultLetters, waitLimit)

		checkExactlyOnce(t, sink, want)
		errs := tr.failures()
		checkTemporary(t, errs)
		codes := map[int]int{}
		for _, err := range errs {
			var tp *textproto.Error
			if !errors.As(err, &tp) {
				t.Errorf("a refused attempt failed without an SMTP reply: %v", err)
				continue
			}
			codes[tp.Code]++
		}
		if codes[421] == 0 || codes[451] == 0 {
			t.Errorf("failed attempts by reply code %v, want both 421 (greeting) and 451", codes)
		}
		f := sink.Faults()
		if f.Refused < 2*faultLetters || len(errs) != f.Refused {
			t.Errorf("the sink refused %d sessions and the worker saw %d failures, want the same number, at least %d", f.Refused, len(errs), 2*faultLetters)
		}
		env.wantMailCounts(t, faultLetters, map[string]float64{"temporary": float64(len(errs))})
		t.Logf("%s: %d letters queued, %d sessions refused (%v by code), %d delivered", d, faultLetters, f.Refused, codes, len(sink.Messages()))
	})
}

// hangFor is how long the server says nothing in the hang test: the figure.
const hangFor = 30 * time.Second

// A mail server that accepts connections and then says nothing, not even its greeting, holds no
// worker past the transport's deadline: each such attempt is abandoned as a temporary failure and
// retried, and once the server answers again every letter arrives exactly once.
func TestHungMailServerIsAbandonedAtTheDeadlineAndEveryLetterDeliveredOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		sink := mailtest.Start(t)
		sink.SetHangFor(hangFor)
		smtp := smtpTo(t, sink)
		// Shorter than the hang, so that the transport's own deadline, not the server, is what
		// ends every attempt made during it; production's 30 s would make the test twice as
		// long and prove nothing more.
		smtp.Timeout = 10 * time.Second
		tr := &attempts{Transport: smtp}
		env := mustStartMail(t, d, tr)
		const n = 12 // three rounds of the four mail workers, each held 10 s, fill the hang
		want := queueLetters(t, env, n)
		waitAllCompleted(t, env, n, hangFor+90*time.Second)

		checkExactlyOnce(t, sink, want)
		errs := tr.failures()
		checkTemporary(t, errs)
		spans := tr.failedSpans()
		for i, err := range errs {
			// The deadline shows as an I/O timeout, or as the connection closed on our side
			// when the transport's timer closes it first (the sink never closes it).
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, net.ErrClosed) {
				t.Errorf("an attempt on the silent server failed otherwise than by the deadline: %v", err)
			}
			// Not sooner than the deadline: the attempt waited the server out, as it should.
			if spans[i] < smtp.Timeout {
				t.Errorf("an attempt on the silent server gave up after %v, before its %v deadline: %v", spans[i], smtp.Timeout, err)
			}
		}
		f := sink.Faults()
		if f.Hung == 0 || len(errs) != f.Hung {
			t.Errorf("the sink left %d connections unanswered and the worker saw %d failures, want the same number, not 0", f.Hung, len(errs))
		}
		retried := 0
		for _, j := range mailJobs(t, env.store) {
			if j.Attempt > 1 {
				retried++
			}
		}
		if retried == 0 {
			t.Error("no letter needed a second attempt: the hang was never met")
		}
		t.Logf("%s: %d letters queued, %d attempts abandoned at the deadline, %d letters retried, %d delivered; first failure: %v", d, n, len(errs), retried, len(sink.Messages()), first(errs))
	})
}

// When the connection is lost in the middle of DATA, before the final dot, the server has not
// taken the letter: it is retried and arrives exactly once.
func TestConnectionLostBeforeTheFinalDotIsRetriedAndDeliveredOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		sink := mailtest.Start(t)
		sink.SetDropMidDataFirst(1) // every recipient's first DATA is cut
		tr := &attempts{Transport: smtpTo(t, sink)}
		env := mustStartMail(t, d, tr)
		want := queueLetters(t, env, faultLetters)
		waitAllCompleted(t, env, faultLetters, waitLimit)

		checkExactlyOnce(t, sink, want)
		errs := tr.failures()
		checkTemporary(t, errs)
		if f := sink.Faults(); f.DroppedMidData != faultLetters || f.DroppedAfterDot != 0 {
			t.Errorf("faults %+v, want %d connections cut before the dot", f, faultLetters)
		}
		for i, j := range mailJobs(t, env.store) {
			if j.Attempt != 2 {
				t.Errorf("job %d: %d attempts, want 2 (cut, then delivered)", i, j.Attempt)
			}
		}
		for to := range want {
			if a := sink.DataAttempts(to); a != 2 {
				t.Errorf("%s: %d DATA transactions, want 2", to, a)
			}
		}
		t.Logf("%s: %d letters queued, %d cut before the dot, %d delivered; first failure: %v", d, faultLetters, sink.Faults().DroppedMidData, len(sink.Messages()), first(errs))
	})
}

// When the connection is lost after the final dot but before the server's reply, the server has
// the letter and the client cannot know it: the letter is sent again. It is then delivered, at
// most once more than it was cut, and every copy carries the Message-ID it was queued with, so a
// receiver that de-duplicates by Message-ID sees each letter once.
func TestConnectionLostAfterTheFinalDotRepeatsTheLetterUnderTheSameMessageID(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		sink := mailtest.Start(t)
		const cuts = 1
		sink.SetDropAfterDotFirst(cuts) // every recipient's first DATA is stored, then cut
		tr := &attempts{Transport: smtpTo(t, sink)}
		env := mustStartMail(t, d, tr)
		want := queueLetters(t, env, faultLetters)
		waitAllCompleted(t, env, faultLetters, waitLimit)

		// copies has already checked that every copy carries its letter's Message-ID.
		got := copies(t, sink, want)
		ids := map[string]string{}
		for _, to := range slices.Sorted(maps.Keys(want)) {
			if got[to] < 1 || got[to] > 1+cuts {
				t.Errorf("%s got %d copies, want between 1 and %d", to, got[to], 1+cuts)
			}
			if other, dup := ids[want[to].MessageID]; dup {
				t.Errorf("%s and %s share the Message-ID %s", to, other, want[to].MessageID)
			}
			ids[want[to].MessageID] = to
		}
		if len(ids) != faultLetters {
			t.Errorf("%d distinct Message-IDs delivered, want %d", len(ids), faultLetters)
		}
		errs := tr.failures()
		checkTemporary(t, errs)
		f := sink.Faults()
		if f.DroppedAfterDot != faultLetters*cuts || f.DroppedMidData != 0 {
			t.Errorf("faults %+v, want %d connections cut after the dot", f, faultLetters*cuts)
		}
		// Each cut makes exactly one extra copy; the acknowledged send is the last one.
		if total := len(sink.Messages()); total != faultLetters+f.DroppedAfterDot {
			t.Errorf("%d copies stored, want %d letters + %d repeats", total, faultLetters, f.DroppedAfterDot)
		}
		for i, j := range mailJobs(t, env.store) {
			if j.Attempt != 1+cuts {
				t.Errorf("job %d: %d attempts, want %d", i, j.Attempt, 1+cuts)
			}
		}
		t.Logf("%s: %d letters queued, %d cut after the dot, %d copies stored, %d distinct Message-IDs; first failure: %v", d, faultLetters, f.DroppedAfterDot, len(sink.Messages()), len(ids), first(errs))
	})
}
