package handlers

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"entitled/handlers/handlerstest"
	"entitled/models"
	"entitled/models/store"
	"github.com/entitled-dev/entitled/verify"
)

// withKeys sets the signing keys' options (JWKS max-age, token TTL, re-read interval).
func withKeys(o models.KeyringOptions) appOption { return func(c *handlerstest.Options) { c.Keys = o } }

// withSystemClock runs the app on the real clock, for tests of timing.
func withSystemClock() appOption { return func(c *handlerstest.Options) { c.SystemClock = true } }

// tokenLicense orders a perpetual license with standard support and premier (2025-07-01 to
// 2026-06-30: active at testStart) for a product with versions 1.0 (2025-06-01), 2.0
// (2026-09-01, scheduled) and 0.9 (discontinued), and registers a fresh admin.
func (a *testApp) tokenLicense(t testing.TB) (ln string, admin *testUser, contractID string) {
	t.Helper()
	return a.supportedLicense(t, a.newStaff(t, models.RoleOps).token,
		map[string]any{"program": "standard", "premier": true, "starts_on": "2025-07-01", "ends_on": "2026-06-30"})
}

// token asks for an entitlement token and checks the 201.
func (a *testApp) token(t testing.TB, u *testUser, ln, audience string) string {
	t.Helper()
	r := a.do(t, "POST", "/v1/entitlements/token", u.token, map[string]string{"license_number": ln, "audience": audience})
	want(t, r, http.StatusCreated)
	tok := r.str("token")
	if tok == "" {
		t.Fatalf("token answer has no token: %s", r)
	}
	return tok
}

// introspect POSTs the RFC 7662 form with the key.
func (a *testApp) introspect(t testing.TB, key, token string) *resp {
	t.Helper()
	r := a.do(t, "POST", "/v1/entitlements/introspect", key, "token="+url.QueryEscape(token), "Content-Type", "application/x-www-form-urlencoded")
	want(t, r, http.StatusOK)
	return r
}

func active(r *resp) bool { b, _ := r.body["active"].(bool); return b }

// verifier is what another service builds: the JWKS of this app, its issuer, one audience, and
// the app's clock.
func (a *testApp) verifier(t testing.TB, audience string, jo verify.JWKSOptions) *verify.Verifier {
	t.Helper()
	if jo.Client == nil {
		jo.Client = a.srv.Client()
	}
	now := time.Now
	if a.clock != nil && a.store.Clock == models.Clock(a.clock) {
		now = a.clock.Now
	}
	v, err := verify.New(a.srv.URL+"/.well-known/jwks.json", verify.Options{Issuer: testBaseURL, Audience: []string{audience}, Now: now, JWKS: jo})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// jwksKeys fetches the JWKS and returns its keys by kid.
func (a *testApp) jwksKeys(t testing.TB) map[string]map[string]any {
	t.Helper()
	r := a.do(t, "GET", "/.well-known/jwks.json", "", nil)
	want(t, r, http.StatusOK)
	out := map[string]map[string]any{}
	for _, k := range r.body["keys"].([]any) {
		m := k.(map[string]any)
		out[m["kid"].(string)] = m
	}
	return out
}

// segment decodes one part of a compact JWS.
func segment(t testing.TB, token string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("segment %d: %v", i, err)
	}
	return m
}

