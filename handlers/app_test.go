package handlers

// The test harness of the HTTP tests is handlerstest.App (shared with handlers/pages): the real
// router on a fresh database of each dialect, with a real River client delivering letters to an
// in-process SMTP sink, behind httptest. Here it keeps the lower-case names the tests were
// written with.

import (
	"database/sql"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/riverqueue/river"

	"entitled/handlers/handlerstest"
	"entitled/mailer"
	"entitled/mailer/mailtest"
	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// testBaseURL is ENTITLED_BASE_URL in tests: links in letters start with it.
const testBaseURL = handlerstest.BaseURL

// testStart is where every test's clock stands at first.
var testStart = handlerstest.Start

// testPassword is a password the rules accept.
const testPassword = handlerstest.Password

// testApp is one running server for one test. Its lower-case fields are copies of the App's, for
// reading: a test that changes the app changes the App's.
type testApp struct {
	*handlerstest.App
	dialect  dbstore.Dialect
	store    *dbstore.Store
	clock    *models.FixedClock
	identity *dbstore.Identity
	sink     *mailtest.Sink
	jobs     *river.Client[*sql.Tx]
	handler  http.Handler
	srv      *httptest.Server
	seq      *atomic.Int64 // makes unique emails
	keys     *dbstore.Keyring
	tokens   *dbstore.Tokens
}

type appOption = handlerstest.Option

// withStoreLog gives the store a logger that writes to h.
func withStoreLog(h slog.Handler) appOption { return func(c *handlerstest.Options) { c.StoreLog = h } }

// withRateAnon sets ENTITLED_RATE_ANON_PER_MIN. Tests default to a limit no test reaches, since
// every request of a test comes from one address.
func withRateAnon(n int) appOption { return func(c *handlerstest.Options) { c.RateAnonPerMin = n } }

// withTrustedProxies lets the test choose its client address with X-Forwarded-For.
func withTrustedProxies(cidrs ...string) appOption {
	return func(c *handlerstest.Options) { c.TrustedProxies = cidrs }
}

// newTestApp starts the whole server on a fresh database of the dialect. Its clock stands still
// at testStart until the test moves it.
func newTestApp(t testing.TB, d dbstore.Dialect, opts ...appOption) *testApp {
	t.Helper()
	opts = append([]appOption{func(o *handlerstest.Options) { o.Serve = ServeHEAD }}, opts...)
	a := handlerstest.NewApp(t, d, func(d handlerstest.Deps) (http.Handler, error) { return New(Deps(d)) }, opts...)
	return &testApp{App: a, dialect: a.Dialect, store: a.Store, clock: a.Clock, identity: a.Identity, sink: a.Sink,
		jobs: a.Jobs, handler: a.Handler, srv: a.Srv, seq: &a.Seq, keys: a.Keys, tokens: a.Tokens}
}

// eachDialect runs fn on a fresh app of every dialect this run tests (SQLite, and PostgreSQL
// when it answers; required with CI set).
func eachDialect(t *testing.T, fn func(t *testing.T, a *testApp), opts ...appOption) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) { fn(t, newTestApp(t, d, opts...)) })
}

// resp is an answer as a client sees it.
type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any // the decoded JSON object; nil when the body is not one
}

func asResp(r *handlerstest.Resp) *resp {
	return &resp{status: r.Status, header: r.Header, raw: r.Raw, body: r.Body}
}

func (r *resp) shared() *handlerstest.Resp {
	return &handlerstest.Resp{Status: r.status, Header: r.header, Raw: r.raw, Body: r.body}
}

func (r *resp) code() string              { return r.shared().Code() }
func (r *resp) str(key string) string     { return r.shared().Str(key) }
func (r *resp) items() []map[string]any   { return r.shared().Items() }
func (r *resp) fields() map[string]string { return r.shared().Fields() }
func (r *resp) String() string            { return r.shared().String() }
func licensesOf(r *resp) []map[string]any { return r.shared().Licenses() }
func roleSet(v any) string                { return handlerstest.RoleSet(v) }
func want(t testing.TB, r *resp, status int, code ...string) {
	t.Helper()
	handlerstest.Want(t, r.shared(), status, code...)
}

// wantFields fails the test unless the answer is 400 validation_failed with exactly these
// errors (field to code).
func wantFields(t testing.TB, r *resp, fields map[string]string) {
	t.Helper()
	want(t, r, http.StatusBadRequest, models.CodeValidation)
	if got := r.fields(); !maps.Equal(got, fields) {
		t.Errorf("errors = %v, want %v", got, fields)
	}
}

// validationCase is a request body and the errors (field to code) a route must refuse it with.
type validationCase struct {
	name   string
	body   map[string]any
	fields map[string]string
}

