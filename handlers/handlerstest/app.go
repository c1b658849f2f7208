package handlerstest

// The test app the tests of handlers and handlers/pages share: the real router on a fresh
// database of each dialect, with a real River client delivering letters to an in-process SMTP
// sink, behind httptest. Nothing is mocked: a test sees what a client and a mailbox would see.
//
// handlerstest cannot import handlers (the tests of package handlers import handlerstest), so the
// router comes in as a Router: handlers.New behind a conversion of Deps to handlers.Deps.

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"entitled/handlers/sso"
	"entitled/mailer"
	"entitled/mailer/mailtest"
	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
	"entitled/webhooks"
)

// BaseURL is ENTITLED_BASE_URL in tests: links in letters start with it.
const BaseURL = "https://entitled.example.test"

// Secret is ENTITLED_SECRET in tests; Audiences is ENTITLED_TOKEN_AUDIENCES.
const Secret = "test-secret-that-seals-the-signing-keys-0123456789"

var Audiences = []string{"support-portal", "downloads", "kb", "chat"}

// Start is where every test's clock stands at first.
var Start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// Password is a password the rules accept.
const Password = "plum orchard ledger 1947"

// Deps has the fields of handlers.Deps, in its order, so that handlers.Deps(d) converts it (a
// field added there and not here fails to compile the tests, which is the point).
type Deps struct {
	Store          *dbstore.Store
	Identity       *dbstore.Identity
	Catalogue      *dbstore.Catalogue
	Orders         *dbstore.Orders
	Accounts       *dbstore.Accounts
	Licenses       *dbstore.Licenses
	Registrations  *dbstore.Registrations
	Help           *dbstore.Help
	Contracts      *dbstore.Contracts
	RateAnonPerMin int
	Log            *slog.Logger
	Registry       *prometheus.Registry
	TrustedProxies []string
	Keys           *dbstore.Keyring
	Tokens         *dbstore.Tokens
	LicenseKeys    *dbstore.LicenseKeys
	Webhooks       *dbstore.Webhooks
	BaseURL        string
	DownloadsURL   string
	CasesURL       string
	SSO            *sso.Client
}

// Router builds the router under test from its services: handlers.New(handlers.Deps(d)).
type Router func(d Deps) (http.Handler, error)

// Options are what a test may change of its app.
type Options struct {
	RateAnonPerMin int                   // ENTITLED_RATE_ANON_PER_MIN; by default a limit no test reaches
	TrustedProxies []string              // lets the test choose its client address with X-Forwarded-For
	Keys           models.KeyringOptions // signing keys: max-age, token TTL, re-read interval
	SystemClock    bool                  // the store runs on the real clock (tests of timing)
	StoreLog       slog.Handler          // the store's logger (its SQL at debug level); none when nil
	RenewalWindow  int                   // ENTITLED_RENEWAL_WINDOW_DAYS; 90 by default
	// SSO turns staff single sign-on on (ENTITLED_OIDC_*); its Secret and BaseURL are the
	// test's own when empty. Nil leaves it off.
	SSO *sso.Config
	// Serve wraps the router as the server does before it listens (handlers.ServeHEAD); App.Handler
	// stays the router itself.
	Serve func(http.Handler) http.Handler
	// StaffMFA is ENTITLED_STAFF_MFA; optional by default.
	StaffMFA models.StaffMFAPolicy
}

// Option changes the Options of a NewApp.
type Option func(*Options)

// App is one running server for one test.
type App struct {
	Dialect  dbstore.Dialect
	Store    *dbstore.Store
	Clock    *models.FixedClock
	Identity *dbstore.Identity
	Sink     *mailtest.Sink
	Jobs     *river.Client[*sql.Tx]
	Handler  http.Handler
	Srv      *httptest.Server
	Keys     *dbstore.Keyring
	Tokens   *dbstore.Tokens
	Webhooks *dbstore.Webhooks
	Seq      atomic.Int64 // makes unique emails, SKUs and order references
}

