package pages_test

// The portal tests' harness: the real router (handlers.New, wired as server/serve.go wires it) on
// a fresh database of each dialect, with a real River client delivering letters to an in-process
// SMTP sink, behind httptest; a JSON client for the API calls that set a test up, and the test
// browser of handlerstest for the pages. It is the part of handlers' harness the portal's tests
// use, nothing more.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"entitled/handlers"
	"entitled/handlers/handlerstest"
	"entitled/handlers/pages"
	"entitled/mailer"
	"entitled/mailer/mailtest"
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

// testBaseURL is ENTITLED_BASE_URL in tests: links in letters start with it.
const testBaseURL = "https://entitled.example.test"

// testStart is where every test's clock stands at first.
var testStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// testApp is one running server for one test.
type testApp struct {
	store    *dbstore.Store
	clock    *models.FixedClock
	identity *dbstore.Identity
	sink     *mailtest.Sink
	jobs     *river.Client[*sql.Tx]
	handler  http.Handler
	srv      *httptest.Server
	seq      atomic.Int64 // makes unique emails
}

type appOption func(*handlers.Deps)

// withRateAnon sets ENTITLED_RATE_ANON_PER_MIN. Tests default to a limit no test reaches, since
// every request of a test comes from one address.
func withRateAnon(n int) appOption { return func(d *handlers.Deps) { d.RateAnonPerMin = n } }

// newTestApp starts the whole server on a fresh database of the dialect. Its clock stands still
// at testStart until the test moves it.
func newTestApp(t testing.TB, d dbstore.Dialect, opts ...appOption) *testApp {
	t.Helper()
	ctx := context.Background()
	clock := models.NewFixedClock(testStart)
	store := storetest.Open(t, d, clock)
	sink := mailtest.Start(t)
	transport, err := mailer.NewTransport(sink.URL(), "")
	if err != nil {
		t.Fatalf("transport: %v", err)
	}
	workers := river.NewWorkers()
	mailer.AddWorkers(workers, &mailer.Worker{Transport: transport, Sent: mailer.NewSentLog(store.SQLDB())})
	dbstore.AddWorkers(workers, store, testBaseURL)
	jobs, err := river.NewClient(store.RiverDriver(), &river.Config{
		Queues: mailer.RiverQueues(), Workers: workers, FetchPollInterval: 50 * time.Millisecond, FetchCooldown: 10 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("river: %v", err)
	}
	if err := jobs.Start(ctx); err != nil {
		t.Fatalf("river start: %v", err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := jobs.Stop(stopCtx); err != nil {
			t.Errorf("river stop: %v", err)
		}
	})
	renderer, err := mailer.NewRenderer(testBaseURL)
	if err != nil {
		t.Fatalf("renderer: %v", err)
	}
	outbox := mailer.NewOutbox(jobs, renderer)
	identity := dbstore.NewIdentity(store, outbox, testBaseURL)
	keys, err := dbstore.NewKeyring(store, models.KeyringOptions{Secret: "test-secret-that-seals-the-signing-keys-0123456789"})
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	if err := keys.Ensure(ctx); err != nil {
		t.Fatalf("signing keys: %v", err)
	}
	tokens, err := dbstore.NewTokens(store, keys, models.TokensOptions{Issuer: testBaseURL, Audiences: []string{"support-portal"}, RenewalWindowDays: 90})
	if err != nil {
		t.Fatalf("tokens: %v", err)
	}
	// Wired as server/serve.go wires them.
	deps := handlers.Deps{
		Store: store, Identity: identity,
		Catalogue:      dbstore.NewCatalogue(store),
		Orders:         dbstore.NewOrders(store, outbox, testBaseURL),
		Accounts:       dbstore.NewAccounts(store, outbox, testBaseURL),
		Licenses:       dbstore.NewLicenses(store, 90),
		Registrations:  dbstore.NewRegistrations(store, outbox, testBaseURL),
		Help:           dbstore.NewHelp(store, outbox),
		Contracts:      dbstore.NewContracts(store, outbox, 90),
		RateAnonPerMin: 100000,
		Keys:           keys, Tokens: tokens, LicenseKeys: dbstore.NewLicenseKeys(store, keys, testBaseURL, 90),
	}
	for _, o := range opts {
		o(&deps)
	}
	h, err := handlers.New(deps)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testApp{store: store, clock: clock, identity: identity, sink: sink, jobs: jobs, handler: h, srv: srv}
}

// eachDialect runs fn on a fresh app of every dialect this run tests (SQLite, and PostgreSQL
// when it answers; required with CI set).
func eachDialect(t *testing.T, fn func(t *testing.T, a *testApp), opts ...appOption) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) { fn(t, newTestApp(t, d, opts...)) })
}

