package mailer_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"entitled/mailer"
)

// Without SMTP, the log line of a letter that carries a single-use link has the link itself (the
// .eml body is quoted-printable, so the file's copy may not open as it stands); other letters
// log no link.
func TestFileTransportLogsTheLetterLink(t *testing.T) {
	links := mailer.NewLinks("http://127.0.0.1:18200")
	for _, tc := range []struct {
		text, want string
	}{
		{"Please confirm:\n\n" + links.Verify("abc_DEF-123") + "\n\nThanks", links.Verify("abc_DEF-123")},
		{"Reset: " + links.ResetPassword("tok") + ".", links.ResetPassword("tok")},
		{"Accept:\n" + links.Invitation("t0k") + "\n", links.Invitation("t0k")},
		{"Your license: " + links.License("LN-1234-5678-9ABC-DEFG"), ""},
	} {
		if got := mailer.TokenLink(tc.text); got != tc.want {
			t.Errorf("TokenLink(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}

	var buf bytes.Buffer
	ft := &mailer.FileTransport{Dir: t.TempDir(), Log: slog.New(slog.NewTextHandler(&buf, nil))}
	link := links.Verify(strings.Repeat("x", 43))
	err := ft.Send(context.Background(), "entitled <no-reply@localhost>", mailer.Letter{MessageID: "<1@localhost>", Kind: "verify_email",
		To: []string{"new@example.test"}, Subject: "Confirm", Text: "Open " + link + "\n"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "link=\""+link+"\"") || !strings.Contains(buf.String(), "path=") {
		t.Errorf("log line: %s", buf.String())
	}
}
