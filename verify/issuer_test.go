package verify_test

import (
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
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"entitled/verify"
)

// testIssuer stands in for entitled: it serves a JWKS of its keys with Cache-Control max-age
// and an ETag, counts the fetches, and signs tokens. It serves the status lists published with
// PublishList under /v1/status-lists/ (statuslist_test.go).
type testIssuer struct {
	*httptest.Server
	mu       sync.Mutex
	keys     []ed25519.PrivateKey
	maxAge   int
	fetches  atomic.Int64
	notModif atomic.Int64
	lists    map[string]servedList // by path
	listsOut atomic.Bool           // the lists answer 503, as when entitled cannot be reached
	listHits atomic.Int64
	listSlow atomic.Int64 // the lists answer after this many nanoseconds
}

func newTestIssuer(maxAge int) *testIssuer {
	is := &testIssuer{maxAge: maxAge}
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

// newOfflineIssuer is a test issuer, closed when the test ends, and its JWKS as a product that
// verifies offline holds it.
func newOfflineIssuer(t testing.TB) (*testIssuer, verify.StaticKeys) {
	t.Helper()
	is := newTestIssuer(300)
	t.Cleanup(is.Close)
	keys, err := verify.ParseJWKS(is.jwks())
	if err != nil {
		t.Fatal(err)
	}
	return is, keys
}

func thumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// AddKey publishes a new key, which signs from then on.
func (is *testIssuer) AddKey() ed25519.PrivateKey {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	is.mu.Lock()
	is.keys = append(is.keys, priv)
	is.mu.Unlock()
	return priv
}

func (is *testIssuer) jwks() []byte {
	is.mu.Lock()
	defer is.mu.Unlock()
	var keys []map[string]string
	for _, k := range is.keys {
		pub := k.Public().(ed25519.PublicKey)
		keys = append(keys, map[string]string{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub),
			"kid": thumbprint(pub), "alg": "EdDSA", "use": "sig"})
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

func (is *testIssuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	is.fetches.Add(1)
	body := is.jwks()
	sum := sha256.Sum256(body)
	etag := fmt.Sprintf(`"%x"`, sum[:8])
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", is.maxAge))
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		is.notModif.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// JWKSURL is where the key set is.
func (is *testIssuer) JWKSURL() string { return is.URL + "/.well-known/jwks.json" }

// Claims are good claims for the downloads service at now, for a Support User of a license
// whose support lapsed on 2026-06-30.
func (is *testIssuer) Claims(now time.Time) *verify.Claims {
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
func (is *testIssuer) Sign(c jwt.Claims) string {
	is.mu.Lock()
	k := is.keys[len(is.keys)-1]
	is.mu.Unlock()
	return signWith(k, verify.TypEntitlement, c)
}

func signWith(k ed25519.PrivateKey, typ string, c jwt.Claims) string {
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	t.Header["typ"] = typ
	t.Header["kid"] = thumbprint(k.Public().(ed25519.PublicKey))
	s, err := t.SignedString(k)
	if err != nil {
		panic(err)
	}
	return s
}
