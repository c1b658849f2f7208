// Package mailtest is a real SMTP server on loopback for tests (github.com/emersion/go-smtp,
// in-process): it records every letter it accepts and can refuse recipients the way real servers
// do, so that tests of the outbox, the identity letters and the CLI see letters as a client would.
// Its fault switches (SetTempFailFor, SetHangFor, SetDropMidDataFirst, SetDropAfterDotFirst)
// reproduce the ways a mail server fails a client mid-delivery, on the same real TCP sessions.
package mailtest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/mail"
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

	outageUntil   time.Time      // connections accepted before this are refused with a 4xx
	outageConns   int            // connections accepted during outages, to rotate the stage
	hangUntil     time.Time      // connections accepted before this never get an answer
	dropMidData   int            // cut each recipient's first this-many DATA before the final dot
	dropAfterDot  int            // then cut its next this-many DATA after the dot, before the reply
	dataTries     map[string]int // DATA transactions per recipient
	faults        Faults
	closed        bool
	heldConns     []net.Conn // connections being hung, closed when the sink stops
	listenerClose chan struct{}
}

// Faults counts the faults the sink has dealt out so far.
type Faults struct {
	Refused         int // sessions refused with a 4xx (SetTempFailFor)
	Hung            int // connections left unanswered (SetHangFor)
	DroppedMidData  int // connections cut before the final dot (nothing stored)
	DroppedAfterDot int // connections cut after the final dot, before the reply (message stored)
}

// refusal is where a session accepted during an outage is refused. Connections take the stages
// in turn, so that an outage exercises every reply a client must take as "try again later".
type refusal int

const (
	refuseNone     refusal = iota
	refuseGreeting         // 421 instead of the 220 greeting, then the connection is closed
	refuseHello            // 451 to EHLO (and to the HELO a client falls back to)
	refuseMail             // 451 to MAIL FROM
	refuseRcpt             // 451 to RCPT TO
	refuseData             // 451 after the whole message was read: nothing is stored
	refusalStages  = 5
)

// faultConn is a connection with the refusal decided when it was accepted.
type faultConn struct {
	net.Conn
	refuse refusal
}

// Start starts a sink and stops it when the test ends.
func Start(tb testing.TB) *Sink {
	tb.Helper()
	s := &Sink{rcptTries: map[string]int{}, dataTries: map[string]int{}, listenerClose: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		se := &sinkSession{sink: s, conn: c.Conn()}
		if fc, ok := c.Conn().(*faultConn); ok {
			se.refuse = fc.refuse
		}
		if se.refuse == refuseHello {
			return nil, &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "system not accepting network messages"}
		}
		return se, nil
	}))
	srv.Domain = "sink.test"
	srv.AllowInsecureAuth = true // AUTH PLAIN over loopback without TLS, as net/smtp allows
	// RFC 5321 §4.5.3.2.7: a server waits at least 5 minutes for its client. A shorter wait cut
	// the session of a replica paused mid-DATA (server/fleetfaults_test.go stops one for 30 s) with
	// go-smtp's 554, which the sender rightly takes as permanent; Postfix would wait 300 s and
	// then say 421.
	srv.ReadTimeout = 5 * time.Minute
	srv.WriteTimeout = 5 * time.Minute
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	fl := &faultListener{Listener: l, sink: s, conns: make(chan net.Conn)}
	go fl.acceptLoop()
	go func() { _ = srv.Serve(fl) }()
	tb.Cleanup(func() {
		_ = srv.Close()
		_ = fl.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.closed = true
		for _, c := range s.heldConns {
			_ = c.Close()
		}
	})
	host, port, _ := net.SplitHostPort(l.Addr().String())
	s.Host = host
	s.Port, _ = strconv.Atoi(port)
	return s
}

// locked runs f with the sink's lock held: what the sink's settings change, its sessions read.
func (s *Sink) locked(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}

// URL is the sink's address as ENTITLED_SMTP_URL.
func (s *Sink) URL() string {
	return "smtp://" + net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) + "?starttls=none"
}

func (s *Sink) SetTempFailFirst(n int) {
	s.locked(func() { s.tempFailFirst = n })
}

func (s *Sink) SetRefuseAll(on bool) {
	s.locked(func() { s.refuseAll = on })
}

// SetTempFailFor starts an outage of d: every connection accepted until it ends is refused
// with a 4xx, at the greeting (421), EHLO, MAIL FROM, RCPT TO or the end of DATA (451), taking
// those stages in turn. Nothing is stored. Connections accepted later are served as usual.
func (s *Sink) SetTempFailFor(d time.Duration) {
	s.locked(func() { s.outageUntil = time.Now().Add(d) })
}

// SetHangFor makes the sink silent for d: a connection accepted until then is accepted by TCP
// and never gets a byte, not even the greeting, so only its client's own deadline ends it.
// Connections accepted after d are served as usual. (Holding the silent ones for good, rather
// than greeting them late, keeps a client from being answered just as its deadline passes,
// which would make the outcome of a test depend on timing.)
func (s *Sink) SetHangFor(d time.Duration) {
	s.locked(func() { s.hangUntil = time.Now().Add(d) })
}

// SetDropMidDataFirst makes the sink close the connection in the middle of each recipient's
// first n DATA transactions: after some of the message and before the final dot. Nothing is
// stored and the client hears no reply.
func (s *Sink) SetDropMidDataFirst(n int) {
	s.locked(func() { s.dropMidData = n })
}

