package verifytest

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
	"time"
)

// Edited is a copy of m, the header or claims of a token, with each key kv[i] set to kv[i+1],
// or removed where kv[i+1] is nil; m itself is left as it is, so that one genuine token can be
// edited many ways.
func Edited(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m)+len(kv)/2)
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

// B64 is base64url without padding, as JWS uses.
func B64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// B64JSON is v as JSON, base64url without padding: a JWS header or payload.
func B64JSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return B64(b)
}

// JWS makes a compact JWS by hand, so that the header may hold anything (a kid that is not a
// string, a NUL, an embedded key): sign gets the signing input and returns the signature.
func JWS(header map[string]any, claims any, sign func(input []byte) []byte) string {
	in := B64JSON(header) + "." + B64JSON(claims)
	return in + "." + B64(sign([]byte(in)))
}

// EdSigner signs a JWS with the Ed25519 key k.
func EdSigner(k ed25519.PrivateKey) func([]byte) []byte {
	return func(m []byte) []byte { return ed25519.Sign(k, m) }
}

// HMACSigner signs a JWS with HMAC-SHA256 keyed with key: what an attacker does with a public
// key in the hope that it is taken for an HS256 secret.
func HMACSigner(key []byte) func([]byte) []byte {
	return func(m []byte) []byte { h := hmac.New(sha256.New, key); h.Write(m); return h.Sum(nil) }
}

// SelfSigned is an X.509 certificate of the attacker's Ed25519 key, valid around now, for the
// x5c header.
func SelfSigned(t testing.TB, priv ed25519.PrivateKey, now time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "entitled.example.test"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
