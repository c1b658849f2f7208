// Package sso is the relying party of staff single sign-on (OpenID Connect, authorization code
// flow with PKCE): it finds the identity provider (discovery, lazily, so that a provider that is
// down does not stop the server from starting), sends the browser there with a fresh state,
// nonce and PKCE verifier, and on the way back checks the state, exchanges the code, verifies the
// ID token (signature, issuer, audience, expiry, nonce) and reads the person's roles from it.
// What it verified goes to the store as a models.SSOIdentity; it decides nothing about users.
//
// The state, nonce and verifier travel in one cookie, sealed (AES-256-GCM) with a key derived
// from ENTITLED_SECRET and valid for StateTTL: no server-side row, so the callback may land on
// any replica, and nothing in it can be read or forged by the browser or anyone else.
package sso

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"entitled/models"
)

// StateTTL is how long a sign-in may take between leaving for the IdP and coming back.
const StateTTL = 10 * time.Minute

// CookieName is the cookie that carries a sign-in's sealed state to the callback.
const CookieName = "entitled_sso"

// CallbackPath is where the IdP sends the browser back: <ENTITLED_BASE_URL>/auth/oidc/callback.
const CallbackPath = "/auth/oidc/callback"

// Config is staff single sign-on's settings (ENTITLED_OIDC_*).
type Config struct {
	Issuer       string // ENTITLED_OIDC_ISSUER: the IdP's issuer URL (discovery is below it)
	ClientID     string // ENTITLED_OIDC_CLIENT_ID: also the audience the ID token must name
	ClientSecret string // ENTITLED_OIDC_CLIENT_SECRET
	Name         string // ENTITLED_OIDC_NAME: "Sign in with <Name>"; "SSO" when empty
	RolesClaim   string // ENTITLED_OIDC_ROLES_CLAIM: the claim with the groups; "groups" when empty
	RoleMap      models.RoleMap
	BaseURL      string // ENTITLED_BASE_URL: the callback is BaseURL + CallbackPath
	Secret       string // ENTITLED_SECRET: the state cookie's key is derived from it
	// HTTPClient talks to the IdP; nil is a client with a 10-second timeout.
	HTTPClient *http.Client
	// Now is the clock of the state's and the ID token's expiry; nil is time.Now.
	Now func() time.Time
}

// Client is the relying party. Its methods are safe for concurrent use.
type Client struct {
	cfg  Config
	aead cipher.AEAD

	mu       sync.Mutex
	provider *oidc.Provider // nil until discovery first succeeds
}

// New checks the configuration and makes the client. It does not contact the IdP.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("sso: no issuer")
	case cfg.ClientID == "":
		return nil, errors.New("ENTITLED_OIDC_CLIENT_ID is required with ENTITLED_OIDC_ISSUER")
	case len(cfg.Secret) < 32:
		return nil, errors.New("sso: the secret must be at least 32 characters")
	}
	if u, err := url.Parse(cfg.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("ENTITLED_OIDC_ISSUER=%q: want an http(s) URL", cfg.Issuer)
	}
	if cfg.Name == "" {
		cfg.Name = "SSO"
	}
	if cfg.RolesClaim == "" {
		cfg.RolesClaim = "groups"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	mac := hmac.New(sha256.New, []byte(cfg.Secret))
	mac.Write([]byte("entitled sso state v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, aead: aead}, nil
}

// Name is what the sign-in button says: "Sign in with <Name>".
func (c *Client) Name() string { return c.cfg.Name }

// SecureCookie says whether the state cookie is Secure: when the server is reached over https.
func (c *Client) SecureCookie() bool { return strings.HasPrefix(c.cfg.BaseURL, "https://") }

// Kind is why a sign-in failed, which decides what the page says.
type Kind string

const (
	KindState       Kind = "state"       // no state cookie, or expired, tampered, or not this callback's state
	KindDenied      Kind = "denied"      // the IdP answered with an error (the person cancelled, or was not allowed)
	KindUnreachable Kind = "unreachable" // discovery, the token endpoint or the keys could not be reached
	KindRefused     Kind = "refused"     // the token endpoint refused the code (used already, expired, wrong verifier)
	KindToken       Kind = "token"       // the ID token failed verification: signature, issuer, audience, expiry, nonce
	KindClaims      Kind = "claims"      // the ID token lacks what a sign-in needs, or says it in an unusable form
)

// Error is a failed sign-in: its Kind for the page, its cause for the log.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return "sso: " + string(e.Kind) + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func fail(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Err: fmt.Errorf(format, args...)}
}

// discover answers the provider, fetching the discovery document the first time it is asked
// and again after every failure: a provider that is down at start-up, or at a sign-in, is tried
// again at the next one.
func (c *Client) discover(ctx context.Context) (*oidc.Provider, error) {
	c.mu.Lock()
	p := c.provider
	c.mu.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, c.cfg.HTTPClient), c.cfg.Issuer)
	if err != nil {
		return nil, &Error{Kind: KindUnreachable, Err: fmt.Errorf("discovery at %s: %w", c.cfg.Issuer, err)}
	}
	c.mu.Lock()
	if c.provider == nil {
		c.provider = p
	}
	p = c.provider
	c.mu.Unlock()
	return p, nil
}

func (c *Client) oauth(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: c.cfg.BaseURL + CallbackPath,
		Scopes:      []string{oidc.ScopeOpenID, "email", "profile"},
	}
}

