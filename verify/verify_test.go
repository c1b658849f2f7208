package verify_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entitled-dev/entitled/verify"
	"github.com/entitled-dev/entitled/verify/verifytest"
)

// clock is a settable clock for the verifier and its cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var t0 = time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)

func setup(t testing.TB, maxAge int, jo verify.JWKSOptions) (*verifytest.Issuer, *verify.Verifier, *clock) {
	t.Helper()
	return setupWith(t, maxAge, verify.Options{JWKS: jo})
}

// setupWith is setup with more options; Issuer, Audience and Now are the test issuer's, the
// audience downloads and the test clock.
func setupWith(t testing.TB, maxAge int, o verify.Options) (*verifytest.Issuer, *verify.Verifier, *clock) {
	t.Helper()
	is := verifytest.NewIssuer(maxAge)
	t.Cleanup(is.Close)
	c := &clock{t: t0}
	o.Issuer, o.Audience, o.Now = is.URL, []string{"downloads"}, c.Now
	v, err := verify.New(is.JWKSURL(), o)
	if err != nil {
		t.Fatal(err)
	}
	return is, v, c
}

func TestNew_RequiresIssuerAndAudience(t *testing.T) {
	for _, o := range []verify.Options{{Audience: []string{"kb"}}, {Issuer: "https://e.example"}} {
		if _, err := verify.New("https://e.example/.well-known/jwks.json", o); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", o)
		}
	}
	if _, err := verify.New("", verify.Options{Issuer: "https://e.example", Audience: []string{"kb"}}); err == nil {
		t.Error("New without a JWKS URL succeeded")
	}
}

// A good token verifies and its claims come back as signed; the typ header is compared as RFC
// 7515 says (case-insensitive, "application/" optional).
func TestVerify_GoodTokenAndItsClaims(t *testing.T) {
	is, v, _ := setup(t, 300, verify.JWKSOptions{})
	want := is.Claims(t0)
	c, err := v.Verify(context.Background(), is.Sign(want))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(c)
	if string(a) != string(b) {
		t.Errorf("claims\n got %s\nwant %s", b, a)
	}
	if !c.Has(verify.AssetsRead) || c.Has(verify.DownloadsRead) || !c.Expires().Equal(t0.Add(15*time.Minute)) {
		t.Errorf("Has/Expires: %v", c)
	}
	for _, typ := range []string{"ENT+JWT", "application/ent+jwt"} {
		if _, err := v.Verify(context.Background(), verifytest.SignWith(is.Keys()[0], typ, want)); err != nil {
			t.Errorf("typ %q: %v", typ, err)
		}
	}
}

