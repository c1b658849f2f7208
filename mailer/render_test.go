package mailer_test

import (
	"errors"
	"html"
	"regexp"
	"strings"
	"testing"

	"entitled/mailer"
)

const testBaseURL = "https://licenses.example.com"

func mustRenderer(tb testing.TB) *mailer.Renderer {
	tb.Helper()
	r, err := mailer.NewRenderer(testBaseURL + "/")
	if err != nil {
		tb.Fatalf("NewRenderer: %v", err)
	}
	return r
}

// Every letter kind renders a subject, a text part and an HTML part, and a link with a token
// reaches the text part exactly as given.
func TestEveryLetterRenders(t *testing.T) {
	r := mustRenderer(t)
	const token = "AbC123-_xyz"
	tests := []struct {
		msg      mailer.Message
		wantText []string // each must appear verbatim in the text part
	}{
		{mailer.TestLetter{}, []string{testBaseURL}},
		{mailer.VerifyEmail{Name: "Ada", Link: testBaseURL + "/verify?token=" + token}, []string{"Hello Ada,", testBaseURL + "/verify?token=" + token, "24 hours"}},
		{mailer.SignupExisting{Name: "Ada"}, []string{testBaseURL + "/login", testBaseURL + "/forgot-password"}},
		{mailer.PasswordReset{Name: "Ada", Link: testBaseURL + "/reset-password?token=" + token}, []string{testBaseURL + "/reset-password?token=" + token, "1 hour"}},
		{mailer.PasswordChanged{Name: "Ada"}, []string{testBaseURL + "/forgot-password"}},
	}
	for _, tt := range tests {
		t.Run(tt.msg.Template(), func(t *testing.T) {
			l, err := r.Render(tt.msg, []string{"ada@example.com"}, nil)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if l.Kind != tt.msg.Template() {
				t.Errorf("Kind = %q, want %q", l.Kind, tt.msg.Template())
			}
			if l.Subject == "" || strings.ContainsAny(l.Subject, "\r\n") {
				t.Errorf("Subject = %q, want one non-empty line", l.Subject)
			}
			if strings.TrimSpace(l.Text) == "" || strings.TrimSpace(l.HTML) == "" {
				t.Fatalf("empty part: text %d bytes, html %d bytes", len(l.Text), len(l.HTML))
			}
			wantText(t, l, tt.wantText)
			if !strings.Contains(l.HTML, "<title>"+html.EscapeString(l.Subject)+"</title>") {
				t.Errorf("HTML part's title is not the subject %q", l.Subject)
			}
			if link, ok := linkOf(tt.msg); ok && !strings.Contains(l.HTML, `href="`+link+`"`) {
				t.Errorf("HTML part lacks the link %q as an href:\n%s", link, l.HTML)
			}
		})
	}
}

func linkOf(m mailer.Message) (string, bool) {
	switch m := m.(type) {
	case mailer.VerifyEmail:
		return m.Link, true
	case mailer.PasswordReset:
		return m.Link, true
	}
	return "", false
}

// A name with HTML in it is text in the HTML part, never markup.
func TestHTMLPartEscapesData(t *testing.T) {
	r := mustRenderer(t)
	l, err := r.Render(mailer.PasswordChanged{Name: `<script>alert(1)</script>`}, []string{"a@example.com"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(l.HTML, "<script>") {
		t.Errorf("HTML part contains unescaped markup from data:\n%s", l.HTML)
	}
}

var messageIDPattern = regexp.MustCompile(`^<[0-9a-f]{32}@licenses\.example\.com>$`)

// Each letter gets its own Message-ID of 128 random bits at the base URL's host.
func TestMessageIDIsRandomAtBaseURLHost(t *testing.T) {
	r := mustRenderer(t)
	seen := map[string]bool{}
	for range 50 {
		l, err := r.Render(mailer.TestLetter{}, []string{"ops@example.com"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !messageIDPattern.MatchString(l.MessageID) {
			t.Fatalf("MessageID = %q, want <32 hex digits@licenses.example.com>", l.MessageID)
		}
		if seen[l.MessageID] {
			t.Fatalf("MessageID %q given twice", l.MessageID)
		}
		seen[l.MessageID] = true
	}
}

func TestMessageIDHostFallsBackToLocalhost(t *testing.T) {
	for base, want := range map[string]string{
		"http://localhost:8080": "@localhost>",
		"http://[::1]:8080":     "@[::1]>",
		"https://10.0.0.7":      "@10.0.0.7>",
	} {
		r, err := mailer.NewRenderer(base)
		if err != nil {
			t.Fatalf("NewRenderer(%q): %v", base, err)
		}
		l, err := r.Render(mailer.TestLetter{}, []string{"ops@example.com"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(l.MessageID, want) {
			t.Errorf("base %q: MessageID %q, want suffix %q", base, l.MessageID, want)
		}
	}
}

func TestRenderRefusesBadRecipients(t *testing.T) {
	r := mustRenderer(t)
	tests := []struct {
		name    string
		to, cc  []string
		wantErr error
	}{
		{"no recipient", nil, nil, mailer.ErrNoRecipient},
		{"only a copy", nil, []string{"b@example.com"}, mailer.ErrNoRecipient},
		{"malformed to", []string{"not an address"}, nil, mailer.ErrBadAddress},
		{"malformed cc", []string{"a@example.com"}, []string{"b@example.com\r\nBcc: x@example.com"}, mailer.ErrBadAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Render(mailer.TestLetter{}, tt.to, tt.cc)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Render error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestRenderKeepsRecipients(t *testing.T) {
	r := mustRenderer(t)
	l, err := r.Render(mailer.TestLetter{}, []string{"jane@example.com"}, []string{"admin@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.To) != 1 || l.To[0] != "jane@example.com" || len(l.Cc) != 1 || l.Cc[0] != "admin@example.com" {
		t.Errorf("To = %q, Cc = %q", l.To, l.Cc)
	}
	// Recipients are plain addresses (models.ValidEmail), as the API accepts them: a display
	// name is refused, not carried into the header.
	if _, err := r.Render(mailer.TestLetter{}, []string{`"Doe, Jane" <jane@example.com>`}, nil); !errors.Is(err, mailer.ErrBadAddress) {
		t.Errorf("Render to a named address: %v, want ErrBadAddress", err)
	}
}

func TestNewRendererNeedsAbsoluteBaseURL(t *testing.T) {
	for _, base := range []string{"", "licenses.example.com", "ftp://example.com", "https://"} {
		if _, err := mailer.NewRenderer(base); err == nil {
			t.Errorf("NewRenderer(%q) succeeded, want an error", base)
		}
	}
}

// A message kind without templates is an error, not an empty letter.
func TestRenderUnknownKind(t *testing.T) {
	r := mustRenderer(t)
	if _, err := r.Render(unknownLetter{}, []string{"a@example.com"}, nil); err == nil {
		t.Fatal("Render of a kind with no templates succeeded")
	}
}

type unknownLetter struct{}

func (unknownLetter) Template() string { return "no_such_letter" }

// wantText checks that the letter's text part has every one of wants, and that no template
// printed a missing or unsafe value in either part.
func wantText(t *testing.T, l mailer.Letter, wants []string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(l.Text, want) {
			t.Errorf("text part lacks %q:\n%s", want, l.Text)
		}
	}
	for _, part := range []string{l.Text, l.HTML} {
		if strings.Contains(part, "<no value>") || strings.Contains(part, "ZgotmplZ") {
			t.Errorf("a template printed a missing or unsafe value:\n%s", part)
		}
	}
}
