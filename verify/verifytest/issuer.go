// Package verifytest stands in for entitled in the tests of a service that uses verify: an Issuer
// serves a JWKS and status lists as entitled does and signs tokens, and JWS builds tokens by hand,
// genuine or hostile (a header entitled never writes, an algorithm it never uses), to check that
// the service refuses what it must. entitled's own attack tests use it too.
package verifytest

import (
	"bytes"
	"compress/zlib"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entitled-dev/entitled/verify"
)

// ListSize is entitled's status list size, 2^17 indexes.
const ListSize = 1 << 17

// Issuer stands in for entitled: it serves a JWKS of its keys with Cache-Control max-age and an
// ETag, counts the fetches, signs tokens, and serves the status lists published with PublishList
// under /v1/status-lists/.
type Issuer struct {
	*httptest.Server
	mu          sync.Mutex
	keys        []ed25519.PrivateKey
	maxAge      int
	lists       map[string]servedList // by path
	Fetches     atomic.Int64          // JWKS requests
	NotModified atomic.Int64          // JWKS requests answered 304
	ListsOut    atomic.Bool           // the lists answer 503, as when entitled cannot be reached
	ListHits    atomic.Int64          // status list requests
	ListSlow    atomic.Int64          // the lists answer after this many nanoseconds
}

type servedList struct {
	token string
	ttl   int // seconds, for Cache-Control max-age
}

// NewIssuer starts an issuer with one key whose JWKS answers Cache-Control max-age=maxAge. Close
// it when done.
func NewIssuer(maxAge int) *Issuer {
	is := &Issuer{maxAge: maxAge}
	is.AddKey()
	is.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/status-lists/") {
			is.serveList(w, r)
			return
		}
		is.serveJWKS(w, r)
	}))
	return is
}

// Thumbprint is the RFC 7638 thumbprint of an Ed25519 public key: the kid entitled gives it.
func Thumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// AddKey publishes a new key, which signs from then on.
func (is *Issuer) AddKey() ed25519.PrivateKey {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	is.mu.Lock()
	is.keys = append(is.keys, priv)
	is.mu.Unlock()
	return priv
}

// Keys are the issuer's keys, oldest first.
func (is *Issuer) Keys() []ed25519.PrivateKey {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append([]ed25519.PrivateKey(nil), is.keys...)
}

// JWKS is the key set the issuer serves.
func (is *Issuer) JWKS() []byte {
	is.mu.Lock()
	defer is.mu.Unlock()
	var keys []map[string]string
	for _, k := range is.keys {
		pub := k.Public().(ed25519.PublicKey)
		keys = append(keys, map[string]string{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub),
			"kid": Thumbprint(pub), "alg": "EdDSA", "use": "sig"})
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

func (is *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	is.Fetches.Add(1)
	body := is.JWKS()
	sum := sha256.Sum256(body)
	etag := fmt.Sprintf(`"%x"`, sum[:8])
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", is.maxAge))
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		is.NotModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// JWKSURL is where the key set is.
func (is *Issuer) JWKSURL() string { return is.URL + "/.well-known/jwks.json" }

// Claims are good claims for the downloads service at now, for a Support User of a license
// whose support lapsed on 2026-06-30.
func (is *Issuer) Claims(now time.Time) *verify.Claims {
	program, ends, hours := "standard", "2026-06-30", "business"
	return &verify.Claims{
		Issuer: is.URL, Subject: "42", Audience: "downloads",
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
		ID: "jti-1", Account: "4829173", License: "LN-7KQ2-M9XD-44TB-R1ZC", Roles: []string{"support"},
		Entitlements: []string{verify.AssetsRead},
		Support:      verify.Support{Status: verify.StatusLapsed, Program: &program, EndsOn: &ends, Hours: &hours, ResponseTargets: map[string]string{"1": "PT1H"}},
		GrantVersion: 3,
	}
}

// Sign signs claims with the newest key, typ ent+jwt.
func (is *Issuer) Sign(c jwt.Claims) string {
	is.mu.Lock()
	k := is.keys[len(is.keys)-1]
	is.mu.Unlock()
	return SignWith(k, verify.TypEntitlement, c)
}

// SignWith signs claims with k (EdDSA), with typ and k's thumbprint as kid.
func SignWith(k ed25519.PrivateKey, typ string, c jwt.Claims) string {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["typ"] = typ
	t.Header["kid"] = Thumbprint(k.Public().(ed25519.PublicKey))
	s, err := t.SignedString(k)
	if err != nil {
		panic(err)
	}
	return s
}

// Bits is a status list's bit array of n indexes with the revoked ones set: bit i % 8 (least
// significant first) of byte i / 8.
func Bits(n int64, revoked ...int64) []byte {
	b := make([]byte, (n+7)/8)
	for _, i := range revoked {
		b[i/8] |= 1 << (i % 8)
	}
	return b
}

// Lst is a list's lst: ZLIB (RFC 1950), then base64url without padding.
func Lst(bits []byte) string {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	_, _ = w.Write(bits)
	_ = w.Close()
	return B64(buf.Bytes())
}

// ListURI is where the issuer serves list id.
func (is *Issuer) ListURI(id string) string { return is.URL + "/v1/status-lists/" + id }

// ListClaims are a good list's claims: issued at iat, valid 24 hours, kept for ttl seconds.
func ListClaims(uri string, iat time.Time, ttl int, bits []byte) map[string]any {
	return map[string]any{"sub": uri, "iat": iat.Unix(), "exp": iat.Add(24 * time.Hour).Unix(), "ttl": ttl,
		"status_list": map[string]any{"bits": 1, "lst": Lst(bits)}}
}

// ListHeader is a good list's header for key.
func ListHeader(key ed25519.PrivateKey) map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": verify.TypStatusList, "kid": Thumbprint(key.Public().(ed25519.PublicKey))}
}

// SignList signs a good list of ListSize indexes with the revoked ones set, with the issuer's
// first key.
func (is *Issuer) SignList(uri string, iat time.Time, ttl int, revoked ...int64) string {
	k := is.Keys()[0]
	return JWS(ListHeader(k), ListClaims(uri, iat, ttl, Bits(ListSize, revoked...)), EdSigner(k))
}

// PublishList serves token at the list id's URI with Cache-Control max-age=ttl.
func (is *Issuer) PublishList(id, token string, ttl int) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.lists == nil {
		is.lists = map[string]servedList{}
	}
	is.lists["/v1/status-lists/"+id] = servedList{token, ttl}
}

func (is *Issuer) serveList(w http.ResponseWriter, r *http.Request) {
	is.ListHits.Add(1)
	time.Sleep(time.Duration(is.ListSlow.Load()))
	is.mu.Lock()
	l, ok := is.lists[r.URL.Path]
	is.mu.Unlock()
	switch {
	case is.ListsOut.Load():
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	case !ok:
		http.NotFound(w, r)
	default:
		w.Header().Set("Content-Type", "application/statuslist+jwt")
		w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", l.ttl))
		_, _ = w.Write([]byte(l.token))
	}
}