// resp is an answer of the API as a client sees it.
type resp struct {
	status int
	raw    []byte
	body   map[string]any // the decoded JSON object; nil when the body is not one
}

func (r *resp) code() string                    { s, _ := r.body["code"].(string); return s }
func (r *resp) str(key string) string           { s, _ := r.body[key].(string); return s }
func (r *resp) String() string                  { return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.raw)) }
func (r *resp) list(key string) []any           { l, _ := r.body[key].([]any); return l }
func (r *resp) first(key string) map[string]any { m, _ := r.list(key)[0].(map[string]any); return m }

// do sends one API request: body is JSON-encoded (nil sends none), token goes in Authorization.
func (a *testApp) do(t testing.TB, method, path, token string, body any) *resp {
	t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := &resp{status: res.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

// want fails the test unless the answer has the status (and, for a problem, the code).
func want(t testing.TB, r *resp, status int, code ...string) {
	t.Helper()
	if r.status != status || len(code) > 0 && r.code() != code[0] {
		t.Fatalf("got %s, want %d %v", r, status, code)
	}
}

// testUser is a person the test made, with the session it logged in with.
type testUser struct {
	email    string
	password string
	token    string
}

// testPassword is a password the rules accept.
const testPassword = "plum orchard ledger 1947"

// email makes an address no other user of this app has.
func (a *testApp) email(prefix string) string {
	return fmt.Sprintf("%s%d@example.test", prefix, a.seq.Add(1))
}

// signup signs a new user up and checks the 201.
func (a *testApp) signup(t testing.TB, email, password, name string) *resp {
	t.Helper()
	r := a.do(t, "POST", "/v1/auth/signup", "", map[string]string{"email": email, "password": password, "name": name})
	want(t, r, http.StatusCreated)
	return r
}

// login logs in and returns the session token.
func (a *testApp) login(t testing.TB, email, password string) string {
	t.Helper()
	r := a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password})
	want(t, r, http.StatusOK)
	return r.str("access_token")
}

// me is GET /v1/me with the token, which must work.
func (a *testApp) me(t testing.TB, token string) *resp {
	t.Helper()
	r := a.do(t, "GET", "/v1/me", token, nil)
	want(t, r, http.StatusOK)
	return r
}

// newUnverifiedUser signs up and logs in without following the verification link.
func (a *testApp) newUnverifiedUser(t testing.TB) *testUser {
	t.Helper()
	u := &testUser{email: a.email("user"), password: testPassword}
	a.signup(t, u.email, u.password, "Test User")
	u.token = a.login(t, u.email, u.password)
	return u
}

// newUser signs up, verifies by the letter's link and logs in.
func (a *testApp) newUser(t testing.TB) *testUser {
	t.Helper()
	u := &testUser{email: a.email("user"), password: testPassword}
	a.signup(t, u.email, u.password, "Test User")
	tok := mailtest.LinkToken(t, a.sink.WaitFor(t, u.email, 0, testBaseURL+"/verify?token="))
	want(t, a.do(t, "POST", "/v1/auth/verify", "", map[string]string{"token": tok}), http.StatusOK)
	u.token = a.login(t, u.email, u.password)
	return u
}

