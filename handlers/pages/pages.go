// Package pages is the portal: server-rendered pages for customers and staff. They call the same
// store services as the /v1 API, with the same Principal, and answer HTML instead of JSON; they
// format what the services answer and hold no rule. Package handlers builds the portal (New, with
// the HTTP glue it shares with the API in Deps) and registers its routes (Portal.Register); this
// package does not import handlers.
//
// This file holds what every page shares: the template set, rendering, the session cookie, CSRF,
// flash messages and the guards; routes.go the routes; pages_*.go the pages themselves.
package pages

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"entitled/handlers/sso"
	"entitled/models"
	"entitled/models/store"
	"entitled/templates"
)

// pageSet holds the portal's server-rendered pages, each parsed with the shared layout.
type pageSet struct {
	pages map[string]*template.Template
	fail  func(c *gin.Context, err error) // a page that cannot render: the API's problem answer
}

func loadPages() (*pageSet, error) {
	layout, err := template.New("pages").Funcs(pageFuncs()).ParseFS(templates.FS, "pages/layout.html.tmpl")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templates.FS, "pages/*.html.tmpl")
	if err != nil {
		return nil, err
	}
	ps := &pageSet{pages: map[string]*template.Template{}}
	for _, file := range names {
		if file == "pages/layout.html.tmpl" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templates.FS, file)
		if err != nil {
			return nil, err
		}
		name := file[len("pages/") : len(file)-len(".html.tmpl")]
		ps.pages[name] = t
	}
	return ps, nil
}

// pageCSP lets a page load only this site's stylesheet and scripts (one: the copy buttons of
// the license key page, which works without it) and post forms only to this site; no inline
// script runs.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// render writes a page. The whole page is rendered before anything is sent, so a template error
// becomes a clean 500 rather than half a page.
func (ps *pageSet) render(c *gin.Context, status int, name string, data map[string]any) {
	t, ok := ps.pages[name]
	if !ok {
		ps.fail(c, fmt.Errorf("no page %q", name))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		ps.fail(c, err)
		return
	}
	h := c.Writer.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", pageCSP)
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
	c.Abort()
}

// Deps is what the portal needs: the same store services as the API, the configuration in them
// (the renewal window), and the HTTP glue it shares with the API. The glue is handed in by package
// handlers, which registers the portal's routes; this package does not import it.
type Deps struct {
	Identity      *store.Identity
	Catalogue     *store.Catalogue
	Accounts      *store.Accounts
	Licenses      *store.Licenses
	Registrations *store.Registrations
	Help          *store.Help
	Contracts     *store.Contracts
	LicenseKeys   *store.LicenseKeys
	Webhooks      *store.Webhooks

	// SetPrincipal keeps the session's principal on the context, where the API keeps a bearer
	// token's; Principal reads it back (nil when nobody is signed in); Actor is the caller as the
	// audit log records it; RequestID is the request's id.
	SetPrincipal func(c *gin.Context, p *models.Principal)
	Principal    func(c *gin.Context) *models.Principal
	Actor        func(c *gin.Context) models.Actor
	RequestID    func(c *gin.Context) string
	// Problem is the API's mapping of an error to a status and the sentence its problem+json shows.
	Problem func(err error) (status int, detail string)
	// Fail answers with the API's problem+json (for what is not a page: a page that cannot render).
	Fail func(c *gin.Context, err error)
	// Logger is the request's logger.
	Logger func(c *gin.Context) *slog.Logger
	// Throttle spends one request of the address's anonymous budget, shared with the API.
	Throttle func(key string, now time.Time) (ok bool, wait time.Duration)
	// ContractsCSV streams the spreadsheet of the contracts a list filter selects, as
	// GET /v1/contracts?format=csv does: the dashboard's CSV link follows every filter on screen.
	ContractsCSV func(c *gin.Context, f models.ContractFilter)
	// ListAudit lists the whole audit log a page at a time (the store's, as GET /v1/audit).
	ListAudit func(ctx context.Context, f models.AuditFilter, page models.Page) ([]models.AuditEntry, string, error)
	// DownloadsURL and CasesURL are the download site and the case portal (ENTITLED_DOWNLOADS_URL,
	// ENTITLED_CASES_URL) that a license page links to where it says they are allowed; "" links
	// nowhere.
	DownloadsURL, CasesURL string
	// ProblemStatus is the HTTP status the API answers an error code with, and false for a code
	// the error map does not have.
	ProblemStatus func(code string) (int, bool)
	// SSO is staff single sign-on (ENTITLED_OIDC_*); nil when it is off, and then its routes do
	// not exist.
	SSO *sso.Client
}