// NewApp starts the whole server on a fresh database of the dialect, wired as server/serve.go
// wires it. Its clock stands still at Start until the test moves it.
func NewApp(t testing.TB, d dbstore.Dialect, router Router, opts ...Option) *App {
	t.Helper()
	cfg := Options{RateAnonPerMin: 100000, RenewalWindow: 90}
	for _, o := range opts {
		o(&cfg)
	}
	ctx := context.Background()
	clock := models.NewFixedClock(Start)
	var storeClock models.Clock = clock
	if cfg.SystemClock {
		storeClock = nil
	}
	var storeLog *slog.Logger
	if cfg.StoreLog != nil {
		storeLog = slog.New(cfg.StoreLog)
	}
	store := storetest.OpenWith(t, d, dbstore.OpenOptions{Clock: storeClock, Logger: storeLog})
	sink := mailtest.Start(t)
	transport, err := mailer.NewTransport(sink.URL(), "")
	if err != nil {
		t.Fatalf("transport: %v", err)
	}
	workers := river.NewWorkers()
	mailer.AddWorkers(workers, &mailer.Worker{Transport: transport, Sent: mailer.NewSentLog(store.SQLDB())})
	dbstore.AddWorkers(workers, store, BaseURL)
	// Webhooks: ENTITLED_WEBHOOK_ALLOW_PRIVATE=true, and a client that trusts httptest's TLS
	// certificate, so that receivers are httptest.NewTLSServer. The worker's service queues
	// nothing, so it needs no outbox (the router's, below, has one).
	sending, err := dbstore.NewWebhooks(store, nil, Secret, true)
	if err != nil {
		t.Fatalf("webhooks: %v", err)
	}
	webhooks.AddWorkers(workers, &webhooks.Worker{Webhooks: sending, Sender: &webhooks.Sender{Client: webhooks.NewClient(true, TestTLSConfig()), AllowHTTP: true}})
	jobs := storetest.StartJobs(t, store, &river.Config{Queues: mailer.RiverQueues(), Workers: workers})
	renderer, err := mailer.NewRenderer(BaseURL)
	if err != nil {
		t.Fatalf("renderer: %v", err)
	}
	outbox := mailer.NewOutbox(jobs, renderer)
	hooks, err := dbstore.NewWebhooks(store, outbox, Secret, true)
	if err != nil {
		t.Fatalf("webhooks: %v", err)
	}
	hooks.Links = mailer.NewLinks(BaseURL)
	identity := dbstore.NewIdentity(store, outbox, BaseURL)
	if _, err := identity.WithMFA(Secret, cfg.StaffMFA); err != nil {
		t.Fatalf("identity: %v", err)
	}
	keyOpts := cfg.Keys
	keyOpts.Secret = Secret
	keys, err := dbstore.NewKeyring(store, keyOpts)
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	if err := keys.Ensure(ctx); err != nil {
		t.Fatalf("signing keys: %v", err)
	}
	tokens, err := dbstore.NewTokens(store, keys, models.TokensOptions{Issuer: BaseURL, TTL: keyOpts.TokenTTL, Audiences: Audiences, RenewalWindowDays: cfg.RenewalWindow})
	if err != nil {
		t.Fatalf("tokens: %v", err)
	}
	var ssoClient *sso.Client
	if cfg.SSO != nil {
		sc := *cfg.SSO
		if sc.Secret == "" {
			sc.Secret = Secret
		}
		if sc.BaseURL == "" {
			sc.BaseURL = BaseURL
		}
		if ssoClient, err = sso.New(sc); err != nil {
			t.Fatalf("sso: %v", err)
		}
	}
	h, err := router(Deps{
		Store: store, Identity: identity, SSO: ssoClient,
		Catalogue:      dbstore.NewCatalogue(store),
		Orders:         dbstore.NewOrders(store, outbox, BaseURL),
		Accounts:       dbstore.NewAccounts(store, outbox, BaseURL),
		Licenses:       dbstore.NewLicenses(store, cfg.RenewalWindow),
		Registrations:  dbstore.NewRegistrations(store, outbox, BaseURL),
		Help:           dbstore.NewHelp(store, outbox),
		Contracts:      dbstore.NewContracts(store, outbox, cfg.RenewalWindow),
		RateAnonPerMin: cfg.RateAnonPerMin, TrustedProxies: cfg.TrustedProxies,
		Keys: keys, Tokens: tokens, LicenseKeys: dbstore.NewLicenseKeys(store, keys, BaseURL, cfg.RenewalWindow).WithOutbox(outbox),
		Webhooks: hooks,
	})
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	served := h
	if cfg.Serve != nil {
		served = cfg.Serve(h)
	}
	srv := httptest.NewServer(served)
	t.Cleanup(srv.Close)
	return &App{Dialect: d, Store: store, Clock: clock, Identity: identity, Sink: sink, Jobs: jobs, Handler: h, Srv: srv, Keys: keys, Tokens: tokens, Webhooks: hooks}
}

