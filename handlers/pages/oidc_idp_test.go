package pages_test

// A real OpenID provider for the single sign-on tests, on loopback: discovery, JWKS, an
// authorization endpoint that signs in whoever the test says (no login form) and sends the
// browser back with a code, and a token endpoint that checks the code, the client and the PKCE
// verifier and answers an ID token signed RS256 with golang-jwt. A test chooses the person
// (subject, email, groups) and may bend the ID token (its claims, its signing) to attack the
// relying party; the provider records what it was sent.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"entitled/handlers/handlerstest"
	"entitled/handlers/sso"
	"entitled/models"
)

const (
	idpClientID     = "entitled-portal"
	idpClientSecret = "client-secret-at-the-idp"
)

// idpPerson is who the provider signs in at its next authorization.
type idpPerson struct {
	Sub    string
	Email  string
	Name   string
	Groups any // the roles claim: a string, a list, or anything else to attack with
}

// idpGrant is one authorization code the provider issued, with what it was asked for.
type idpGrant struct {
	person    idpPerson
	challenge string
	method    string
	nonce     string
	redirect  string
	used      bool
}

// How the provider signs an ID token.
const (
	signRS256      = "rs256"       // its own key, the one its JWKS publishes
	signNone       = "none"        // alg: none, no signature
	signUnknownKey = "unknown-key" // another key, with a key id the JWKS does not have
	signForgedKid  = "forged-kid"  // another key, under the key id of the published one
)

type testIdP struct {
	t      testing.TB
	srv    *httptest.Server
	key    *rsa.PrivateKey
	other  *rsa.PrivateKey // a key the JWKS does not publish
	kid    string
	Issuer string

	mu        sync.Mutex
	person    idpPerson
	claims    func(jwt.MapClaims) // bends the next ID tokens' claims (nil: none)
	signing   string
	grants    map[string]*idpGrant
	verifiers []string // the code_verifier of every token request
	down      atomic.Bool
	tokenDown atomic.Bool
}

// startIdP starts the provider; it stops with the test.
func startIdP(t testing.TB) *testIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp := &testIdP{t: t, key: key, other: other, kid: "idp-key-1", signing: signRS256, grants: map[string]*idpGrant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", idp.discovery)
	mux.HandleFunc("GET /jwks", idp.jwks)
	mux.HandleFunc("GET /authorize", idp.authorize)
	mux.HandleFunc("POST /token", idp.token)
	idp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if idp.down.Load() || (idp.tokenDown.Load() && r.URL.Path == "/token") {
			// Down: the connection drops without an answer, as a crashed or unreachable IdP's does.
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(idp.srv.Close)
	idp.Issuer = idp.srv.URL
	return idp
}

// config is the relying party's settings for this provider: the groups "eng-admins" give
// superadmin, "renewals-team" renewals, "support-team" support and ops.
func (idp *testIdP) config() *sso.Config {
	m, err := models.ParseRoleMap("eng-admins=superadmin, renewals-team=renewals, support-team=support, support-team=ops")
	if err != nil {
		idp.t.Fatal(err)
	}
	return &sso.Config{Issuer: idp.Issuer, ClientID: idpClientID, ClientSecret: idpClientSecret, Name: "Example IdP", RoleMap: m,
		HTTPClient: &http.Client{Timeout: 5 * time.Second}}
}

// signIn sets the person the next authorization signs in.
func (idp *testIdP) signIn(p idpPerson) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.person = p
}

// bend makes the next ID tokens carry changed claims and be signed as said; bend(nil, signRS256)
// goes back to honest tokens.
func (idp *testIdP) bend(claims func(jwt.MapClaims), signing string) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.claims, idp.signing = claims, signing
}

func (idp *testIdP) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                idp.Issuer,
		"authorization_endpoint":                idp.Issuer + "/authorize",
		"token_endpoint":                        idp.Issuer + "/token",
		"jwks_uri":                              idp.Issuer + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
	})
}

func (idp *testIdP) jwks(w http.ResponseWriter, r *http.Request) {
	b64 := base64.RawURLEncoding.EncodeToString
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": idp.kid,
		"n": b64(idp.key.N.Bytes()), "e": b64(big.NewInt(int64(idp.key.E)).Bytes()),
	}}})
}

