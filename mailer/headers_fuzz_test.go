package mailer

// An internal test: it checks the bytes buildMessage makes, which are exactly what both
// transports send (SMTP DATA, or the .eml file), without writing files or opening sockets, so
// that one iteration costs microseconds.

import (
	"bytes"
	"errors"
	"mime"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// letterHeaders are the only header fields a letter may carry; anything else in a parsed
// message was injected through a name, an address or a subject.
var letterHeaders = map[string]bool{
	"From": true, "To": true, "Cc": true, "Subject": true, "Date": true, "Message-Id": true,
	"Auto-Submitted": true, "Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true,
}

// FuzzLetterHeaders renders letters whose names, product names and recipients come from the
// fuzzer (CR/LF, "Bcc:", quotes, commas, angle brackets, unicode, invalid UTF-8) and checks the
// message on the wire: either Render refuses a recipient with ErrBadAddress, or the message
// parses with net/mail, has exactly one From, To and Subject (and one Cc when there is a copy),
// no header outside letterHeaders, a Subject that decodes to the rendered one, and To, Cc and the
// SMTP envelope naming exactly the intended addresses: no more, no fewer, none altered.
func FuzzLetterHeaders(f *testing.F) {
	r, err := NewRenderer("https://licenses.example.com")
	if err != nil {
		f.Fatalf("NewRenderer: %v", err)
	}
	const from = "Entitled Licensing <no-reply@licenses.example.com>"
	date := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	f.Add("Pat Contact", "pat@example.com", "", "Widget Pro")
	f.Add("Pat\r\nBcc: evil@evil.example", "pat@example.com", "admin@example.com", "Widget\r\nBcc: evil@evil.example")
	f.Add("Évelyne \"Eve\" O'Neil, Jr.", "eve@example.com", "a@example.com", "Ünïcode ™ 👩‍👩‍👧")
	f.Add("x", "pat@example.com\r\nBcc: evil@evil.example", "", "p")
	f.Add("x", "pat@example.com, evil@evil.example", "", "p")
	f.Add("x", "Pat <pat@example.com>", "\"Evil\" <evil@evil.example>", "p")
	f.Add("x", "jöe@example.com", "", "p")
	f.Add("x", "\"a b\"@example.com", "", "p")
	f.Add("x", "\"a>,b@evil.example\"@example.com", "", "p")
	f.Add("=?utf-8?q?Bcc:_evil@evil.example?=", "pat@example.com", "", "=?utf-8?b?QmNjOiBldmls?=")
	f.Add("\xff\xfe", "pat@example.com", "", "\x00\x0b\x0c\u0085\u2028")
	f.Fuzz(func(t *testing.T, name, email, cc, product string) {
		to := []string{email}
		var ccs []string
		if cc != "" {
			ccs = []string{cc}
		}
		messages := []Message{
			// The requester's "Name <email>" is in the subject, as registrations write it.
			JoinRequested{Name: name, Requester: name + " <" + email + ">", AccountID: "4829173", ProductName: product, ReviewURL: "https://licenses.example.com/licenses"},
			LapseNotice{ContractNotice: ContractNotice{Name: name, AccountName: name, AccountID: "4829173", LicenseNumber: "LN-7KQ2-M9XD-44TB-R1ZC", ProductName: product, EndsOn: "2026-03-01"}},
		}
		for _, m := range messages {
			l, err := r.Render(m, to, ccs)
			if err != nil {
				if errors.Is(err, ErrBadAddress) {
					return // refused: nothing is sent
				}
				t.Fatalf("Render(%T, %q, %q): %v", m, to, ccs, err)
			}
			checkWire(t, from, l, date)
		}
	})
}

// checkWire builds the letter's message and checks it as the receiving side would read it.
func checkWire(t *testing.T, from string, l Letter, date time.Time) {
	t.Helper()
	m, env, err := buildMessage(from, l, date)
	if err != nil {
		if errors.Is(err, ErrBadAddress) {
			return
		}
		t.Fatalf("buildMessage: %v", err)
	}
	var raw bytes.Buffer
	if _, err := m.WriteTo(&raw); err != nil {
		t.Fatalf("write message: %v", err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw.Bytes()))
	if err != nil {
		t.Fatalf("the message does not parse: %v\n%s", err, head(raw.Bytes()))
	}
	for k := range msg.Header {
		if !letterHeaders[textproto.CanonicalMIMEHeaderKey(k)] {
			t.Fatalf("header %q was injected:\n%s", k, head(raw.Bytes()))
		}
	}
	want := map[string]int{"From": 1, "To": 1, "Subject": 1, "Cc": 0}
	if len(l.Cc) > 0 {
		want["Cc"] = 1
	}
	for k, n := range want {
		if got := len(msg.Header[k]); got != n {
			t.Fatalf("%d %s headers, want %d:\n%s", got, k, n, head(raw.Bytes()))
		}
	}
	// A subject that itself holds "=?" is compared as written: go-mail encodes only non-ASCII
	// text, so a name spelled as an encoded word reaches the reader decoded. That changes what
	// the Subject shows, never which headers there are (checked above); see the seed corpus.
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if strings.Contains(l.Subject, "=?") && !hasNonASCII(l.Subject) {
		subject, err = msg.Header.Get("Subject"), nil
	}
	if err != nil || subject != l.Subject {
		t.Fatalf("Subject reads back as %q (%v), want %q:\n%s", subject, err, l.Subject, head(raw.Bytes()))
	}
	sender, _ := mail.ParseAddress(from)
	if got, err := msg.Header.AddressList("From"); err != nil || len(got) != 1 || got[0].Address != sender.Address {
		t.Fatalf("From reads back as %v (%v), want %s", got, err, sender.Address)
	}
	var envelope []string
	seen := map[string]bool{}
	for _, field := range []struct {
		name string
		list []string
	}{{"To", l.To}, {"Cc", l.Cc}} {
		if len(field.list) == 0 {
			continue
		}
		got, err := msg.Header.AddressList(field.name)
		if err != nil {
			t.Fatalf("%s header does not parse: %v\n%s", field.name, err, head(raw.Bytes()))
		}
		if len(got) != len(field.list) {
			t.Fatalf("%s names %d addresses, want %d (%q):\n%s", field.name, len(got), len(field.list), field.list, head(raw.Bytes()))
		}
		for i, a := range field.list {
			intended, err := mail.ParseAddress(a)
			if err != nil {
				t.Fatalf("%q was rendered though it is no address: %v", a, err)
			}
			if got[i].Address != intended.Address {
				t.Fatalf("%s[%d] reads back as %q, want %q (from %q):\n%s", field.name, i, got[i].Address, intended.Address, a, head(raw.Bytes()))
			}
			if k := strings.ToLower(intended.Address); !seen[k] {
				seen[k] = true
				envelope = append(envelope, intended.Address)
			}
		}
	}
	if strings.Join(env.to, "\n") != strings.Join(envelope, "\n") {
		t.Fatalf("SMTP envelope is %q, want %q", env.to, envelope)
	}
	for _, rcpt := range append([]string{env.from}, env.to...) {
		// An envelope address goes into "RCPT TO:<…>" as is: a line break, a space or an angle
		// bracket there would rewrite the SMTP conversation.
		if strings.ContainsAny(rcpt, "\r\n <>") {
			t.Fatalf("envelope address %q would break the SMTP command", rcpt)
		}
	}
}

// head is the header block of a raw message, for failure messages.
func head(raw []byte) string {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return string(raw[:i])
	}
	return string(raw)
}

func hasNonASCII(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r > 0x7e || r < ' ' }) >= 0
}
