package mailer

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/url"
	"path"
	"reflect"
	"strings"
	texttemplate "text/template"

	"entitled/models"
	"entitled/templates"
)

// Product is the product name the letters show as .Product.
const Product = "entitled"

// Errors Render and Queue return for bad recipients. They are input errors: callers that take
// addresses from a request should have validated them already, and may map these to a 400.
var (
	ErrNoRecipient = errors.New("mailer: a letter needs at least one recipient in To")
	ErrBadAddress  = errors.New("mailer: malformed email address")
)

const (
	mailDir    = "mail"
	sharedDir  = "mail/shared" // pieces every letter may use (layout, footer); not letters
	textSuffix = ".txt.tmpl"
	htmlSuffix = ".html.tmpl"
)

// Renderer turns messages into letters. It parses every template once, when it is made, and is
// safe for concurrent use.
type Renderer struct {
	baseURL string
	links   Links  // the letters' links, as templates see them in .Links
	idHost  string // right-hand side of Message-IDs
	letters map[string]letterTemplates
}

type letterTemplates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// NewRenderer parses the letters in templates.FS. baseURL (ENTITLED_BASE_URL) is the absolute
// http(s) URL that links in letters start with; a trailing slash is dropped. It fails when the
// URL is not absolute, when a letter lacks its text or HTML half or "subject", when a template
// does not parse, or when a template of this package's messages refers to a field its message
// does not have.
func NewRenderer(baseURL string) (*Renderer, error) {
	baseURL = strings.TrimRight(baseURL, "/")
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mailer: base URL %q is not an absolute http(s) URL", baseURL)
	}
	r := &Renderer{baseURL: baseURL, links: NewLinks(baseURL), idHost: messageIDHost(u), letters: map[string]letterTemplates{}}

	texts, err := fs.Glob(templates.FS, path.Join(mailDir, "*"+textSuffix))
	if err != nil {
		return nil, fmt.Errorf("mailer: list templates: %w", err)
	}
	htmls, err := fs.Glob(templates.FS, path.Join(mailDir, "*"+htmlSuffix))
	if err != nil {
		return nil, fmt.Errorf("mailer: list templates: %w", err)
	}
	kinds := map[string]bool{}
	for _, p := range append(texts, htmls...) {
		kinds[strings.TrimSuffix(strings.TrimSuffix(path.Base(p), textSuffix), htmlSuffix)] = true
	}
	for kind := range kinds {
		lt, err := parseLetter(kind)
		if err != nil {
			return nil, err
		}
		r.letters[kind] = lt
	}

	for _, m := range knownMessages {
		if _, ok := r.letters[m.Template()]; !ok {
			return nil, fmt.Errorf("mailer: no templates for letter %q (want %s/%s%s and %s%s)",
				m.Template(), mailDir, m.Template(), textSuffix, m.Template(), htmlSuffix)
		}
		if _, _, _, err := r.render(m); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// parseLetter parses both halves of one letter, each with the shared pieces of its kind.
func parseLetter(kind string) (letterTemplates, error) {
	var lt letterTemplates
	textFile := path.Join(mailDir, kind+textSuffix)
	htmlFile := path.Join(mailDir, kind+htmlSuffix)
	for _, f := range []string{textFile, htmlFile} {
		if _, err := fs.Stat(templates.FS, f); err != nil {
			return lt, fmt.Errorf("mailer: letter %q: %s is missing", kind, f)
		}
	}

	// missingkey=error: a template naming a field its message lacks fails instead of printing
	// "<no value>" into a customer's letter.
	text := texttemplate.New(path.Base(textFile)).Option("missingkey=error")
	if err := parseHalf(text, kind, textFile, textSuffix, "text"); err != nil {
		return lt, err
	}
	if text.Lookup("subject") == nil {
		return lt, fmt.Errorf("mailer: letter %q: %s does not define \"subject\"", kind, textFile)
	}

	html := htmltemplate.New(path.Base(htmlFile)).Option("missingkey=error")
	if err := parseHalf(html, kind, htmlFile, htmlSuffix, "HTML"); err != nil {
		return lt, err
	}
	return letterTemplates{text: text, html: html}, nil
}

// fsParser is a text or an HTML template: either parses files of an fs.FS into itself.
type fsParser[T any] interface {
	ParseFS(fs.FS, ...string) (T, error)
}

// parseHalf parses into t, a text or an HTML template, the shared pieces of its half (the files
// of sharedDir ending in suffix, what kind of templates they are) and then the letter's file.
func parseHalf[T fsParser[T]](t T, kind, file, suffix, what string) error {
	if shared, _ := fs.Glob(templates.FS, path.Join(sharedDir, "*"+suffix)); len(shared) > 0 {
		if _, err := t.ParseFS(templates.FS, shared...); err != nil {
			return fmt.Errorf("mailer: parse shared %s templates: %w", what, err)
		}
	}
	if _, err := t.ParseFS(templates.FS, file); err != nil {
		return fmt.Errorf("mailer: letter %q: %w", kind, err)
	}
	return nil
}

// messageIDHost is the host part of Message-IDs: the base URL's host name, so that receivers
// see whose letters these are, or "localhost" when it has none.
func messageIDHost(u *url.URL) string {
	h := u.Hostname()
	switch {
	case h == "":
		return "localhost"
	case strings.Contains(h, ":"): // IPv6: a domain literal
		return "[" + h + "]"
	}
	return h
}

// BaseURL is the base URL links in letters start with, without a trailing slash.
func (r *Renderer) BaseURL() string { return r.baseURL }

// Render renders m into a letter to the given recipients, with a new Message-ID. to must name
// at least one address (ErrNoRecipient); every address must be one models.ValidEmail takes: a plain
// local@domain, with no display name (ErrBadAddress). Any other error is a template failure.
func (r *Renderer) Render(m Message, to, cc []string) (Letter, error) {
	if len(to) == 0 {
		return Letter{}, ErrNoRecipient
	}
	for _, a := range append(append([]string(nil), to...), cc...) {
		if !models.ValidEmail(a) {
			return Letter{}, fmt.Errorf("%w: %q", ErrBadAddress, a)
		}
	}
	subject, text, html, err := r.render(m)
	if err != nil {
		return Letter{}, err
	}
	return Letter{
		MessageID: r.newMessageID(),
		Kind:      m.Template(),
		To:        append([]string(nil), to...),
		Cc:        append([]string(nil), cc...),
		Subject:   subject,
		Text:      text,
		HTML:      html,
	}, nil
}

func (r *Renderer) render(m Message) (subject, text, html string, err error) {
	kind := m.Template()
	lt, ok := r.letters[kind]
	if !ok {
		return "", "", "", fmt.Errorf("mailer: no templates for letter %q", kind)
	}
	data, err := r.data(m)
	if err != nil {
		return "", "", "", err
	}
	var b bytes.Buffer
	if err := lt.text.ExecuteTemplate(&b, "subject", data); err != nil {
		return "", "", "", fmt.Errorf("mailer: letter %q: subject: %w", kind, err)
	}
	// A subject is one header line: fold any template line breaks and runs of spaces.
	subject = strings.Join(strings.Fields(b.String()), " ")
	if subject == "" {
		return "", "", "", fmt.Errorf("mailer: letter %q: empty subject", kind)
	}
	b.Reset()
	if err := lt.text.Execute(&b, data); err != nil {
		return "", "", "", fmt.Errorf("mailer: letter %q: text: %w", kind, err)
	}
	// The define blocks leave blank lines at the top; the body starts with its first word.
	text = strings.TrimSpace(b.String()) + "\n"
	data["Subject"] = subject
	b.Reset()
	if err := lt.html.Execute(&b, data); err != nil {
		return "", "", "", fmt.Errorf("mailer: letter %q: html: %w", kind, err)
	}
	html = strings.TrimSpace(b.String()) + "\n"
	return subject, text, html, nil
}

// data is what a letter's templates see: the common values and the message's exported fields.
func (r *Renderer) data(m Message) (map[string]any, error) {
	v := reflect.ValueOf(m)
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("mailer: message %q is a %s, not a struct", m.Template(), v.Kind())
	}
	data := map[string]any{}
	// VisibleFields: the fields of an embedded struct (ContractNotice) are the message's own.
	for _, f := range reflect.VisibleFields(v.Type()) {
		if f.IsExported() && !f.Anonymous {
			data[f.Name] = v.FieldByIndex(f.Index).Interface()
		}
	}
	// The common values win over a message field of the same name: every letter links to the
	// same server. A template writes a portal page's link as {{.Links.Login}} (a method of
	// Links), never as .BaseURL joined with a path (TestTemplatesBuildNoLinks); .BaseURL alone
	// is the portal's front door.
	data["BaseURL"] = r.baseURL
	data["Links"] = r.links
	data["Product"] = Product
	return data, nil
}

// newMessageID makes a Message-ID of 128 random bits, so that retries of one letter share it
// and no two letters ever do.
func (r *Renderer) newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return "<" + hex.EncodeToString(b[:]) + "@" + r.idHost + ">"
}