// The JWKS lists every published key — one per purpose on a fresh server — as OKP/Ed25519 with
// alg, use and the RFC 7638 thumbprint as kid; it is cacheable for ENTITLED_JWKS_MAX_AGE and
// revalidates with its ETag (304), which changes when a key is rotated in.
func TestJWKS_PublishesKeysCacheableWithETag(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		r := a.do(t, "GET", "/.well-known/jwks.json", "", nil)
		want(t, r, http.StatusOK)
		if cc := r.header.Get("Cache-Control"); cc != "public, max-age=300" {
			t.Errorf("Cache-Control %q, want public, max-age=300", cc)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
		etag := r.header.Get("ETag")
		if !strings.HasPrefix(etag, `"`) {
			t.Fatalf("ETag %q, want a strong entity tag", etag)
		}
		keys := r.body["keys"].([]any)
		if len(keys) != 2 {
			t.Fatalf("a fresh server publishes %d keys, want 2 (entitlement and license): %s", len(keys), r)
		}
		for _, k := range keys {
			m := k.(map[string]any)
			if m["kty"] != "OKP" || m["crv"] != "Ed25519" || m["alg"] != "EdDSA" || m["use"] != "sig" {
				t.Errorf("key %v: want kty OKP, crv Ed25519, alg EdDSA, use sig", m)
			}
			if len(m) != 6 {
				t.Errorf("key %v has members beyond kty, crv, x, kid, alg, use", m)
			}
			x, err := base64.RawURLEncoding.DecodeString(m["x"].(string))
			if err != nil || len(x) != ed25519.PublicKeySize {
				t.Fatalf("x %v is not a base64url Ed25519 key", m["x"])
			}
			sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + m["x"].(string) + `"}`))
			if want := base64.RawURLEncoding.EncodeToString(sum[:]); m["kid"] != want {
				t.Errorf("kid %v, want the RFC 7638 thumbprint %s", m["kid"], want)
			}
		}

		r = a.do(t, "GET", "/.well-known/jwks.json", "", nil, "If-None-Match", etag)
		if r.status != http.StatusNotModified || len(r.raw) != 0 {
			t.Errorf("If-None-Match with the ETag: got %s, want 304 without a body", r)
		}
		if _, err := a.keys.Rotate(context.Background(), models.PurposeEntitlement, false, models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		r = a.do(t, "GET", "/.well-known/jwks.json", "", nil, "If-None-Match", etag)
		want(t, r, http.StatusOK)
		if r.header.Get("ETag") == etag || len(r.body["keys"].([]any)) != 3 {
			t.Errorf("after a rotation: ETag %q (was %q), %d keys, want a new ETag and 3 keys (the next one published at once)",
				r.header.Get("ETag"), etag, len(r.body["keys"].([]any)))
		}
	})
}

// A token from the real router verifies with the verifier package against the real JWKS, and
// carries exactly the contract's claims with the right values.
func TestToken_RoundTripWithEveryClaim(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln, admin, _ := a.tokenLicense(t)
		r := a.do(t, "POST", "/v1/entitlements/token", admin.token, map[string]string{"license_number": strings.ToLower(ln), "audience": "downloads"})
		want(t, r, http.StatusCreated)
		tok := r.str("token")
		if exp := r.str("expires_at"); exp != testStart.Add(15*time.Minute).Format(time.RFC3339) {
			t.Errorf("expires_at %q, want %s", exp, testStart.Add(15*time.Minute).Format(time.RFC3339))
		}

		head := segment(t, tok, 0)
		keys := a.jwksKeys(t)
		kid, _ := head["kid"].(string)
		if head["alg"] != "EdDSA" || head["typ"] != "ent+jwt" || keys[kid] == nil || len(head) != 3 {
			t.Errorf("header %v: want alg EdDSA, typ ent+jwt and the kid of a published key", head)
		}
		raw := segment(t, tok, 1)
		if got := strings.Join(slices.Sorted(maps.Keys(raw)), ","); got != "acct,aud,ent,exp,iat,iss,jti,lic,nbf,roles,status,sub,support,ver" {
			t.Errorf("claims %s, want exactly the contract's", got)
		}
		if raw["aud"] != "downloads" {
			t.Errorf("aud %v, want the string downloads", raw["aud"])
		}

		c, err := a.verifier(t, "downloads", verify.JWKSOptions{}).Verify(context.Background(), tok)
		if err != nil {
			t.Fatalf("the verifier refuses a fresh token: %v", err)
		}
		lic := a.do(t, "GET", "/v1/licenses/"+ln, admin.token, nil)
		want(t, lic, http.StatusOK)
		sup := a.support(t, admin.token, ln, "")
		var allowed []string
		for name, v := range ents(t, sup) {
			if v == "allowed" {
				allowed = append(allowed, name)
			}
		}
		checks := []struct {
			claim     string
			got, want any
		}{
			{"iss", c.Issuer, testBaseURL},
			{"sub", c.Subject, admin.id},
			{"iat", c.IssuedAt.Unix(), testStart.Unix()},
			{"nbf", c.NotBefore.Unix(), testStart.Unix()},
			{"exp", c.ExpiresAt.Unix(), testStart.Add(15 * time.Minute).Unix()},
			{"jti length", len(c.ID), 22},
			{"acct", c.Account, lic.str("account_id")},
			{"lic", c.License, ln},
			{"roles", strings.Join(c.Roles, ","), "admin,support,license"},
			{"ent", strings.Join(c.Entitlements, ","), strings.Join(models.EntitlementNames(), ",")},
			{"ent = support's allowed", len(c.Entitlements), len(allowed)},
			{"support.status", c.Support.Status, "active"},
			{"support.program", *c.Support.Program, "standard"},
			{"support.premier", c.Support.Premier, true},
			{"support.ends_on", *c.Support.EndsOn, "2026-06-30"},
			{"support.hours", *c.Support.Hours, "business"},
			{"support.response_targets", fmt.Sprint(c.Support.ResponseTargets), "map[1:PT30M 2:PT1H 3:PT2H 4:PT4H]"},
			{"ver", c.GrantVersion, int64(1)},
		}
		for _, ch := range checks {
			if fmt.Sprint(ch.got) != fmt.Sprint(ch.want) {
				t.Errorf("%s = %v, want %v", ch.claim, ch.got, ch.want)
			}
		}
		if other := a.token(t, admin, ln, "downloads"); segment(t, other, 1)["jti"] == c.ID {
			t.Errorf("two tokens share the jti %s", c.ID)
		}

		// A License User only: ent is what that role gives, and the support claim is the same.
		lu := a.newUser(t)
		want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+lu.email, admin.token, map[string]any{"roles": []string{"license"}}), http.StatusOK)
		c2, err := a.verifier(t, "kb", verify.JWKSOptions{}).Verify(context.Background(), a.token(t, lu, ln, "kb"))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(c2.Entitlements, ","); got != "assets.read,license.keys" || strings.Join(c2.Roles, ",") != "license" {
			t.Errorf("a License User's token: ent %s, roles %v; want assets.read,license.keys and [license]", got, c2.Roles)
		}
		if ok, reason := verify.CanDownload(c2, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), verify.PhaseFull); ok || reason != verify.ReasonRoleMissing {
			t.Errorf("CanDownload for a License User: %v %q, want role_missing", ok, reason)
		}
	})
}

