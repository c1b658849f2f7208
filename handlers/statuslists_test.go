package handlers

// GET /v1/status-lists/{id} as an offline verifier sees it: a statuslist+jwt signed by an
// entitlement key of the JWKS, with the claims and bit order of the IETF draft, cacheable for its
// ttl and revalidated by ETag; a removed member's bit is set in the very next answer, and
// introspection refuses that member's token.

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"

	"entitled/models"
	"entitled/models/storetest"
	"github.com/entitled-dev/entitled/verify"
)

// statusRef is the status claim of an entitlement token: the list's path on this server and
// the index.
func statusRef(t testing.TB, token string) (path string, idx int64) {
	t.Helper()
	st, _ := segment(t, token, 1)["status"].(map[string]any)
	sl, _ := st["status_list"].(map[string]any)
	uri, _ := sl["uri"].(string)
	n, ok := sl["idx"].(float64)
	path, cut := strings.CutPrefix(uri, testBaseURL+"/v1/status-lists/")
	if !ok || !cut || path == "" {
		t.Fatalf("token status claim %v: want {status_list: {idx, uri: %s/v1/status-lists/<id>}}", st, testBaseURL)
	}
	return "/v1/status-lists/" + path, int64(n)
}

// statusListClaims are a served list's claims.
type statusListClaims struct {
	jwt.RegisteredClaims
	TTL        int64 `json:"ttl"`
	StatusList struct {
		Bits int    `json:"bits"`
		Lst  string `json:"lst"`
	} `json:"status_list"`
}

// fetchStatusList GETs a list, checks the answer's headers and the JWT's signature against the
// JWKS, and returns its claims, its bits and its ETag.
func (a *testApp) fetchStatusList(t testing.TB, path string) (*statusListClaims, []byte, string) {
	t.Helper()
	r := a.do(t, "GET", path, "", nil)
	want(t, r, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/statuslist+jwt" {
		t.Errorf("Content-Type %q, want application/statuslist+jwt", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "public, max-age=300" {
		t.Errorf("Cache-Control %q, want public, max-age=300 (ENTITLED_STATUS_LIST_TTL's default)", cc)
	}
	etag := r.header.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
		t.Errorf("ETag %q, want a strong entity tag", etag)
	}
	keys := a.jwksKeys(t)
	var claims statusListClaims
	_, err := jwt.ParseWithClaims(string(r.raw), &claims, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != models.TypStatusList {
			t.Errorf("typ %q, want statuslist+jwt", typ)
		}
		kid, _ := tok.Header["kid"].(string)
		k := keys[kid]
		if k == nil || k["use"] != "sig" {
			t.Fatalf("kid %q is not a published signing key: %v", kid, k)
		}
		x, err := base64.RawURLEncoding.DecodeString(k["x"].(string))
		return ed25519.PublicKey(x), err
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(a.clock.Now))
	if err != nil {
		t.Fatalf("the list does not verify with the JWKS: %v", err)
	}
	bits, err := models.DecodeStatusList(claims.StatusList.Lst)
	if err != nil {
		t.Fatalf("lst: %v", err)
	}
	return &claims, bits, etag
}

func TestStatusList_SignedCacheableAndFlippedByARemoval(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln, admin, _ := a.tokenLicense(t)
		lu := a.newUser(t)
		want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+lu.email, admin.token, map[string]any{"roles": []string{"license"}}), http.StatusOK)
		adminTok, luTok := a.token(t, admin, ln, "downloads"), a.token(t, lu, ln, "kb")
		path, adminIdx := statusRef(t, adminTok)
		luPath, luIdx := statusRef(t, luTok)
		if luPath != path || luIdx == adminIdx {
			t.Fatalf("two grants: %s#%d and %s#%d, want one list and two indexes", path, adminIdx, luPath, luIdx)
		}
		if _, again := statusRef(t, a.token(t, admin, ln, "kb")); again != adminIdx {
			t.Errorf("a second token of the admin's grant has index %d, want %d", again, adminIdx)
		}

		claims, bits, etag := a.fetchStatusList(t, path)
		if claims.Subject != testBaseURL+path {
			t.Errorf("sub %q, want its own uri %s", claims.Subject, testBaseURL+path)
		}
		if !claims.IssuedAt.Equal(a.clock.Now().Truncate(time.Second)) || claims.ExpiresAt.Sub(claims.IssuedAt.Time) != 24*time.Hour {
			t.Errorf("iat %v exp %v, want now and now + 24 h", claims.IssuedAt, claims.ExpiresAt)
		}
		if claims.TTL != 300 || claims.StatusList.Bits != 1 || len(bits) != models.StatusListSize/8 {
			t.Errorf("ttl %d, bits %d, %d bytes; want 300, 1 and 2^17 bits", claims.TTL, claims.StatusList.Bits, len(bits))
		}
		if models.StatusBit(bits, adminIdx) || models.StatusBit(bits, luIdx) {
			t.Error("a bit is set before anything changed")
		}
		r := a.do(t, "GET", path, "", nil, "If-None-Match", etag)
		if r.status != http.StatusNotModified || len(r.raw) != 0 || r.header.Get("ETag") != etag {
			t.Errorf("revalidation: %d, %d bytes, ETag %q; want 304, none, %s", r.status, len(r.raw), r.header.Get("ETag"), etag)
		}

		want(t, a.do(t, "DELETE", "/v1/licenses/"+ln+"/members/"+lu.email, admin.token, nil), http.StatusNoContent)
		r = a.do(t, "GET", path, "", nil, "If-None-Match", etag)
		want(t, r, http.StatusOK)
		_, bits, etag2 := a.fetchStatusList(t, path)
		if etag2 == etag {
			t.Error("the ETag did not change with the bits")
		}
		if !models.StatusBit(bits, luIdx) || models.StatusBit(bits, adminIdx) {
			t.Errorf("after the removal: removed member's bit %v, admin's %v; want true, false", models.StatusBit(bits, luIdx), models.StatusBit(bits, adminIdx))
		}
		key := a.newAPIKey(t, models.ScopeEntitlementsIntrospect)
		if active(a.introspect(t, key, luTok)) || !active(a.introspect(t, key, adminTok)) {
			t.Error("introspection after the removal: the removed member's token is active, or the admin's is not")
		}
	})
}

