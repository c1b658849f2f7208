package pages_test

// The portal tests' harness is handlerstest.App: the real router (handlers.New, wired as
// server/serve.go wires it) on a fresh database of each dialect, with a real River client
// delivering letters to an in-process SMTP sink, behind httptest; its JSON client sets a test up,
// and handlerstest.Browser opens the pages.

import (
	"net/http"
	"testing"

	"entitled/handlers"
	"entitled/handlers/handlerstest"
	"entitled/handlers/pages"
	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// The portal's insides the tests look at.
const (
	sessionCookie = pages.SessionCookie
	csrfCookie    = pages.CSRFCookie
	flashCookie   = pages.FlashCookie
	csrfField     = pages.CSRFField
)

var csrfToken = pages.CSRFToken

const (
	testBaseURL  = handlerstest.BaseURL
	testPassword = handlerstest.Password
)

var (
	want        = handlerstest.Want
	wantPage    = handlerstest.WantPage
	cookieNamed = handlerstest.CookieNamed
)

// testApp is one running server for one test, with the portal tests' own set-up helpers.
type testApp struct{ *handlerstest.App }

// router is handlers.New.
func router(d handlerstest.Deps) (http.Handler, error) { return handlers.New(handlers.Deps(d)) }

// newTestApp starts the whole server on a fresh database of the dialect.
func newTestApp(t testing.TB, d dbstore.Dialect, opts ...handlerstest.Option) *testApp {
	t.Helper()
	opts = append([]handlerstest.Option{func(o *handlerstest.Options) { o.Serve = handlers.ServeHEAD }}, opts...)
	return &testApp{handlerstest.NewApp(t, d, router, opts...)}
}

// eachDialect runs fn on a fresh app of every dialect this run tests (SQLite, and PostgreSQL
// when it answers; required with CI set).
func eachDialect(t *testing.T, fn func(t *testing.T, a *testApp), opts ...handlerstest.Option) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) { fn(t, newTestApp(t, d, opts...)) })
}

// withRateAnon sets ENTITLED_RATE_ANON_PER_MIN. Tests default to a limit no test reaches, since
// every request of a test comes from one address.
func withRateAnon(n int) handlerstest.Option {
	return func(o *handlerstest.Options) { o.RateAnonPerMin = n }
}

// The callers of the pages' authorization matrix.
const (
	pAnonymous  = "anonymous"
	pUnverified = "unverified user"
	pUser       = "verified user"
	pOps        = "staff ops"
	pRenewals   = "staff renewals"
	pSupport    = "staff support"
	pSuperadmin = "staff superadmin"
)

var staffPrincipal = map[string]string{
	models.RoleOps: pOps, models.RoleRenewals: pRenewals, models.RoleSupport: pSupport, models.RoleSuperadmin: pSuperadmin,
}

// publicRoutes are the pages anyone may open, whatever the session.
var publicRoutes = handlerstest.PublicPages

// isPageRoute tells the portal's pages from the API (handlerstest.IsPageRoute).
func isPageRoute(path string) bool { return handlerstest.IsPageRoute(path) }

// pathParams are the dummy values path parameters get; anything not named here is "999999".
var pathParams = map[string]string{
	"email": "nobody@example.test",
	"ln":    dbstore.NewLicenseNumber(), // well-formed, so that it is not refused as malformed
}

func dummyPath(p string) string { return handlerstest.DummyPath(p, pathParams) }