// newStaff makes a staff user with the roles, as `entitled staff add` does, and logs in.
func (a *testApp) newStaff(t testing.TB, roles ...string) *testUser {
	t.Helper()
	u := &testUser{email: a.email("staff-" + strings.Join(roles, "-") + "-"), password: testPassword}
	if _, _, err := a.identity.PutStaff(context.Background(),
		models.StaffInput{Email: u.email, Name: "Staff " + strings.Join(roles, " "), Roles: roles, Password: u.password}, models.SystemActor("test")); err != nil {
		t.Fatalf("PutStaff: %v", err)
	}
	u.token = a.login(t, u.email, u.password)
	return u
}

// letters are the letters queued so far (in the outbox, sent or not) of a kind to an address.
func (a *testApp) letters(t testing.TB, kind, to string) []mailer.Letter {
	t.Helper()
	res, err := a.jobs.JobList(context.Background(), river.NewJobListParams().Kinds(mailer.SendLetterArgs{}.Kind()).First(10000))
	if err != nil {
		t.Fatalf("list jobs: %v", err)
	}
	var out []mailer.Letter
	for _, j := range res.Jobs {
		var args mailer.SendLetterArgs
		if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
			t.Fatalf("decode job %d: %v", j.ID, err)
		}
		if args.Letter.Kind == kind && slices.Contains(args.Letter.To, to) {
			out = append(out, args.Letter)
		}
	}
	return out
}