// RFC 8725's attacks, and tokens that are simply not good, are all 401 invalid_token.
func TestVerify_RefusesRFC8725Attacks(t *testing.T) {
	is, v, _ := setup(t, 300, verify.JWKSOptions{})
	good := is.Claims(t0)
	with := func(f func(c *verify.Claims)) *verify.Claims { c := *good; f(&c); return &c }
	key := is.Keys()[0]
	pub := key.Public().(ed25519.PublicKey)
	kid := verifytest.Thumbprint(pub)
	foreign := func(m jwt.SigningMethod, k any, typ string) string {
		tk := jwt.NewWithClaims(m, good)
		tk.Header["typ"], tk.Header["kid"] = typ, kid
		s, err := tk.SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	ok := is.Sign(good)
	parts := strings.Split(ok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[0] ^= 0x80
	noKid := jwt.NewWithClaims(jwt.SigningMethodEdDSA, good)
	noKid.Header["typ"] = "ent+jwt"
	noKidS, _ := noKid.SignedString(key)
	crit := jwt.NewWithClaims(jwt.SigningMethodEdDSA, good)
	crit.Header["typ"], crit.Header["kid"], crit.Header["crit"] = "ent+jwt", kid, []string{"b64"}
	critS, _ := crit.SignedString(key)

	attacks := map[string]struct {
		token string
		cause error
	}{
		"alg none":                        {enc(map[string]string{"alg": "none", "typ": "ent+jwt", "kid": kid}) + "." + parts[1] + ".", jwt.ErrTokenSignatureInvalid},
		"HS256 keyed with the public key": {foreign(jwt.SigningMethodHS256, []byte(pub), "ent+jwt"), jwt.ErrTokenSignatureInvalid},
		"RS256":                           {foreign(jwt.SigningMethodRS256, rsaKey, "ent+jwt"), jwt.ErrTokenSignatureInvalid},
		"wrong typ":                       {verifytest.SignWith(key, "JWT", good), verify.ErrWrongType},
		"a license key":                   {verifytest.SignWith(key, verify.TypLicense, good), verify.ErrWrongType},
		"no kid":                          {noKidS, verify.ErrNoKeyID},
		"critical header":                 {critS, verify.ErrCritical},
		"wrong aud":                       {is.Sign(with(func(c *verify.Claims) { c.Audience = "kb" })), jwt.ErrTokenInvalidAudience},
		"no aud":                          {is.Sign(with(func(c *verify.Claims) { c.Audience = "" })), jwt.ErrTokenRequiredClaimMissing},
		"wrong iss":                       {is.Sign(with(func(c *verify.Claims) { c.Issuer = "https://evil.example" })), jwt.ErrTokenInvalidIssuer},
		"expired beyond the leeway": {is.Sign(with(func(c *verify.Claims) {
			c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(t0.Add(-20*time.Minute)), jwt.NewNumericDate(t0.Add(-20*time.Minute)), jwt.NewNumericDate(t0.Add(-61*time.Second))
		})), jwt.ErrTokenExpired},
		"not yet valid": {is.Sign(with(func(c *verify.Claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(2 * time.Minute)) })), jwt.ErrTokenNotValidYet},
		"issued in the future": {is.Sign(with(func(c *verify.Claims) {
			c.IssuedAt, c.NotBefore = jwt.NewNumericDate(t0.Add(5*time.Minute)), nil
		})), jwt.ErrTokenUsedBeforeIssued},
		"no exp":                {is.Sign(with(func(c *verify.Claims) { c.ExpiresAt = nil })), jwt.ErrTokenRequiredClaimMissing},
		"flipped signature bit": {parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig), jwt.ErrTokenSignatureInvalid},
		"unknown kid":           {verifytest.SignWith(stranger, "ent+jwt", good), verify.ErrUnknownKey},
		"published kid, another key": {func() string {
			tk := jwt.NewWithClaims(jwt.SigningMethodEdDSA, good)
			tk.Header["typ"], tk.Header["kid"] = "ent+jwt", kid
			s, _ := tk.SignedString(stranger)
			return s
		}(), jwt.ErrTokenSignatureInvalid},
		"not a JWT": {"eyJhbGciOiJFZERTQSJ9.e30", jwt.ErrTokenMalformed},
	}
	for name, at := range attacks {
		_, err := v.Verify(context.Background(), at.token)
		var ve *verify.Error
		if !errors.As(err, &ve) || ve.Status != 401 || ve.Code != verify.CodeInvalidToken || ve.Detail == "" {
			t.Errorf("%s: %v, want 401 invalid_token", name, err)
			continue
		}
		if !errors.Is(err, at.cause) {
			t.Errorf("%s: %v, want it caused by %v", name, err, at.cause)
		}
	}
	// Within the leeway (a minute) exp and nbf are forgiven.
	if _, err := v.Verify(context.Background(), is.Sign(with(func(c *verify.Claims) { c.ExpiresAt = jwt.NewNumericDate(t0.Add(-30 * time.Second)) }))); err != nil {
		t.Errorf("expired 30 s ago, within the leeway: %v", err)
	}
}

