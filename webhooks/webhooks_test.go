package webhooks_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"entitled/mailer"
	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
	"entitled/webhooks"
)

// receiver is an HTTPS endpoint that records what it is sent and answers status.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
	status int
}

func newReceiver(t *testing.T, status int) *receiver {
	r := &receiver{status: status}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got, r.bodies = append(r.got, req), append(r.bodies, b)
		st := r.status
		r.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() ([]*http.Request, [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*http.Request(nil), r.got...), append([][]byte(nil), r.bodies...)
}

func tlsClient(r *receiver, allowPrivate bool) *http.Client {
	return webhooks.NewClient(allowPrivate, r.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone())
}

func secret(b byte) []byte {
	s := make([]byte, models.WebhookSecretBytes)
	for i := range s {
		s[i] = b + byte(i)
	}
	return s
}

func TestSign_VerifiesWithTheStandardWebhooksLibrary_OneOrTwoSecrets(t *testing.T) {
	body := []byte(`{"type":"ping","timestamp":"2026-03-02T09:00:00Z","data":{"webhook_id":"1"}}`)
	at := time.Now()
	cur, prev := secret(1), secret(100)
	for _, secrets := range [][][]byte{{cur}, {cur, prev}} {
		sig, err := webhooks.Sign("msg_1", at, body, secrets)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(strings.Fields(sig)); n != len(secrets) {
			t.Fatalf("signature %q has %d parts, want %d", sig, n, len(secrets))
		}
		h := http.Header{}
		h.Set("webhook-id", "msg_1")
		h.Set("webhook-timestamp", strconvUnix(at))
		h.Set("webhook-signature", sig)
		for _, s := range secrets {
			wh, err := standardwebhooks.NewWebhookRaw(s)
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(body, h); err != nil {
				t.Errorf("%d secrets: verify with one of them: %v", len(secrets), err)
			}
		}
		other, _ := standardwebhooks.NewWebhookRaw(secret(200))
		if other.Verify(body, h) == nil {
			t.Errorf("a wrong secret verifies")
		}
		h.Set("webhook-id", "msg_2")
		if wh, _ := standardwebhooks.NewWebhookRaw(cur); wh.Verify(body, h) == nil {
			t.Errorf("another webhook-id verifies: the signature must cover it")
		}
	}
}

// webhookAttempts is the count of attempts of a type and outcome, read back from reg.
func webhookAttempts(t *testing.T, reg *prometheus.Registry, typ, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "entitled_webhook_attempts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == typ && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func strconvUnix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func outgoing(u string) *dbstore.WebhookOutgoing {
	return &dbstore.WebhookOutgoing{DeliveryID: 1, URL: u, EventID: "msg_abc", Type: "ping",
		Body: []byte(`{"type":"ping","timestamp":"2026-03-02T09:00:00Z","data":{}}`), Secrets: [][]byte{secret(1)}}
}

func TestSender_HeadersAndSignature(t *testing.T) {
	r := newReceiver(t, http.StatusNoContent)
	s := &webhooks.Sender{Client: tlsClient(r, true)}
	att := s.Send(context.Background(), outgoing(r.srv.URL+"/hook"))
	if !att.OK() || att.StatusCode != http.StatusNoContent {
		t.Fatalf("attempt %+v, want a 204 success", att)
	}
	reqs, bodies := r.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	h := reqs[0].Header
	if reqs[0].Method != http.MethodPost || h.Get("Content-Type") != "application/json" || !strings.HasPrefix(h.Get("User-Agent"), "entitled/") {
		t.Errorf("method %s, Content-Type %q, User-Agent %q", reqs[0].Method, h.Get("Content-Type"), h.Get("User-Agent"))
	}
	if h.Get("webhook-id") != "msg_abc" {
		t.Errorf("webhook-id %q", h.Get("webhook-id"))
	}
	wh, _ := standardwebhooks.NewWebhookRaw(secret(1))
	if err := wh.Verify(bodies[0], h); err != nil {
		t.Errorf("verify: %v", err)
	}
}

func TestSender_RedirectNotFollowedAndAFailure(t *testing.T) {
	target := newReceiver(t, http.StatusOK)
	redirect := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, target.srv.URL, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	s := &webhooks.Sender{Client: tlsClient(target, true)}
	att := s.Send(context.Background(), outgoing(redirect.URL))
	if att.OK() || att.StatusCode != http.StatusTemporaryRedirect || att.Error == "" {
		t.Fatalf("attempt %+v, want a failed 307", att)
	}
	if reqs, _ := target.requests(); len(reqs) != 0 {
		t.Fatalf("the redirect was followed")
	}
}

func TestSender_TimeoutAndNon2xxAreFailures(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	s := &webhooks.Sender{Client: webhooks.NewClient(true, slow.Client().Transport.(*http.Transport).TLSClientConfig.Clone()), Timeout: 200 * time.Millisecond}
	start := time.Now()
	att := s.Send(context.Background(), outgoing(slow.URL))
	if att.OK() || att.Error == "" {
		t.Fatalf("attempt %+v, want a timeout failure", att)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the attempt took %s", d)
	}

	bad := newReceiver(t, http.StatusInternalServerError)
	s = &webhooks.Sender{Client: tlsClient(bad, true)}
	if att := s.Send(context.Background(), outgoing(bad.srv.URL)); att.OK() || att.StatusCode != 500 {
		t.Fatalf("attempt %+v, want a failed 500", att)
	}
}

// A name that resolves to 127.0.0.1 is refused when the connection is made (the dialer's Control
// hook sees the address actually dialled), unless private addresses are allowed.
func TestSender_RefusesLoopbackAtConnectTime(t *testing.T) {
	r := newReceiver(t, http.StatusNoContent)
	u, _ := url.Parse(r.srv.URL)
	for _, host := range []string{"localhost", "127.0.0.1"} {
		target := "https://" + host + ":" + u.Port() + "/"
		s := &webhooks.Sender{Client: tlsClient(r, false)}
		att := s.Send(context.Background(), outgoing(target))
		if att.OK() || !strings.Contains(att.Error, "refused address") {
			t.Errorf("%s: attempt %+v, want refused at connect time", host, att)
		}
	}
	if reqs, _ := r.requests(); len(reqs) != 0 {
		t.Fatalf("the receiver got %d requests", len(reqs))
	}
	// With ENTITLED_WEBHOOK_ALLOW_PRIVATE the same connection is made.
	s := &webhooks.Sender{Client: tlsClient(r, true)}
	if att := s.Send(context.Background(), outgoing(r.srv.URL)); !att.OK() {
		t.Fatalf("allowed: attempt %+v", att)
	}
}

// An http:// URL (registered while ENTITLED_WEBHOOK_ALLOW_PRIVATE was on) gets nothing in clear
// text from a sender that does not allow it: the scheme is checked at every attempt.
func TestSender_RefusesHTTPUnlessAllowed(t *testing.T) {
	var got atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	s := &webhooks.Sender{Client: webhooks.NewClient(true, nil)}
	if att := s.Send(context.Background(), outgoing(srv.URL)); att.OK() || got.Load() != 0 {
		t.Fatalf("http:// without AllowHTTP: attempt %+v, %d requests", att, got.Load())
	}
	s.AllowHTTP = true
	if att := s.Send(context.Background(), outgoing(srv.URL)); !att.OK() || got.Load() != 1 {
		t.Fatalf("http:// with AllowHTTP: attempt %+v, %d requests", att, got.Load())
	}
}

func TestWorker_NextRetryFollowsTheSchedule(t *testing.T) {
	w := &webhooks.Worker{}
	for i, d := range models.WebhookRetrySchedule {
		job := &river.Job[dbstore.WebhookDeliveryArgs]{JobRow: &rivertype.JobRow{Attempt: i + 1, MaxAttempts: models.WebhookMaxAttempts}}
		before := time.Now()
		next := w.NextRetry(job)
		if next.Before(before.Add(d)) || next.After(time.Now().Add(d)) {
			t.Errorf("after attempt %d: next retry in %s, want %s", i+1, next.Sub(before), d)
		}
	}
	if models.WebhookMaxAttempts != 8 {
		t.Errorf("%d attempts, want 8 (the first and 7 retries)", models.WebhookMaxAttempts)
	}
}

// The worker, run by hand for each of River's attempts against a receiver that always fails:
// the same webhook-id on every attempt, next_attempt_at on the schedule, and failed after the
// eighth. Then a manual retry to a receiver that answers succeeds.
func TestWorker_RetriesKeepTheWebhookIDAndEndFailed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		store := storetest.Open(t, d, nil)
		jobs, err := river.NewClient(store.RiverDriver(), &river.Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := dbstore.NewWebhooks(store, mailer.NewOutbox(jobs, nil), "test secret for webhooks", true)
		if err != nil {
			t.Fatal(err)
		}
		r := newReceiver(t, http.StatusServiceUnavailable)
		ep, sec, err := svc.Create(ctx, models.WebhookInput{URL: r.srv.URL, Events: []string{"*"}}, models.SystemActor("test"))
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Ping(ctx, itoa(ep.ID)); err != nil {
			t.Fatal(err)
		}
		ds, _, err := svc.Deliveries(ctx, itoa(ep.ID), models.Page{Limit: 10})
		if err != nil || len(ds) != 1 {
			t.Fatalf("deliveries %v, %v", ds, err)
		}
		del := ds[0]
		reg := prometheus.NewRegistry()
		w := &webhooks.Worker{Webhooks: svc, Sender: &webhooks.Sender{Client: tlsClient(r, true)}, Metrics: webhooks.NewMetrics(reg, svc)}
		for attempt := 1; attempt <= models.WebhookMaxAttempts; attempt++ {
			job := &river.Job[dbstore.WebhookDeliveryArgs]{JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: models.WebhookMaxAttempts},
				Args: dbstore.WebhookDeliveryArgs{DeliveryID: del.ID}}
			if err := w.Work(ctx, job); err == nil {
				t.Fatalf("attempt %d: no error for a 503", attempt)
			}
			ds, _, _ := svc.Deliveries(ctx, itoa(ep.ID), models.Page{Limit: 10})
			got := ds[0]
			if len(got.Attempts) != attempt || got.Attempts[attempt-1].StatusCode != 503 {
				t.Fatalf("attempt %d: attempts %+v", attempt, got.Attempts)
			}
			if attempt < models.WebhookMaxAttempts {
				want := got.Attempts[attempt-1].At.Add(models.WebhookRetrySchedule[attempt-1])
				if got.Status != models.WebhookDeliveryPending || got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(want) {
					t.Fatalf("attempt %d: status %s, next %v, want pending at %v", attempt, got.Status, got.NextAttemptAt, want)
				}
			} else if got.Status != models.WebhookDeliveryFailed || got.NextAttemptAt != nil {
				t.Fatalf("after the last attempt: status %s, next %v, want failed", got.Status, got.NextAttemptAt)
			}
		}
		reqs, bodies := r.requests()
		if len(reqs) != models.WebhookMaxAttempts {
			t.Fatalf("%d requests, want %d", len(reqs), models.WebhookMaxAttempts)
		}
		wh, _ := standardwebhooks.NewWebhook(sec)
		for i, req := range reqs {
			if req.Header.Get("webhook-id") != del.EventID || string(bodies[i]) != string(bodies[0]) {
				t.Errorf("attempt %d: webhook-id %q body %s, want %q and the first body", i+1, req.Header.Get("webhook-id"), bodies[i], del.EventID)
			}
			if err := wh.Verify(bodies[i], req.Header); err != nil {
				t.Errorf("attempt %d: %v", i+1, err)
			}
		}
		got, _ := svc.Get(ctx, itoa(ep.ID))
		if got.FailingSince == nil || got.LastDeliveryAt == nil {
			t.Errorf("endpoint failing_since %v, last_delivery_at %v", got.FailingSince, got.LastDeliveryAt)
		}

		// Enabling again clears failing_since.
		off, on := false, true
		if _, err := svc.Update(ctx, itoa(ep.ID), models.WebhookPatch{Enabled: &off}, models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		if got, err := svc.Update(ctx, itoa(ep.ID), models.WebhookPatch{Enabled: &on}, models.SystemActor("test")); err != nil || got.FailingSince != nil || !got.Enabled {
			t.Fatalf("enabled again: %+v %v", got, err)
		}

		// A manual retry: one attempt, now; the receiver is back.
		r.mu.Lock()
		r.status = http.StatusOK
		r.mu.Unlock()
		if err := svc.Retry(ctx, itoa(ep.ID), itoa(del.ID)); err != nil {
			t.Fatal(err)
		}
		job := &river.Job[dbstore.WebhookDeliveryArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 1},
			Args: dbstore.WebhookDeliveryArgs{DeliveryID: del.ID, Manual: true}}
		if err := w.Work(ctx, job); err != nil {
			t.Fatal(err)
		}
		ds, _, _ = svc.Deliveries(ctx, itoa(ep.ID), models.Page{Limit: 10})
		if ds[0].Status != models.WebhookDeliverySucceeded || len(ds[0].Attempts) != models.WebhookMaxAttempts+1 {
			t.Fatalf("after the retry: %s with %d attempts", ds[0].Status, len(ds[0].Attempts))
		}
		if got, _ := svc.Get(ctx, itoa(ep.ID)); got.FailingSince != nil {
			t.Errorf("failing_since %v after a success", got.FailingSince)
		}
		if err := svc.Retry(ctx, itoa(ep.ID), itoa(del.ID)); dbstore.ErrorCode(err) != models.CodeConflict {
			t.Errorf("retry of a succeeded delivery: %v", err)
		}
		// A deleted endpoint's deliveries are not sent.
		if err := svc.Ping(ctx, itoa(ep.ID)); err != nil {
			t.Fatal(err)
		}
		ds, _, _ = svc.Deliveries(ctx, itoa(ep.ID), models.Page{Limit: 10})
		if err := svc.Delete(ctx, itoa(ep.ID), models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		n := len(reqs) + 1
		job = &river.Job[dbstore.WebhookDeliveryArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 8}, Args: dbstore.WebhookDeliveryArgs{DeliveryID: ds[0].ID}}
		if err := w.Work(ctx, job); err != nil {
			t.Fatal(err)
		}
		if reqs, _ := r.requests(); len(reqs) != n {
			t.Fatalf("a deleted endpoint was sent to: %d requests, want %d", len(reqs), n)
		}

		// The metrics: 7 retrying and 1 failed attempt, then 1 success; the deleted endpoint's
		// ping is still pending (unsent).
		attempts := func(outcome string) float64 { return webhookAttempts(t, reg, "ping", outcome) }
		if attempts(webhooks.OutcomeRetrying) != 7 || attempts(webhooks.OutcomeFailed) != 1 || attempts(webhooks.OutcomeSucceeded) != 1 {
			t.Errorf("attempts: retrying %v, failed %v, succeeded %v", attempts(webhooks.OutcomeRetrying), attempts(webhooks.OutcomeFailed), attempts(webhooks.OutcomeSucceeded))
		}
		if n, err := svc.PendingDeliveries(ctx); err != nil || n != 1 {
			t.Errorf("pending deliveries %d, %v; want 1", n, err)
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			switch mf.GetName() {
			case "entitled_webhook_attempt_seconds":
				if n := mf.GetMetric()[0].GetHistogram().GetSampleCount(); n != 9 {
					t.Errorf("%d attempts timed, want 9", n)
				}
			case "entitled_webhook_pending_deliveries":
				if v := mf.GetMetric()[0].GetGauge().GetValue(); v != 1 {
					t.Errorf("pending deliveries gauge %v, want 1", v)
				}
			}
		}
	})
}

