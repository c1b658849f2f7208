package main

import (
	"fmt"
	"testing"
	"time"

	"entitled/mailer"
	"entitled/mailer/mailtest"
	"entitled/models/store"
	"entitled/models/storetest"
)

// A running server whose mail server hangs for 30 s (accepts connections and says nothing) is
// held no longer than its production SMTP deadline (mailer.DefaultSMTPTimeout, with nothing
// shortened for the test): each attempt made during the hang is abandoned, retried, and once the
// mail server answers again every letter queued by "entitled mail test" arrives exactly once,
// with the Message-ID the command printed.
func TestServerRidesOutAHungMailServerAndDeliversEveryLetterOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		sink := mailtest.Start(t)
		sink.SetHangFor(30 * time.Second) // the figure; it starts before the first attempt
		s := setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, d), SMTPURL: sink.URL(), Secret: testSecret}
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