// drainMail waits until the outbox has tried every letter queued so far.
func (a *testApp) drainMail(t testing.TB) {
	t.Helper()
	pending := []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := a.jobs.JobList(context.Background(), river.NewJobListParams().States(pending...).First(1))
		if err != nil {
			t.Fatalf("list jobs: %v", err)
		}
		if len(res.Jobs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("letters still unsent after 30 s: job %d is %s", res.Jobs[0].ID, res.Jobs[0].State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newProduct creates a product with versions (version, released_on, phase) as staff ops.
func (a *testApp) newProduct(t testing.TB, ops string, versions ...[3]string) string {
	t.Helper()
	sku := fmt.Sprintf("SKU-%d", a.seq.Add(1))
	want(t, a.do(t, "POST", "/v1/products", ops, map[string]any{"sku": sku, "name": "Product " + sku}), http.StatusCreated)
	for _, v := range versions {
		want(t, a.do(t, "POST", "/v1/products/"+sku+"/versions", ops, map[string]any{"version": v[0], "released_on": v[1], "phase": v[2]}), http.StatusCreated)
	}
	return sku
}

// order is an order body for one or more items, to a new account with a fresh contact.
func (a *testApp) order(items ...map[string]any) (map[string]any, string) {
	contact := a.email("contact")
	return map[string]any{
		"order_ref":       fmt.Sprintf("ORD-%d", a.seq.Add(1)),
		"account":         map[string]any{"name": "Acme Corp"},
		"primary_contact": map[string]any{"name": "Pat Contact", "email": contact},
		"items":           items,
	}, contact
}

// freshLicense orders one license of a new product to a new account and returns its number, the
// account id and the contact's email.
func (a *testApp) freshLicense(t testing.TB, ops string, item map[string]any) (ln, acct, contact string) {
	t.Helper()
	sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
	if item == nil {
		item = map[string]any{"quantity": 5, "kind": "perpetual", "service_tag": fmt.Sprintf("T%06d", a.seq.Add(1))}
	}
	item["sku"] = sku
	body, contact := a.order(item)
	r := a.do(t, "POST", "/v1/orders", ops, body)
	want(t, r, http.StatusCreated)
	return r.first("licenses")["license_number"].(string), r.str("account_id"), contact
}

func (a *testApp) register(t testing.TB, token string, body map[string]any) *resp {
	t.Helper()
	return a.do(t, "POST", "/v1/registrations", token, body)
}

// override is a copy of m with k set to v.
func override[M ~map[K]V, K comparable, V any](m M, k K, v V) M {
	out := maps.Clone(m)
	out[k] = v
	return out
}

// testBrowser is handlerstest.Browser on this test's server, with the lower-case names the
// tests were written with.
type testBrowser struct{ b *handlerstest.Browser }

// webPage is an answer as the test browser sees it.
type webPage struct {
	status   int
	body     string
	header   http.Header
	location string
	cookies  []*http.Cookie
	page     *handlerstest.Page
}

func (p *webPage) String() string { return p.page.String() }

func page(p *handlerstest.Page) *webPage {
	return &webPage{status: p.Status, body: p.Body, header: p.Header, location: p.Location, cookies: p.Cookies, page: p}
}

func (a *testApp) browser() *testBrowser { return &testBrowser{b: handlerstest.NewBrowser(a.srv.URL)} }

func (b *testBrowser) do(t testing.TB, method, path string, form url.Values) *webPage {
	t.Helper()
	return page(b.b.Do(t, method, path, form))
}

func (b *testBrowser) get(t testing.TB, path string) *webPage {
	t.Helper()
	return page(b.b.Get(t, path))
}

func (b *testBrowser) submit(t testing.TB, path string, form url.Values) *webPage {
	t.Helper()
	return page(b.b.Submit(t, path, form))
}

func (b *testBrowser) follow(t testing.TB, p *webPage) *webPage {
	t.Helper()
	return page(b.b.Follow(t, p.page))
}

func (b *testBrowser) login(t testing.TB, email, password string) {
	t.Helper()
	b.b.Login(t, email, password)
}

// signedIn is a browser logged in as the user.
func (a *testApp) signedIn(t testing.TB, u *testUser) *testBrowser {
	t.Helper()
	b := a.browser()
	b.login(t, u.email, u.password)
	return b
}

// wantPage fails unless the page has the status and contains every text.
func wantPage(t testing.TB, p *webPage, status int, texts ...string) {
	t.Helper()
	handlerstest.WantPage(t, p.page, status, texts...)
}

func cookieNamed(cs []*http.Cookie, name string) *http.Cookie {
	return handlerstest.CookieNamed(cs, name)
}

// items is the "items" of a list answer.
func (r *resp) items() []map[string]any {
	var out []map[string]any
	for _, it := range r.list("items") {
		m, _ := it.(map[string]any)
		out = append(out, m)
	}
	return out
}

func licensesOf(r *resp) []map[string]any {
	var out []map[string]any
	for _, l := range r.list("licenses") {
		out = append(out, l.(map[string]any))
	}
	return out
}

func roleSet(v any) string {
	var out []string
	for _, r := range v.([]any) {
		out = append(out, r.(string))
	}
	return strings.Join(out, ",")
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

// publicRoutes are the pages anyone may open, whatever the session: the letters' links and the
// stylesheet.
var publicRoutes = map[string]bool{
	"GET /static/*file":    true,
	"GET /verify":          true,
	"POST /verify":         true,
	"GET /reset-password":  true,
	"POST /reset-password": true,
	"GET /invitations":     true,
}

// isPageRoute tells the portal's HTML pages from the API: the API is /v1 and the root paths of
// operations.
func isPageRoute(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics", "/openapi.json", "/.well-known/jwks.json":
		return false
	}
	return !strings.HasPrefix(path, "/v1/")
}

// pathParams are the dummy values path parameters get; anything not named here is "999999".
var pathParams = map[string]string{
	"email": "nobody@example.test",
	"ln":    dbstore.NewLicenseNumber(), // well-formed, so that it is not refused as malformed
}

var pathParamRE = regexp.MustCompile(`[:*]([^/]+)`)

func dummyPath(p string) string {
	return pathParamRE.ReplaceAllStringFunc(p, func(m string) string {
		if v, ok := pathParams[m[1:]]; ok {
			return v
		}
		return "999999"
	})
}