// Who may not have a token, and why.
func TestToken_Refusals(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln, admin, _ := a.tokenLicense(t)
		body := map[string]string{"license_number": ln, "audience": "downloads"}
		want(t, a.do(t, "POST", "/v1/entitlements/token", a.newUnverifiedUser(t).token, body), http.StatusForbidden, models.CodeEmailUnverified)
		want(t, a.do(t, "POST", "/v1/entitlements/token", a.newUser(t).token, body), http.StatusForbidden, models.CodeNotAMember)
		want(t, a.do(t, "POST", "/v1/entitlements/token", a.newStaff(t, models.RoleSupport).token, body), http.StatusForbidden, models.CodeNotAMember)
		want(t, a.do(t, "POST", "/v1/entitlements/token", a.newAPIKey(t, models.ScopeEntitlementsIntrospect), body), http.StatusForbidden, models.CodeForbidden)
		want(t, a.do(t, "POST", "/v1/entitlements/token", admin.token, map[string]string{"license_number": ln, "audience": "payroll"}),
			http.StatusUnprocessableEntity, models.CodeAudienceNotAllowed)
		bad := []byte(ln)
		bad[len(bad)-1] ^= 1
		want(t, a.do(t, "POST", "/v1/entitlements/token", admin.token, map[string]string{"license_number": string(bad), "audience": "kb"}),
			http.StatusBadRequest, models.CodeInvalidLicenseNumber)
		r := a.do(t, "POST", "/v1/entitlements/token", admin.token, map[string]string{})
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		if f := r.fields(); f["license_number"] != models.FieldRequired || f["audience"] != models.FieldRequired {
			t.Errorf("fields %v, want license_number and audience required", f)
		}
		// A removed member gets no more tokens.
		m := a.newUser(t)
		want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+m.email, admin.token, map[string]any{"roles": []string{"support"}}), http.StatusOK)
		a.token(t, m, ln, "chat")
		want(t, a.do(t, "DELETE", "/v1/licenses/"+ln+"/members/"+m.email, admin.token, nil), http.StatusNoContent)
		want(t, a.do(t, "POST", "/v1/entitlements/token", m.token, map[string]string{"license_number": ln, "audience": "chat"}), http.StatusForbidden, models.CodeNotAMember)
	})
}

