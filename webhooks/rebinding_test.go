package webhooks_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"entitled/models"
	"entitled/webhooks"
)

// dnsServer is a DNS server on loopback UDP that answers every A question with the address it
// holds now, and every other question with no records: a name whose owner can move it at will.
type dnsServer struct {
	conn    net.PacketConn
	answer  atomic.Pointer[netip.Addr]
	queries atomic.Int32 // A questions answered
}

func newDNSServer(t *testing.T, first netip.Addr) *dnsServer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{conn: conn}
	s.answer.Store(&first)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if reply, ok := s.reply(buf[:n]); ok {
				_, _ = conn.WriteTo(reply, from)
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); wg.Wait() })
	return s
}

func (s *dnsServer) moveTo(a netip.Addr) { s.answer.Store(&a) }

func (s *dnsServer) reply(query []byte) ([]byte, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil, false
	}
	q, err := p.Question()
	if err != nil {
		return nil, false
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired})
	b.EnableCompression()
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil, false
	}
	if q.Type == dnsmessage.TypeA {
		s.queries.Add(1)
		rh := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 0}
		if b.AResource(rh, dnsmessage.AResource{A: s.answer.Load().As4()}) != nil {
			return nil, false
		}
	}
	msg, err := b.Finish()
	return msg, err == nil
}

// resolver looks every name up at s only (no search domains reach another server).
func (s *dnsServer) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.conn.LocalAddr().String())
	}}
}

// DNS rebinding (issue #25): a name that resolves to a public address when its endpoint is
// registered, and to a loopback one when a delivery is sent. Registration accepts it (and
// refuses it while it resolves inside); the delivery looks the name up again, is refused as it
// connects, and the receiver inside gets nothing. With the address rules lifted the same
// delivery does reach it, so the resolver's answer is what was refused.
func TestAttacks_WebhookDNSRebinding(t *testing.T) {
	inside := newReceiver(t, http.StatusNoContent)
	u, _ := url.Parse(inside.srv.URL)
	public := netip.MustParseAddr("93.184.216.34")
	loopback := netip.MustParseAddr("127.0.0.1")
	dns := newDNSServer(t, public)
	resolver := dns.resolver()
	// example.com is a name httptest's certificate is for, so TLS succeeds once a connection is made.
	target := "https://example.com:" + u.Port() + "/hook"

	svc := sqliteWebhooks(t, false)
	svc.Resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
		return resolver.LookupNetIP(ctx, "ip4", host)
	}
	ctx := context.Background()
	register := func() error {
		_, _, err := svc.Create(ctx, models.WebhookInput{URL: target, Events: []string{models.WebhookAllEvents}}, models.Actor{Kind: "system"})
		return err
	}

	dns.moveTo(loopback)
	var refused *models.Error
	if err := register(); !errors.As(err, &refused) || refused.Code != models.CodeWebhookURLRefused {
		t.Fatalf("registering while the name resolves to loopback: %v, want %s", err, models.CodeWebhookURLRefused)
	}
	dns.moveTo(public)
	if err := register(); err != nil {
		t.Fatalf("registering while the name resolves to a public address: %v", err)
	}

	dns.moveTo(loopback) // rebound after registration
	tlsConfig := inside.srv.Client().Transport.(*http.Transport).TLSClientConfig
	before := dns.queries.Load()
	s := &webhooks.Sender{Client: webhooks.NewClientResolving(false, tlsConfig.Clone(), resolver), Timeout: 2 * time.Second}
	att := s.Send(ctx, outgoing(target))
	accepted := 0
	if att.OK() {
		accepted++
		t.Errorf("the rebound name was delivered to: %+v", att)
	}
	if dns.queries.Load() == before {
		t.Errorf("the delivery did not look the name up again")
	}
	if reqs, _ := inside.requests(); len(reqs) != 0 {
		accepted += len(reqs)
		t.Errorf("the inside receiver got %d requests", len(reqs))
	}
	t.Logf("DNS rebinding: 1 delivery tried to a name rebound to loopback, %d reached inside (%s)", accepted, att.Error)

	// The control: the same name and resolver with the rules lifted reach the receiver.
	open := &webhooks.Sender{Client: webhooks.NewClientResolving(true, tlsConfig.Clone(), resolver), Timeout: 2 * time.Second}
	if att := open.Send(ctx, outgoing(target)); !att.OK() {
		t.Fatalf("with private addresses allowed the rebound name was not reached: %+v", att)
	}
	if reqs, _ := inside.requests(); len(reqs) != 1 {
		t.Fatalf("the control delivery: the receiver got %d requests, want 1", len(reqs))
	}
}