// Portal is the portal's handlers: the same services as the API, HTML instead of JSON.
type Portal struct {
	Deps
	set    *pageSet
	static gin.HandlerFunc
}

// New loads the portal's templates and static files.
func New(d Deps) (*Portal, error) {
	set, err := loadPages()
	if err != nil {
		return nil, err
	}
	static, err := staticFiles()
	if err != nil {
		return nil, err
	}
	set.fail = d.Fail
	return &Portal{Deps: d, set: set, static: static}, nil
}

// The services by the names the pages use.
func (p *Portal) principal(c *gin.Context) *models.Principal { return p.Principal(c) }
func (p *Portal) actor(c *gin.Context) models.Actor          { return p.Actor(c) }
func (p *Portal) requestID(c *gin.Context) string            { return p.RequestID(c) }

// Cookies of the portal. All are Secure (browsers accept Secure cookies from http://localhost as
// well), HttpOnly and SameSite=Lax.
const (
	sessionCookie = "entitled_session" // the session token of Identity.Login: the API's bearer token
	csrfCookie    = "entitled_csrf"    // a random seed for the CSRF token of anonymous forms
	flashCookie   = "entitled_flash"   // a one-time message shown by the next page
	csrfField     = "csrf_token"       // the hidden field of every form
)

const (
	ctxSessionToken = "entitled.page_session"
	ctxCSRFSeed     = "entitled.csrf_seed"
)

