package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/go-mail/mail/v2"
)

// DefaultSMTPTimeout bounds one delivery over SMTP, from dialling to QUIT.
const DefaultSMTPTimeout = 30 * time.Second

// StartTLS is the STARTTLS policy of a plain smtp:// connection.
type StartTLS string

// The STARTTLS policies, as written in the starttls= parameter of an SMTP URL.
const (
	StartTLSNone          StartTLS = "none"          // never; the whole session is in the clear
	StartTLSOpportunistic StartTLS = "opportunistic" // when the server offers it (the default)
	StartTLSMandatory     StartTLS = "mandatory"     // refuse to send unless the server offers it
)

// SMTPTransport sends letters to an SMTP server with go-mail, one connection per letter (the
// worker pool, not a shared connection, gives the parallelism, and a broken connection then
// affects one letter only).
type SMTPTransport struct {
	Host     string
	Port     int
	Username string // empty: no AUTH
	Password string
	// ImplicitTLS is smtps://: TLS from the first byte (usually port 465). StartTLS is ignored then.
	ImplicitTLS bool
	StartTLS    StartTLS // "" means StartTLSOpportunistic
	// Timeout bounds a whole delivery: connecting, the greeting, TLS, AUTH and the message.
	// 0 means DefaultSMTPTimeout. A context deadline that comes sooner shortens it.
	Timeout time.Duration
	// TLSConfig overrides the TLS settings (tests, private CAs); nil verifies the server as Host.
	TLSConfig *tls.Config
	// LocalName is the name sent with EHLO; "" lets net/smtp say "localhost".
	LocalName string
}

// ParseSMTPURL reads ENTITLED_SMTP_URL:
//
//	smtp://[user:pass@]host[:port][?starttls=none|opportunistic|mandatory]   (port 25)
//	smtps://[user:pass@]host[:port]                                          (port 465, implicit TLS)
//
// The user and password are %-decoded. An error says what is wrong and never contains the
// password.
func ParseSMTPURL(raw string) (*SMTPTransport, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("mailer: SMTP URL: "+format, args...)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, bad("want smtp://host:port or smtps://host:port")
	}
	t := &SMTPTransport{}
	switch strings.ToLower(scheme) {
	case "smtp":
		t.Port = 25
	case "smtps":
		t.Port = 465
		t.ImplicitTLS = true
	default:
		return nil, bad("scheme %q is not smtp or smtps", scheme)
	}

	// The user information is split off by hand before url.Parse sees the rest: url.Parse's
	// errors quote the whole URL, password included.
	// The last "@" ends it, so that a password with a raw "@", "/", "?" or "#" in it is still
	// taken whole instead of being cut up into host, path and query.
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		userinfo := rest[:i]
		rest = rest[i+1:]
		user, pass, hasPass := strings.Cut(userinfo, ":")
		var err error
		if t.Username, err = url.PathUnescape(user); err != nil {
			return nil, bad("the user name has a malformed %%-escape")
		}
		if hasPass {
			if t.Password, err = url.PathUnescape(pass); err != nil {
				return nil, bad("the password has a malformed %%-escape")
			}
		}
		if t.Username == "" && t.Password != "" {
			return nil, bad("a password is given without a user name")
		}
	}

	u, err := url.Parse(scheme + "://" + rest)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the message without the URL: it holds no user information, but is noise
		}
		return nil, bad("%v", err)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, bad("unexpected path %q", u.Path)
	}
	if u.Fragment != "" {
		return nil, bad("unexpected fragment")
	}
	t.Host = u.Hostname()
	if t.Host == "" {
		return nil, bad("no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, bad("port %q is not a number from 1 to 65535", p)
		}
		t.Port = n
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, bad("malformed query")
	}
	for k, v := range q {
		switch k {
		case "starttls":
			if t.ImplicitTLS {
				return nil, bad("starttls does not apply to smtps://, which is TLS from the start")
			}
			switch p := StartTLS(strings.ToLower(v[len(v)-1])); p {
			case StartTLSNone, StartTLSOpportunistic, StartTLSMandatory:
				t.StartTLS = p
			default:
				return nil, bad("starttls=%q is not none, opportunistic or mandatory", v[len(v)-1])
			}
		default:
			return nil, bad("unknown parameter %q", k)
		}
	}
	if !t.ImplicitTLS && t.StartTLS == "" {
		t.StartTLS = StartTLSOpportunistic
	}
	return t, nil
}

