package webhooks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"entitled/webhooks"
)

// Server-side request forgery through a webhook URL, at delivery time (issue #25, "Attack the new
// surfaces"): whatever the URL names, an attempt never connects to a loopback, private,
// link-local, multicast or unspecified address, follows no redirect, and holds its worker no
// longer than its timeout. A receiver on 127.0.0.1 stands for everything inside; it must get
// nothing.
func TestAttacks_WebhookSSRFAtDelivery(t *testing.T) {
	inside := newReceiver(t, http.StatusNoContent)
	u, _ := url.Parse(inside.srv.URL)
	port := u.Port()
	s := &webhooks.Sender{Client: tlsClient(inside, false), Timeout: 2 * time.Second}
	targets := []string{
		"https://127.0.0.1:" + port + "/",
		"https://localhost:" + port + "/", // a name that resolves to loopback (and DNS rebinding: the name is resolved, and checked, at each attempt)
		"https://[::1]:" + port + "/",
		"https://[::ffff:127.0.0.1]:" + port + "/",
		"https://[::ffff:7f00:1]:" + port + "/",
		"https://[64:ff9b::7f00:1]:" + port + "/", // NAT64 of 127.0.0.1
		"https://[2002:7f00:1::]:" + port + "/",   // 6to4 of 127.0.0.1
		"https://0.0.0.0:" + port + "/",
		"https://2130706433:" + port + "/", // 127.0.0.1 in decimal
		"https://0177.0.0.1:" + port + "/", // and in octal
		"https://0x7f.0.0.1:" + port + "/",
		"https://169.254.169.254/latest/meta-data/",
		"https://10.0.0.1/", "https://172.16.0.1/", "https://192.168.1.1/", "https://100.64.0.1/",
		"https://[fc00::1]/", "https://[fe80::1]/", "https://224.0.0.1/",
		"http://127.0.0.1:" + port + "/", // and http:// is refused before anything
	}
	accepted := 0
	for _, target := range targets {
		start := time.Now()
		att := s.Send(context.Background(), outgoing(target))
		if att.OK() {
			accepted++
			t.Errorf("%s: delivered (%+v)", target, att)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%s: the attempt held its worker %s", target, took)
		}
	}
	if reqs, _ := inside.requests(); len(reqs) != 0 {
		accepted += len(reqs)
		t.Errorf("the inside receiver got %d requests", len(reqs))
	}
	t.Logf("SSRF at delivery: %d URLs tried, %d reached inside", len(targets), accepted)
}

// A receiver that answers with a redirect to an inside address gets a failed attempt, and the
// inside address nothing; slow, endless and silent receivers hold a worker no longer than the
// attempt's timeout. (The receivers here are on loopback, so the sender allows private
// addresses: these are the other rules.)
func TestAttacks_WebhookReceiversThatMisbehave(t *testing.T) {
	var insideHits atomic.Int32
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { insideHits.Add(1) }))
	t.Cleanup(inside.Close)
	done := make(chan struct{})
	defer close(done) // before the receivers' Close, which waits for their handlers
	receiver := func(h http.HandlerFunc) string {
		srv := httptest.NewTLSServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	cases := []struct {
		name string
		url  string
		ok   bool // whether the attempt counts as delivered
	}{
		{"302 to an inside address", receiver(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, inside.URL+"/admin", http.StatusFound)
		}), false},
		{"1 byte a second", receiver(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			for {
				select {
				case <-done:
					return
				case <-r.Context().Done():
					return
				case <-time.After(time.Second):
					_, _ = w.Write([]byte("x"))
					w.(http.Flusher).Flush()
				}
			}
		}), true}, // its 2xx came at once: a delivery; the body is not waited for past the timeout
		{"an endless body", receiver(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			chunk := []byte(strings.Repeat("x", 32<<10))
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}), true}, // a 2xx is a delivery; only 64 KiB of the answer is read
		{"never answers", receiver(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-done:
			case <-r.Context().Done():
			}
		}), false},
	}
	client := webhooks.NewClient(true, httptest.NewTLSServer(http.NotFoundHandler()).Client().Transport.(*http.Transport).TLSClientConfig.Clone())
	client.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // test receivers' own certificates
	s := &webhooks.Sender{Client: client, Timeout: 1500 * time.Millisecond}
	for _, tc := range cases {
		start := time.Now()
		att := s.Send(context.Background(), outgoing(tc.url))
		took := time.Since(start)
		if att.OK() != tc.ok {
			t.Errorf("%s: attempt %+v, want ok=%v", tc.name, att, tc.ok)
		}
		// The bound is the timeout plus slack for a busy machine: what matters is that it is not
		// the receiver's pace (a 1-byte-a-second or endless answer would take for ever).
		if took > 8*time.Second {
			t.Errorf("%s: the attempt held its worker %s (timeout 1.5 s)", tc.name, took)
		}
	}
	if n := insideHits.Load(); n != 0 {
		t.Errorf("the redirect was followed: the inside address got %d requests", n)
	}
}