// The cache fetches once for many verifications, keeps the key set for its max-age, then
// revalidates with If-None-Match (a 304 keeps the keys).
func TestJWKS_HonoursMaxAgeAndRevalidates(t *testing.T) {
	is, v, c := setup(t, 60, verify.JWKSOptions{})
	tok := is.Sign(is.Claims(t0))
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := is.Fetches.Load(); n != 1 {
		t.Fatalf("100 verifications: %d fetches, want 1", n)
	}
	c.Advance(59 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil || is.Fetches.Load() != 1 {
		t.Fatalf("within max-age: %v, %d fetches", err, is.Fetches.Load())
	}
	c.Advance(2 * time.Second)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if is.Fetches.Load() != 2 || is.NotModified.Load() != 1 {
		t.Errorf("after max-age: %d fetches (%d not modified), want 2 (1)", is.Fetches.Load(), is.NotModified.Load())
	}
}

// A new kid is fetched at once, once; a flood of unknown kids costs one fetch per interval.
func TestJWKS_UnknownKidRefreshesOnceAndIsRateLimited(t *testing.T) {
	is, v, c := setup(t, 300, verify.JWKSOptions{MinRefreshInterval: 30 * time.Second})
	ctx := context.Background()
	if _, err := v.Verify(ctx, is.Sign(is.Claims(t0))); err != nil {
		t.Fatal(err)
	}
	is.AddKey() // rotated in at once
	tok := is.Sign(is.Claims(t0))
	for i := 0; i < 20; i++ {
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("a token of the new key: %v", err)
		}
	}
	if n := is.Fetches.Load(); n != 2 {
		t.Fatalf("a new kid: %d fetches, want 2", n)
	}
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	for i := 0; i < 100; i++ {
		if _, err := v.Verify(ctx, verifytest.SignWith(stranger, "ent+jwt", is.Claims(t0))); !errors.Is(err, verify.ErrUnknownKey) {
			t.Fatalf("a forged kid: %v", err)
		}
	}
	if n := is.Fetches.Load(); n != 2 {
		t.Errorf("100 forged kids right after a refresh: %d fetches, want still 2", n)
	}
	c.Advance(31 * time.Second)
	for i := 0; i < 100; i++ {
		_, _ = v.Verify(ctx, verifytest.SignWith(stranger, "ent+jwt", is.Claims(t0)))
	}
	if n := is.Fetches.Load(); n != 3 {
		t.Errorf("forged kids after the interval: %d fetches, want 3", n)
	}
}

// When entitled cannot be reached, the keys held are kept; with none, verification fails and is
// retried only after a pause.
func TestJWKS_KeepsKeysWhenTheServerFails(t *testing.T) {
	is, v, c := setup(t, 60, verify.JWKSOptions{})
	ctx := context.Background()
	tok := is.Sign(is.Claims(t0))
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	is.Close()
	c.Advance(2 * time.Minute)
	if _, err := v.Verify(ctx, is.Sign(is.Claims(c.Now()))); err != nil {
		t.Errorf("with the server down and the key held: %v", err)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	v2, _ := verify.New(down.URL, verify.Options{Issuer: is.URL, Audience: []string{"downloads"}, Now: c.Now})
	for i := 0; i < 3; i++ {
		if _, err := v2.Verify(ctx, tok); err == nil {
			t.Fatal("verified without any key")
		}
	}
	if n := v2.JWKS().Fetches(); n != 1 {
		t.Errorf("3 verifications against a dead server: %d attempts, want 1 (then a pause)", n)
	}
}

// Require answers problem+json: 401 without or with a bad token (with a Bearer challenge), 403
// with the denial reason, and lets a granting token through with its claims.
func TestRequire(t *testing.T) {
	is, v, _ := setup(t, 300, verify.JWKSOptions{})
	h := v.Require(verify.DownloadsRead)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFrom(r.Context())
		_, _ = w.Write([]byte(c.License))
	}))
	granted := is.Claims(t0)
	granted.Entitlements = append(granted.Entitlements, verify.DownloadsRead)
	granted.Support.Status = verify.StatusActive
	for _, tc := range []struct {
		name, auth string
		status     int
		code       string
	}{
		{"no token", "", 401, verify.CodeUnauthenticated},
		{"not bearer", "Basic abc", 401, verify.CodeUnauthenticated},
		{"bad token", "Bearer x.y.z", 401, verify.CodeInvalidToken},
		{"lapsed", "Bearer " + is.Sign(is.Claims(t0)), 403, verify.ReasonSupportLapsed},
		{"granted", "Bearer " + is.Sign(granted), 200, ""},
	} {
		req := httptest.NewRequest("GET", "/files/x", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, rec.Code, rec.Body, tc.status)
			continue
		}
		if tc.status == 200 {
			if rec.Body.String() != granted.License {
				t.Errorf("%s: the handler saw %q", tc.name, rec.Body)
			}
			continue
		}
		var p map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: not problem+json: %s", tc.name, rec.Body)
		}
		for _, k := range []string{"type", "title", "status", "detail", "code"} {
			if _, ok := p[k]; !ok {
				t.Errorf("%s: problem lacks %s", tc.name, k)
			}
		}
		if p["code"] != tc.code {
			t.Errorf("%s: code %v, want %s", tc.name, p["code"], tc.code)
		}
		if ch := rec.Header().Get("WWW-Authenticate"); tc.status == 401 && !strings.HasPrefix(ch, "Bearer ") {
			t.Errorf("%s: challenge %q", tc.name, ch)
		}
	}
}