// String describes the transport for logs, without the password.
func (t *SMTPTransport) String() string {
	u := url.URL{Scheme: "smtp", Host: net.JoinHostPort(t.Host, strconv.Itoa(t.Port))}
	if t.ImplicitTLS {
		u.Scheme = "smtps"
	} else if t.StartTLS != "" {
		u.RawQuery = "starttls=" + string(t.StartTLS)
	}
	if t.Username != "" {
		u.User = url.User(t.Username)
	}
	return u.String()
}

// Send delivers the letter in one SMTP session. A 5xx reply at any step is a permanent error
// (see IsPermanent); 4xx replies, network errors and timeouts are temporary.
func (t *SMTPTransport) Send(ctx context.Context, from string, l Letter) error {
	m, env, err := buildMessage(from, l, time.Now())
	if err != nil {
		return err
	}
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if timeout <= 0 {
		return context.DeadlineExceeded
	}

	installDialHook()
	// A Dialer per letter: go-mail's Dial stores the chosen Auth in the Dialer, so one shared
	// between workers would race.
	d := &gomail.Dialer{
		Host:           t.Host,
		Port:           t.Port,
		Username:       t.Username,
		Password:       t.Password,
		SSL:            t.ImplicitTLS,
		TLSConfig:      t.TLSConfig,
		StartTLSPolicy: goMailPolicy(t.StartTLS),
		LocalName:      t.LocalName,
		Timeout:        timeout,
		// River retries the whole letter with backoff; go-mail's own immediate redial would
		// only double the time a dead server holds a worker.
		RetryFailure: false,
	}
	sc, err := d.Dial()
	if err != nil {
		return fmt.Errorf("mailer: smtp %s: %w", net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), err)
	}
	if err := sc.Send(env.from, env.to, m); err != nil {
		_ = sc.Close()
		return fmt.Errorf("mailer: smtp %s: %w", net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), err)
	}
	// The server took the message once DATA was accepted; a failing QUIT does not undo that,
	// and sending it again would deliver it twice.
	_ = sc.Close()
	return nil
}

func goMailPolicy(p StartTLS) gomail.StartTLSPolicy {
	switch p {
	case StartTLSNone:
		return gomail.NoStartTLS
	case StartTLSMandatory:
		return gomail.MandatoryStartTLS
	}
	return gomail.OpportunisticStartTLS
}

// IsPermanent reports whether err is an SMTP reply in the 5xx range: the server refused the
// letter (an unknown recipient, a refused sender, failed authentication) and will refuse it
// again, so retrying is pointless.
func IsPermanent(err error) bool {
	var tp *textproto.Error
	return errors.As(err, &tp) && tp.Code >= 500 && tp.Code <= 599
}

// go-mail's Dialer.Timeout is set as the connection's deadline only after net/smtp has read the
// server's greeting (and, for smtps, after the TLS handshake that reading starts), so a server
// that accepts and never speaks would hold a worker forever. go-mail dials through its package
// variable NetDialTimeout, made for this kind of override; the hook wraps it so that every
// connection has a deadline from the first byte and is closed when Timeout has passed, whatever
// go-mail does or fails to do with it.
var dialHookOnce sync.Once

func installDialHook() {
	dialHookOnce.Do(func() {
		next := gomail.NetDialTimeout
		gomail.NetDialTimeout = func(network, address string, timeout time.Duration) (net.Conn, error) {
			deadline := time.Now().Add(timeout)
			conn, err := next(network, address, timeout)
			if err != nil || timeout <= 0 {
				return conn, err
			}
			return newBoundedConn(conn, deadline), nil
		}
	})
}

// boundedConn is a connection that cannot outlive its deadline: later deadlines are clamped to
// it, and a timer closes the connection when it passes (go-mail leaves the connection open when
// the greeting, EHLO, STARTTLS or AUTH fail, or QUIT does).
type boundedConn struct {
	net.Conn
	deadline time.Time
	timer    *time.Timer
}

func newBoundedConn(c net.Conn, deadline time.Time) *boundedConn {
	b := &boundedConn{Conn: c, deadline: deadline}
	_ = c.SetDeadline(deadline)
	b.timer = time.AfterFunc(time.Until(deadline), func() { _ = c.Close() })
	return b
}

func (b *boundedConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(b.deadline) {
		return b.deadline
	}
	return t
}

func (b *boundedConn) SetDeadline(t time.Time) error      { return b.Conn.SetDeadline(b.clamp(t)) }
func (b *boundedConn) SetReadDeadline(t time.Time) error  { return b.Conn.SetReadDeadline(b.clamp(t)) }
func (b *boundedConn) SetWriteDeadline(t time.Time) error { return b.Conn.SetWriteDeadline(b.clamp(t)) }

func (b *boundedConn) Close() error {
	b.timer.Stop()
	return b.Conn.Close()
}