// TestTLSConfig trusts the certificate of every httptest TLS server (they share one).
func TestTLSConfig() *tls.Config {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	return srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
}

// Resp is an answer of the API as a client sees it.
type Resp struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any // the decoded JSON object; nil when the body is not one
}

// Code is the problem's machine code ("" for a success).
func (r *Resp) Code() string { s, _ := r.Body["code"].(string); return s }

// Str is a top-level string member of the body.
func (r *Resp) Str(key string) string { s, _ := r.Body[key].(string); return s }

// List is a top-level array member of the body.
func (r *Resp) List(key string) []any { l, _ := r.Body[key].([]any); return l }

// Objects are the objects of a top-level array member of the body.
func (r *Resp) Objects(key string) []map[string]any {
	raw := r.List(key)
	out := make([]map[string]any, 0, len(raw))
	for _, it := range raw {
		m, _ := it.(map[string]any)
		out = append(out, m)
	}
	return out
}

// First is the first object of a top-level array member of the body.
func (r *Resp) First(key string) map[string]any { return r.Objects(key)[0] }

// Items is the "items" of a list answer.
func (r *Resp) Items() []map[string]any { return r.Objects("items") }

// Licenses are the "licenses" of an order's answer.
func (r *Resp) Licenses() []map[string]any { return r.Objects("licenses") }

// Fields maps each field of a validation problem's errors[] to its code.
func (r *Resp) Fields() map[string]string {
	out := map[string]string{}
	for _, m := range r.Objects("errors") {
		f, _ := m["field"].(string)
		c, _ := m["code"].(string)
		out[f] = c
	}
	return out
}

func (r *Resp) String() string {
	b := bytes.TrimSpace(r.Raw)
	if len(b) > 500 {
		b = append(b[:500:500], "…"...)
	}
	return fmt.Sprintf("%d %s", r.Status, b)
}

// Do sends one request: body is JSON-encoded (a string or []byte is sent as is, nil sends
// none), token goes in Authorization: Bearer, headers are name/value pairs. Every error answer
// is checked to be problem+json with all five members, the contract of every error.
func (a *App) Do(t testing.TB, method, path, token string, body any, headers ...string) *Resp {
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
	req, err := http.NewRequest(method, a.Srv.URL+path, rd)
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
	res, err := a.Srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := &Resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	_ = json.Unmarshal(raw, &r.Body)
	if r.Status >= 400 {
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s %s: %d answered with Content-Type %q, want application/problem+json", method, path, r.Status, ct)
		}
		for _, k := range []string{"type", "title", "status", "detail", "code"} {
			if _, ok := r.Body[k]; !ok {
				t.Errorf("%s %s: problem lacks %q: %s", method, path, k, raw)
			}
		}
	}
	return r
}

// Want fails the test unless the answer has the status (and, for a problem, the code).
func Want(t testing.TB, r *Resp, status int, code ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got %s, want %d %v", r, status, code)
	}
	if len(code) > 0 && r.Code() != code[0] {
		t.Fatalf("got code %q (%s), want %q", r.Code(), r, code[0])
	}
}

// RetryAfter is the Retry-After of a 429 in whole seconds; it fails unless it is a positive integer.
func RetryAfter(t testing.TB, r *Resp) int {
	t.Helper()
	v := r.Header.Get("Retry-After")
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("Retry-After is %q, want a positive number of seconds (%s)", v, r)
	}
	return n
}

// User is a person the test made, with the session it logged in with (if any).
type User struct {
	ID       string
	Email    string
	Password string
	Name     string
	Token    string
}

// Email makes an address no other user of this app has.
func (a *App) Email(prefix string) string {
	return fmt.Sprintf("%s%d@example.test", prefix, a.Seq.Add(1))
}

// Signup signs a new user up and checks the 201.
func (a *App) Signup(t testing.TB, email, password, name string) *Resp {
	t.Helper()
	r := a.Do(t, "POST", "/v1/auth/signup", "", map[string]string{"email": email, "password": password, "name": name})
	Want(t, r, http.StatusCreated)
	return r
}