// attackTokens are RFC 8725's attacks on a good token: each must be refused by the verifier
// package and be inactive on introspection.
func attackTokens(t *testing.T, a *testApp, good string) map[string]string {
	t.Helper()
	ctx := context.Background()
	var base verify.Claims
	payload := segment(t, good, 1)
	b, _ := json.Marshal(payload)
	if err := json.Unmarshal(b, &base); err != nil {
		t.Fatal(err)
	}
	head := segment(t, good, 0)
	kid := head["kid"].(string)
	x, _ := base64.RawURLEncoding.DecodeString(a.jwksKeys(t)[kid]["x"].(string))
	parts := strings.Split(good, ".")
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	with := func(change func(c *verify.Claims)) *verify.Claims { c := base; change(&c); return &c }
	sign := func(purpose, typ string, c jwt.Claims) string {
		tok, _, err := a.keys.Sign(ctx, purpose, typ, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	foreign := func(method jwt.SigningMethod, key any, header map[string]any) string {
		tk := jwt.NewWithClaims(method, &base)
		for k, v := range header {
			tk.Header[k] = v
		}
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[10] ^= 0x01
	now := a.clock.Now()
	return map[string]string{
		"alg none":                        enc(map[string]any{"alg": "none", "typ": "ent+jwt", "kid": kid}) + "." + parts[1] + ".",
		"HS256 keyed with the public key": foreign(jwt.SigningMethodHS256, x, map[string]any{"typ": "ent+jwt", "kid": kid}),
		"RS256":                           foreign(jwt.SigningMethodRS256, rsaKey, map[string]any{"typ": "ent+jwt", "kid": kid}),
		"wrong typ (JWT)":                 sign(models.PurposeEntitlement, "JWT", &base),
		"no typ":                          sign(models.PurposeEntitlement, "", &base),
		"a license key's typ":             sign(models.PurposeLicense, verify.TypLicense, &base),
		"wrong aud":                       sign(models.PurposeEntitlement, verify.TypEntitlement, with(func(c *verify.Claims) { c.Audience = "payroll" })),
		"wrong iss":                       sign(models.PurposeEntitlement, verify.TypEntitlement, with(func(c *verify.Claims) { c.Issuer = "https://evil.example" })),
		"expired": sign(models.PurposeEntitlement, verify.TypEntitlement, with(func(c *verify.Claims) {
			c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(now.Add(-20*time.Minute)), jwt.NewNumericDate(now.Add(-20*time.Minute)), jwt.NewNumericDate(now.Add(-2*time.Minute))
		})),
		"not yet valid": sign(models.PurposeEntitlement, verify.TypEntitlement, with(func(c *verify.Claims) {
			c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(now.Add(10*time.Minute)), jwt.NewNumericDate(now.Add(10*time.Minute)), jwt.NewNumericDate(now.Add(25*time.Minute))
		})),
		"no exp":                sign(models.PurposeEntitlement, verify.TypEntitlement, with(func(c *verify.Claims) { c.ExpiresAt = nil })),
		"flipped signature bit": parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig),
		"unknown kid": foreign(jwt.SigningMethodEdDSA, stranger, map[string]any{"typ": "ent+jwt",
			"kid": store.Thumbprint(stranger.Public().(ed25519.PublicKey))}),
		"a published kid, another key's signature": foreign(jwt.SigningMethodEdDSA, stranger, map[string]any{"typ": "ent+jwt", "kid": kid}),
		"critical header":                          foreign(jwt.SigningMethodEdDSA, stranger, map[string]any{"typ": "ent+jwt", "kid": kid, "crit": []string{"exp"}}),
		"not a JWT":                                "not.a.token",
	}
}

// RFC 8725's attacks are refused by the verifier package (401 invalid_token) and are inactive on
// introspection, while the good token passes both.
func TestToken_AttacksRefusedByVerifierAndIntrospection(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln, admin, _ := a.tokenLicense(t)
		good := a.token(t, admin, ln, "downloads")
		v := a.verifier(t, "downloads", verify.JWKSOptions{})
		key := a.newAPIKey(t, models.ScopeEntitlementsIntrospect)
		if _, err := v.Verify(context.Background(), good); err != nil {
			t.Fatalf("the good token: %v", err)
		}
		if !active(a.introspect(t, key, good)) {
			t.Fatalf("the good token is not active")
		}
		for name, tok := range attackTokens(t, a, good) {
			_, err := v.Verify(context.Background(), tok)
			var ve *verify.Error
			if !errors.As(err, &ve) || ve.Status != http.StatusUnauthorized || ve.Code != verify.CodeInvalidToken {
				t.Errorf("%s: the verifier answered %v, want 401 invalid_token", name, err)
			}
			if r := a.introspect(t, key, tok); active(r) || len(r.body) != 1 {
				t.Errorf("%s: introspection answered %s, want only {active:false}", name, r)
			}
		}
	})
}

