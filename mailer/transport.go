package mailer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	gomail "github.com/go-mail/mail/v2"

	"entitled/models"
)

// DefaultFrom is the sender when ENTITLED_MAIL_FROM is not set.
const DefaultFrom = "entitled <no-reply@localhost>"

// Transport delivers one letter. from is an RFC 5322 address, with or without a display name.
// An error for which IsPermanent reports true will fail again on every retry.
type Transport interface {
	Send(ctx context.Context, from string, l Letter) error
}

// NewTransport chooses the transport for the settings: SMTP when smtpURL (ENTITLED_SMTP_URL)
// is set (see ParseSMTPURL), and otherwise .eml files in mailDir (<data dir>/mail).
func NewTransport(smtpURL, mailDir string) (Transport, error) {
	if smtpURL != "" {
		return ParseSMTPURL(smtpURL)
	}
	if mailDir == "" {
		return nil, errors.New("mailer: with no SMTP URL, letters need a directory to be written to")
	}
	return &FileTransport{Dir: mailDir}, nil
}

// CheckFrom reports whether from can be a letter's sender, so that a bad ENTITLED_MAIL_FROM
// stops the server at start-up rather than failing every letter.
func CheckFrom(from string) error {
	if _, err := mail.ParseAddress(from); err != nil {
		return fmt.Errorf("mailer: sender %q is not an email address: %w", from, err)
	}
	return nil
}

// envelope is the SMTP envelope of a message: the reverse path and the recipients.
type envelope struct {
	from string
	to   []string
}

// buildMessage makes the RFC 5322 message of a letter with go-mail. Both transports send the
// same message, so an .eml file shows exactly what SMTP would have carried.
func buildMessage(from string, l Letter, date time.Time) (*gomail.Message, envelope, error) {
	var env envelope
	if l.MessageID == "" {
		return nil, env, errors.New("mailer: letter has no Message-ID")
	}
	if len(l.To) == 0 {
		return nil, env, ErrNoRecipient
	}
	m := gomail.NewMessage()
	sender, err := mail.ParseAddress(from)
	if err != nil {
		return nil, env, fmt.Errorf("mailer: sender %q is not an email address: %w", from, err)
	}
	env.from = sender.Address
	m.SetAddressHeader("From", sender.Address, sender.Name)

	seen := map[string]bool{}
	addresses := func(field string, list []string) error {
		if len(list) == 0 {
			return nil
		}
		values := make([]string, 0, len(list))
		for _, a := range list {
			addr, err := mail.ParseAddress(a)
			// models.ValidEmail again (net/mail alone takes UTF-8, quoted local parts and address
			// literals, found by FuzzLetterHeaders): a letter queued before Render checked it is refused here
			// rather than sent to whoever its mangled header names.
			if err != nil || !models.ValidEmail(addr.Address) {
				return fmt.Errorf("%w: %q", ErrBadAddress, a)
			}
			// FormatAddress encodes a non-ASCII display name; SetHeader must not encode the
			// result again, which it leaves alone because it is plain ASCII by then.
			values = append(values, m.FormatAddress(addr.Address, addr.Name))
			if !seen[strings.ToLower(addr.Address)] {
				seen[strings.ToLower(addr.Address)] = true
				env.to = append(env.to, addr.Address)
			}
		}
		m.SetHeader(field, values...)
		return nil
	}
	if err := addresses("To", l.To); err != nil {
		return nil, env, err
	}
	if err := addresses("Cc", l.Cc); err != nil {
		return nil, env, err
	}
	m.SetHeader("Subject", l.Subject)
	m.SetDateHeader("Date", date)
	// go-mail adds no Message-ID of its own; setting ours keeps it the same on every attempt.
	m.SetHeader("Message-ID", l.MessageID)
	// RFC 3834: tells auto-responders (vacation replies) not to answer.
	m.SetHeader("Auto-Submitted", "auto-generated")
	m.SetBody("text/plain", l.Text)
	if l.HTML != "" {
		m.AddAlternative("text/html", l.HTML)
	}
	return m, env, nil
}

// FileTransport writes each letter as an .eml file into Dir: what a developer or a server
// without SMTP gets. The file for a letter is <Dir>/<id>.eml, id being the local part of its
// Message-ID, so a retried letter replaces its own file instead of adding another.
type FileTransport struct {
	Dir string
	// Log, when set, is told the path of each letter written, so that a developer without SMTP
	// finds the verification link one click away. Recipients are not logged.
	Log *slog.Logger
}

// Send writes the letter atomically: readers of Dir see the whole file or none of it.
func (t *FileTransport) Send(ctx context.Context, from string, l Letter) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m, _, err := buildMessage(from, l, time.Now())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(t.Dir, 0o750); err != nil {
		return fmt.Errorf("mailer: create mail directory: %w", err)
	}
	// The temporary file is in Dir itself so that the rename cannot cross file systems; its
	// name starts with a dot and does not end in .eml, so nothing takes it for a letter.
	f, err := os.CreateTemp(t.Dir, ".letter-*.tmp")
	if err != nil {
		return fmt.Errorf("mailer: write letter: %w", err)
	}
	tmp := f.Name()
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := m.WriteTo(f); err != nil {
		return fmt.Errorf("mailer: write letter: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("mailer: write letter: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("mailer: write letter: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(t.Dir, FileName(l.MessageID))); err != nil {
		return fmt.Errorf("mailer: write letter: %w", err)
	}
	done = true
	if t.Log != nil {
		attrs := []any{"path", filepath.Join(t.Dir, FileName(l.MessageID)), "kind", l.Kind}
		// The file's body is quoted-printable, so a link copied out of it may be broken ("=3D",
		// soft line breaks): a letter that carries a single-use link (verification, password
		// reset, invitation) has it in the log line too, ready to open.
		if link := TokenLink(l.Text); link != "" {
			attrs = append(attrs, "link", link)
		}
		t.Log.Info("letter written", attrs...)
	}
	// Make the rename itself durable; a file system that cannot sync a directory loses nothing
	// that matters here, so its error is not the letter's.
	if d, err := os.Open(t.Dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// tokenLink matches a link with a single-use token in a letter's text: Links.Verify,
// Links.ResetPassword and Links.Invitation all end in "?token=…" (url.QueryEscape'd).
var tokenLink = regexp.MustCompile(`https?://[^\s<>"]+[?&]token=[A-Za-z0-9%_+-]+`)

// TokenLink is the first link in text that carries a single-use token, or "". FileTransport
// logs it beside the letter's path when no SMTP server is configured.
func TokenLink(text string) string { return tokenLink.FindString(text) }

// FileName is the name FileTransport gives a letter's file: the Message-ID's local part with
// every character outside [A-Za-z0-9_-] replaced by "_", and ".eml". A Message-ID that leaves
// nothing usable is named by its hash, so that no name can leave the directory.
func FileName(messageID string) string {
	id := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(messageID), "<"), ">")
	if i := strings.LastIndex(id, "@"); i >= 0 {
		id = id[:i]
	}
	id = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, id)
	if strings.Trim(id, "_") == "" {
		sum := sha256.Sum256([]byte(messageID))
		id = hex.EncodeToString(sum[:16])
	}
	return id + ".eml"
}
