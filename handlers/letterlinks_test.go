package handlers

// Every link a letter carries is built by mailer.Links; these tests check that each one is a page
// the real router serves with GET, so that renaming a page's route breaks a test instead of the
// letters already in people's mailboxes.

import (
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"entitled/mailer"
	"entitled/models/store"
)

// letterLinks calls every exported method of mailer.Links (found by reflection, so a link added
// later is checked without editing this test), each string argument a sample License Number,
// which is also a well-formed stand-in for a token. It returns the links by method name.
func letterLinks(t *testing.T, l mailer.Links) map[string]string {
	t.Helper()
	sample := reflect.ValueOf(store.NewLicenseNumber())
	v := reflect.ValueOf(l)
	links := map[string]string{}
	for i := 0; i < v.NumMethod(); i++ {
		m := v.Type().Method(i)
		mt := m.Type // with the receiver as its first input
		if mt.NumOut() != 1 || mt.Out(0).Kind() != reflect.String {
			t.Fatalf("mailer.Links.%s does not return one string: every method of Links is a link", m.Name)
		}
		args := make([]reflect.Value, 0, mt.NumIn()-1)
		for j := 1; j < mt.NumIn(); j++ {
			if mt.In(j).Kind() != reflect.String {
				t.Fatalf("mailer.Links.%s takes a %s: teach letterLinks a sample for it", m.Name, mt.In(j))
			}
			args = append(args, sample)
		}
		links[m.Name] = v.Method(i).Call(args)[0].String()
	}
	if len(links) == 0 {
		t.Fatal("mailer.Links has no methods")
	}
	return links
}

// routeMatches reports whether path is served by the gin route pattern: ":name" takes one
// non-empty segment, "*name" the rest of the path.
func routeMatches(pattern, path string) bool {
	ps := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	xs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, p := range ps {
		if strings.HasPrefix(p, "*") {
			return true
		}
		if i >= len(xs) {
			return false
		}
		if strings.HasPrefix(p, ":") {
			if xs[i] == "" {
				return false
			}
			continue
		}
		if p != xs[i] {
			return false
		}
	}
	return len(ps) == len(xs)
}

func TestLetterLinksAreRoutes(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		engine, ok := a.handler.(*gin.Engine)
		if !ok {
			t.Fatalf("the router is a %T, not a *gin.Engine", a.handler)
		}
		routes := engine.Routes()
		base, err := url.Parse(testBaseURL)
		if err != nil {
			t.Fatal(err)
		}
		// Links as the store services build them: from ENTITLED_BASE_URL, slash or not.
		for _, l := range []mailer.Links{mailer.NewLinks(testBaseURL), mailer.NewLinks(testBaseURL + "/"), {Base: testBaseURL + "/"}} {
			for name, link := range letterLinks(t, l) {
				u, err := url.Parse(link)
				if err != nil {
					t.Errorf("%s: %q does not parse: %v", name, link, err)
					continue
				}
				if u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil || u.Fragment != "" {
					t.Errorf("%s: %q does not point into the portal at %s", name, link, testBaseURL)
					continue
				}
				checkServed(t, a, routes, name, link, u)
			}
		}
	})
}

// checkServed checks that the router has a page (not a static file) at GET u, and that the real
// server answers it: whatever the page says to a stranger (a form, a redirect to sign in, a bad
// token), it is not "nothing here" or "wrong method".
func checkServed(t *testing.T, a *testApp, routes gin.RoutesInfo, name, link string, u *url.URL) {
	t.Helper()
	served := ""
	for _, r := range routes {
		if r.Method == http.MethodGet && routeMatches(r.Path, u.Path) {
			served = r.Path
			break
		}
	}
	if served == "" || served == "/static/*file" {
		t.Errorf("%s: the router serves no page at GET %s (link %q)", name, u.Path, link)
		return
	}
	req, err := http.NewRequest(http.MethodGet, a.srv.URL+u.RequestURI(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html")
	client := *a.srv.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u.RequestURI(), err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusMethodNotAllowed {
		t.Errorf("%s: GET %s (route %s) answered %d", name, u.RequestURI(), served, res.StatusCode)
	}
}

// TestLetterLinksFromLinksMethods: the links the templates take from the renderer's
// mailer.Links (.Links.Login, .Links.ForgotPassword) are among those the test above enumerates,
// and the letters that carry them, as rendered, link only to pages the router serves.
func TestLetterLinksFromLinksMethods(t *testing.T) {
	links := letterLinks(t, mailer.NewLinks(testBaseURL))
	for _, name := range []string{"Login", "ForgotPassword"} {
		if _, ok := links[name]; !ok {
			t.Errorf("mailer.Links has no method %s, which templates use as {{.Links.%s}}", name, name)
		}
	}

	r, err := mailer.NewRenderer(testBaseURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	// The letters whose links come from the renderer, not from the message.
	letters := map[string]mailer.Message{
		"signup_existing":  mailer.SignupExisting{Name: "Ada"},
		"password_changed": mailer.PasswordChanged{Name: "Ada"},
	}
	want := map[string][]string{
		"signup_existing":  {links["Login"], links["ForgotPassword"]},
		"password_changed": {links["ForgotPassword"]},
	}
	anyURL := regexp.MustCompile(`https?://[^\s"'<>]+`)
	base, err := url.Parse(testBaseURL)
	if err != nil {
		t.Fatal(err)
	}
	eachDialect(t, func(t *testing.T, a *testApp) {
		engine, ok := a.handler.(*gin.Engine)
		if !ok {
			t.Fatalf("the router is a %T, not a *gin.Engine", a.handler)
		}
		routes := engine.Routes()
		for kind, m := range letters {
			l, err := r.Render(m, []string{"ada@example.com"}, nil)
			if err != nil {
				t.Fatalf("%s: %v", kind, err)
			}
			for part, body := range map[string]string{"text": l.Text, "html": html.UnescapeString(l.HTML)} {
				for _, w := range want[kind] {
					if !strings.Contains(body, w) {
						t.Errorf("%s (%s) lacks the link %q", kind, part, w)
					}
				}
				for _, link := range anyURL.FindAllString(body, -1) {
					link = strings.TrimRight(link, ".,;:)")
					if link == testBaseURL || link == testBaseURL+"/" {
						continue // the portal's front door (.BaseURL in the footer)
					}
					u, err := url.Parse(link)
					if err != nil || u.Scheme != base.Scheme || u.Host != base.Host {
						t.Errorf("%s (%s): %q does not point into the portal", kind, part, link)
						continue
					}
					checkServed(t, a, routes, kind+" ("+part+")", link, u)
				}
			}
		}
	})
}

// TestStoreBuildsNoLinks: the store builds a letter's links with mailer.Links only, never by
// joining strings onto the base URL, so that the test above covers every link a letter carries.
func TestStoreBuildsNoLinks(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "models", "store", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no store sources found (%v)", err)
	}
	join := regexp.MustCompile(`(?i)base_?url\s*\+|\+\s*"/(verify|reset-password|invitations|register|licenses|registration-help|renewals|login|forgot-password)\b`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(src), "\n") {
			if join.MatchString(line) {
				t.Errorf("%s:%d builds a link by string join; use mailer.Links: %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