// An endpoint whose deliveries have all failed for 5 days is disabled by the failed attempt that
// reaches the mark (the attempts' clock is injected); enabling it again clears failing_since.
func TestWorker_DisablesAnEndpointFailingFor5Days(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		store := storetest.Open(t, d, nil)
		jobs, err := river.NewClient(store.RiverDriver(), &river.Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		svc, err := dbstore.NewWebhooks(store, mailer.NewOutbox(jobs, nil), "test secret for webhooks", true)
		if err != nil {
			t.Fatal(err)
		}
		r := newReceiver(t, http.StatusInternalServerError)
		ep, _, err := svc.Create(ctx, models.WebhookInput{URL: r.srv.URL, Events: []string{"*"}}, models.SystemActor("test"))
		if err != nil {
			t.Fatal(err)
		}
		id := itoa(ep.ID)
		for range 2 {
			if err := svc.Ping(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		ds, _, _ := svc.Deliveries(ctx, id, models.Page{Limit: 10})
		t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		now := t0
		w := &webhooks.Worker{Webhooks: svc, Sender: &webhooks.Sender{Client: tlsClient(r, true), Now: func() time.Time { return now }}}
		attempt := func(deliveryID int64, n int) {
			t.Helper()
			job := &river.Job[dbstore.WebhookDeliveryArgs]{JobRow: &rivertype.JobRow{Attempt: n, MaxAttempts: models.WebhookMaxAttempts},
				Args: dbstore.WebhookDeliveryArgs{DeliveryID: deliveryID}}
			if err := w.Work(ctx, job); err == nil {
				t.Fatalf("a 500 counted as success")
			}
		}
		attempt(ds[1].ID, 1)
		now = t0.Add(models.WebhookDisableAfter - time.Second)
		attempt(ds[0].ID, 1)
		if got, _ := svc.Get(ctx, id); !got.Enabled || got.FailingSince == nil || !got.FailingSince.Equal(t0) {
			t.Fatalf("before 5 days: enabled %v, failing since %v", got.Enabled, got.FailingSince)
		}
		now = t0.Add(models.WebhookDisableAfter)
		attempt(ds[1].ID, 2)
		got, _ := svc.Get(ctx, id)
		if got.Enabled || got.FailingSince == nil {
			t.Fatalf("after 5 days: enabled %v, failing since %v", got.Enabled, got.FailingSince)
		}
		on := true
		if got, err := svc.Update(ctx, id, models.WebhookPatch{Enabled: &on}, models.SystemActor("test")); err != nil || !got.Enabled || got.FailingSince != nil {
			t.Fatalf("enabled again: %+v %v", got, err)
		}
	})
}

// Deliveries have a River queue of their own, which the server's client runs: a dead receiver
// (10 s an attempt) keeps only its workers waiting, never letters or the other jobs.
func TestDeliveriesHaveAQueueOfTheirOwn(t *testing.T) {
	for _, manual := range []bool{false, true} {
		if q := (dbstore.WebhookDeliveryArgs{Manual: manual}).InsertOpts().Queue; q != models.WebhookQueue {
			t.Errorf("a delivery (manual %v) goes to queue %q, want %q", manual, q, models.WebhookQueue)
		}
	}
	if mailer.RiverQueues()[models.WebhookQueue].MaxWorkers < 1 {
		t.Errorf("the server's River queues %v have no workers for %q", mailer.RiverQueues(), models.WebhookQueue)
	}
}
