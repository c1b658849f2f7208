package handlers

// The portal's tests live in handlers/pages; the handlers tests that also open pages (cross-tenant
// attempts, the renewal window, safe redirects, unverified grants) drive them with
// handlerstest.Browser, through these few lower-case adapters.

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gin-gonic/gin"

	"entitled/handlers/handlerstest"
	"entitled/handlers/pages"
)

// pageAuthz tells TestAuthorizationMatrix which routes are the portal's pages (their own matrix
// is TestPortal_AuthorizationMatrix in handlers/pages): every route pages.Register declares.
var pageAuthz = func() map[string]any {
	portal, err := pages.New(pages.Deps{})
	if err != nil {
		panic(err)
	}
	r := gin.New()
	portal.Register(r)
	out := map[string]any{}
	for _, rt := range r.Routes() {
		out[rt.Method+" "+rt.Path] = true
	}
	return out
}()

// safeNext is the portal's rule for where to go after signing in.
var safeNext = pages.SafeNext

// testBrowser is handlerstest.Browser on this test's server.
type testBrowser struct{ b *handlerstest.Browser }

// webPage is an answer as the test browser sees it.
type webPage struct {
	status   int
	body     string
	header   http.Header
	location string
	page     *handlerstest.Page
}

func (p *webPage) String() string { return p.page.String() }

func asPage(p *handlerstest.Page) *webPage {
	return &webPage{status: p.Status, body: p.Body, header: p.Header, location: p.Location, page: p}
}

func (a *testApp) browser() *testBrowser {
	return &testBrowser{b: handlerstest.NewBrowser(a.srv.URL)}
}

func (b *testBrowser) get(t testing.TB, path string) *webPage {
	t.Helper()
	return asPage(b.b.Get(t, path))
}

func (b *testBrowser) submit(t testing.TB, path string, form url.Values) *webPage {
	t.Helper()
	return asPage(b.b.Submit(t, path, form))
}

func (b *testBrowser) follow(t testing.TB, p *webPage) *webPage {
	t.Helper()
	return asPage(b.b.Follow(t, p.page))
}

// signedIn is a browser logged in as the user.
func (a *testApp) signedIn(t testing.TB, u *testUser) *testBrowser {
	t.Helper()
	b := a.browser()
	b.b.Login(t, u.email, u.password)
	return b
}

// wantPage fails unless the page has the status and contains every text.
func wantPage(t testing.TB, p *webPage, status int, texts ...string) {
	t.Helper()
	handlerstest.WantPage(t, p.page, status, texts...)
}

// contractFor orders a license of a new product with a support contract for an account named as
// given, and returns the contract's id.
func (a *testApp) contractFor(t testing.TB, ops, account, program, startsOn, endsOn string) string {
	t.Helper()
	sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
	body, _ := a.order(map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual",
		"support": map[string]any{"program": program, "starts_on": startsOn, "ends_on": endsOn}})
	body["account"] = map[string]any{"name": account}
	r := a.do(t, "POST", "/v1/orders", ops, body)
	want(t, r, http.StatusCreated)
	return licensesOf(r)[0]["contract_id"].(string)
}
