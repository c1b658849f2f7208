// Package webhooks signs and delivers the events the store records (store.WebhookDeliveryArgs
// jobs), as the Standard Webhooks specification says: the signature is made with that
// specification's Go library, so any of its libraries verifies it. It enforces the URL rules at
// connect time: the address actually dialled must not be loopback, private, link-local,
// multicast or unspecified (so a name that resolves differently since registration — DNS
// rebinding — gets nowhere), unless ENTITLED_WEBHOOK_ALLOW_PRIVATE lifts the rule. Redirects are
// not followed (they count as failures), an attempt times out after 10 s, and at most 64 KiB of
// an answer is read.
package webhooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/riverqueue/river"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"entitled/models"
	"entitled/models/store"
)

// Version is the module version this binary was built from ("dev" when unknown): the
// User-Agent says entitled/<Version>.
func Version() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

// ErrRefusedAddress is what a connection to a refused address fails with.
var ErrRefusedAddress = errors.New("webhooks: refused address")

// checkDialled is the dialer's Control hook: it refuses an address the URL rules refuse.
func checkDialled(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrRefusedAddress, address)
	}
	if why := models.RefusedWebhookAddr(ap.Addr()); why != "" {
		return fmt.Errorf("%w: %s is %s", ErrRefusedAddress, ap.Addr(), why)
	}
	return nil
}

// NewClient is the HTTP client deliveries are sent with: no proxy, no redirects followed, a
// timeout of models.WebhookTimeout, and the address rules at connect time unless allowPrivate.
// tlsConfig may be nil (the system's roots).
func NewClient(allowPrivate bool, tlsConfig *tls.Config) *http.Client {
	return NewClientResolving(allowPrivate, tlsConfig, nil)
}

// NewClientResolving is NewClient looking names up with resolver (nil: the system's). A name is
// looked up at each connection and the address it gave is checked as it is dialled, so a name
// that resolved to a public address when its endpoint was registered and to an inside one now
// (DNS rebinding) is refused; tests inject a resolver to play that.
func NewClientResolving(allowPrivate bool, tlsConfig *tls.Config, resolver *net.Resolver) *http.Client {
	dialer := &net.Dialer{Timeout: models.WebhookTimeout, KeepAlive: 30 * time.Second, Resolver: resolver}
	if !allowPrivate {
		dialer.Control = checkDialled
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial for us, past the address check
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   models.WebhookTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: models.WebhookTimeout,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   models.WebhookTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a 3xx is the answer, and a failure
		},
	}
}

// Sign is the webhook-signature header of one attempt: "v1,<base64>" for each secret, the first
// secret first, separated by spaces.
func Sign(eventID string, at time.Time, body []byte, secrets [][]byte) (string, error) {
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		wh, err := standardwebhooks.NewWebhookRaw(s)
		if err != nil {
			return "", err
		}
		sig, err := wh.Sign(eventID, at, body)
		if err != nil {
			return "", err
		}
		sigs = append(sigs, sig)
	}
	return strings.Join(sigs, " "), nil
}

// Sender makes attempts.
type Sender struct {
	Client    *http.Client
	UserAgent string           // "entitled/<version>" when empty
	Now       func() time.Time // the webhook-timestamp and the attempt's time; time.Now when nil
	Timeout   time.Duration    // of one attempt; models.WebhookTimeout when 0
	// AllowHTTP (ENTITLED_WEBHOOK_ALLOW_PRIVATE) lets an attempt go to an http:// URL. The scheme
	// is checked again at every attempt, as the address is (by the client's dialer): an endpoint
	// registered while the rule was lifted gets nothing in clear text once it is back.
	AllowHTTP bool
}

// now is the time of an attempt, to the microsecond (what both databases keep).
func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC().Truncate(time.Microsecond)
	}
	return time.Now().UTC().Truncate(time.Microsecond)
}

// Send makes one attempt of a delivery and says how it went; it never follows a redirect and
// reads at most 64 KiB of the answer.
func (s *Sender) Send(ctx context.Context, out *store.WebhookOutgoing) models.WebhookAttempt {
	start := time.Now()
	at := s.now()
	att := models.WebhookAttempt{At: at}
	fail := func(err error) models.WebhookAttempt {
		att.Error = err.Error()
		att.DurationMS = time.Since(start).Milliseconds()
		return att
	}
	if _, err := models.ParseWebhookURL(out.URL, s.AllowHTTP); err != nil {
		return fail(err)
	}
	sig, err := Sign(out.EventID, at, out.Body, out.Secrets)
	if err != nil {
		return fail(err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = models.WebhookTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, out.URL, bytes.NewReader(out.Body))
	if err != nil {
		return fail(err)
	}
	ua := s.UserAgent
	if ua == "" {
		ua = "entitled/" + Version()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", ua)
	req.Header.Set(standardwebhooks.HeaderWebhookID, out.EventID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	client := s.Client
	if client == nil {
		client = NewClient(false, nil)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, models.WebhookMaxAnswer))
	_ = resp.Body.Close()
	att.StatusCode = resp.StatusCode
	if !att.OK() {
		att.Error = "answered " + strconv.Itoa(resp.StatusCode)
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
			att.Error += " (a redirect, not followed)"
		}
	}
	att.DurationMS = time.Since(start).Milliseconds()
	return att
}

// Worker works the delivery jobs: one attempt per job attempt, retried on
// models.WebhookRetrySchedule, failed after the last.
type Worker struct {
	river.WorkerDefaults[store.WebhookDeliveryArgs]
	Webhooks *store.Webhooks
	Sender   *Sender
	Metrics  *Metrics // may be nil
}

// AddWorkers registers the delivery worker on a River client's workers.
func AddWorkers(workers *river.Workers, w *Worker) { river.AddWorker(workers, w) }

// Timeout bounds a job: one attempt, plus reading and recording it.
func (w *Worker) Timeout(*river.Job[store.WebhookDeliveryArgs]) time.Duration {
	return models.WebhookTimeout + 20*time.Second
}

// NextRetry follows the contract's schedule rather than River's backoff.
func (w *Worker) NextRetry(job *river.Job[store.WebhookDeliveryArgs]) time.Time {
	if d, ok := models.WebhookRetryDelay(job.Attempt); ok {
		return time.Now().Add(d)
	}
	return time.Time{} // River's default; there is no attempt after the last anyway
}

// Work makes one attempt and records it.
func (w *Worker) Work(ctx context.Context, job *river.Job[store.WebhookDeliveryArgs]) error {
	out, err := w.Webhooks.Outgoing(ctx, job.Args.DeliveryID)
	if err != nil {
		return err
	}
	if out.Skip {
		if out.Unsendable != "" {
			return w.Webhooks.Abandon(ctx, out.DeliveryID, out.Unsendable)
		}
		return nil
	}
	att := w.Sender.Send(ctx, out)
	last := job.Attempt >= job.MaxAttempts
	if job.Args.Manual {
		// A manual retry is one attempt beside the schedule: it fails the delivery only if the
		// delivery had failed already (a pending one has scheduled attempts left).
		last = job.Args.WasFailed
	}
	var next *time.Time
	if !att.OK() && !last && !job.Args.Manual {
		if d, ok := models.WebhookRetryDelay(job.Attempt); ok {
			t := att.At.Add(d)
			next = &t
		}
	}
	if err := w.Webhooks.RecordAttempt(ctx, out.DeliveryID, att, last, next); err != nil {
		return err
	}
	w.Metrics.observe(out.Type, att, last)
	if att.OK() {
		return nil
	}
	return fmt.Errorf("webhook delivery %d to %s: %s", out.DeliveryID, out.URL, att.Error)
}
