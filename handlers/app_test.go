package handlers

// The test harness of the HTTP tests: the real router on a fresh database of each dialect, with
// a real River client delivering letters to an in-process SMTP sink, behind httptest. Nothing is
// mocked: a test sees what a client and a mailbox would see.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"entitled/mailer"
	"entitled/mailer/mailtest"
	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// testBaseURL is ENTITLED_BASE_URL in tests: links in letters start with it.
const testBaseURL = "https://entitled.example.test"

// testStart is where every test's clock stands at first.
var testStart = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// testApp is one running server for one test.
type testApp struct {
	dialect  dbstore.Dialect
	store    *dbstore.Store
	clock    *models.FixedClock
	identity *dbstore.Identity
	sink     *mailtest.Sink
	jobs     *river.Client[*sql.Tx]
	handler  http.Handler
	srv      *httptest.Server
	seq      atomic.Int64 // makes unique emails
	keys     *dbstore.Keyring
	tokens   *dbstore.Tokens
}

type appConfig struct {
	rateAnonPerMin int
	trustedProxies []string
	keys           models.KeyringOptions // signing keys: max-age, token TTL, re-read interval
	systemClock    bool
	storeLog       slog.Handler // the store's logger (its SQL at debug level); none when nil
}

// withStoreLog gives the store a logger that writes to h.
func withStoreLog(h slog.Handler) appOption { return func(c *appConfig) { c.storeLog = h } }

type appOption func(*appConfig)

// withRateAnon sets ENTITLED_RATE_ANON_PER_MIN. Tests default to a limit no test reaches, since
// every request of a test comes from one address.
func withRateAnon(n int) appOption { return func(c *appConfig) { c.rateAnonPerMin = n } }

// withTrustedProxies lets the test choose its client address with X-Forwarded-For.
func withTrustedProxies(cidrs ...string) appOption {
	return func(c *appConfig) { c.trustedProxies = cidrs }
}

// newTestApp starts the whole server on a fresh database of the dialect. Its clock stands still
// at testStart until the test moves it.
func newTestApp(t testing.TB, d dbstore.Dialect, opts ...appOption) *testApp {
	t.Helper()
	cfg := appConfig{rateAnonPerMin: 100000}
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	clock := models.NewFixedClock(testStart)
	var storeClock models.Clock = clock
	if cfg.systemClock {
		storeClock = nil // tests of timing (key rotation) run on the real clock
	}
	var storeLog *slog.Logger
	if cfg.storeLog != nil {
		storeLog = slog.New(cfg.storeLog)
	}
	store := storetest.OpenWith(t, d, dbstore.OpenOptions{Clock: storeClock, Logger: storeLog})
	sink := mailtest.Start(t)
	transport, err := mailer.NewTransport(sink.URL(), "")
	if err != nil {
		t.Fatalf("transport: %v", err)
	}
	workers := river.NewWorkers()
	mailer.AddWorkers(workers, &mailer.Worker{Transport: transport, Sent: mailer.NewSentLog(store.SQLDB())})
	dbstore.AddWorkers(workers, store, testBaseURL)
	jobs, err := river.NewClient(store.RiverDriver(), &river.Config{
		Queues:            mailer.RiverQueues(),
		Workers:           workers,
		FetchPollInterval: 50 * time.Millisecond,
		FetchCooldown:     10 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler),
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
	keyOpts := cfg.keys
	keyOpts.Secret = testSecret
	keys, err := dbstore.NewKeyring(store, keyOpts)
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	if err := keys.Ensure(ctx); err != nil {
		t.Fatalf("signing keys: %v", err)
	}
	tokens, err := dbstore.NewTokens(store, keys, models.TokensOptions{Issuer: testBaseURL, TTL: keyOpts.TokenTTL, Audiences: testAudiences, RenewalWindowDays: 90})
	if err != nil {
		t.Fatalf("tokens: %v", err)
	}
	// Wired as server/serve.go wires them.
	h, err := New(Deps{
		Store: store, Identity: identity,
		Catalogue:      dbstore.NewCatalogue(store),
		Orders:         dbstore.NewOrders(store, outbox, testBaseURL),
		Accounts:       dbstore.NewAccounts(store, outbox, testBaseURL),
		Licenses:       dbstore.NewLicenses(store, 90),
		Registrations:  dbstore.NewRegistrations(store, outbox, testBaseURL),
		Help:           dbstore.NewHelp(store, outbox),
		Contracts:      dbstore.NewContracts(store, outbox, 90),
		RateAnonPerMin: cfg.rateAnonPerMin, TrustedProxies: cfg.trustedProxies,
		Keys: keys, Tokens: tokens, LicenseKeys: dbstore.NewLicenseKeys(store, keys, testBaseURL, 90),
	})
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testApp{dialect: d, store: store, clock: clock, identity: identity, sink: sink, jobs: jobs, handler: h, srv: srv, keys: keys, tokens: tokens}
}

// resp is an answer as a client sees it.
type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any // the decoded JSON object; nil when the body is not one
}

// code is the problem's machine code ("" for a success).
func (r *resp) code() string { s, _ := r.body["code"].(string); return s }

// str is a top-level string member of the body.
func (r *resp) str(key string) string { s, _ := r.body[key].(string); return s }