// Introspection is active only while the grant behind the token holds (the same grant version),
// the contract is not terminated and the token has not expired; it never answers an error for a
// token, and takes only the RFC 7662 form.
func TestIntrospection_FollowsGrantsContractAndExpiry(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln, admin, contract := a.tokenLicense(t)
		key := a.newAPIKey(t, models.ScopeEntitlementsIntrospect)
		su := a.newUser(t)
		put := func(roles ...string) {
			want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+su.email, admin.token, map[string]any{"roles": roles}), http.StatusOK)
		}
		put("support")
		tok := a.token(t, su, ln, "support-portal")
		r := a.introspect(t, key, tok)
		if !active(r) || r.str("sub") != su.id || r.str("lic") != ln || r.str("aud") != "support-portal" || r.str("token_type") != "ent+jwt" ||
			r.body["ver"] != float64(1) || r.body["support"].(map[string]any)["status"] != "active" {
			t.Fatalf("introspection of a fresh token: %s", r)
		}

		put("support", "license") // a changed grant
		if active(a.introspect(t, key, tok)) {
			t.Errorf("a token from before the grant changed is still active")
		}
		tok = a.token(t, su, ln, "support-portal")
		if r := a.introspect(t, key, tok); !active(r) || r.body["ver"] != float64(2) {
			t.Errorf("a token of the new grant: %s, want active with ver 2", r)
		}
		want(t, a.do(t, "DELETE", "/v1/licenses/"+ln+"/members/"+su.email, admin.token, nil), http.StatusNoContent) // revoked
		if active(a.introspect(t, key, tok)) {
			t.Errorf("a token of a revoked grant is still active")
		}

		tok = a.token(t, admin, ln, "kb")
		a.travel(t, 15*time.Minute+10*time.Second, time.Time{}, admin)
		if active(a.introspect(t, key, tok)) {
			t.Errorf("an expired token is still active")
		}
		tok = a.token(t, admin, ln, "kb")
		if !active(a.introspect(t, key, tok)) {
			t.Fatalf("a fresh token is not active")
		}
		rs := a.newStaff(t, models.RoleRenewals)
		want(t, a.do(t, "POST", "/v1/contracts/"+contract+"/terminate", rs.token, map[string]any{"reason": "test"}), http.StatusOK)
		if active(a.introspect(t, key, tok)) {
			t.Errorf("a token of a terminated contract is still active")
		}

		for _, tok := range []string{"", "garbage", strings.Repeat("a.", 3)} {
			if r := a.introspect(t, key, tok); active(r) || string(r.raw) != "{\"active\":false}\n" {
				t.Errorf("introspect %q: %s, want {active:false}", tok, r)
			}
		}
		want(t, a.do(t, "POST", "/v1/entitlements/introspect", key, map[string]string{"token": tok}), http.StatusUnsupportedMediaType, models.CodeUnsupportedMedia)
	})
}

// An entitlement key that was rotated out --now keeps verifying the tokens it signed until they
// have expired (it is retiring, still published); then it is retired and unpublished, and a token
// it signed is refused even at a time when the token itself would still be valid.
func TestRotateNow_OldKeyRetiresAfterItsTokensExpire(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ctx := context.Background()
		ln, admin, _ := a.tokenLicense(t)
		key := a.newAPIKey(t, models.ScopeEntitlementsIntrospect)
		issuedAt := a.clock.Now()
		old := a.token(t, admin, ln, "downloads")
		oldKid := segment(t, old, 0)["kid"].(string)

		k, err := a.keys.Rotate(ctx, models.PurposeEntitlement, true, models.SystemActor("test"))
		if err != nil {
			t.Fatal(err)
		}
		fresh := a.token(t, admin, ln, "downloads")
		if kid := segment(t, fresh, 0)["kid"]; kid != k.Kid || k.Kid == oldKid {
			t.Fatalf("after rotate --now the token's kid is %v, want the new key %s", kid, k.Kid)
		}
		for _, tok := range []string{old, fresh} {
			if _, err := a.verifier(t, "downloads", verify.JWKSOptions{}).Verify(ctx, tok); err != nil || !active(a.introspect(t, key, tok)) {
				t.Errorf("during the retiring period a token does not verify: %v", err)
			}
		}
		if a.jwksKeys(t)[oldKid] == nil {
			t.Errorf("the retiring key is not published")
		}

		a.travel(t, 15*time.Minute+2*time.Minute, time.Time{}, admin)
		if err := a.keys.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if a.jwksKeys(t)[oldKid] != nil {
			t.Fatalf("the old key is still published after its last token expired")
		}
		a.clock.Set(issuedAt.Add(time.Minute)) // the old token's own times are valid again
		if _, err := a.verifier(t, "downloads", verify.JWKSOptions{}).Verify(ctx, old); !errors.Is(err, verify.ErrUnknownKey) {
			t.Errorf("a token signed by a retired key: the verifier answered %v, want ErrUnknownKey", err)
		}
		if active(a.introspect(t, key, old)) {
			t.Errorf("a token signed by a retired key is active")
		}
		list, err := a.keys.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		states := map[string]string{}
		for _, k := range list {
			if k.Purpose == models.PurposeEntitlement {
				states[k.Kid] = k.State
			}
		}
		if states[oldKid] != models.KeyRetired || states[k.Kid] != models.KeyActive {
			t.Errorf("key states %v, want the old retired and the new active", states)
		}
	})
}

