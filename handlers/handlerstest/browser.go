// Package handlerstest is what the tests of handlers and handlers/pages share: a browser that
// drives the portal's pages.
package handlerstest

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// CSRFField is the hidden field of every form of the portal.
const CSRFField = "csrf_token"

// Browser is a client that keeps cookies by name, as a browser does on http://localhost (Go's
// cookie jar would not send Secure cookies over plain HTTP), does not follow redirects, and puts
// the last page's CSRF token into the forms it posts.
type Browser struct {
	BaseURL string
	Cookies map[string]*http.Cookie
	CSRF    string // the CSRF token of the last page seen
	client  *http.Client
}

// Page is an answer as the test browser sees it.
type Page struct {
	Status   int
	Body     string
	Header   http.Header
	Location string
	Cookies  []*http.Cookie
}

func (p *Page) String() string {
	b := p.Body
	if i := strings.Index(b, "<main"); i >= 0 {
		b = b[i:]
	}
	if len(b) > 1500 {
		b = b[:1500] + "…"
	}
	return http.StatusText(p.Status) + " " + p.Location + "\n" + b
}

// NewBrowser is a browser with no cookies, on the server at baseURL.
func NewBrowser(baseURL string) *Browser {
	return &Browser{BaseURL: baseURL, Cookies: map[string]*http.Cookie{}, client: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// Do sends a request, with the form when it is not nil, and keeps the cookies and the CSRF token
// of the answer. Every HTML page but a redirect must carry the portal's Content-Security-Policy.
func (b *Browser) Do(t testing.TB, method, path string, form url.Values) *Page {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.BaseURL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range b.Cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	p := &Page{Status: res.StatusCode, Body: string(raw), Header: res.Header, Location: res.Header.Get("Location"), Cookies: res.Cookies()}
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.Cookies, c.Name)
		} else {
			b.Cookies[c.Name] = c
		}
	}
	if m := csrfRE.FindStringSubmatch(p.Body); m != nil {
		b.CSRF = m[1]
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") && (p.Status < 300 || p.Status >= 400) {
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") {
			t.Errorf("%s %s: Content-Security-Policy %q", method, path, csp)
		}
	}
	return p
}

// Get opens a page.
func (b *Browser) Get(t testing.TB, path string) *Page {
	t.Helper()
	return b.Do(t, "GET", path, nil)
}

// Submit posts a form with the CSRF token of the last page seen, as the page's form would.
func (b *Browser) Submit(t testing.TB, path string, form url.Values) *Page {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form[CSRFField]; !ok {
		form.Set(CSRFField, b.CSRF)
	}
	return b.Do(t, "POST", path, form)
}

// Follow opens the page a redirect points to.
func (b *Browser) Follow(t testing.TB, p *Page) *Page {
	t.Helper()
	if p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
		t.Fatalf("want a redirect, got %s", p)
	}
	return b.Get(t, p.Location)
}

// Login logs in through the login form.
func (b *Browser) Login(t testing.TB, email, password string) {
	t.Helper()
	b.Get(t, "/login")
	p := b.Submit(t, "/login", url.Values{"email": {email}, "password": {password}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("login: %s", p)
	}
}

// WantPage fails unless the page has the status and contains every text.
func WantPage(t testing.TB, p *Page, status int, texts ...string) {
	t.Helper()
	if p.Status != status {
		t.Fatalf("got %s\nwant %d", p, status)
	}
	for _, s := range texts {
		if !strings.Contains(p.Body, s) {
			t.Fatalf("page lacks %q:\n%s", s, p)
		}
	}
}

// CookieNamed is the cookie of the name among cs, or nil.
func CookieNamed(cs []*http.Cookie, name string) *http.Cookie {
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	return nil
}
