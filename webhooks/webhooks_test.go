package webhooks_test

import (
	"context"
	"database/sql"
	"encoding/json"
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
		env := newService(t, d)
		jobs, svc := env.jobs, env.Webhooks
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

		// A manual retry of the failed delivery: one attempt, now. While the receiver still
		// fails, the delivery is failed again; then the receiver is back.
		manual := func() error {
			t.Helper()
			if err := svc.Retry(ctx, itoa(ep.ID), itoa(del.ID)); err != nil {
				t.Fatal(err)
			}
			return w.Work(ctx, retryJob(t, jobs, del.ID))
		}
		if err := manual(); err == nil {
			t.Fatal("a manual retry answered 503 succeeded")
		}
		ds, _, _ = svc.Deliveries(ctx, itoa(ep.ID), models.Page{Limit: 10})
		if ds[0].Status != models.WebhookDeliveryFailed || ds[0].NextAttemptAt != nil {
			t.Fatalf("a failed delivery's manual retry failing: %s, next %v; want failed", ds[0].Status, ds[0].NextAttemptAt)
		}
		r.mu.Lock()
		r.status = http.StatusOK
		r.mu.Unlock()
		if err := manual(); err != nil {
			t.Fatal(err)
		}
		ds, _, _ = svc.Deliveries(ctx, itoa(ep.ID), models.Page{Limit: 10})
		if ds[0].Status != models.WebhookDeliverySucceeded || len(ds[0].Attempts) != models.WebhookMaxAttempts+2 {
			t.Fatalf("after the retry: %s with %d attempts", ds[0].Status, len(ds[0].Attempts))
		}
		if got, _ := svc.Get(ctx, itoa(ep.ID)); got.FailingSince != nil {
			t.Errorf("failing_since %v after a success", got.FailingSince)
		}
		if err := svc.Retry(ctx, itoa(ep.ID), itoa(del.ID)); dbstore.ErrorCode(err) != models.CodeConflict {
			t.Errorf("retry of a succeeded delivery: %v", err)
		}
		// A deleted endpoint's deliveries are not sent: the pending one ends failed, saying why.
		if err := svc.Ping(ctx, itoa(ep.ID)); err != nil {
			t.Fatal(err)
		}
		ds, _, _ = svc.Deliveries(ctx, itoa(ep.ID), models.Page{Limit: 10})
		if err := svc.Delete(ctx, itoa(ep.ID), models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		n := len(reqs) + 2 // the manual retries'
		job := &river.Job[dbstore.WebhookDeliveryArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 8}, Args: dbstore.WebhookDeliveryArgs{DeliveryID: ds[0].ID}}
		if err := w.Work(ctx, job); err != nil {
			t.Fatal(err)
		}
		if reqs, _ := r.requests(); len(reqs) != n {
			t.Fatalf("a deleted endpoint was sent to: %d requests, want %d", len(reqs), n)
		}
		if n, err := svc.PendingDeliveries(ctx); err != nil || n != 0 {
			t.Errorf("pending deliveries %d, %v after the endpoint was deleted; want 0", n, err)
		}

		// The metrics: 7 retrying and 2 failed attempts, then 1 success.
		attempts := func(outcome string) float64 { return webhookAttempts(t, reg, "ping", outcome) }
		if attempts(webhooks.OutcomeRetrying) != 7 || attempts(webhooks.OutcomeFailed) != 2 || attempts(webhooks.OutcomeSucceeded) != 1 {
			t.Errorf("attempts: retrying %v, failed %v, succeeded %v", attempts(webhooks.OutcomeRetrying), attempts(webhooks.OutcomeFailed), attempts(webhooks.OutcomeSucceeded))
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			switch mf.GetName() {
			case "entitled_webhook_attempt_seconds":
				if n := mf.GetMetric()[0].GetHistogram().GetSampleCount(); n != 10 {
					t.Errorf("%d attempts timed, want 10", n)
				}
			case "entitled_webhook_pending_deliveries":
				if v := mf.GetMetric()[0].GetGauge().GetValue(); v != 0 {
					t.Errorf("pending deliveries gauge %v, want 0", v)
				}
			}
		}
	})
}

const baseURL = "https://licenses.example.com"

// service is a webhook service on a fresh database, whose jobs (deliveries and letters) are
// inserted on jobs but worked only by the test.
type service struct {
	store  *dbstore.Store
	jobs   *river.Client[*sql.Tx]
	outbox *mailer.Outbox
	*dbstore.Webhooks
}

