package verify_test

// The token attacks of RFC 8725 (JSON Web Token Best Current Practices) and its neighbours, as one
// table per kind of token: every row is a token an attacker can make — with a key of their own,
// or by editing a genuine token — and every row must be refused. The test counts what it tried
// and what was accepted, and fails unless nothing was.
//
// What the verifier is decided to accept, although the token is unusual, is in a table of its
// own (TestVerify_AcceptedOnPurpose) with the reason for each row, so that a reader can tell a
// decision from an oversight.

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entitled-dev/entitled/verify"
	"github.com/entitled-dev/entitled/verify/verifytest"
)

// withLib signs with golang-jwt, for the algorithms of other key types (RS256, PS256, ES256).
func withLib(m jwt.SigningMethod, key any, header map[string]any, claims jwt.Claims) string {
	tk := jwt.NewWithClaims(m, claims)
	for k, v := range header {
		tk.Header[k] = v
	}
	s, err := tk.SignedString(key)
	if err != nil {
		panic(err)
	}
	return s
}

// okpJWK is an Ed25519 public key as a JWK.
func okpJWK(pub ed25519.PublicKey) map[string]any {
	return map[string]any{"kty": "OKP", "crv": "Ed25519", "x": verifytest.B64(pub), "kid": verifytest.Thumbprint(pub), "alg": "EdDSA", "use": "sig"}
}

// attackerSite is where an attacker's jku/x5u point: it serves the attacker's key set and
// counts every request, which must stay at 0 — a verifier that fetches it is open to SSRF and
// to trusting the attacker's key (RFC 8725 §3.10).
type attackerSite struct {
	*httptest.Server
	hits atomic.Int64
}

func newAttackerSite(t testing.TB, pub ed25519.PublicKey) *attackerSite {
	s := &attackerSite{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{okpJWK(pub)}})
	}))
	t.Cleanup(s.Close)
	return s
}

// attackRow is one attack: a token, and what kind of attack it is (for the report).
type attackRow struct {
	kind, name, token string
}