// Reason gives the contract's first denial reason that the claims show.
func TestReason(t *testing.T) {
	base := func(status string, roles ...string) *verify.Claims {
		return &verify.Claims{Roles: roles, Support: verify.Support{Status: status}}
	}
	for _, tc := range []struct {
		c    *verify.Claims
		ent  string
		want string
	}{
		{base(verify.StatusActive, "license"), verify.SupportCases, verify.ReasonRoleMissing},
		{base(verify.StatusNone, "support"), verify.SupportKB, verify.ReasonNoSupportContract},
		{base(verify.StatusFuture, "support"), verify.SupportChat, verify.ReasonSupportNotStarted},
		{base(verify.StatusTerminated, "support"), verify.DownloadsRead, verify.ReasonSupportTerminated},
		{base(verify.StatusLapsed, "support"), verify.SupportCases, verify.ReasonSupportLapsed},
		{base(verify.StatusActive, "support"), verify.SupportPremier, verify.ReasonPremierNotPurchased},
		{base(verify.StatusGrace, "support"), verify.DownloadsRead, verify.ReasonVersionDiscontinued},
		{&verify.Claims{Entitlements: []string{verify.AssetsRead}}, verify.AssetsRead, ""},
	} {
		if got := verify.Reason(tc.c, tc.ent); got != tc.want {
			t.Errorf("Reason(%v, %s) = %q, want %q", tc.c.Support.Status, tc.ent, got, tc.want)
		}
	}
}

// The paid-for download rule, offline: what was released on or before support.ends_on stays
// downloadable after support ends; newer releases need current support; discontinued versions
// never; without support, or before it starts, nothing.
func TestCanDownload(t *testing.T) {
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	claims := func(status, endsOn string, roles ...string) *verify.Claims {
		c := &verify.Claims{Roles: roles, Support: verify.Support{Status: status}}
		if endsOn != "" {
			c.Support.EndsOn = &endsOn
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		c        *verify.Claims
		released string
		phase    string
		ok       bool
		reason   string
	}{
		{"active, a newer release", claims("active", "2026-06-30", "support"), "2027-01-01", "full", true, ""},
		{"expiring, limited", claims("expiring", "2026-06-30", "support"), "2026-01-01", "limited", true, ""},
		{"grace", claims("grace", "2026-06-30", "support"), "2026-09-01", "full", true, ""},
		{"lapsed, released before ends_on", claims("lapsed", "2026-06-30", "support"), "2026-06-01", "full", true, ""},
		{"lapsed, released on ends_on", claims("lapsed", "2026-06-30", "support"), "2026-06-30", "full", true, ""},
		{"lapsed, released after ends_on", claims("lapsed", "2026-06-30", "support"), "2026-07-01", "full", false, verify.ReasonSupportLapsed},
		{"terminated, released before", claims("terminated", "2026-03-01", "support"), "2026-02-01", "full", true, ""},
		{"terminated, released after", claims("terminated", "2026-03-01", "support"), "2026-04-01", "full", false, verify.ReasonSupportTerminated},
		{"terminated before it paid a day", claims("terminated", "", "support"), "2020-01-01", "full", false, verify.ReasonSupportTerminated},
		{"discontinued", claims("active", "2026-06-30", "support"), "2025-01-01", "discontinued", false, verify.ReasonVersionDiscontinued},
		{"no support", claims("none", "", "support"), "2020-01-01", "full", false, verify.ReasonNoSupportContract},
		{"future", claims("future", "2027-06-30", "support"), "2020-01-01", "full", false, verify.ReasonSupportNotStarted},
		{"no support role", claims("active", "2026-06-30", "license", "admin"), "2020-01-01", "full", false, verify.ReasonRoleMissing},
	} {
		ok, reason := verify.CanDownload(tc.c, day(tc.released), tc.phase)
		if ok != tc.ok || reason != tc.reason {
			t.Errorf("%s: %v %q, want %v %q", tc.name, ok, reason, tc.ok, tc.reason)
		}
	}
}

// BenchmarkVerify is Verify with the key set cached, next to BenchmarkEd25519Verify, the bare
// signature check of the same token: the difference is what parsing and the claim checks cost.
func BenchmarkVerify(b *testing.B) {
	is, v, _ := setup(b, 300, verify.JWKSOptions{})
	tok := is.Sign(is.Claims(t0))
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEd25519Verify(b *testing.B) {
	is := verifytest.NewIssuer(300)
	defer is.Close()
	tok := is.Sign(is.Claims(t0))
	i := strings.LastIndexByte(tok, '.')
	msg := []byte(tok[:i])
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	pub := is.Keys()[0].Public().(ed25519.PublicKey)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("bad signature")
		}
	}
}