func newService(t *testing.T, d dbstore.Dialect) service {
	t.Helper()
	store := storetest.Open(t, d, nil)
	jobs, err := river.NewClient(store.RiverDriver(), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	renderer, err := mailer.NewRenderer(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	outbox := mailer.NewOutbox(jobs, renderer)
	svc, err := dbstore.NewWebhooks(store, outbox, "test secret for webhooks", true)
	if err != nil {
		t.Fatal(err)
	}
	svc.Links = mailer.NewLinks(baseURL)
	return service{store, jobs, outbox, svc}
}

// sqliteWebhooks is the webhook service on a fresh SQLite store, its letters queued for no worker.
func sqliteWebhooks(t *testing.T, allowPrivate bool) *dbstore.Webhooks {
	t.Helper()
	store := storetest.Open(t, dbstore.SQLite, nil)
	jobs, err := river.NewClient(store.RiverDriver(), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := dbstore.NewWebhooks(store, mailer.NewOutbox(jobs, nil), "test secret for webhooks", allowPrivate)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// retryJob is the job a manual retry of the delivery inserted (the newest of it), as River would
// hand it to the worker.
func retryJob(t *testing.T, jobs *river.Client[*sql.Tx], deliveryID int64) *river.Job[dbstore.WebhookDeliveryArgs] {
	t.Helper()
	res, err := jobs.JobList(context.Background(), river.NewJobListParams().Kinds(dbstore.WebhookDeliveryArgs{}.Kind()).First(1000))
	if err != nil {
		t.Fatal(err)
	}
	for i := len(res.Jobs) - 1; i >= 0; i-- {
		var args dbstore.WebhookDeliveryArgs
		if err := json.Unmarshal(res.Jobs[i].EncodedArgs, &args); err != nil {
			t.Fatal(err)
		}
		if args.DeliveryID == deliveryID && args.Manual {
			row := *res.Jobs[i]
			row.Attempt = 1
			return &river.Job[dbstore.WebhookDeliveryArgs]{JobRow: &row, Args: args}
		}
	}
	t.Fatalf("no manual retry job of delivery %d", deliveryID)
	return nil
}

// A manual retry of a pending delivery is one attempt beside its schedule: failing, it leaves
// the delivery pending with its next attempt as it was; a disabled endpoint's pending delivery
// ends failed, unsent, saying why, and may be retried once the endpoint is enabled again.
func TestWorker_ManualRetryOfAPendingDeliveryKeepsItsSchedule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		env := newService(t, d)
		store, jobs, svc := env.store, env.jobs, env.Webhooks
		r := newReceiver(t, http.StatusBadGateway)
		ep, _, err := svc.Create(ctx, models.WebhookInput{URL: r.srv.URL, Events: []string{"*"}}, models.SystemActor("test"))
		if err != nil {
			t.Fatal(err)
		}
		id := itoa(ep.ID)
		// A change (not a ping, which a disabled endpoint still gets): a contract terminated.
		today := models.DateOf(time.Now())
		c := storetest.SeedContract(t, store, storetest.Contract{StartsOn: today.AddDays(-10), EndsOn: today.AddDays(300)})
		if _, err := dbstore.NewContracts(store, env.outbox, 90).Terminate(ctx, itoa(c.ContractID), "test", models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		ds, _, _ := svc.Deliveries(ctx, id, models.Page{Limit: 10})
		if len(ds) != 1 || ds[0].Type != "contract.terminated" {
			t.Fatalf("deliveries %+v, want one contract.terminated", ds)
		}
		del := ds[0]
		w := &webhooks.Worker{Webhooks: svc, Sender: &webhooks.Sender{Client: tlsClient(r, true)}}
		scheduled := &river.Job[dbstore.WebhookDeliveryArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: models.WebhookMaxAttempts},
			Args: dbstore.WebhookDeliveryArgs{DeliveryID: del.ID}}
		if err := w.Work(ctx, scheduled); err == nil {
			t.Fatal("a 502 succeeded")
		}
		ds, _, _ = svc.Deliveries(ctx, id, models.Page{Limit: 10})
		next := ds[0].NextAttemptAt
		if ds[0].Status != models.WebhookDeliveryPending || next == nil {
			t.Fatalf("after the first attempt: %s, next %v", ds[0].Status, next)
		}
		if err := svc.Retry(ctx, id, itoa(del.ID)); err != nil {
			t.Fatal(err)
		}
		if err := w.Work(ctx, retryJob(t, jobs, del.ID)); err == nil {
			t.Fatal("a 502 succeeded")
		}
		ds, _, _ = svc.Deliveries(ctx, id, models.Page{Limit: 10})
		if got := ds[0]; got.Status != models.WebhookDeliveryPending || got.NextAttemptAt == nil || !got.NextAttemptAt.Equal(*next) || len(got.Attempts) != 2 {
			t.Fatalf("after a failed manual retry: %s, next %v (want %v), %d attempts; want pending on its schedule", got.Status, got.NextAttemptAt, next, len(got.Attempts))
		}

		// Disabled: the scheduled attempt sends nothing and fails the delivery, saying why.
		off, on := false, true
		if _, err := svc.Update(ctx, id, models.WebhookPatch{Enabled: &off}, models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		scheduled.Attempt = 2
		if err := w.Work(ctx, scheduled); err != nil {
			t.Fatal(err)
		}
		ds, _, _ = svc.Deliveries(ctx, id, models.Page{Limit: 10})
		got := ds[0]
		if got.Status != models.WebhookDeliveryFailed || got.NextAttemptAt != nil || len(got.Attempts) != 3 || !strings.Contains(got.Attempts[2].Error, "disabled") {
			t.Fatalf("a disabled endpoint's delivery: %s, next %v, attempts %+v; want failed, unsent, saying why", got.Status, got.NextAttemptAt, got.Attempts)
		}
		if reqs, _ := r.requests(); len(reqs) != 2 {
			t.Fatalf("%d requests, want 2 (none while disabled)", len(reqs))
		}
		if n, err := svc.PendingDeliveries(ctx); err != nil || n != 0 {
			t.Errorf("pending deliveries %d, %v; want 0", n, err)
		}

		// Enabled again, the failed delivery may be retried, and succeeds.
		if _, err := svc.Update(ctx, id, models.WebhookPatch{Enabled: &on}, models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		r.mu.Lock()
		r.status = http.StatusNoContent
		r.mu.Unlock()
		if err := svc.Retry(ctx, id, itoa(del.ID)); err != nil {
			t.Fatal(err)
		}
		if err := w.Work(ctx, retryJob(t, jobs, del.ID)); err != nil {
			t.Fatal(err)
		}
		ds, _, _ = svc.Deliveries(ctx, id, models.Page{Limit: 10})
		if ds[0].Status != models.WebhookDeliverySucceeded {
			t.Fatalf("retried after enabling: %s", ds[0].Status)
		}
	})
}

// An endpoint whose deliveries have all failed for 5 days is disabled by the failed attempt that
// reaches the mark (the attempts' clock is injected); enabling it again clears failing_since.
func TestWorker_DisablesAnEndpointFailingFor5Days(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		env := newService(t, d)
		store, jobs, svc := env.store, env.jobs, env.Webhooks
		identity := dbstore.NewIdentity(store, env.outbox, baseURL)
		for _, st := range []models.StaffInput{
			{Email: "root@example.com", Name: "Root", Roles: []string{models.RoleSuperadmin}, Password: "a long staff password 1"},
			{Email: "ops@example.com", Name: "Ops", Roles: []string{models.RoleOps}, Password: "a long staff password 2"},
		} {
			if _, _, err := identity.PutStaff(ctx, st, models.SystemActor("test")); err != nil {
				t.Fatal(err)
			}
		}
		disabledLetters := func() []mailer.Letter {
			return storetest.Letters(t, jobs, func(l mailer.Letter) bool { return l.Kind == mailer.WebhookDisabled{}.Template() })
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
		if ls := disabledLetters(); len(ls) != 0 {
			t.Fatalf("letters before the endpoint was disabled: %+v", ls)
		}
		now = t0.Add(models.WebhookDisableAfter)
		attempt(ds[1].ID, 2)
		got, _ := svc.Get(ctx, id)
		if got.Enabled || got.FailingSince == nil {
			t.Fatalf("after 5 days: enabled %v, failing since %v", got.Enabled, got.FailingSince)
		}
		// Superadmins, and nobody else, get a letter that links to the endpoint's page.
		ls := disabledLetters()
		if len(ls) != 1 || len(ls[0].To) != 1 || ls[0].To[0] != "root@example.com" {
			t.Fatalf("letters %+v, want one to the superadmin", ls)
		}
		if page := baseURL + "/staff/webhooks/" + id; !strings.Contains(ls[0].Text, page) || !strings.Contains(ls[0].Text, r.srv.URL) || !strings.Contains(ls[0].Text, t0.Format(time.RFC3339)) {
			t.Errorf("the letter does not name the endpoint, its page %s and since when: %s", page, ls[0].Text)
		}
		// A further failure of the disabled endpoint sends no second letter.
		attempt(ds[0].ID, 2)
		if ls := disabledLetters(); len(ls) != 1 {
			t.Errorf("%d letters after another failure, want 1", len(ls))
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