// forgeries are the attacks that do not depend on the kind of token: typ is the token's own
// type (ent+jwt or lic+jwt), claims the good claims of that kind, genuine a token the issuer
// signed with them, key the issuer's key, site the attacker's web site.
func forgeries(t testing.TB, typ string, claims jwt.Claims, genuine string, key ed25519.PrivateKey, site *attackerSite) []attackRow {
	t.Helper()
	pub := key.Public().(ed25519.PublicKey)
	kid := verifytest.Thumbprint(pub)
	attackerPub, attacker, _ := ed25519.GenerateKey(rand.Reader)
	attackerKid := verifytest.Thumbprint(attackerPub)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hdr := func(kv ...any) map[string]any {
		return verifytest.Edited(map[string]any{"alg": "EdDSA", "typ": typ}, kv...)
	}
	parts := strings.Split(genuine, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	// The signature's last base64url character carries 4 bits that decode to nothing (64 bytes
	// are 86 characters): setting one of them keeps the signature bytes and changes the string.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, parts[2][len(parts[2])-1])
	nonCanonical := parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-1] + string(alphabet[last|1])
	flipped := append([]byte(nil), sig...)
	flipped[31] ^= 0x01
	var payload map[string]any
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(p, &payload)
	edited := func(k string, v any) string {
		return parts[0] + "." + verifytest.B64JSON(verifytest.Edited(payload, k, v)) + "." + parts[2]
	}
	var genuineHeader map[string]any
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(h, &genuineHeader)
	reheaded := func(k string, v any) string {
		return verifytest.B64JSON(verifytest.Edited(genuineHeader, k, v)) + "." + parts[1] + "." + parts[2]
	}
	x5c := []string{base64.StdEncoding.EncodeToString(verifytest.SelfSigned(t, attacker, t0))}
	edAttacker := verifytest.EdSigner(attacker)

	return []attackRow{
		// RFC 8725 §3.1: the algorithm is the verifier's choice, never the token's.
		{"alg", "alg none, no signature", verifytest.B64JSON(hdr("alg", "none", "kid", kid)) + "." + parts[1] + "."},
		{"alg", "alg None", verifytest.B64JSON(hdr("alg", "None", "kid", kid)) + "." + parts[1] + "."},
		{"alg", "alg NONE with the genuine signature kept", verifytest.B64JSON(hdr("alg", "NONE", "kid", kid)) + "." + parts[1] + "." + parts[2]},
		{"alg", "no alg at all", verifytest.JWS(hdr("alg", nil, "kid", kid), claims, verifytest.EdSigner(key))},
		{"alg", "alg as an array", verifytest.JWS(hdr("alg", []string{"EdDSA"}, "kid", kid), claims, verifytest.EdSigner(key))},
		{"alg", "alg Ed25519 (RFC 9864 name, not the contract's)", verifytest.JWS(hdr("alg", "Ed25519", "kid", kid), claims, verifytest.EdSigner(key))},
		{"alg", "HS256 keyed with the raw public key", verifytest.JWS(hdr("alg", "HS256", "kid", kid), claims, verifytest.HMACSigner(pub))},
		{"alg", "HS256 keyed with the public key's base64url x", verifytest.JWS(hdr("alg", "HS256", "kid", kid), claims, verifytest.HMACSigner([]byte(verifytest.B64(pub))))},
		{"alg", "HS256 keyed with the public JWK as published", func() string {
			j, _ := json.Marshal(okpJWK(pub))
			return verifytest.JWS(hdr("alg", "HS256", "kid", kid), claims, verifytest.HMACSigner(j))
		}()},
		{"alg", "HS256 with kid /dev/null and an empty key", verifytest.JWS(hdr("alg", "HS256", "kid", "/dev/null"), claims, verifytest.HMACSigner(nil))},
		{"alg", "HS512 keyed with the public key", withLib(jwt.SigningMethodHS512, []byte(pub), hdr("alg", nil, "kid", kid), claims)},
		{"alg", "RS256 by an attacker's RSA key, our kid", withLib(jwt.SigningMethodRS256, rsaKey, hdr("alg", nil, "kid", kid), claims)},
		{"alg", "PS256 by an attacker's RSA key, our kid", withLib(jwt.SigningMethodPS256, rsaKey, hdr("alg", nil, "kid", kid), claims)},
		{"alg", "ES256 by an attacker's P-256 key, our kid", withLib(jwt.SigningMethodES256, ecKey, hdr("alg", nil, "kid", kid), claims)},
		{"alg", "ES256 with the attacker's key embedded as jwk", withLib(jwt.SigningMethodES256, ecKey, hdr("alg", nil, "kid", "ec-1",
			"jwk", map[string]any{"kty": "EC", "crv": "P-256", "x": verifytest.B64(ecKey.X.FillBytes(make([]byte, 32))), "y": verifytest.B64(ecKey.Y.FillBytes(make([]byte, 32)))}), claims)},
		{"alg", "EdDSA by another Ed25519 key, our kid", verifytest.JWS(hdr("kid", kid), claims, edAttacker)},

		// RFC 8725 §3.10: kid is a lookup key in the pinned key set, never a path, a query or a
		// prefix; a kid that is not a string names no key.
		{"kid", "kid ../../etc/passwd", verifytest.JWS(hdr("kid", "../../etc/passwd"), claims, edAttacker)},
		{"kid", "kid ../../../../dev/null", verifytest.JWS(hdr("kid", "../../../../dev/null"), claims, edAttacker)},
		{"kid", "kid ' OR 1=1 --", verifytest.JWS(hdr("kid", "' OR 1=1 --"), claims, edAttacker)},
		{"kid", "kid with a UNION SELECT", verifytest.JWS(hdr("kid", "x' UNION SELECT public_key FROM signing_keys WHERE '1'='1"), claims, edAttacker)},
		{"kid", "kid *", verifytest.JWS(hdr("kid", "*"), claims, edAttacker)},
		{"kid", "kid of 4 KiB", verifytest.JWS(hdr("kid", strings.Repeat("A", 4<<10)), claims, edAttacker)},
		{"kid", "kid = our kid + NUL, signed by our key", verifytest.JWS(hdr("kid", kid+"\x00"), claims, verifytest.EdSigner(key))},
		{"kid", "kid = NUL + our kid, signed by our key", verifytest.JWS(hdr("kid", "\x00"+kid), claims, verifytest.EdSigner(key))},
		{"kid", "kid = our kid with a trailing space, signed by our key", verifytest.JWS(hdr("kid", kid+" "), claims, verifytest.EdSigner(key))},
		{"kid", "kid = our kid in upper case, signed by our key", verifytest.JWS(hdr("kid", strings.ToUpper(kid)), claims, verifytest.EdSigner(key))},
		{"kid", "kid as a number", verifytest.JWS(hdr("kid", 1), claims, verifytest.EdSigner(key))},
		{"kid", "kid as an array holding our kid", verifytest.JWS(hdr("kid", []string{kid}), claims, verifytest.EdSigner(key))},
		{"kid", "kid as an object", verifytest.JWS(hdr("kid", map[string]string{"kid": kid}), claims, verifytest.EdSigner(key))},
		{"kid", "empty kid", verifytest.JWS(hdr("kid", ""), claims, verifytest.EdSigner(key))},

		// RFC 8725 §3.10: keys come only from the pinned JWKS; jku, x5u, jwk and x5c are not
		// followed, so an attacker's key named or embedded there verifies nothing.
		{"key header", "jwk: the attacker's key embedded, its kid", verifytest.JWS(hdr("kid", attackerKid, "jwk", okpJWK(attackerPub)), claims, edAttacker)},
		{"key header", "jwk: the attacker's key embedded, our kid", verifytest.JWS(hdr("kid", kid, "jwk", okpJWK(attackerPub)), claims, edAttacker)},
		{"key header", "jwk embedded, no kid", verifytest.JWS(hdr("jwk", okpJWK(attackerPub)), claims, edAttacker)},
		{"key header", "jku: the attacker's JWKS, its kid", verifytest.JWS(hdr("kid", attackerKid, "jku", site.URL+"/.well-known/jwks.json"), claims, edAttacker)},
		{"key header", "jku: the attacker's JWKS, our kid", verifytest.JWS(hdr("kid", kid, "jku", site.URL+"/.well-known/jwks.json"), claims, edAttacker)},
		{"key header", "x5u: the attacker's certificate", verifytest.JWS(hdr("kid", attackerKid, "x5u", site.URL+"/cert.pem"), claims, edAttacker)},
		{"key header", "x5c: the attacker's self-signed certificate", verifytest.JWS(hdr("kid", attackerKid, "x5c", x5c), claims, edAttacker)},
		{"key header", "x5c and our kid", verifytest.JWS(hdr("kid", kid, "x5c", x5c), claims, edAttacker)},
		{"key header", "jku added to a genuine token", reheaded("jku", site.URL+"/.well-known/jwks.json")},

		// RFC 8725 §3.11/§3.12: explicit typing; one kind of token is never taken for another.
		{"typ", "typ JWT", verifytest.JWS(hdr("typ", "JWT", "kid", kid), claims, verifytest.EdSigner(key))},
		{"typ", "no typ", verifytest.JWS(hdr("typ", nil, "kid", kid), claims, verifytest.EdSigner(key))},
		{"typ", "typ at+jwt (an OAuth access token)", verifytest.JWS(hdr("typ", "at+jwt", "kid", kid), claims, verifytest.EdSigner(key))},
		{"typ", "typ with a trailing space", verifytest.JWS(hdr("typ", typ+" ", "kid", kid), claims, verifytest.EdSigner(key))},
		{"typ", "typ with a parameter", verifytest.JWS(hdr("typ", typ+";v=1", "kid", kid), claims, verifytest.EdSigner(key))},
		{"typ", "typ application/application/…", verifytest.JWS(hdr("typ", "application/application/"+typ, "kid", kid), claims, verifytest.EdSigner(key))},
		{"typ", "typ as an array", verifytest.JWS(hdr("typ", []string{typ}, "kid", kid), claims, verifytest.EdSigner(key))},
		{"typ", "typ changed on a genuine token", reheaded("typ", "JWT")},

		// RFC 7515 §4.1.11: a critical extension this verifier does not know refuses the token.
		{"crit", "crit [b64] signed by our key", verifytest.JWS(hdr("kid", kid, "crit", []string{"b64"}, "b64", false), claims, verifytest.EdSigner(key))},
		{"crit", "crit [exp]", verifytest.JWS(hdr("kid", kid, "crit", []string{"exp"}), claims, verifytest.EdSigner(key))},
		{"crit", "crit empty list", verifytest.JWS(hdr("kid", kid, "crit", []string{}), claims, verifytest.EdSigner(key))},
		{"crit", "crit added to a genuine token", reheaded("crit", []string{"x-entitled"})},

		// Tampering: any change to the signed bytes, or a signature that is not the one made.
		{"tamper", "payload edited: lic", edited("lic", "LN-0000-0000-0000-0000")},
		{"tamper", "payload edited: iss", edited("iss", "https://evil.example")},
		{"tamper", "payload edited: exp far ahead", edited("exp", 4102444800)},
		{"tamper", "payload edited: ent and roles widened", edited("roles", []string{"admin", "support", "license"})},
		{"tamper", "header swapped for one without kid", verifytest.B64JSON(hdr()) + "." + parts[1] + "." + parts[2]},
		{"tamper", "a signature bit flipped", parts[0] + "." + parts[1] + "." + verifytest.B64(flipped)},
		{"tamper", "signature truncated", parts[0] + "." + parts[1] + "." + verifytest.B64(sig[:32])},
		{"tamper", "signature empty", parts[0] + "." + parts[1] + "."},
		{"tamper", "signature of zeros", parts[0] + "." + parts[1] + "." + verifytest.B64(make([]byte, 64))},
		{"tamper", "signature doubled", parts[0] + "." + parts[1] + "." + verifytest.B64(append(append([]byte(nil), sig...), sig...))},
		{"tamper", "signature re-encoded non-canonically (spare bits set)", nonCanonical},
		{"tamper", "signature with base64 padding", genuine + "=="},

		// Encodings and framing: only the compact form of three base64url segments is a token.
		{"framing", "a newline inside the signature", genuine[:len(genuine)-10] + "\n" + genuine[len(genuine)-10:]},
		{"framing", "CR LF inside the payload", parts[0] + "." + parts[1][:20] + "\r\n" + parts[1][20:] + "." + parts[2]},
		{"framing", "a trailing newline", genuine + "\n"},
		{"framing", "a leading space", " " + genuine},
		{"framing", "a trailing dot", genuine + "."},
		{"framing", "the token twice, joined by a dot", genuine + "." + genuine},
		{"framing", "the token twice, back to back", genuine + genuine},
		{"framing", "the token twice, comma-separated", genuine + "," + genuine},
		{"framing", "two segments", parts[0] + "." + parts[1]},
		{"framing", "five segments (JWE-shaped)", parts[0] + "." + parts[1] + "." + parts[2] + ".AAAA.BBBB"},
		{"framing", "the JWS JSON serialization", `{"protected":"` + parts[0] + `","payload":"` + parts[1] + `","signature":"` + parts[2] + `"}`},
		{"framing", "a Bearer prefix inside the token", "Bearer " + genuine},
		{"framing", "empty", ""},
		{"framing", "dots only", ".."},
		{"framing", "header of invalid JSON", verifytest.B64([]byte(`{"alg":"EdDSA",`)) + "." + parts[1] + "." + parts[2]},
		{"framing", "payload of invalid UTF-8, signed by our key", func() string {
			in := parts[0] + "." + verifytest.B64([]byte("{\"iss\":\"\xff\xfe\"}"))
			return in + "." + verifytest.B64(ed25519.Sign(key, []byte(in)))
		}()},

		// Size: what no token of entitled's can be is refused before it is decoded.
		{"size", "1 MiB claim, signed by an attacker", verifytest.JWS(hdr("kid", attackerKid), map[string]any{"pad": strings.Repeat("A", 1<<20)}, edAttacker)},
		{"size", "1 MiB claim, signed by our key", func() string {
			in := parts[0] + "." + verifytest.B64JSON(map[string]any{"pad": strings.Repeat("A", 1<<20)})
			return in + "." + verifytest.B64(ed25519.Sign(key, []byte(in)))
		}()},
		{"size", "64 KiB header", verifytest.JWS(hdr("kid", kid, "x-pad", strings.Repeat("A", 64<<10)), claims, verifytest.EdSigner(key))},
		{"size", "a million dots", strings.Repeat(".", 1<<20)},
	}
}