// Verify follows the verification letter's link: it waits for the letter, takes the token and
// POSTs it, as the page's button does.
func (a *App) Verify(t testing.TB, email string) *Resp {
	t.Helper()
	tok := mailtest.LinkToken(t, a.Sink.WaitFor(t, email, 0, BaseURL+"/verify?token="))
	r := a.Do(t, "POST", "/v1/auth/verify", "", map[string]string{"token": tok})
	Want(t, r, http.StatusOK)
	return r
}

// Login logs in and returns the session token.
func (a *App) Login(t testing.TB, email, password string, headers ...string) string {
	t.Helper()
	r := a.Do(t, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": password}, headers...)
	Want(t, r, http.StatusOK)
	tok := r.Str("access_token")
	if tok == "" {
		t.Fatalf("login answered no access_token: %s", r)
	}
	return tok
}

// Me is GET /v1/me with the token, which must work.
func (a *App) Me(t testing.TB, token string) *Resp {
	t.Helper()
	r := a.Do(t, "GET", "/v1/me", token, nil)
	Want(t, r, http.StatusOK)
	return r
}

// NewUnverifiedUser signs up and logs in without following the verification link.
func (a *App) NewUnverifiedUser(t testing.TB) *User {
	t.Helper()
	u := &User{Email: a.Email("user"), Password: Password, Name: "Test User"}
	a.Signup(t, u.Email, u.Password, u.Name)
	u.Token = a.Login(t, u.Email, u.Password)
	u.ID = a.Me(t, u.Token).Str("id")
	return u
}

// NewUser signs up, verifies by the letter's link and logs in.
func (a *App) NewUser(t testing.TB) *User {
	t.Helper()
	u := &User{Email: a.Email("user"), Password: Password, Name: "Test User"}
	a.Signup(t, u.Email, u.Password, u.Name)
	u.ID = a.Verify(t, u.Email).Str("id")
	u.Token = a.Login(t, u.Email, u.Password)
	return u
}

// NewStaff makes a staff user with the roles, as `entitled staff add` does, and logs in.
func (a *App) NewStaff(t testing.TB, roles ...string) *User {
	t.Helper()
	u := &User{Email: a.Email("staff-" + strings.Join(roles, "-") + "-"), Password: Password, Name: "Staff " + strings.Join(roles, " ")}
	su, _, err := a.Identity.PutStaff(context.Background(),
		models.StaffInput{Email: u.Email, Name: u.Name, Roles: roles, Password: u.Password}, models.SystemActor("test"))
	if err != nil {
		t.Fatalf("PutStaff: %v", err)
	}
	u.ID = strconv.FormatInt(su.ID, 10)
	u.Token = a.Login(t, u.Email, u.Password)
	return u
}

// NewAPIKey makes an API key with the scopes, as `entitled apikey create` does, and returns it.
func (a *App) NewAPIKey(t testing.TB, scopes ...string) string {
	t.Helper()
	_, key, err := a.Identity.CreateAPIKey(context.Background(), "test "+strings.Join(scopes, " "), scopes, models.SystemActor("test"))
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	return key
}

// Letters are the letters queued so far (in the outbox, sent or not) of a kind to an address.
func (a *App) Letters(t testing.TB, kind, to string) []mailer.Letter {
	t.Helper()
	return storetest.Letters(t, a.Jobs, func(l mailer.Letter) bool { return l.Kind == kind && slices.Contains(l.To, to) })
}

// DrainMail waits until the outbox has tried every letter queued so far, so that the sink holds
// all there will be. It waits for a state, not for a time.
func (a *App) DrainMail(t testing.TB) {
	t.Helper()
	storetest.Settle(t, a.Jobs)
}

// MailTo counts the letters the sink received for an address whose text has every substring.
func (a *App) MailTo(addr string, contains ...string) int {
	n := 0
	for _, m := range a.Sink.To(addr) {
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

// NewProduct creates a product with versions (version, released_on, phase) as staff ops.
func (a *App) NewProduct(t testing.TB, ops string, versions ...[3]string) string {
	t.Helper()
	sku := fmt.Sprintf("SKU-%d", a.Seq.Add(1))
	Want(t, a.Do(t, "POST", "/v1/products", ops, map[string]any{"sku": sku, "name": "Product " + sku}), http.StatusCreated)
	for _, v := range versions {
		Want(t, a.Do(t, "POST", "/v1/products/"+sku+"/versions", ops, map[string]any{"version": v[0], "released_on": v[1], "phase": v[2]}), http.StatusCreated)
	}
	return sku
}

// Order is an order body for one or more items, to a new account with a fresh contact.
func (a *App) Order(items ...map[string]any) (map[string]any, string) {
	contact := a.Email("contact")
	return map[string]any{
		"order_ref":       fmt.Sprintf("ORD-%d", a.Seq.Add(1)),
		"account":         map[string]any{"name": "Acme Corp"},
		"primary_contact": map[string]any{"name": "Pat Contact", "email": contact},
		"items":           items,
	}, contact
}

// FreshLicense orders one license of a new product to a new account and returns its number, the
// account id and the contact's email.
func (a *App) FreshLicense(t testing.TB, ops string, item map[string]any) (ln, acct, contact string) {
	t.Helper()
	sku := a.NewProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
	if item == nil {
		item = map[string]any{"quantity": 5, "kind": "perpetual", "service_tag": fmt.Sprintf("T%06d", a.Seq.Add(1))}
	}
	item["sku"] = sku
	body, contact := a.Order(item)
	r := a.Do(t, "POST", "/v1/orders", ops, body)
	Want(t, r, http.StatusCreated)
	return r.Licenses()[0]["license_number"].(string), r.Str("account_id"), contact
}

// RegisteredLicense is FreshLicense (a license of a new product, ordered by ops) registered
// first by a new verified user, who is so its admin. It answers the license's number, the account
// id, the contact's email and the admin.
func (a *App) RegisteredLicense(t testing.TB, ops string) (ln, acct, contact string, admin *User) {
	t.Helper()
	ln, acct, contact = a.FreshLicense(t, ops, nil)
	admin = a.NewUser(t)
	Want(t, a.Register(t, admin.Token, map[string]any{"license_number": ln}), http.StatusCreated)
	return ln, acct, contact, admin
}

// ContractFor orders a license of a new product with a support contract for an account named as
// given, and returns the contract's id.
func (a *App) ContractFor(t testing.TB, ops, account, program, startsOn, endsOn string) string {
	t.Helper()
	sku := a.NewProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
	body, _ := a.Order(map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual",
		"support": map[string]any{"program": program, "starts_on": startsOn, "ends_on": endsOn}})
	body["account"] = map[string]any{"name": account}
	r := a.Do(t, "POST", "/v1/orders", ops, body)
	Want(t, r, http.StatusCreated)
	return r.Licenses()[0]["contract_id"].(string)
}

// RenewalDesk is the renewal notice sweep as serve wires it (the default notice days, 90, 60, 30
// and 7), queueing its letters on the app's job client.
func (a *App) RenewalDesk(t testing.TB) *dbstore.Renewals {
	t.Helper()
	renderer, err := mailer.NewRenderer(BaseURL)
	if err != nil {
		t.Fatalf("renderer: %v", err)
	}
	desk, err := dbstore.NewRenewals(a.Store, mailer.NewOutbox(a.Jobs, renderer), BaseURL, []int{90, 60, 30, 7})
	if err != nil {
		t.Fatalf("renewals: %v", err)
	}
	return desk
}

// Register posts a registration with the token.
func (a *App) Register(t testing.TB, token string, body map[string]any) *Resp {
	t.Helper()
	return a.Do(t, "POST", "/v1/registrations", token, body)
}

// Browser is a test browser with no cookies on this app's server.
func (a *App) Browser() *Browser { return NewBrowser(a.Srv.URL) }

// SignedIn is a browser logged in through the login form as the user.
func (a *App) SignedIn(t testing.TB, u *User) *Browser {
	t.Helper()
	b := a.Browser()
	b.Login(t, u.Email, u.Password)
	return b
}

// Override is a copy of m with k set to v.
func Override[M ~map[K]V, K comparable, V any](m M, k K, v V) M {
	out := maps.Clone(m)
	out[k] = v
	return out
}

// RoleSet joins a JSON array of role names with commas.
func RoleSet(v any) string {
	var out []string
	for _, r := range v.([]any) {
		out = append(out, r.(string))
	}
	return strings.Join(out, ",")
}