// The verifier's cache makes one JWKS fetch for many verifications, and one refresh when a token
// names a key it does not know yet (a rotation with --now).
func TestVerifierCache_OneFetchManyVerifications_OneRefreshForANewKid(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ctx := context.Background()
		ln, admin, _ := a.tokenLicense(t)
		v := a.verifier(t, "downloads", verify.JWKSOptions{})
		tok := a.token(t, admin, ln, "downloads")
		for i := 0; i < 200; i++ {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if n := v.JWKS().Fetches(); n != 1 {
			t.Fatalf("200 verifications fetched the JWKS %d times, want 1", n)
		}
		if _, err := a.keys.Rotate(ctx, models.PurposeEntitlement, true, models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		tok = a.token(t, admin, ln, "downloads")
		for i := 0; i < 50; i++ {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if n := v.JWKS().Fetches(); n != 2 {
			t.Errorf("a new kid made %d fetches in all, want 2", n)
		}
		// A flood of tokens naming unknown keys makes no more fetches within the interval.
		_, stranger, _ := ed25519.GenerateKey(rand.Reader)
		for i := 0; i < 50; i++ {
			tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"iss": testBaseURL})
			tk.Header["typ"], tk.Header["kid"] = "ent+jwt", fmt.Sprintf("forged-%d", i)
			s, _ := tk.SignedString(stranger)
			if _, err := v.Verify(ctx, s); err == nil {
				t.Fatal("a forged token verified")
			}
		}
		if n := v.JWKS().Fetches(); n != 2 {
			t.Errorf("forged kids made %d fetches in all, want still 2", n)
		}
	})
}

// Rotation under load: 8 clients ask for tokens and verify them with the verifier package (its
// JWKS cache honouring a 1 s max-age, with early refreshes on unknown kids switched off) while
// the entitlement key is rotated twice; not one verification fails, and three keys sign.
func TestRotationUnderLoad_NoVerificationFails(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		a.keys.Start(ctx)
		ln, admin, _ := a.tokenLicense(t)
		v := a.verifier(t, "downloads", verify.JWKSOptions{MinRefreshInterval: time.Hour})
		// A token naming an unknown key uses up the verifier's one early refresh of the hour, so
		// that only the JWKS max-age can bring it the rotated keys.
		_, stranger, _ := ed25519.GenerateKey(rand.Reader)
		forged := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{})
		forged.Header["typ"], forged.Header["kid"] = "ent+jwt", "unknown"
		s, _ := forged.SignedString(stranger)
		if _, err := v.Verify(ctx, s); !errors.Is(err, verify.ErrUnknownKey) || v.JWKS().Fetches() != 2 {
			t.Fatalf("a forged kid: %v after %d fetches, want ErrUnknownKey after 2", err, v.JWKS().Fetches())
		}
		body := `{"license_number":"` + ln + `","audience":"downloads"}`

		var stop atomic.Bool
		var ok, failed atomic.Int64
		var mu sync.Mutex
		var errs []string
		kids := map[string]int{}
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for !stop.Load() {
					tok, err := issueRaw(a, admin.token, body)
					if err == nil {
						_, err = v.Verify(ctx, tok)
					}
					mu.Lock()
					if err != nil {
						failed.Add(1)
						errs = append(errs, err.Error())
					} else {
						ok.Add(1)
						kids[segment(t, tok, 0)["kid"].(string)]++
					}
					mu.Unlock()
				}
			}()
		}
		rotate := func() {
			k, err := a.keys.Rotate(ctx, models.PurposeEntitlement, false, models.SystemActor("test"))
			if err != nil {
				t.Error(err)
				return
			}
			deadline := time.Now().Add(15 * time.Second)
			for time.Now().Before(deadline) {
				mu.Lock()
				n := kids[k.Kid]
				mu.Unlock()
				if n > 20 {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Errorf("key %s never signed", k.Kid)
		}
		time.Sleep(300 * time.Millisecond)
		rotate()
		rotate()
		time.Sleep(300 * time.Millisecond)
		stop.Store(true)
		wg.Wait()
		if failed.Load() > 0 {
			t.Errorf("%d of %d verifications failed during rotations; first: %v", failed.Load(), failed.Load()+ok.Load(), errs[0])
		}
		if len(kids) != 3 {
			t.Errorf("tokens were signed by %d keys, want 3: %v", len(kids), kids)
		}
		t.Logf("%d tokens issued and verified by %d keys; the verifier fetched the JWKS %d times", ok.Load(), len(kids), v.JWKS().Fetches())
	}, withSystemClock(), withKeys(models.KeyringOptions{MaxAge: time.Second, Refresh: 100 * time.Millisecond}))
}