// SetDropAfterDotFirst makes the sink take the whole message of each recipient's next n DATA
// transactions (after those SetDropMidDataFirst cuts), store it, and close the connection
// before answering: the message is delivered but the client never hears "250 OK", the one case
// SMTP cannot settle.
func (s *Sink) SetDropAfterDotFirst(n int) {
	s.locked(func() { s.dropAfterDot = n })
}

// Faults counts the faults dealt out so far.
func (s *Sink) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// DataAttempts is how many DATA transactions (cut or not) the sink has seen for addr.
func (s *Sink) DataAttempts(addr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dataTries[addr]
}

// RequireAuth makes the sink offer AUTH PLAIN and refuse mail from sessions that did not log in.
func (s *Sink) RequireAuth(user, pass string) {
	s.locked(func() { s.user, s.pass = user, pass })
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
	conn   net.Conn
	refuse refusal
	authed bool
	from   string
	to     []string
}

// faultListener hands go-smtp the connections it accepts, except that during a hang it keeps
// each one to itself, silent, and during an outage it marks each one with where it is to be
// refused (or refuses it at the greeting itself).
type faultListener struct {
	net.Listener
	sink  *Sink
	conns chan net.Conn
}

func (fl *faultListener) acceptLoop() {
	for {
		c, err := fl.Listener.Accept()
		if err != nil {
			_ = fl.Close() // so that go-smtp's Accept returns too
			return
		}
		s := fl.sink
		now := time.Now()
		s.mu.Lock()
		if now.Before(s.hangUntil) {
			// Kept open and never read or written: the client sees a connected, silent peer.
			s.faults.Hung++
			if s.closed {
				_ = c.Close()
			} else {
				s.heldConns = append(s.heldConns, c)
			}
			s.mu.Unlock()
			continue
		}
		fc := &faultConn{Conn: c}
		if now.Before(s.outageUntil) {
			fc.refuse = refusal(s.outageConns%refusalStages) + 1
			s.outageConns++
			s.faults.Refused++
		}
		s.mu.Unlock()
		go fl.hand(fc)
	}
}

func (fl *faultListener) hand(fc *faultConn) {
	if fc.refuse == refuseGreeting {
		// RFC 5321 4.3.2: 421 in place of the greeting is "service not available, try later".
		_, _ = io.WriteString(fc, "421 4.3.2 sink.test service not available\r\n")
		_ = fc.Close()
		return
	}
	select {
	case fl.conns <- fc:
	case <-fl.sink.listenerClose:
		_ = fc.Close()
	}
}

func (fl *faultListener) Accept() (net.Conn, error) {
	select {
	case c := <-fl.conns:
		return c, nil
	case <-fl.sink.listenerClose:
		return nil, net.ErrClosed
	}
}

func (fl *faultListener) Close() error {
	fl.sink.mu.Lock()
	select {
	case <-fl.sink.listenerClose:
	default:
		close(fl.sink.listenerClose)
	}
	fl.sink.mu.Unlock()
	return fl.Listener.Close()
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
	if se.refuse == refuseMail {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
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
	if se.sink.rcptTries[to] <= se.sink.tempFailFirst || se.refuse == refuseRcpt {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	se.to = append(se.to, to)
	return nil
}

// errDropped is what Data returns after cutting the connection; no client ever reads it.
var errDropped = errors.New("mailtest: connection dropped on purpose")

func (se *sinkSession) Data(r io.Reader) error {
	se.sink.mu.Lock()
	// A transaction is cut when any of its recipients is due a cut: the first attempts of
	// every recipient are the ones that fail, whatever the order letters arrive in.
	tries := 0
	for _, to := range se.to {
		se.sink.dataTries[to]++
		if t := se.sink.dataTries[to]; tries == 0 || t < tries {
			tries = t
		}
	}
	dropMid := tries > 0 && tries <= se.sink.dropMidData
	dropAfter := !dropMid && tries > 0 && tries <= se.sink.dropMidData+se.sink.dropAfterDot
	se.sink.mu.Unlock()

	if dropMid {
		// Read part of the message, so that the client is well into DATA, then cut the
		// connection before the final dot has arrived.
		_, _ = io.ReadFull(r, make([]byte, 64))
		se.sink.mu.Lock()
		se.sink.faults.DroppedMidData++
		se.sink.mu.Unlock()
		_ = se.conn.Close()
		return errDropped
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(se.to) == 0 {
		return errors.New("no recipients")
	}
	if se.refuse == refuseData {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	se.sink.mu.Lock()
	se.sink.msgs = append(se.sink.msgs, Message{From: se.from, To: append([]string(nil), se.to...), Data: b})
	if dropAfter {
		se.sink.faults.DroppedAfterDot++
	}
	se.sink.mu.Unlock()
	if dropAfter {
		// The message is stored, as a real server would have queued it on the final dot;
		// the connection goes before the 250 that tells the client so.
		_ = se.conn.Close()
		return errDropped
	}
	return nil
}

func (se *sinkSession) Reset() { se.from, se.to = "", nil }

func (se *sinkSession) Logout() error { return nil }

// Hanging accepts connections and never writes a byte, like a firewall that black-holes
// SMTP (or any server: a database) after the handshake. It returns its host and port.
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

// Parse reads the message's header and body; it fails the test unless the data is a message.
func (m Message) Parse(tb testing.TB) *mail.Message {
	tb.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		tb.Fatalf("the sink holds something that is not a message: %v", err)
	}
	return msg
}

// ByMessageID counts the messages accepted so far by their Message-ID.
func (s *Sink) ByMessageID(tb testing.TB) map[string]int {
	tb.Helper()
	out := map[string]int{}
	for _, m := range s.Messages() {
		out[m.Parse(tb).Header.Get("Message-ID")]++
	}
	return out
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
