// Package mailtest is a real SMTP server on loopback for tests (github.com/emersion/go-smtp,
// in-process): it records every letter it accepts and can refuse recipients the way real servers
// do, so that tests of the outbox, the identity letters and the CLI see letters as a client would.
package mailtest

import (
	"errors"
	"io"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the sink accepted, with its envelope and its bytes as sent.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Sink is a real SMTP server on loopback (go-smtp), recording what it is sent. Its switches
// make it refuse recipients the way real servers do.
type Sink struct {
	Host string
	Port int

	mu            sync.Mutex
	msgs          []Message
	rcptTries     map[string]int
	tempFailFirst int  // answer 451 to each recipient's first this-many RCPTs
	refuseAll     bool // answer 550 to every RCPT
	user, pass    string
}

// Start starts a sink and stops it when the test ends.
func Start(tb testing.TB) *Sink {
	tb.Helper()
	s := &Sink{rcptTries: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: s}, nil
	}))
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true // AUTH PLAIN over loopback without TLS, as net/smtp allows
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Close() })
	host, port, _ := net.SplitHostPort(l.Addr().String())
	s.Host = host
	s.Port, _ = strconv.Atoi(port)
	return s
}

// URL is the sink's address as ENTITLED_SMTP_URL.
func (s *Sink) URL() string {
	return "smtp://" + net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) + "?starttls=none"
}

func (s *Sink) SetTempFailFirst(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tempFailFirst = n
}

func (s *Sink) SetRefuseAll(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseAll = on
}

// RequireAuth makes the sink offer AUTH PLAIN and refuse mail from sessions that did not log in.
func (s *Sink) RequireAuth(user, pass string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user, s.pass = user, pass
}

// messages is a copy of what the sink has accepted so far.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

func (s *Sink) RcptAttempts(addr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rcptTries[addr]
}

type sinkSession struct {
	sink   *Sink
	authed bool
	from   string
	to     []string
}

var _ smtp.AuthSession = (*sinkSession)(nil)

func (se *sinkSession) AuthMechanisms() []string {
	se.sink.mu.Lock()
	defer se.sink.mu.Unlock()
	if se.sink.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		se.sink.mu.Lock()
		defer se.sink.mu.Unlock()
		if user != se.sink.user || pass != se.sink.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		se.authed = true
		return nil
	}), nil
}

func (se *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	se.sink.mu.Lock()
	defer se.sink.mu.Unlock()
	if se.sink.user != "" && !se.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	se.from = from
	return nil
}

func (se *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.sink.mu.Lock()
	defer se.sink.mu.Unlock()
	se.sink.rcptTries[to]++
	if se.sink.refuseAll {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	if se.sink.rcptTries[to] <= se.sink.tempFailFirst {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	se.to = append(se.to, to)
	return nil
}

func (se *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(se.to) == 0 {
		return errors.New("no recipients")
	}
	se.sink.mu.Lock()
	defer se.sink.mu.Unlock()
	se.sink.msgs = append(se.sink.msgs, Message{From: se.from, To: append([]string(nil), se.to...), Data: b})
	return nil
}

func (se *sinkSession) Reset() { se.from, se.to = "", nil }

func (se *sinkSession) Logout() error { return nil }

// Hanging accepts connections and never writes a byte, like a firewall that black-holes
// SMTP after the handshake. It returns its host and port.
func Hanging(tb testing.TB) (string, int) {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	host, port, _ := net.SplitHostPort(l.Addr().String())
	p, _ := strconv.Atoi(port)
	return host, p
}

// Text is the message with quoted-printable soft breaks undone, good enough to search.
func (m Message) Text() string {
	d := strings.ReplaceAll(string(m.Data), "=\r\n", "")
	d = strings.ReplaceAll(d, "=\n", "")
	return strings.ReplaceAll(d, "=3D", "=")
}

// To lists the messages accepted so far for an address (case-insensitive).
func (s *Sink) To(addr string) []Message {
	addr = strings.ToLower(addr)
	var out []Message
	for _, m := range s.Messages() {
		for _, to := range m.To {
			if strings.ToLower(to) == addr {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// WaitFor waits up to 30 s for a message to addr, beyond the first skip ones, whose text contains
// every one of the substrings (case-insensitive), and returns it.
func (s *Sink) WaitFor(tb testing.TB, addr string, skip int, contains ...string) Message {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msgs := s.To(addr)
		for i := skip; i < len(msgs); i++ {
			txt := strings.ToLower(msgs[i].Text())
			ok := true
			for _, c := range contains {
				if !strings.Contains(txt, strings.ToLower(c)) {
					ok = false
					break
				}
			}
			if ok {
				return msgs[i]
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no letter to %s containing %q within 30 s (it has %d)", addr, contains, len(msgs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var tokenRE = regexp.MustCompile(`token=([A-Za-z0-9_\-.~%]+)`)

// LinkToken is the token= value of the first link in a message.
func LinkToken(tb testing.TB, m Message) string {
	tb.Helper()
	found := tokenRE.FindStringSubmatch(m.Text())
	if found == nil {
		tb.Fatalf("letter has no token= link:\n%s", m.Text())
	}
	v, err := url.QueryUnescape(found[1])
	if err != nil {
		return found[1]
	}
	return v
}