// wantValidation posts each case's body to the path with the token, in a subtest of its name, and
// wants 400 validation_failed with exactly the case's errors.
func (a *testApp) wantValidation(t *testing.T, path, token string, cases []validationCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			wantFields(t, a.do(t, "POST", path, token, tt.body), tt.fields)
		})
	}
}

// retryAfter is the Retry-After of a 429 in whole seconds; it fails unless it is a positive integer.
func retryAfter(t testing.TB, r *resp) int {
	t.Helper()
	return handlerstest.RetryAfter(t, r.shared())
}

// do sends one request (see handlerstest.App.Do).
func (a *testApp) do(t testing.TB, method, path, token string, body any, headers ...string) *resp {
	t.Helper()
	return asResp(a.Do(t, method, path, token, body, headers...))
}

// testUser is a person the test made, with the session it logged in with (if any).
type testUser struct {
	id       string
	email    string
	password string
	name     string
	token    string
}

func asUser(u *handlerstest.User) *testUser {
	return &testUser{id: u.ID, email: u.Email, password: u.Password, name: u.Name, token: u.Token}
}

func (a *testApp) email(prefix string) string { return a.Email(prefix) }

func (a *testApp) signup(t testing.TB, email, password, name string) *resp {
	t.Helper()
	return asResp(a.Signup(t, email, password, name))
}

func (a *testApp) verify(t testing.TB, email string) *resp {
	t.Helper()
	return asResp(a.Verify(t, email))
}

func (a *testApp) login(t testing.TB, email, password string, headers ...string) string {
	t.Helper()
	return a.Login(t, email, password, headers...)
}

func (a *testApp) me(t testing.TB, token string) *resp {
	t.Helper()
	return asResp(a.Me(t, token))
}

func (a *testApp) newUnverifiedUser(t testing.TB) *testUser {
	t.Helper()
	return asUser(a.NewUnverifiedUser(t))
}

func (a *testApp) newUser(t testing.TB) *testUser {
	t.Helper()
	return asUser(a.NewUser(t))
}

func (a *testApp) newStaff(t testing.TB, roles ...string) *testUser {
	t.Helper()
	return asUser(a.NewStaff(t, roles...))
}

func (a *testApp) newAPIKey(t testing.TB, scopes ...string) string {
	t.Helper()
	return a.NewAPIKey(t, scopes...)
}

func (a *testApp) letters(t testing.TB, kind, to string) []mailer.Letter {
	t.Helper()
	return a.Letters(t, kind, to)
}

func (a *testApp) drainMail(t testing.TB) {
	t.Helper()
	a.DrainMail(t)
}

func (a *testApp) mailTo(addr string, contains ...string) int { return a.MailTo(addr, contains...) }

func (a *testApp) newProduct(t testing.TB, ops string, versions ...[3]string) string {
	t.Helper()
	return a.NewProduct(t, ops, versions...)
}

func (a *testApp) order(items ...map[string]any) (map[string]any, string) { return a.Order(items...) }

func (a *testApp) freshLicense(t testing.TB, ops string, item map[string]any) (ln, acct, contact string) {
	t.Helper()
	return a.FreshLicense(t, ops, item)
}

func (a *testApp) registeredLicense(t testing.TB, ops string) (ln, acct, contact string, admin *testUser) {
	t.Helper()
	ln, acct, contact, u := a.RegisteredLicense(t, ops)
	return ln, acct, contact, asUser(u)
}

// placeAndRegister places the order body as ops (201), and a fresh verified user registers its
// first license, so becoming its admin. It answers that license's entry of the order's answer,
// and the admin.
func (a *testApp) placeAndRegister(t testing.TB, ops string, body map[string]any) (map[string]any, *testUser) {
	t.Helper()
	r := a.do(t, "POST", "/v1/orders", ops, body)
	want(t, r, http.StatusCreated)
	lic := licensesOf(r)[0]
	admin := a.newUser(t)
	want(t, a.register(t, admin.token, map[string]any{"license_number": lic["license_number"]}), http.StatusCreated)
	return lic, admin
}

func (a *testApp) contractFor(t testing.TB, ops, account, program, startsOn, endsOn string) string {
	t.Helper()
	return a.ContractFor(t, ops, account, program, startsOn, endsOn)
}

func (a *testApp) register(t testing.TB, token string, body map[string]any) *resp {
	t.Helper()
	return asResp(a.Register(t, token, body))
}

// signedIn is a test browser logged in as the user.
func (a *testApp) signedIn(t testing.TB, u *testUser) *handlerstest.Browser {
	t.Helper()
	return a.SignedIn(t, &handlerstest.User{Email: u.email, Password: u.password})
}

func override[M ~map[K]V, K comparable, V any](m M, k K, v V) M {
	return handlerstest.Override(m, k, v)
}