// entitlementAttacks are the attacks on the claims of an entitlement token, each signed by the
// issuer's own key so that only the claim is wrong.
func entitlementAttacks(is *verifytest.Issuer, good *verify.Claims) []attackRow {
	key := is.Keys()[0]
	with := func(f func(c *verify.Claims)) *verify.Claims { c := *good; f(&c); return &c }
	raw := func(change map[string]any) string {
		b, _ := json.Marshal(good)
		m := map[string]any{}
		_ = json.Unmarshal(b, &m)
		for k, v := range change {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return verifytest.JWS(map[string]any{"alg": "EdDSA", "typ": verify.TypEntitlement, "kid": verifytest.Thumbprint(key.Public().(ed25519.PublicKey))}, m, verifytest.EdSigner(key))
	}
	return []attackRow{
		// RFC 8725 §3.9: a token for another service opens nothing here.
		{"aud", "aud kb (another service)", is.Sign(with(func(c *verify.Claims) { c.Audience = "kb" }))},
		{"aud", "aud DOWNLOADS (case)", is.Sign(with(func(c *verify.Claims) { c.Audience = "DOWNLOADS" }))},
		{"aud", "aud with a trailing space", is.Sign(with(func(c *verify.Claims) { c.Audience = "downloads " }))},
		{"aud", "aud as a list naming this service and another", raw(map[string]any{"aud": []string{"kb", "downloads"}})},
		{"aud", "aud as a list naming this service alone (entitled issues a string)", raw(map[string]any{"aud": []string{"downloads"}})},
		{"aud", "aud absent", raw(map[string]any{"aud": nil})},
		{"aud", "aud as a number", raw(map[string]any{"aud": 1})},
		// RFC 8725 §3.8: the issuer is entitled, exactly.
		{"iss", "iss of another server", is.Sign(with(func(c *verify.Claims) { c.Issuer = "https://evil.example" }))},
		{"iss", "iss with a trailing slash", is.Sign(with(func(c *verify.Claims) { c.Issuer = is.URL + "/" }))},
		{"iss", "iss in upper case", is.Sign(with(func(c *verify.Claims) { c.Issuer = strings.ToUpper(is.URL) }))},
		{"iss", "iss absent", raw(map[string]any{"iss": nil})},
		// Time.
		{"time", "expired beyond the leeway", is.Sign(with(func(c *verify.Claims) {
			c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(t0.Add(-time.Hour)), jwt.NewNumericDate(t0.Add(-time.Hour)), jwt.NewNumericDate(t0.Add(-2*time.Minute))
		}))},
		{"time", "not valid for an hour yet", is.Sign(with(func(c *verify.Claims) { c.NotBefore = jwt.NewNumericDate(t0.Add(time.Hour)) }))},
		{"time", "issued in the future", is.Sign(with(func(c *verify.Claims) { c.IssuedAt, c.NotBefore = jwt.NewNumericDate(t0.Add(time.Hour)), nil }))},
		{"time", "exp absent", raw(map[string]any{"exp": nil})},
		{"time", "exp as a string", raw(map[string]any{"exp": "never"})},
		{"time", "exp as an object", raw(map[string]any{"exp": map[string]any{"$gt": 0}})},
		// One kind of token for another (§3.12): a license key's claims as its own typ.
		{"confusion", "a license key (typ lic+jwt)", verifytest.SignWith(key, verify.TypLicense, &verify.LicenseClaims{Issuer: is.URL, ID: "7",
			IssuedAt: jwt.NewNumericDate(t0), License: good.License, SKU: "S", VerMajor: 1, Fingerprint: "fp-000001", Host: "h"})},
		{"confusion", "entitlement claims under typ lic+jwt", verifytest.SignWith(key, verify.TypLicense, good)},
		{"confusion", "typ application/lic+jwt", verifytest.SignWith(key, "application/"+verify.TypLicense, good)},
	}
}

// licenseKeyAttacks are the attacks on the claims of a license key, signed by the issuer's key.
func licenseKeyAttacks(is *verifytest.Issuer, good *verify.LicenseClaims, entitlement *verify.Claims) []attackRow {
	key := is.Keys()[0]
	with := func(f func(c *verify.LicenseClaims)) *verify.LicenseClaims { c := *good; f(&c); return &c }
	return []attackRow{
		{"confusion", "an entitlement token (typ ent+jwt)", is.Sign(entitlement)},
		{"confusion", "license claims under typ ent+jwt", verifytest.SignWith(key, verify.TypEntitlement, good)},
		{"confusion", "typ application/ent+jwt", verifytest.SignWith(key, "application/"+verify.TypEntitlement, good)},
		{"iss", "iss of another server", verifytest.SignWith(key, verify.TypLicense, with(func(c *verify.LicenseClaims) { c.Issuer = "https://evil.example" }))},
		{"binding", "another machine", verifytest.SignWith(key, verify.TypLicense, with(func(c *verify.LicenseClaims) { c.Fingerprint = "fp-999999" }))},
		{"binding", "another product", verifytest.SignWith(key, verify.TypLicense, with(func(c *verify.LicenseClaims) { c.SKU = "OTHER" }))},
		{"binding", "another major version", verifytest.SignWith(key, verify.TypLicense, with(func(c *verify.LicenseClaims) { c.VerMajor = 9 }))},
		{"time", "an expired trial key", verifytest.SignWith(key, verify.TypLicense, with(func(c *verify.LicenseClaims) { c.ExpiresAt = jwt.NewNumericDate(t0.Add(-time.Hour)) }))},
		{"time", "issued in the future", verifytest.SignWith(key, verify.TypLicense, with(func(c *verify.LicenseClaims) { c.IssuedAt = jwt.NewNumericDate(t0.Add(time.Hour)) }))},
	}
}

// TestVerify_AttackTable: every attack on an entitlement token is refused by Verify with 401
// invalid_token, and nothing fetches the attacker's jku/x5u.
func TestVerify_AttackTable(t *testing.T) {
	is, v, _ := setup(t, 300, verify.JWKSOptions{})
	good := is.Claims(t0)
	genuine := is.Sign(good)
	if _, err := v.Verify(context.Background(), genuine); err != nil {
		t.Fatalf("the genuine token: %v", err)
	}
	site := newAttackerSite(t, is.Keys()[0].Public().(ed25519.PublicKey))
	rows := append(forgeries(t, verify.TypEntitlement, good, genuine, is.Keys()[0], site), entitlementAttacks(is, good)...)
	accepted := 0
	for _, at := range rows {
		start := time.Now()
		c, err := v.Verify(context.Background(), at.token)
		var ve *verify.Error
		switch {
		case err == nil:
			accepted++
			t.Errorf("ACCEPTED %s / %s: claims %+v", at.kind, at.name, c)
		case !errors.As(err, &ve) || ve.Status != http.StatusUnauthorized || ve.Code != verify.CodeInvalidToken || ve.Detail == "":
			t.Errorf("%s / %s: %v, want 401 invalid_token with a detail", at.kind, at.name, err)
		case strings.Contains(ve.Detail, "etc/passwd") || strings.Contains(ve.Detail, "OR 1=1") || strings.ContainsRune(ve.Detail, 0):
			t.Errorf("%s / %s: the detail echoes the attacker's input: %q", at.kind, at.name, ve.Detail)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s / %s: took %v to refuse", at.kind, at.name, d)
		}
	}
	if n := site.hits.Load(); n != 0 {
		t.Errorf("the attacker's jku/x5u site was fetched %d times, want 0", n)
	}
	if len(rows) < 90 {
		t.Errorf("only %d attacks: the table lost rows", len(rows))
	}
	t.Logf("entitlement tokens: %d attacks tried, %d accepted; the JWKS was fetched %d times, the attacker's site %d times",
		len(rows), accepted, is.Fetches.Load(), site.hits.Load())
}

// TestVerifyLicenseKey_AttackTable: the same forgeries, and confusions of their own, against
// the offline license-key check a product runs.
func TestVerifyLicenseKey_AttackTable(t *testing.T) {
	is, keys := newOfflineIssuer(t)
	good := &verify.LicenseClaims{Issuer: is.URL, ID: "5", IssuedAt: jwt.NewNumericDate(t0), License: "LN-7KQ2-M9XD-44TB-R1ZC", SKU: "S",
		VerMajor: 2, Fingerprint: "fp-000001", Host: "h"}
	opts := verify.LicenseKeyOptions{Issuer: is.URL, Fingerprint: "fp-000001", SKU: "S", VerMajor: 2, Now: func() time.Time { return t0 }}
	genuine := verifytest.SignWith(is.Keys()[0], verify.TypLicense, good)
	if _, err := verify.VerifyLicenseKey(keys, genuine, opts); err != nil {
		t.Fatalf("the genuine key: %v", err)
	}
	site := newAttackerSite(t, is.Keys()[0].Public().(ed25519.PublicKey))
	rows := append(forgeries(t, verify.TypLicense, good, genuine, is.Keys()[0], site), licenseKeyAttacks(is, good, is.Claims(t0))...)
	accepted := 0
	for _, at := range rows {
		if c, err := verify.VerifyLicenseKey(keys, at.token, opts); err == nil {
			accepted++
			t.Errorf("ACCEPTED %s / %s: claims %+v", at.kind, at.name, c)
		}
	}
	if n := site.hits.Load(); n != 0 {
		t.Errorf("the attacker's site was fetched %d times, want 0", n)
	}
	t.Logf("license keys: %d attacks tried, %d accepted", len(rows), accepted)
}

// TestVerify_AcceptedOnPurpose lists what is unusual but accepted, and why. None of these can be
// made without entitled's private key: each is a token entitled itself signed.
func TestVerify_AcceptedOnPurpose(t *testing.T) {
	is, v, _ := setup(t, 300, verify.JWKSOptions{})
	good := is.Claims(t0)
	key := is.Keys()[0]
	kid := verifytest.Thumbprint(key.Public().(ed25519.PublicKey))
	attackerPub, attacker, _ := ed25519.GenerateKey(rand.Reader)
	site := newAttackerSite(t, attackerPub)
	h := func(kv ...any) map[string]any {
		return verifytest.Edited(map[string]any{"alg": "EdDSA", "typ": verify.TypEntitlement, "kid": kid}, kv...)
	}
	for _, tc := range []struct{ name, why, token string }{
		{"typ ENT+JWT", "RFC 7515 §4.1.9: media types compare case-insensitively", verifytest.SignWith(key, "ENT+JWT", good)},
		{"typ application/ent+jwt", "RFC 7515 §4.1.9: the application/ prefix may be left out or not", verifytest.SignWith(key, "application/ent+jwt", good)},
		{"jku to the attacker's site, signed by our key", "RFC 8725 §3.10: jku is ignored, never fetched; the key is ours, found by kid in the pinned JWKS",
			verifytest.JWS(h("jku", site.URL+"/jwks.json"), good, verifytest.EdSigner(key))},
		{"x5u to the attacker's site, signed by our key", "as jku", verifytest.JWS(h("x5u", site.URL+"/cert.pem"), good, verifytest.EdSigner(key))},
		{"jwk of the attacker embedded, signed by our key", "an embedded key is never used: verification is with the published key the kid names",
			verifytest.JWS(h("jwk", okpJWK(attackerPub)), good, verifytest.EdSigner(key))},
		{"x5c of the attacker, signed by our key", "as jwk", verifytest.JWS(h("x5c", []string{base64.StdEncoding.EncodeToString(verifytest.SelfSigned(t, attacker, t0))}), good, verifytest.EdSigner(key))},
	} {
		if _, err := v.Verify(context.Background(), tc.token); err != nil {
			t.Errorf("%s (%s): refused: %v", tc.name, tc.why, err)
		}
	}
	if n := site.hits.Load(); n != 0 {
		t.Errorf("the attacker's site was fetched %d times, want 0: key headers must never be followed", n)
	}
}
