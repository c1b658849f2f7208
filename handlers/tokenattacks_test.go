package handlers

// Token attacks against the real server (issue #12, RFC 8725): one table of tokens an attacker
// can make — with keys of their own, or by editing tokens the server issued — each of which must
// be refused BOTH offline, by the verify package fed with this server's real JWKS, AND online,
// by introspection, which answers exactly {"active":false} and nothing that says why. License
// keys get the same treatment from the offline check a product runs (no endpoint of the server
// takes a license key back: products verify them offline). The test prints how many attacks it
// tried and how many were accepted, and fails unless none was.
//
// TestTokenAttacks_AcceptedOnPurpose lists the one unusual thing that is accepted, and why.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"entitled/models"
	"entitled/models/store"
	"github.com/entitled-dev/entitled/verify"
	"github.com/entitled-dev/entitled/verify/verifytest"
)

// attempt is one row of the attack table.
type attempt struct {
	kind, name, token string
}

// attackSite stands where an attacker's jku and x5u point; it must never be fetched.
func attackSite(t testing.TB, pub ed25519.PublicKey) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{map[string]any{"kty": "OKP", "crv": "Ed25519", "x": verifytest.B64(pub),
			"kid": store.Thumbprint(pub)}}})
	}))
	t.Cleanup(s.Close)
	return s, &hits
}