// postJSONRaw POSTs the JSON body to the path with the session, without testing.T (for
// goroutines), and answers the status and the body.
func postJSONRaw(a *testApp, session, path, body string) (int, []byte, error) {
	req, _ := http.NewRequest("POST", a.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+session)
	req.Header.Set("Content-Type", "application/json")
	res, err := a.srv.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw, nil
}

// issueRaw asks for a token without testing.T (for goroutines).
func issueRaw(a *testApp, session, body string) (string, error) {
	status, raw, err := postJSONRaw(a, session, "/v1/entitlements/token", body)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", fmt.Errorf("token: %d %s", status, raw)
	}
	var out struct{ Token string }
	err = json.Unmarshal(raw, &out)
	return out.Token, err
}

// The offline download rule of the verifier package agrees with the server's for every version
// of a lapsed license: what was released while support was paid stays downloadable.
func TestCanDownload_AgreesWithTheServer(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln, admin, _ := a.tokenLicense(t)
		a.travel(t, 0, time.Date(2026, 8, 1, 9, 0, 0, 0, time.UTC), admin) // lapsed on 2026-07-01
		c, err := a.verifier(t, "downloads", verify.JWKSOptions{}).Verify(context.Background(), a.token(t, admin, ln, "downloads"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Support.Status != "lapsed" || slices.Contains(c.Entitlements, verify.DownloadsRead) {
			t.Fatalf("a lapsed token: status %s, ent %v", c.Support.Status, c.Entitlements)
		}
		for _, v := range []struct{ version, released, phase string }{{"1.0", "2025-06-01", "full"}, {"2.0", "2026-09-01", "full"}, {"0.9", "2024-01-01", "discontinued"}} {
			server := ents(t, a.support(t, admin.token, ln, v.version))[verify.DownloadsRead]
			rel, _ := time.Parse(time.DateOnly, v.released)
			ok, reason := verify.CanDownload(c, rel, v.phase)
			if got := map[bool]string{true: "allowed", false: reason}[ok]; got != server {
				t.Errorf("version %s: offline %s, server %s", v.version, got, server)
			}
		}
	})
}

// An active token's introspection is written from the token's own payload; it says exactly what
// encoding its verified claims says (the same members, the same values), and "active" and
// "token_type" around them.
func TestIntrospection_AnswerIsTheVerifiedClaims(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln, admin, _ := a.tokenLicense(t)
		tok := a.token(t, admin, ln, "downloads")
		key := a.newAPIKey(t, models.ScopeEntitlementsIntrospect)
		got := a.introspect(t, key, tok).body

		claims, err := a.verifier(t, "downloads", verify.JWKSOptions{}).Verify(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		var encoded bytes.Buffer
		if err := jsonEncode(&encoded, introspectJSON{Active: true, Claims: claims, TokenType: verify.TypEntitlement}); err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := json.Unmarshal(encoded.Bytes(), &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("introspection answered\n%v\nwant (the claims encoded)\n%v", got, want)
		}
		if got["active"] != true || got["token_type"] != verify.TypEntitlement || got["lic"] != ln {
			t.Errorf("answer %v", got)
		}
	})
}

