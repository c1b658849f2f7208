package mailer_test

import (
	"bytes"
	"context"
	"entitled/mailer/mailtest"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"entitled/mailer"
)

// parsedLetter is a letter read back from its RFC 5322 bytes.
type parsedLetter struct {
	Header mail.Header
	Text   string
	HTML   string
}

// mustParseMessage reads a message as a mail client would: headers, then the text and HTML
// halves of its multipart/alternative body, transfer encoding undone.
func mustParseMessage(tb testing.TB, raw []byte) parsedLetter {
	tb.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		tb.Fatalf("ReadMessage: %v\n%s", err, raw)
	}
	p := parsedLetter{Header: msg.Header}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		tb.Fatalf("Content-Type = %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // undoes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatalf("NextPart: %v", err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			tb.Fatalf("read part: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.Text = string(b)
		case "text/html":
			p.HTML = string(b)
		default:
			tb.Fatalf("unexpected part %q", ct)
		}
	}
	return p
}

func decodeHeader(tb testing.TB, v string) string {
	tb.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(v)
	if err != nil {
		tb.Fatalf("decode header %q: %v", v, err)
	}
	return s
}

// checkDelivered compares a message's headers and body with the letter it was made from.
func checkDelivered(tb testing.TB, raw []byte, l mailer.Letter, from string) parsedLetter {
	tb.Helper()
	p := mustParseMessage(tb, raw)
	if got := p.Header.Get("Message-Id"); got != l.MessageID {
		tb.Errorf("Message-ID = %q, want %q", got, l.MessageID)
	}
	if got := decodeHeader(tb, p.Header.Get("Subject")); got != l.Subject {
		tb.Errorf("Subject = %q, want %q", got, l.Subject)
	}
	wantFrom, _ := mail.ParseAddress(from)
	if got, err := p.Header.AddressList("From"); err != nil || len(got) != 1 || got[0].Address != wantFrom.Address || got[0].Name != wantFrom.Name {
		tb.Errorf("From = %v (%v), want %v", got, err, wantFrom)
	}
	to, err := p.Header.AddressList("To")
	if err != nil || len(to) != len(l.To) {
		tb.Fatalf("To = %v (%v), want %q", to, err, l.To)
	}
	for i, a := range l.To {
		want, _ := mail.ParseAddress(a)
		if to[i].Address != want.Address || to[i].Name != want.Name {
			tb.Errorf("To[%d] = %v, want %v", i, to[i], want)
		}
	}
	if _, err := p.Header.Date(); err != nil {
		tb.Errorf("Date: %v", err)
	}
	if got := p.Header.Get("Auto-Submitted"); got != "auto-generated" {
		tb.Errorf("Auto-Submitted = %q", got)
	}
	if got := p.Header.Get("Mime-Version"); got != "1.0" {
		tb.Errorf("MIME-Version = %q", got)
	}
	// On the wire every line ends in CRLF, as RFC 5322 wants; the letter keeps Go's "\n".
	p.Text = strings.ReplaceAll(p.Text, "\r\n", "\n")
	p.HTML = strings.ReplaceAll(p.HTML, "\r\n", "\n")
	if p.Text != l.Text {
		tb.Errorf("text part differs from the letter:\n got %q\nwant %q", p.Text, l.Text)
	}
	if p.HTML != l.HTML {
		tb.Errorf("HTML part differs from the letter")
	}
	return p
}

const testFrom = "entitled <no-reply@licenses.example.com>"