// forged are the attacks on a genuine token of the server (typ is its typ): the published key
// is pub under kid; the attacker has keys of every kind, and a web site.
func forged(t testing.TB, genuine, typ string, pub ed25519.PublicKey, site string) []attempt {
	t.Helper()
	parts := strings.Split(genuine, ".")
	var head, claims map[string]any
	for i, into := range []*map[string]any{&head, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(b, into) != nil {
			t.Fatalf("not a JWS: %q", genuine)
		}
	}
	kid := head["kid"].(string)
	attackerPub, attacker, _ := ed25519.GenerateKey(rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der := verifytest.SelfSigned(t, attacker, testStart)
	attackerJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": verifytest.B64(attackerPub), "kid": store.Thumbprint(attackerPub)}
	ed := verifytest.EdSigner(attacker)
	hs := verifytest.HMACSigner
	hdr := func(kv ...any) map[string]any {
		return verifytest.Edited(map[string]any{"alg": "EdDSA", "typ": typ, "kid": kid}, kv...)
	}
	lib := func(m jwt.SigningMethod, key any, kv ...any) string {
		tk := jwt.NewWithClaims(m, jwt.MapClaims(claims))
		for k, v := range hdr(append([]any{"alg", nil}, kv...)...) {
			tk.Header[k] = v
		}
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The genuine token with its header changed and its signature kept.
	reheaded := func(k string, v any) string {
		return verifytest.B64JSON(verifytest.Edited(head, k, v)) + "." + parts[1] + "." + parts[2]
	}
	edited := func(k string, v any) string {
		return parts[0] + "." + verifytest.B64JSON(verifytest.Edited(claims, k, v)) + "." + parts[2]
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[7] ^= 0x20
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, parts[2][len(parts[2])-1])
	return []attempt{
		{"alg", "alg none", verifytest.B64JSON(hdr("alg", "none")) + "." + parts[1] + "."},
		{"alg", "alg nOnE, the genuine signature kept", verifytest.B64JSON(hdr("alg", "nOnE")) + "." + parts[1] + "." + parts[2]},
		{"alg", "HS256 keyed with the published public key", verifytest.JWS(hdr("alg", "HS256"), claims, hs(pub))},
		{"alg", "HS256 keyed with the published x", verifytest.JWS(hdr("alg", "HS256"), claims, hs([]byte(verifytest.B64(pub))))},
		{"alg", "HS256, kid /dev/null, an empty key", verifytest.JWS(hdr("alg", "HS256", "kid", "/dev/null"), claims, hs(nil))},
		{"alg", "RS256 by the attacker", lib(jwt.SigningMethodRS256, rsaKey)},
		{"alg", "PS256 by the attacker", lib(jwt.SigningMethodPS256, rsaKey)},
		{"alg", "ES256 by the attacker", lib(jwt.SigningMethodES256, ecKey)},
		{"alg", "EdDSA by the attacker's Ed25519 key under the published kid", verifytest.JWS(hdr(), claims, ed)},
		{"alg", "alg changed on the genuine token (Ed25519)", reheaded("alg", "Ed25519")},

		{"kid", "kid ../../etc/passwd", verifytest.JWS(hdr("kid", "../../etc/passwd"), claims, ed)},
		{"kid", "kid ' OR 1=1 --", verifytest.JWS(hdr("kid", "' OR 1=1 --"), claims, ed)},
		{"kid", "kid '; DROP TABLE signing_keys; --", verifytest.JWS(hdr("kid", "'; DROP TABLE signing_keys; --"), claims, ed)},
		{"kid", "kid with a UNION SELECT", verifytest.JWS(hdr("kid", "x' UNION SELECT public_key FROM signing_keys --"), claims, ed)},
		{"kid", "kid of 8 KiB", verifytest.JWS(hdr("kid", strings.Repeat("K", 8<<10)), claims, ed)},
		{"kid", "kid = the published kid + NUL", verifytest.JWS(hdr("kid", kid+"\x00"), claims, ed)},
		{"kid", "kid = NUL", verifytest.JWS(hdr("kid", "\x00"), claims, ed)},
		{"kid", "kid as a number", verifytest.JWS(hdr("kid", 0), claims, ed)},
		{"kid", "kid as an array", verifytest.JWS(hdr("kid", []string{kid}), claims, ed)},
		{"kid", "kid changed on the genuine token to ../" + "x", reheaded("kid", "../"+kid)},

		{"key header", "jwk: the attacker's key embedded, its kid", verifytest.JWS(hdr("kid", attackerJWK["kid"], "jwk", attackerJWK), claims, ed)},
		{"key header", "jwk: the attacker's key embedded, the published kid", verifytest.JWS(hdr("jwk", attackerJWK), claims, ed)},
		{"key header", "jku: the attacker's JWKS", verifytest.JWS(hdr("kid", attackerJWK["kid"], "jku", site+"/.well-known/jwks.json"), claims, ed)},
		{"key header", "jku: the attacker's JWKS, the published kid", verifytest.JWS(hdr("jku", site+"/.well-known/jwks.json"), claims, ed)},
		{"key header", "x5u: the attacker's certificate", verifytest.JWS(hdr("kid", attackerJWK["kid"], "x5u", site+"/cert.pem"), claims, ed)},
		{"key header", "x5c: the attacker's self-signed certificate", verifytest.JWS(hdr("kid", nil, "x5c", []string{base64.StdEncoding.EncodeToString(der)}), claims, ed)},
		{"key header", "jku added to the genuine token", reheaded("jku", site+"/.well-known/jwks.json")},

		{"typ", "typ JWT on the genuine token", reheaded("typ", "JWT")},
		{"typ", "typ removed from the genuine token", verifytest.B64JSON(map[string]any{"alg": "EdDSA", "kid": kid}) + "." + parts[1] + "." + parts[2]},
		{"typ", "typ at+jwt by the attacker", verifytest.JWS(hdr("typ", "at+jwt"), claims, ed)},
		{"crit", "crit added to the genuine token", reheaded("crit", []string{"exp"})},
		{"crit", "crit by the attacker", verifytest.JWS(hdr("crit", []string{"b64"}, "b64", false), claims, ed)},

		{"tamper", "lic edited", edited("lic", "LN-0000-0000-0000-0000")},
		{"tamper", "exp pushed to 2100", edited("exp", 4102444800)},
		{"tamper", "aud edited", edited("aud", "kb")},
		{"tamper", "roles widened", edited("roles", []string{"admin", "support", "license"})},
		{"tamper", "a signature bit flipped", parts[0] + "." + parts[1] + "." + verifytest.B64(sig)},
		{"tamper", "signature removed", parts[0] + "." + parts[1] + "."},
		{"tamper", "signature re-encoded non-canonically", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(alphabet[last|1])},

		{"framing", "a newline inside", genuine[:40] + "\n" + genuine[40:]},
		{"framing", "a trailing newline", genuine + "\n"},
		{"framing", "leading and trailing spaces", " " + genuine + " "},
		{"framing", "base64 padding", genuine + "=="},
		{"framing", "a trailing dot", genuine + "."},
		{"framing", "the token twice, joined by a dot", genuine + "." + genuine},
		{"framing", "the token twice, back to back", genuine + genuine},
		{"framing", "the token twice, comma-separated", genuine + "," + genuine},
		{"framing", "the JWS JSON serialization", `{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `"}`},
		{"framing", "Bearer inside", "Bearer " + genuine},

		{"size", "512 KiB of claims, by the attacker (a 1 MiB body is 413, as every body)", verifytest.JWS(hdr(), map[string]any{"pad": strings.Repeat("A", 512<<10)}, ed)},
		{"size", "64 KiB header on the genuine token", reheaded("x-pad", strings.Repeat("A", 64<<10))},
		{"size", "200 000 dots", strings.Repeat(".", 200000)},
	}
}

// TestTokenAttacks_RefusedOfflineAndByIntrospection runs the table on entitlement tokens and
// license keys of a real license.
func TestTokenAttacks_RefusedOfflineAndByIntrospection(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ctx := context.Background()
		ln, admin, _ := a.tokenLicense(t)
		genuine := a.token(t, admin, ln, "downloads")
		lk := a.licenseKey(t, admin, ln, "machine-0001", "1.0")
		want(t, lk, http.StatusCreated)
		licenseKey := lk.str("key")
		v := a.verifier(t, "downloads", verify.JWKSOptions{})
		key := a.newAPIKey(t, models.ScopeEntitlementsIntrospect)
		if _, err := v.Verify(ctx, genuine); err != nil || !active(a.introspect(t, key, genuine)) {
			t.Fatalf("the genuine token: %v", err)
		}
		jwks, err := verify.ParseJWKS(a.do(t, "GET", "/.well-known/jwks.json", "", nil).raw)
		if err != nil {
			t.Fatal(err)
		}
		offlineKey := func(k string) error {
			_, err := verify.VerifyLicenseKey(jwks, k, verify.LicenseKeyOptions{Issuer: testBaseURL, Fingerprint: "machine-0001", Now: a.clock.Now})
			return err
		}
		if err := offlineKey(licenseKey); err != nil {
			t.Fatalf("the genuine license key: %v", err)
		}
		entKid := segment(t, genuine, 0)["kid"].(string)
		licKid := segment(t, licenseKey, 0)["kid"].(string)
		site, hits := attackSite(t, jwks[entKid])

		// Claims only the server's own keys can sign, each wrong in one way: what the checks
		// themselves refuse, whoever signed.
		var base verify.Claims
		b, _ := json.Marshal(segment(t, genuine, 1))
		_ = json.Unmarshal(b, &base)
		sign := func(purpose, typ string, c jwt.Claims) string {
			tok, _, err := a.keys.Sign(ctx, purpose, typ, c)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		with := func(f func(c *verify.Claims)) *verify.Claims { c := base; f(&c); return &c }
		var licClaims verify.LicenseClaims
		b, _ = json.Marshal(segment(t, licenseKey, 1))
		_ = json.Unmarshal(b, &licClaims)

		tokens := append(forged(t, genuine, verify.TypEntitlement, jwks[entKid], site.URL),
			attempt{"aud", "aud of a service not in ENTITLED_TOKEN_AUDIENCES", sign(models.PurposeEntitlement, verify.TypEntitlement, with(func(c *verify.Claims) { c.Audience = "payroll" }))},
			attempt{"aud", "aud as a list naming downloads", func() string {
				m := segment(t, genuine, 1)
				m["aud"] = []string{"downloads", "payroll"}
				return sign(models.PurposeEntitlement, verify.TypEntitlement, jwt.MapClaims(m))
			}()},
			attempt{"iss", "iss with a trailing slash", sign(models.PurposeEntitlement, verify.TypEntitlement, with(func(c *verify.Claims) { c.Issuer = testBaseURL + "/" }))},
			attempt{"confusion", "a genuine license key", licenseKey},
			attempt{"confusion", "a license key re-typed ent+jwt (signature kept)", func() string {
				p := strings.Split(licenseKey, ".")
				return verifytest.B64JSON(map[string]any{"alg": "EdDSA", "typ": verify.TypEntitlement, "kid": licKid}) + "." + p[1] + "." + p[2]
			}()},
			attempt{"confusion", "a license key's claims signed as ent+jwt (no aud)", sign(models.PurposeEntitlement, verify.TypEntitlement, &licClaims)},
			attempt{"confusion", "entitlement claims under the license key's kid", verifytest.JWS(map[string]any{"alg": "EdDSA", "typ": verify.TypEntitlement, "kid": licKid},
				segment(t, genuine, 1), func(m []byte) []byte { _, k, _ := ed25519.GenerateKey(rand.Reader); return ed25519.Sign(k, m) })},
		)
		keys := append(forged(t, licenseKey, verify.TypLicense, jwks[licKid], site.URL),
			attempt{"confusion", "a genuine entitlement token", genuine},
			attempt{"confusion", "an entitlement token re-typed lic+jwt (signature kept)", func() string {
				p := strings.Split(genuine, ".")
				return verifytest.B64JSON(map[string]any{"alg": "EdDSA", "typ": verify.TypLicense, "kid": entKid}) + "." + p[1] + "." + p[2]
			}()},
		)

		tried, accepted := 0, 0
		for _, at := range tokens {
			tried++
			_, err := v.Verify(ctx, at.token)
			r := a.introspect(t, key, at.token)
			if err == nil || active(r) || string(r.raw) != "{\"active\":false}\n" {
				accepted++
				t.Errorf("ACCEPTED %s / %s: verifier %v; introspection %s", at.kind, at.name, err, r)
			}
		}
		for _, at := range keys {
			tried++
			if offlineKey(at.token) == nil {
				accepted++
				t.Errorf("ACCEPTED license key %s / %s", at.kind, at.name)
			}
		}

		// A genuine license key copied to another machine.
		tried++
		if _, err := verify.VerifyLicenseKey(jwks, licenseKey, verify.LicenseKeyOptions{Issuer: testBaseURL, Fingerprint: "machine-0002", Now: a.clock.Now}); err == nil {
			accepted++
			t.Errorf("ACCEPTED a genuine license key on another machine")
		}

		// The introspection request itself: RFC 6749 §3.1 allows each parameter once, so a
		// repeated token is not an active token whichever copy is good (a proxy that checks one
		// copy and a server that reads the other would disagree); a token in the query string is
		// not read (URLs end up in logs).
		form := func(body string, query string) *resp {
			r := a.do(t, "POST", "/v1/entitlements/introspect"+query, key, body, "Content-Type", "application/x-www-form-urlencoded")
			want(t, r, http.StatusOK)
			return r
		}
		g := url.QueryEscape(genuine)
		for _, rq := range []struct{ name, body, query string }{
			{"token twice: the genuine one first", "token=" + g + "&token=garbage", ""},
			{"token twice: the genuine one second", "token=garbage&token=" + g, ""},
			{"token twice: the genuine one both times", "token=" + g + "&token=" + g, ""},
			{"token in the query string only", "token_type_hint=access_token", "?token=" + g},
			{"token as token[]", "token[]=" + g, ""},
		} {
			tried++
			if r := form(rq.body, rq.query); active(r) || string(r.raw) != "{\"active\":false}\n" {
				accepted++
				t.Errorf("ACCEPTED introspection request %s: %s", rq.name, r)
			}
		}
		if n := hits.Load(); n != 0 {
			t.Errorf("the attacker's jku/x5u site was fetched %d times, want 0", n)
		}
		// The genuine token still works after all that: nothing above broke the key caches.
		if _, err := v.Verify(ctx, genuine); err != nil || !active(a.introspect(t, key, genuine)) {
			t.Errorf("the genuine token after the attacks: %v", err)
		}
		t.Logf("%s: %d token attacks tried (%d entitlement tokens, %d license keys, %d introspection requests), %d accepted",
			a.dialect, tried, len(tokens), len(keys)+1, tried-len(tokens)-len(keys)-1, accepted)
	})
}

// TestTokenAttacks_AcceptedOnPurpose: introspection answers for every audience in
// ENTITLED_TOKEN_AUDIENCES, since the introspecting key does not say which service it is
// (RFC 7662 §4: the protected resource checks aud itself). So a genuine token for kb is active
// there, and the answer carries aud, which the downloads service must compare — the verify
// package does it for services that verify offline.
func TestTokenAttacks_AcceptedOnPurpose(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	ln, admin, _ := a.tokenLicense(t)
	forKB := a.token(t, admin, ln, "kb")
	r := a.introspect(t, a.newAPIKey(t, models.ScopeEntitlementsIntrospect), forKB)
	if !active(r) || r.str("aud") != "kb" {
		t.Errorf("a genuine kb token: %s, want active with aud kb", r)
	}
	if _, err := a.verifier(t, "downloads", verify.JWKSOptions{}).Verify(context.Background(), forKB); err == nil {
		t.Errorf("the downloads verifier accepts a token for kb")
	}
}