// A payload that is not a JSON object with members is not written out (the claims are encoded
// instead); a good one is wrapped.
func TestIntrospectionAnswer_OnlyAnObjectWithMembers(t *testing.T) {
	for _, tc := range []struct {
		token string
		ok    bool
	}{
		{"h.eyJhIjoxfQ.s", true}, // {"a":1}
		{"h.e30.s", false},       // {}
		{"h.W10.s", false},       // []
		{"h.!!.s", false},        // not base64url
		{"h.eyAgfQ.s", false},    // {  }
		{"nodots", false},
	} {
		body, ok := introspectionAnswer(tc.token)
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v", tc.token, ok, tc.ok)
		}
		if ok && string(body) != `{"active":true,"a":1,"token_type":"`+verify.TypEntitlement+"\"}\n" {
			t.Errorf("%s: %s", tc.token, body)
		}
	}
}

// `keys rotate --now` leaves a compromised key published for as long as what it signed may be
// shown (for ever, for a perpetual license key). `keys retire` unpublishes it at once: the JWKS
// no longer has it, introspection refuses the tokens it signed, license keys it signed stop
// verifying offline, and a fresh key signs in its place.
func TestKeysRetire_UnpublishesACompromisedKeyAtOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ctx := context.Background()
		ln, admin, _ := a.tokenLicense(t)
		introspector := a.newAPIKey(t, "entitlements:introspect")

		tok := a.token(t, admin, ln, "kb")
		entKid := segment(t, tok, 0)["kid"].(string)
		lic := a.licenseKey(t, admin, ln, "machine-0001", "1.0")
		want(t, lic, http.StatusCreated)
		licKid := segment(t, lic.str("key"), 0)["kid"].(string)
		if !active(a.introspect(t, introspector, tok)) {
			t.Fatal("a fresh token is not active")
		}

		// The entitlement key is the active one: retiring it puts a successor in its place.
		retired, successor, err := a.keys.Retire(ctx, entKid, models.SystemActor("test"))
		if err != nil {
			t.Fatal(err)
		}
		if retired.State != models.KeyRetired || successor == nil || successor.State != models.KeyActive {
			t.Fatalf("retire the active key: %+v, successor %+v; want retired and a new active key", retired, successor)
		}
		jwks := a.jwksKeys(t)
		if jwks[entKid] != nil {
			t.Errorf("the retired entitlement key is still in the JWKS")
		}
		if jwks[successor.Kid] == nil {
			t.Errorf("the successor %s is not in the JWKS", successor.Kid)
		}
		if active(a.introspect(t, introspector, tok)) {
			t.Errorf("a token signed by the retired key is still active")
		}
		if got := segment(t, a.token(t, admin, ln, "kb"), 0)["kid"]; got != successor.Kid {
			t.Errorf("a new token is signed by %v, want the successor %s", got, successor.Kid)
		}

		// A license signing key replaced by rotate --now stays published while its (perpetual)
		// keys are out; retire takes it out anyway.
		if _, err := a.keys.Rotate(ctx, models.PurposeLicense, true, models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		if a.jwksKeys(t)[licKid] == nil {
			t.Fatal("after rotate --now the old license signing key should still be published")
		}
		if _, successor, err = a.keys.Retire(ctx, licKid, models.SystemActor("test")); err != nil || successor != nil {
			t.Fatalf("retire a retiring key: successor %+v, err %v; want no successor", successor, err)
		}
		if a.jwksKeys(t)[licKid] != nil {
			t.Errorf("the retired license signing key is still in the JWKS")
		}
		if _, err := a.offline(t, lic.str("key"), "machine-0001"); err == nil {
			t.Errorf("a license key signed by the retired key still verifies offline")
		}

		// Again: nothing changes. An unknown kid: not_found.
		if again, successor, err := a.keys.Retire(ctx, licKid, models.SystemActor("test")); err != nil || successor != nil || again.State != models.KeyRetired {
			t.Errorf("retire twice: %+v, %+v, %v", again, successor, err)
		}
		if _, _, err := a.keys.Retire(ctx, "no-such-kid", models.SystemActor("test")); store.ErrorCode(err) != models.CodeNotFound {
			t.Errorf("retire an unknown kid: %v, want not_found", err)
		}
	})
}