// With no SMTP URL, a letter becomes <dir>/<id>.eml: the whole message, written atomically,
// the same file however often the letter is sent.
func TestFileTransportWritesCompleteEML(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "mail") // does not exist yet
	tr, err := mailer.NewTransport("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.(*mailer.FileTransport); !ok {
		t.Fatalf("NewTransport with no SMTP URL = %T, want *FileTransport", tr)
	}
	r := mustRenderer(t)
	link := testBaseURL + "/verify?token=Tok3n_value-1"
	l, err := r.Render(mailer.VerifyEmail{Name: "Zoë Ångström", Link: link}, []string{"zoe@example.com"}, []string{"admin@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// Render takes plain addresses only; a letter queued by an older build may still name its
	// recipient with a (non-ASCII) display name, which the transport encodes.
	l.To = []string{`"Zoë Ångström" <zoe@example.com>`}
	ctx := context.Background()
	for range 2 { // a retry overwrites its own file
		if err := tr.Send(ctx, testFrom, l); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(strings.SplitN(l.MessageID, "@", 2)[0], "<")
	if len(entries) != 1 || entries[0].Name() != id+".eml" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("mail directory holds %q, want exactly [%s.eml] (no temporary files)", names, id)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("mail directory mode = %v (%v), want 0750", fi.Mode().Perm(), err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, id+".eml"))
	if err != nil {
		t.Fatal(err)
	}
	p := checkDelivered(t, raw, l, testFrom)
	if !strings.Contains(p.Text, link) {
		t.Errorf("text part lacks the link %q", link)
	}
	if cc := p.Header.Get("Cc"); cc != "admin@example.com" {
		t.Errorf("Cc = %q", cc)
	}
	if !bytes.Contains(raw, []byte("\r\n\r\n")) {
		t.Error("message lines do not end in CRLF")
	}
}

func TestFileNameKeepsOnlySafeCharacters(t *testing.T) {
	tests := map[string]string{
		"<0123abcdef@example.com>": "0123abcdef.eml",
		"<a.b/../c@example.com>":   "a_b____c.eml",
		"<x@y@example.com>":        "x_y.eml",
		"plain-id_1":               "plain-id_1.eml",
	}
	for id, want := range tests {
		if got := mailer.FileName(id); got != want {
			t.Errorf("FileName(%q) = %q, want %q", id, got, want)
		}
	}
	for _, id := range []string{"<../@x>", "<>", ""} {
		got := mailer.FileName(id)
		if strings.ContainsAny(strings.TrimSuffix(got, ".eml"), "./") || len(got) <= len(".eml") {
			t.Errorf("FileName(%q) = %q, want a safe, non-empty name", id, got)
		}
	}
}

func TestSMTPTransportDelivers(t *testing.T) {
	sink := mailtest.Start(t)
	sink.RequireAuth("mailer@example.com", "p@ss:w/rd%")
	// The user and password are %-escaped in the URL and arrive decoded.
	tr, err := mailer.NewTransport(sink.URL()[:len("smtp://")]+"mailer%40example.com:p%40ss%3Aw%2Frd%25@"+sink.URL()[len("smtp://"):], "")
	if err != nil {
		t.Fatal(err)
	}
	r := mustRenderer(t)
	l, err := r.Render(mailer.PasswordReset{Name: "Ada", Link: testBaseURL + "/reset-password?token=R3set"}, []string{"ada@example.com"}, []string{"ADA@example.com", "boss@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(context.Background(), testFrom, l); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("sink got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "no-reply@licenses.example.com" {
		t.Errorf("envelope from = %q", m.From)
	}
	// To and Cc, each address once however it is capitalised.
	if strings.Join(m.To, ",") != "ada@example.com,boss@example.com" {
		t.Errorf("envelope to = %q", m.To)
	}
	checkDelivered(t, m.Data, l, testFrom)
}

func TestSMTPTransportWrongPasswordIsPermanent(t *testing.T) {
	sink := mailtest.Start(t)
	sink.RequireAuth("mailer", "right")
	tr := &mailer.SMTPTransport{Host: sink.Host, Port: sink.Port, Username: "mailer", Password: "wrong", StartTLS: mailer.StartTLSNone}
	l, err := mustRenderer(t).Render(mailer.TestLetter{}, []string{"ops@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Send(context.Background(), testFrom, l)
	if err == nil || !mailer.IsPermanent(err) {
		t.Fatalf("Send with a wrong password = %v, want a permanent (5xx) error", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestSMTPTransportMandatoryStartTLSRefusesPlainServer(t *testing.T) {
	sink := mailtest.Start(t) // offers no STARTTLS
	tr := &mailer.SMTPTransport{Host: sink.Host, Port: sink.Port, StartTLS: mailer.StartTLSMandatory}
	l, err := mustRenderer(t).Render(mailer.TestLetter{}, []string{"ops@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Send(context.Background(), testFrom, l); err == nil {
		t.Fatal("Send with mandatory STARTTLS to a server without it succeeded")
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("the letter went out in the clear (%d messages)", n)
	}
}

// A server that accepts the connection and never says a word cannot hold a worker: Send fails
// once Timeout has passed, as a temporary error.
func TestSMTPTransportGivesUpOnSilentServer(t *testing.T) {
	host, port := mailtest.Hanging(t)
	l, err := mustRenderer(t).Render(mailer.TestLetter{}, []string{"ops@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tr   *mailer.SMTPTransport
	}{
		{"smtp", &mailer.SMTPTransport{Host: host, Port: port, StartTLS: mailer.StartTLSOpportunistic, Timeout: 300 * time.Millisecond}},
		{"smtps", &mailer.SMTPTransport{Host: host, Port: port, ImplicitTLS: true, Timeout: 300 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- tc.tr.Send(context.Background(), testFrom, l) }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Send to a silent server succeeded")
				}
				if mailer.IsPermanent(err) {
					t.Errorf("a timeout is temporary, got a permanent error: %v", err)
				}
			case <-time.After(20 * time.Second): // far past the 300 ms timeout: it hangs
				t.Fatal("Send to a silent server did not return")
			}
		})
	}
}

// A context that ends sooner than Timeout shortens the delivery.
func TestSMTPTransportHonoursContextDeadline(t *testing.T) {
	host, port := mailtest.Hanging(t)
	l, err := mustRenderer(t).Render(mailer.TestLetter{}, []string{"ops@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := &mailer.SMTPTransport{Host: host, Port: port, Timeout: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tr.Send(ctx, testFrom, l) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Send to a silent server succeeded")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Send ignored the context's deadline")
	}
}

func TestParseSMTPURL(t *testing.T) {
	tests := []struct {
		url  string
		want mailer.SMTPTransport
	}{
		{"smtp://mail.example.com", mailer.SMTPTransport{Host: "mail.example.com", Port: 25, StartTLS: mailer.StartTLSOpportunistic}},
		{"smtp://mail.example.com:587", mailer.SMTPTransport{Host: "mail.example.com", Port: 587, StartTLS: mailer.StartTLSOpportunistic}},
		{"smtp://mail.example.com:587/", mailer.SMTPTransport{Host: "mail.example.com", Port: 587, StartTLS: mailer.StartTLSOpportunistic}},
		{"smtp://mail.example.com:587?starttls=mandatory", mailer.SMTPTransport{Host: "mail.example.com", Port: 587, StartTLS: mailer.StartTLSMandatory}},
		{"smtp://localhost:1025?starttls=none", mailer.SMTPTransport{Host: "localhost", Port: 1025, StartTLS: mailer.StartTLSNone}},
		{"smtp://mail.example.com?starttls=Opportunistic", mailer.SMTPTransport{Host: "mail.example.com", Port: 25, StartTLS: mailer.StartTLSOpportunistic}},
		{"smtps://mail.example.com", mailer.SMTPTransport{Host: "mail.example.com", Port: 465, ImplicitTLS: true}},
		{"SMTPS://mail.example.com:2465", mailer.SMTPTransport{Host: "mail.example.com", Port: 2465, ImplicitTLS: true}},
		{"smtp://[::1]:2525", mailer.SMTPTransport{Host: "::1", Port: 2525, StartTLS: mailer.StartTLSOpportunistic}},
		{"smtp://apikey:s3cr%40t%2Fx%3Ay@mail.example.com:587", mailer.SMTPTransport{Host: "mail.example.com", Port: 587, Username: "apikey", Password: "s3cr@t/x:y", StartTLS: mailer.StartTLSOpportunistic}},
		{"smtps://me%40example.com:p:a@ss@mail.example.com", mailer.SMTPTransport{Host: "mail.example.com", Port: 465, Username: "me@example.com", Password: "p:a@ss", ImplicitTLS: true}},
		{"smtp://user@mail.example.com", mailer.SMTPTransport{Host: "mail.example.com", Port: 25, Username: "user", StartTLS: mailer.StartTLSOpportunistic}},
		{"smtp://u:pa+ss@mail.example.com", mailer.SMTPTransport{Host: "mail.example.com", Port: 25, Username: "u", Password: "pa+ss", StartTLS: mailer.StartTLSOpportunistic}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := mailer.ParseSMTPURL(tt.url)
			if err != nil {
				t.Fatalf("ParseSMTPURL: %v", err)
			}
			if *got != tt.want {
				t.Errorf("got %+v\nwant %+v", *got, tt.want)
			}
			if tt.want.Password != "" && strings.Contains(got.String(), tt.want.Password) {
				t.Errorf("String() = %q shows the password", got.String())
			}
		})
	}
}

func TestParseSMTPURLErrorsNameTheProblemNotThePassword(t *testing.T) {
	const pw = "Sup3rS3cret"
	tests := []struct {
		url      string
		wantText string // the error must say this
	}{
		{"http://u:" + pw + "@mail.example.com", "scheme"},
		{"mail.example.com:25", "smtp://"},
		{"smtp://u:" + pw + "@mail.example.com?starttls=always", "starttls"},
		{"smtps://u:" + pw + "@mail.example.com?starttls=mandatory", "starttls"},
		{"smtp://u:" + pw + "@:25", "no host"},
		{"smtp://u:" + pw + "@", "no host"},
		{"smtp://u:" + pw + "@mail.example.com:smtp", "port"},
		{"smtp://u:" + pw + "@mail.example.com:70000", "port"},
		{"smtp://u:" + pw + "%zz@mail.example.com", "password"},
		{"smtp://u%zz:" + pw + "@mail.example.com", "user name"},
		{"smtp://:" + pw + "@mail.example.com", "without a user name"},
		{"smtp://u:" + pw + "@mail.example.com/inbox", "path"},
		{"smtp://u:" + pw + "@mail.example.com?tls=yes", "unknown parameter"},
		{"smtp://u:" + pw + "/x@mail.example.com:bad", "port"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, err := mailer.ParseSMTPURL(tt.url)
			if err == nil {
				t.Fatal("ParseSMTPURL succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not mention %q", err, tt.wantText)
			}
			if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "S3cret") {
				t.Errorf("error %q shows the password", err)
			}
			if _, err2 := mailer.NewTransport(tt.url, t.TempDir()); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("NewTransport error = %v, want the same as ParseSMTPURL's", err2)
			}
		})
	}
}

func TestNewTransportNeedsADirectoryWithoutSMTP(t *testing.T) {
	if _, err := mailer.NewTransport("", ""); err == nil {
		t.Fatal("NewTransport with neither an SMTP URL nor a directory succeeded")
	}
}

func TestCheckFrom(t *testing.T) {
	if err := mailer.CheckFrom(mailer.DefaultFrom); err != nil {
		t.Errorf("DefaultFrom: %v", err)
	}
	if err := mailer.CheckFrom("entitled"); err == nil {
		t.Error(`CheckFrom("entitled") succeeded`)
	}
}