func setCookie(c *gin.Context, name, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// session resolves the session cookie to a Principal, exactly as the API resolves a bearer token,
// and makes sure the browser has a CSRF seed for anonymous forms. A cookie whose session ended is
// cleared; a database that cannot answer is a 503 page.
func (p *Portal) session(c *gin.Context) {
	if tok, err := c.Cookie(sessionCookie); err == nil && tok != "" {
		pr, err := p.Identity.Authenticate(c.Request.Context(), tok)
		switch {
		case err == nil && pr.IsUser():
			p.SetPrincipal(c, pr)
			c.Set(ctxSessionToken, tok)
		case err == nil || store.ErrorCode(err) == models.CodeUnauthenticated:
			setCookie(c, sessionCookie, "", -1)
		default:
			p.pageError(c, "Something went wrong", err)
			return
		}
	}
	seed, err := c.Cookie(csrfCookie)
	if err != nil || len(seed) < 32 || len(seed) > 64 {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		seed = base64.RawURLEncoding.EncodeToString(b)
		setCookie(c, csrfCookie, seed, 0)
	}
	c.Set(ctxCSRFSeed, seed)
	c.Next()
}

// csrfToken is the form token for a seed: HMAC-SHA256 keyed with the seed. For a signed-in user
// the seed is the session token itself, so the token is bound to the session, needs no state and
// no server key (it holds across replicas), and reveals nothing of the session it comes from.
// Anonymous forms (log in, sign up, help) use the random csrfCookie seed: a double submit.
func csrfToken(seed string) string {
	m := hmac.New(sha256.New, []byte(seed))
	m.Write([]byte("entitled csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfFor is the token the forms of this request carry.
func csrfFor(c *gin.Context) string {
	if tok := c.GetString(ctxSessionToken); tok != "" {
		return csrfToken(tok)
	}
	return csrfToken(c.GetString(ctxCSRFSeed))
}

// checkCSRF refuses a POST whose form does not carry this browser's token: 403 with a page that
// says so. A signed-in user's forms must carry the token of their session.
func (p *Portal) checkCSRF(c *gin.Context) {
	if c.Request.Method != http.MethodPost {
		c.Next()
		return
	}
	got := c.PostForm(csrfField)
	if got == "" || !hmac.Equal([]byte(got), []byte(csrfFor(c))) {
		p.render(c, http.StatusForbidden, "message", map[string]any{
			"Title": "This form cannot be accepted", "Error": true,
			"Message": "The form did not carry this site's security token: it may have come from another site, or it was opened before you logged in or out. Nothing was changed. Go back, reload the page and try again.",
			"Next":    "/", "NextLabel": "Start again",
		})
		return
	}
	c.Next()
}

// signedIn admits a signed-in person; anyone else is sent to log in, and back here afterwards.
func (p *Portal) signedIn(c *gin.Context) {
	if p.principal(c).IsUser() {
		c.Next()
		return
	}
	next := c.Request.URL.RequestURI()
	if c.Request.Method != http.MethodGet {
		next = "/"
	}
	c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
	c.Abort()
}

// staffPage admits staff with the role (or superadmin).
func (p *Portal) staffPage(role string) gin.HandlerFunc {
	return func(c *gin.Context) {
		pr := p.principal(c)
		if !pr.IsUser() {
			p.signedIn(c)
			return
		}
		if !pr.HasStaffRole(role) {
			p.render(c, http.StatusForbidden, "message", map[string]any{"Title": "Not for you", "Error": true,
				"Message": "This page is for staff with the " + role + " role."})
			return
		}
		c.Next()
	}
}

// anon spends the address's budget of anonymous letter-sending requests (shared with the API).
func (p *Portal) anon(c *gin.Context) {
	if ok, wait := p.Throttle(c.ClientIP(), time.Now()); !ok {
		secs := int(math.Ceil(math.Max(wait.Seconds(), 1)))
		c.Header("Retry-After", fmt.Sprint(secs))
		p.render(c, http.StatusTooManyRequests, "message", map[string]any{"Title": "Too many requests", "Error": true,
			"Message": fmt.Sprintf("Too many requests came from your address. Wait %d seconds and try again.", secs)})
		return
	}
	c.Next()
}

// flash keeps a message for the next page this browser opens (after a redirect).
func flash(c *gin.Context, msg string) {
	setCookie(c, flashCookie, base64.RawURLEncoding.EncodeToString([]byte(msg)), 60)
}

// takeFlash reads and clears the flash message.
func takeFlash(c *gin.Context) string {
	v, err := c.Cookie(flashCookie)
	if err != nil || v == "" {
		return ""
	}
	setCookie(c, flashCookie, "", -1)
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) > 500 {
		return ""
	}
	return string(b)
}

// render adds what every page shows (who is signed in, the CSRF token, a flash message, today)
// to the page's data and writes it.
func (p *Portal) render(c *gin.Context, status int, name string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	if pr := p.principal(c); pr.IsUser() {
		data["Me"] = pr
	}
	data["CSRF"] = csrfFor(c)
	// Forms index these maps; absent, they are empty.
	for _, k := range []string{"Fields", "Form"} {
		if _, ok := data[k]; !ok {
			data[k] = map[string]string{}
		}
	}
	if _, ok := data["Flash"]; !ok {
		data["Flash"] = takeFlash(c)
	}
	if p.Licenses != nil {
		data["Today"] = p.Licenses.Today()
	}
	if p.SSO != nil {
		data["SSOName"] = p.SSO.Name() // the sign-in page offers "Sign in with <name>"
	}
	p.set.render(c, status, name, data)
}

// redirect answers a form with 303 See Other, optionally leaving a flash message.
func redirect(c *gin.Context, to, msg string) {
	if msg != "" {
		flash(c, msg)
	}
	c.Redirect(http.StatusSeeOther, to)
	c.Abort()
}

func (p *Portal) message(c *gin.Context, status int, title, msg string, isErr bool, next, nextLabel string) {
	p.render(c, status, "message", map[string]any{"Title": title, "Message": msg, "Error": isErr, "Next": next, "NextLabel": nextLabel})
}

// pageError shows a coded error in words; anything else is logged and shown as a bare failure.
func (p *Portal) pageError(c *gin.Context, title string, err error) {
	status, msg := p.errorText(err)
	if status >= 500 {
		p.Logger(c).Error("page failed", "request_id", p.requestID(c), "route", c.FullPath(), "error", err)
	}
	var e *models.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		c.Header("Retry-After", fmt.Sprint(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	p.message(c, status, title, msg, true, "", "")
}

// cursorPage is the page of size rows that the query's cursor asks for.
func cursorPage(c *gin.Context, size int) (models.Page, error) {
	return models.ParsePage(strconv.Itoa(size), c.Query("cursor"))
}

// formFailed answers a form whose call failed with err, and reports whether it did: a validation
// error shows the form again through page, as 400 with its fields' sentences, and any other error
// is the error page titled title.
func (p *Portal) formFailed(c *gin.Context, err error, title string, page func(c *gin.Context, status int, extra map[string]any)) bool {
	if fields := fieldMessages(err); fields != nil {
		page(c, http.StatusBadRequest, map[string]any{"Fields": fields})
		return true
	}
	if err != nil {
		p.pageError(c, title, err)
		return true
	}
	return false
}

// templatePage is a page function for formFailed, as accountPage is one: template name with data
// and the extra values.
func (p *Portal) templatePage(name string, data map[string]any) func(c *gin.Context, status int, extra map[string]any) {
	return func(c *gin.Context, status int, extra map[string]any) {
		maps.Copy(data, extra)
		p.render(c, status, name, data)
	}
}

// errorText is an error as a sentence for a form, with its status.
func (p *Portal) errorText(err error) (int, string) {
	status, msg := p.Problem(err)
	if msg == "" {
		return status, ""
	}
	msg = strings.ToUpper(msg[:1]) + msg[1:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return status, msg
}

// SafeNext is where to go after signing in: a path on this server with its query, re-serialised
// from its parsed form; anything else is "/". Browsers are more lenient than url.Parse: they drop
// tabs and newlines anywhere in a URL, trim spaces and control characters at its ends and read a
// backslash as a slash, so "/\t/evil.example" and "/\\evil.example" both lead to evil.example. A
// value is refused when, raw or percent-decoded (%09, %0a, %5c, …), it holds any control or space
// character or a backslash; when its path, raw or decoded ("/%2F%2Fevil" is "//evil"), does not
// start with exactly one "/"; or when it parses with a scheme, a host or a user.
func SafeNext(next string) string {
	// "//" anywhere, not only at the start: the contract refuses it, and no page of ours needs it.
	if !strings.HasPrefix(next, "/") || strings.Contains(next, "//") || !plainURLText(next) {
		return "/"
	}
	decoded, err := url.PathUnescape(next)
	if err != nil || strings.Contains(decoded, "//") || !plainURLText(decoded) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	out := (&url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}).String()
	if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || !plainURLText(out) {
		return "/"
	}
	return out
}

// plainURLText reports whether s is valid UTF-8 without a backslash, a control character or a
// space of any kind.
func plainURLText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '\\' || unicode.IsControl(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// staticFiles serves the stylesheet; it changes only with a release.
func staticFiles() (gin.HandlerFunc, error) {
	sub, err := fs.Sub(templates.FS, "static")
	if err != nil {
		return nil, err
	}
	fileServer := http.StripPrefix("/static/", http.FileServer(http.FS(sub)))
	return func(c *gin.Context) {
		c.Header("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(c.Writer, c.Request)
	}, nil
}