// authorize signs in the chosen person at once and sends the browser back with a code, as an IdP
// with a remembered session does. It refuses what a real one refuses: another client, another
// redirect URI, no PKCE challenge.
func (idp *testIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case q.Get("client_id") != idpClientID:
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	case q.Get("redirect_uri") != handlerstest.BaseURL+sso.CallbackPath:
		http.Error(w, "redirect_uri not registered: "+q.Get("redirect_uri"), http.StatusBadRequest)
		return
	case q.Get("response_type") != "code", !strings.Contains(" "+q.Get("scope")+" ", " openid "):
		http.Error(w, "not an OpenID Connect code request", http.StatusBadRequest)
		return
	}
	code := randomText()
	idp.mu.Lock()
	idp.grants[code] = &idpGrant{person: idp.person, challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"),
		nonce: q.Get("nonce"), redirect: q.Get("redirect_uri")}
	idp.mu.Unlock()
	back, _ := url.Parse(q.Get("redirect_uri"))
	back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token exchanges a code once, for the client that asked for it, with the verifier of its
// challenge; anything else is invalid_grant (RFC 6749 §5.2).
func (idp *testIdP) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != idpClientID || secret != idpClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	idp.mu.Lock()
	defer idp.mu.Unlock()
	verifier := r.PostForm.Get("code_verifier")
	idp.verifiers = append(idp.verifiers, verifier)
	g := idp.grants[r.PostForm.Get("code")]
	sum := sha256.Sum256([]byte(verifier))
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	case g == nil || g.used:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "unknown or used code"})
		return
	case g.method != "S256" || verifier == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "PKCE verification failed"})
		return
	case r.PostForm.Get("redirect_uri") != g.redirect:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri differs"})
		return
	}
	g.used = true
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": idp.Issuer, "sub": g.person.Sub, "aud": idpClientID, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"nonce": g.nonce, "email": g.person.Email, "email_verified": true, "name": g.person.Name,
	}
	if g.person.Groups != nil {
		claims["groups"] = g.person.Groups
	}
	if idp.claims != nil {
		idp.claims(claims)
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": randomText(), "token_type": "Bearer", "expires_in": 3600, "id_token": idp.sign(claims)})
}

func (idp *testIdP) sign(claims jwt.MapClaims) string {
	var (
		tok *jwt.Token
		key any
	)
	switch idp.signing {
	case signNone:
		tok, key = jwt.NewWithClaims(jwt.SigningMethodNone, claims), jwt.UnsafeAllowNoneSignatureType
	case signUnknownKey:
		tok, key = jwt.NewWithClaims(jwt.SigningMethodRS256, claims), idp.other
		tok.Header["kid"] = "not-a-published-key"
	case signForgedKid:
		tok, key = jwt.NewWithClaims(jwt.SigningMethodRS256, claims), idp.other
		tok.Header["kid"] = idp.kid
	default:
		tok, key = jwt.NewWithClaims(jwt.SigningMethodRS256, claims), idp.key
		tok.Header["kid"] = idp.kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		idp.t.Errorf("sign an ID token: %v", err)
	}
	return s
}

// verifiersSent are the PKCE verifiers the token endpoint received, in order.
func (idp *testIdP) verifiersSent() []string {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return append([]string(nil), idp.verifiers...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomText() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// browserJar is a browser's cookie jar for the tests' plain HTTP client: like a browser on
// http://localhost it keeps Secure cookies too (net/http/cookiejar would drop them over http), by
// name, sent where their path applies; a cookie set with Max-Age < 0 is deleted.
type browserJar struct {
	mu      sync.Mutex
	cookies map[string]*http.Cookie
}

func newBrowserJar() *browserJar { return &browserJar{cookies: map[string]*http.Cookie{}} }

func (j *browserJar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, c := range cs {
		if c.MaxAge < 0 || c.Value == "" {
			delete(j.cookies, c.Name)
			continue
		}
		cc := *c
		j.cookies[c.Name] = &cc
	}
}

func (j *browserJar) Cookies(u *url.URL) []*http.Cookie {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*http.Cookie
	for _, c := range j.cookies {
		if p := c.Path; p == "" || p == "/" || u.Path == p || strings.HasPrefix(u.Path, strings.TrimRight(p, "/")+"/") {
			out = append(out, &http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	return out
}

// value is the cookie's value in the jar ("" when it has none).
func (j *browserJar) value(name string) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	if c := j.cookies[name]; c != nil {
		return c.Value
	}
	return ""
}

// set puts a cookie in the jar as a browser (or an attacker with its cookie) would hold it.
func (j *browserJar) set(name, value, path string) {
	j.SetCookies(nil, []*http.Cookie{{Name: name, Value: value, Path: path}})
}