// items is the "items" of a list answer.
func (r *resp) items() []map[string]any {
	raw, _ := r.body["items"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, it := range raw {
		m, _ := it.(map[string]any)
		out = append(out, m)
	}
	return out
}

// fields maps each field of a validation problem's errors[] to its code.
func (r *resp) fields() map[string]string {
	out := map[string]string{}
	errs, _ := r.body["errors"].([]any)
	for _, e := range errs {
		m, _ := e.(map[string]any)
		f, _ := m["field"].(string)
		c, _ := m["code"].(string)
		out[f] = c
	}
	return out
}

func (r *resp) String() string {
	b := bytes.TrimSpace(r.raw)
	if len(b) > 500 {
		b = append(b[:500:500], "…"...)
	}
	return fmt.Sprintf("%d %s", r.status, b)
}

// do sends one request: body is JSON-encoded (a string or []byte is sent as is, nil sends
// none), token goes in Authorization: Bearer, headers are name/value pairs. Every error answer
// is checked to be problem+json with all five members, the contract of every error.
func (a *testApp) do(t testing.TB, method, path, token string, body any, headers ...string) *resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
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
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := &resp{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	if r.status >= 400 {
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s %s: %d answered with Content-Type %q, want application/problem+json", method, path, r.status, ct)
		}
		for _, k := range []string{"type", "title", "status", "detail", "code"} {
			if _, ok := r.body[k]; !ok {
				t.Errorf("%s %s: problem lacks %q: %s", method, path, k, raw)
			}
		}
	}
	return r
}

// want fails the test unless the answer has the status (and, for a problem, the code).
func want(t testing.TB, r *resp, status int, code ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("got %s, want %d %v", r, status, code)
	}
	if len(code) > 0 && r.code() != code[0] {
		t.Fatalf("got code %q (%s), want %q", r.code(), r, code[0])
	}
}

// retryAfter is the Retry-After of a 429 in whole seconds; it fails unless it is a positive integer.
func retryAfter(t testing.TB, r *resp) int {
	t.Helper()
	v := r.header.Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("Retry-After is %q, want a positive number of seconds (%s)", v, r)
	}
	return n
}

// testUser is a person the test made, with the session it logged in with (if any).
type testUser struct {
	id       string
	email    string
	password string
	name     string
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

// verify follows the verification letter's link: it waits for the letter, takes the token and
// POSTs it, as the page's button does.
func (a *testApp) verify(t testing.TB, email string) *resp {
	t.Helper()
	tok := mailtest.LinkToken(t, a.sink.WaitFor(t, email, 0, testBaseURL+"/verify?token="))
	r := a.do(t, "POST", "/v1/auth/verify", "", map[string]string{"token": tok})
	want(t, r, http.StatusOK)
	return r
}

// login logs in and returns the session token.
func (a *testApp) login(t testing.TB, email, password string, headers ...string) string {
	t.Helper()
	r := a.do(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}, headers...)
	want(t, r, http.StatusOK)
	tok := r.str("access_token")
	if tok == "" {
		t.Fatalf("login answered no access_token: %s", r)
	}
	return tok
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
	u := &testUser{email: a.email("user"), password: testPassword, name: "Test User"}
	a.signup(t, u.email, u.password, u.name)
	u.token = a.login(t, u.email, u.password)
	u.id = a.me(t, u.token).str("id")
	return u
}

// newUser signs up, verifies by the letter's link and logs in.
func (a *testApp) newUser(t testing.TB) *testUser {
	t.Helper()
	u := &testUser{email: a.email("user"), password: testPassword, name: "Test User"}
	a.signup(t, u.email, u.password, u.name)
	u.id = a.verify(t, u.email).str("id")
	u.token = a.login(t, u.email, u.password)
	return u
}

// newStaff makes a staff user with the roles, as `entitled staff add` does, and logs in.
func (a *testApp) newStaff(t testing.TB, roles ...string) *testUser {
	t.Helper()
	u := &testUser{email: a.email("staff-" + strings.Join(roles, "-") + "-"), password: testPassword, name: "Staff " + strings.Join(roles, " ")}
	su, _, err := a.identity.PutStaff(context.Background(),
		models.StaffInput{Email: u.email, Name: u.name, Roles: roles, Password: u.password}, models.SystemActor("test"))
	if err != nil {
		t.Fatalf("PutStaff: %v", err)
	}
	u.id = strconv.FormatInt(su.ID, 10)
	u.token = a.login(t, u.email, u.password)
	return u
}

// newAPIKey makes an API key with the scopes, as `entitled apikey create` does, and returns it.
func (a *testApp) newAPIKey(t testing.TB, scopes ...string) string {
	t.Helper()
	_, key, err := a.identity.CreateAPIKey(context.Background(), "test "+strings.Join(scopes, " "), scopes, models.SystemActor("test"))
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	return key
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

// drainMail waits until the outbox has tried every letter queued so far, so that the sink holds
// all there will be. It waits for a state, not for a time.
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

// mailTo counts the letters the sink received for an address whose text has every substring.
func (a *testApp) mailTo(addr string, contains ...string) int {
	n := 0
	for _, m := range a.sink.To(addr) {
		txt := strings.ToLower(m.Text())
		ok := true
		for _, c := range contains {
			ok = ok && strings.Contains(txt, strings.ToLower(c))
		}
		if ok {
			n++
		}
	}
	return n
}

// eachDialect runs fn on a fresh app of every dialect this run tests (SQLite, and PostgreSQL
// when it answers; required with CI set).
func eachDialect(t *testing.T, fn func(t *testing.T, a *testApp), opts ...appOption) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) { fn(t, newTestApp(t, d, opts...)) })
}