// BenchmarkVerifyLicenseKey is VerifyLicenseKey of one key against a parsed JWKS, to set beside
// BenchmarkEd25519Verify (the bare signature check).
func BenchmarkVerifyLicenseKey(b *testing.B) {
	is, keys := newOfflineIssuer(b)
	c := &verify.LicenseClaims{Issuer: is.URL, ID: "5", IssuedAt: jwt.NewNumericDate(t0), License: "LN-1", SKU: "S", VerMajor: 2, Fingerprint: "fp-000001", Host: "h"}
	key := verifytest.SignWith(is.Keys()[0], verify.TypLicense, c)
	opts := verify.LicenseKeyOptions{Issuer: is.URL, Fingerprint: "fp-000001", SKU: "S", VerMajor: 2, Now: func() time.Time { return t0 }}
	if _, err := verify.VerifyLicenseKey(keys, key, opts); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := verify.VerifyLicenseKey(keys, key, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// A license key verifies offline against a JWKS; an entitlement token, a key of another issuer
// or product, an expired trial key or one signed by a key not in the set do not.
func TestVerifyLicenseKey(t *testing.T) {
	is, keys := newOfflineIssuer(t)
	now := t0
	claims := func(f func(c *verify.LicenseClaims)) *verify.LicenseClaims {
		c := &verify.LicenseClaims{Issuer: is.URL, ID: "5", IssuedAt: jwt.NewNumericDate(now), License: "LN-1", SKU: "S", VerMajor: 2, Fingerprint: "fp-000001", Host: "h"}
		if f != nil {
			f(c)
		}
		return c
	}
	opts := verify.LicenseKeyOptions{Issuer: is.URL, Fingerprint: "fp-000001", SKU: "S", VerMajor: 2, Now: func() time.Time { return now }}
	if c, err := verify.VerifyLicenseKey(keys, verifytest.SignWith(is.Keys()[0], verify.TypLicense, claims(nil)), opts); err != nil || c.ID != "5" {
		t.Fatalf("a good key: %v", err)
	}
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	for name, tc := range map[string]struct {
		key  string
		want error
	}{
		"an entitlement token": {is.Sign(is.Claims(now)), verify.ErrWrongType},
		"another issuer":       {verifytest.SignWith(is.Keys()[0], verify.TypLicense, claims(func(c *verify.LicenseClaims) { c.Issuer = "https://evil.example" })), jwt.ErrTokenInvalidIssuer},
		"another major":        {verifytest.SignWith(is.Keys()[0], verify.TypLicense, claims(func(c *verify.LicenseClaims) { c.VerMajor = 3 })), verify.ErrOtherProduct},
		"another product":      {verifytest.SignWith(is.Keys()[0], verify.TypLicense, claims(func(c *verify.LicenseClaims) { c.SKU = "T" })), verify.ErrOtherProduct},
		"another machine":      {verifytest.SignWith(is.Keys()[0], verify.TypLicense, claims(func(c *verify.LicenseClaims) { c.Fingerprint = "fp-2" })), verify.ErrOtherMachine},
		"an expired trial key": {verifytest.SignWith(is.Keys()[0], verify.TypLicense, claims(func(c *verify.LicenseClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour)) })), jwt.ErrTokenExpired},
		"a key not in the set": {verifytest.SignWith(stranger, verify.TypLicense, claims(nil)), verify.ErrUnknownKey},
	} {
		if _, err := verify.VerifyLicenseKey(keys, tc.key, opts); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}
