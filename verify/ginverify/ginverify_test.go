package ginverify_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"github.com/entitled-dev/entitled/verify"
	"github.com/entitled-dev/entitled/verify/ginverify"
)

type fixedKey struct{ pub ed25519.PublicKey }

func (k fixedKey) PublicKey(_ context.Context, kid string) (ed25519.PublicKey, error) {
	return k.pub, nil
}

// The Gin adapter gates a route like the net/http middleware: 401, 403 with the reason, or the
// handler with the claims.
func TestRequire(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	v, err := verify.NewWithKeys(fixedKey{pub}, verify.Options{Issuer: "https://entitled.example", Audience: []string{"kb"}})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/articles/:id", ginverify.Require(v, verify.SupportKB), func(c *gin.Context) {
		c.String(http.StatusOK, ginverify.Claims(c).License)
	})
	sign := func(ent ...string) string {
		now := time.Now()
		sum := sha256.Sum256(pub)
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, &verify.Claims{Issuer: "https://entitled.example", Audience: "kb", Subject: "1",
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), License: "LN-1",
			Roles: []string{"support"}, Entitlements: ent, Support: verify.Support{Status: "lapsed"}})
		tk.Header["typ"], tk.Header["kid"] = verify.TypEntitlement, base64.RawURLEncoding.EncodeToString(sum[:])
		s, _ := tk.SignedString(priv)
		return s
	}
	for _, tc := range []struct {
		auth   string
		status int
		body   string
	}{
		{"", 401, ""},
		{"Bearer " + sign(verify.AssetsRead), 403, `"code":"support_lapsed"`},
		{"Bearer " + sign(verify.SupportKB), 200, "LN-1"},
	} {
		req := httptest.NewRequest("GET", "/articles/7", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != tc.status || (tc.body != "" && !strings.Contains(rec.Body.String(), tc.body)) {
			t.Errorf("%q: %d %s, want %d with %s", tc.auth, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
}

// A revoked token (its bit set in entitled's status list) is answered as verify answers it:
// 401 with the code revoked.
func TestRequire_PassesRevokedThrough(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sum := sha256.Sum256(pub)
	kid := base64.RawURLEncoding.EncodeToString(sum[:])
	sign := func(typ string, claims jwt.Claims) string {
		tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		tk.Header["typ"], tk.Header["kid"] = typ, kid
		s, err := tk.SignedString(priv)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var list string // the status list, signed once the server's URL is known
	entitled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/status-lists/1" {
			w.Header().Set("Content-Type", "application/statuslist+jwt")
			_, _ = w.Write([]byte(list))
			return
		}
		_, _ = fmt.Fprintf(w, `{"keys":[{"kty":"OKP","crv":"Ed25519","x":%q,"kid":%q}]}`, base64.RawURLEncoding.EncodeToString(pub), kid)
	}))
	defer entitled.Close()
	uri := entitled.URL + "/v1/status-lists/1"
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	_, _ = zw.Write([]byte{0x01, 0, 0, 0}) // index 0 revoked
	_ = zw.Close()
	now := time.Now()
	list = sign(verify.TypStatusList, jwt.MapClaims{"sub": uri, "iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix(), "ttl": 300,
		"status_list": map[string]any{"bits": 1, "lst": base64.RawURLEncoding.EncodeToString(z.Bytes())}})

	v, err := verify.New(entitled.URL+"/.well-known/jwks.json", verify.Options{Issuer: entitled.URL, Audience: []string{"kb"}})
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/articles/:id", ginverify.Require(v, verify.SupportKB), func(c *gin.Context) { c.String(http.StatusOK, "the article") })
	for _, tc := range []struct {
		idx    int64
		status int
		body   string
	}{{0, 401, `"code":"revoked"`}, {1, 200, "the article"}} {
		req := httptest.NewRequest("GET", "/articles/7", nil)
		req.Header.Set("Authorization", "Bearer "+sign(verify.TypEntitlement, &verify.Claims{Issuer: entitled.URL, Audience: "kb", Subject: "1",
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), Entitlements: []string{verify.SupportKB},
			Status: &verify.StatusClaim{StatusList: verify.StatusListRef{Index: tc.idx, URI: uri}}}))
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("index %d: %d %s, want %d with %s", tc.idx, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
}
