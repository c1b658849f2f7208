package ginverify_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"entitled/verify"
	"entitled/verify/ginverify"
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