func TestStatusList_UnknownIsNotFound(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		for _, path := range []string{"/v1/status-lists/999999", "/v1/status-lists/0", "/v1/status-lists/abc"} {
			want(t, a.do(t, "GET", path, "", nil), http.StatusNotFound, models.CodeNotFound)
		}
	})
}

// BenchmarkStatusList serves one list through the whole router (middleware, metrics, access
// log, the in-memory list) and, for scale, a bare Gin engine answering a constant of the same
// size; the ratio is the router's cost per list served.
//
//	go test -run x -bench StatusList -benchtime 3s ./handlers/
func BenchmarkStatusList(b *testing.B) {
	for _, d := range storetest.Dialects(b) {
		b.Run(string(d), func(b *testing.B) {
			a := newTestApp(b, d)
			ln, admin, _ := a.tokenLicense(b)
			path, _ := statusRef(b, a.token(b, admin, ln, "downloads"))
			list := a.do(b, "GET", path, "", nil).raw
			serve := func(b *testing.B, h http.Handler) {
				req := httptest.NewRequest("GET", path, nil)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != http.StatusOK {
						b.Fatalf("status %d", w.Code)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lists/s")
			}
			b.Run("router", func(b *testing.B) { serve(b, a.handler) })
			b.Run("bare-gin", func(b *testing.B) {
				gin.SetMode(gin.ReleaseMode)
				r := gin.New()
				r.GET("/v1/status-lists/:id", func(c *gin.Context) { c.Data(http.StatusOK, "application/statuslist+jwt", list) })
				serve(b, r)
			})
		})
	}
}

// The status lists' promise, end to end: a verifier that is offline from entitled but for the
// JWKS and one status list every ttl refuses a removed member's token within ttl (here: the
// token still has 10 minutes to live), and a token of a grant that did not change stays valid.
func TestStatusLists_AnOfflineVerifierRefusesARemovedMembersTokenWithinTTL(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ctx := context.Background()
		ln, admin, _ := a.tokenLicense(t)
		member := a.newUser(t)
		want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+member.email, admin.token, map[string]any{"roles": []string{"support"}}), http.StatusOK)
		removed, kept := a.token(t, member, ln, "downloads"), a.token(t, admin, ln, "downloads")
		v := a.verifier(t, "downloads", verify.JWKSOptions{})
		for _, tok := range []string{removed, kept} {
			if c, err := v.Verify(ctx, tok); err != nil || c.Status == nil {
				t.Fatalf("before the removal: %+v, %v; want a valid token with a status claim", c, err)
			}
		}

		want(t, a.do(t, "DELETE", "/v1/licenses/"+ln+"/members/"+member.email, admin.token, nil), http.StatusNoContent)
		// One ttl (ENTITLED_STATUS_LIST_TTL, 300 s by default) later, the verifier has fetched the
		// list again: the removed member's token is refused as revoked; the admin's is not.
		a.clock.Advance(models.StatusListTTL + time.Second)
		_, err := v.Verify(ctx, removed)
		var ve *verify.Error
		if !errors.As(err, &ve) || ve.Code != verify.ReasonRevoked {
			t.Fatalf("a removed member's token one ttl later: %v, want %s", err, verify.ReasonRevoked)
		}
		if _, err := v.Verify(ctx, kept); err != nil {
			t.Errorf("the admin's token: %v", err)
		}
		// Introspection agrees.
		if active(a.introspect(t, a.newAPIKey(t, models.ScopeEntitlementsIntrospect), removed)) {
			t.Error("introspection says the removed member's token is active")
		}
	})
}