// state is what the cookie carries from Begin to Finish.
type state struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
	Expires  int64  `json:"e"` // Unix seconds
}

// Begin starts a sign-in: the IdP's authorization URL to send the browser to, and the sealed
// state to keep in CookieName until it comes back. next is where to go after signing in (the
// caller has made it safe). Errors: *Error of KindUnreachable.
func (c *Client) Begin(ctx context.Context, next string) (authURL, cookie string, err error) {
	p, err := c.discover(ctx)
	if err != nil {
		return "", "", err
	}
	st := state{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Next: next,
		Expires: c.cfg.Now().Add(StateTTL).Unix()}
	authURL = c.oauth(p).AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier))
	return authURL, c.seal(st), nil
}

// Result is a finished sign-in: who the IdP says the person is, and where they were going.
type Result struct {
	Identity models.SSOIdentity
	Next     string
}

// Finish completes a sign-in from the callback's query and the state cookie. Errors: *Error.
func (c *Client) Finish(ctx context.Context, cookie string, query url.Values) (*Result, error) {
	st, ok := c.open(cookie)
	if !ok {
		return nil, fail(KindState, "no state cookie, or one that does not open")
	}
	if c.cfg.Now().Unix() > st.Expires {
		return nil, fail(KindState, "the state expired")
	}
	// The state comes first, even on an error answer: only the IdP this browser was sent to may
	// end its sign-in, one way or the other.
	if got := query.Get("state"); got == "" || !hmac.Equal([]byte(got), []byte(st.State)) {
		return nil, fail(KindState, "the state %q is not this browser's", truncate(got))
	}
	if e := query.Get("error"); e != "" {
		return nil, fail(KindDenied, "the IdP answered %s: %s", truncate(e), truncate(query.Get("error_description")))
	}
	code := query.Get("code")
	if code == "" {
		return nil, fail(KindDenied, "the IdP sent no code")
	}
	p, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	ctx = oidc.ClientContext(ctx, c.cfg.HTTPClient)
	tok, err := c.oauth(p).Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return nil, &Error{Kind: KindRefused, Err: err}
		}
		return nil, &Error{Kind: KindUnreachable, Err: fmt.Errorf("token endpoint: %w", err)}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fail(KindToken, "the token answer has no id_token")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: c.cfg.ClientID, Now: c.cfg.Now}).Verify(ctx, raw)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) {
			return nil, &Error{Kind: KindUnreachable, Err: fmt.Errorf("keys: %w", err)}
		}
		return nil, &Error{Kind: KindToken, Err: err}
	}
	if idt.Nonce == "" || !hmac.Equal([]byte(idt.Nonce), []byte(st.Nonce)) {
		return nil, fail(KindToken, "the ID token's nonce %q is not this sign-in's", truncate(idt.Nonce))
	}
	var claims map[string]json.RawMessage
	if err := idt.Claims(&claims); err != nil {
		return nil, &Error{Kind: KindClaims, Err: err}
	}
	id := models.SSOIdentity{Subject: idt.Subject}
	for key, dst := range map[string]*string{"email": &id.Email, "name": &id.Name} {
		if v, ok := claims[key]; ok && json.Unmarshal(v, dst) != nil {
			return nil, fail(KindClaims, "the claim %s is not a string", key)
		}
	}
	// email_verified is a boolean; some IdPs send it as the string "true" or "false".
	unverified := false
	switch v := strings.Trim(string(claims["email_verified"]), `"`); v {
	case "", "null", "true":
	case "false":
		unverified = true
	default:
		return nil, fail(KindClaims, "the claim email_verified is %s, not a boolean", truncate(v))
	}
	if id.Name == "" {
		_ = json.Unmarshal(claims["preferred_username"], &id.Name)
	}
	if id.Email == "" {
		return nil, fail(KindClaims, "the ID token has no email claim (ask for the email scope)")
	}
	if unverified {
		return nil, fail(KindClaims, "the IdP does not vouch for the email address %s", id.Email)
	}
	groups, err := stringOrList(claims[c.cfg.RolesClaim])
	if err != nil {
		return nil, fail(KindClaims, "the claim %s: %v", c.cfg.RolesClaim, err)
	}
	id.Groups, id.Roles = groups, c.cfg.RoleMap.Roles(groups)
	return &Result{Identity: id, Next: st.Next}, nil
}

// stringOrList reads a claim that is a string or an array of strings (absent: none).
func stringOrList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return []string{}, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, errors.New("want a string or an array of strings")
	}
	return list, nil
}

func (c *Client) seal(st state) string {
	plain, _ := json.Marshal(st)
	nonce := make([]byte, c.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(c.aead.Seal(nonce, nonce, plain, []byte(CookieName)))
}

func (c *Client) open(cookie string) (state, bool) {
	var st state
	b, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil || len(b) < c.aead.NonceSize() || len(cookie) > 4096 {
		return st, false
	}
	plain, err := c.aead.Open(nil, b[:c.aead.NonceSize()], b[c.aead.NonceSize():], []byte(CookieName))
	if err != nil || json.Unmarshal(plain, &st) != nil || st.State == "" || st.Nonce == "" || st.Verifier == "" {
		return st, false
	}
	return st, true
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// truncate keeps what the IdP or the browser sent short enough for a log line.
func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
