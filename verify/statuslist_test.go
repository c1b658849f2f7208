package verify_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
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

// A status list as entitled serves it, built here from the contract alone: a JWT with typ
// statuslist+jwt whose status_list.lst is base64url of the ZLIB-compressed bits, bit i % 8 (least
// significant first) of byte i / 8.

// withStatus is the issuer's good claims at t0 pointing at index idx of uri.
func withStatus(is *verifytest.Issuer, uri string, idx int64) *verify.Claims {
	c := is.Claims(t0)
	c.Status = &verify.StatusClaim{StatusList: verify.StatusListRef{Index: idx, URI: uri}}
	return c
}

// wantRefused checks that err is a *verify.Error with status and code, caused by cause.
func wantRefused(t *testing.T, what string, err error, status int, code string, cause error) {
	t.Helper()
	var ve *verify.Error
	switch {
	case !errors.As(err, &ve):
		t.Errorf("%s: %v, want %d %s", what, err, status, code)
	case ve.Status != status || ve.Code != code || ve.Detail == "":
		t.Errorf("%s: %d %s %q, want %d %s with a detail", what, ve.Status, ve.Code, ve.Detail, status, code)
	case !errors.Is(err, cause):
		t.Errorf("%s: %v, want it caused by %v", what, err, cause)
	}
}

// A revoked index is refused (401 revoked) and a valid one accepted, from one download of the
// list for its ttl; after the ttl the list is fetched again and a bit flipped since is seen.
func TestStatus_RevokedRefusedWithinTTL(t *testing.T) {
	is, v, clk := setup(t, 300, verify.JWKSOptions{})
	uri := is.ListURI("1")
	is.PublishList("1", is.SignList(uri, t0, 300, 7), 300)
	ctx := context.Background()
	valid, revoked := is.Sign(withStatus(is, uri, 8)), is.Sign(withStatus(is, uri, 7))
	for i := 0; i < 50; i++ {
		if _, err := v.Verify(ctx, valid); err != nil {
			t.Fatalf("a valid index: %v", err)
		}
		_, err := v.Verify(ctx, revoked)
		wantRefused(t, "a revoked index", err, 401, verify.ReasonRevoked, verify.ErrRevoked)
	}
	if n := is.ListHits.Load(); n != 1 {
		t.Errorf("100 verifications: %d list fetches, want 1", n)
	}

	// Index 8's grant changes: the server flips its bit. Within the ttl the verifier does not
	// know; once the ttl is out it fetches the list again and refuses the token.
	is.PublishList("1", is.SignList(uri, t0.Add(time.Minute), 300, 7, 8), 300)
	clk.Advance(299 * time.Second)
	if _, err := v.Verify(ctx, valid); err != nil {
		t.Errorf("within the ttl: %v", err)
	}
	clk.Advance(2 * time.Second)
	_, err := v.Verify(ctx, valid)
	wantRefused(t, "after the ttl, a flipped bit", err, 401, verify.ReasonRevoked, verify.ErrRevoked)
	if n := is.ListHits.Load(); n != 2 || v.StatusLists().Fetches() != 2 {
		t.Errorf("after the ttl: %d list fetches, want 2", n)
	}
	// A token without a status (issued before status lists existed) is not checked.
	if _, err := v.Verify(ctx, is.Sign(is.Claims(t0))); err != nil {
		t.Errorf("a token without status: %v", err)
	}
}

// The list is kept for the smaller of its ttl claim and its Cache-Control max-age less Age, and
// never past its exp.
func TestStatus_KeptNoLongerThanTTLMaxAgeOrExp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ttl      int // the claim
		maxAge   int // the header
		iat      time.Duration
		keptFor  time.Duration
		fetchesA int64
	}{
		{"ttl 300, max-age 300", 300, 300, 0, 300 * time.Second, 1},
		{"ttl 300, max-age 60", 300, 60, 0, 60 * time.Second, 1},
		{"ttl 3600, but exp in 10 minutes", 3600, 3600, -(24*time.Hour - 10*time.Minute), 10 * time.Minute, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is, v, clk := setup(t, 300, verify.JWKSOptions{})
			uri := is.ListURI("1")
			is.PublishList("1", is.SignList(uri, t0.Add(tc.iat), tc.ttl), tc.maxAge)
			tok := is.Sign(withStatus(is, uri, 1))
			ctx := context.Background()
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
			clk.Advance(tc.keptFor - time.Second)
			if _, err := v.Verify(ctx, tok); err != nil || is.ListHits.Load() != 1 {
				t.Fatalf("a second before: %v, %d fetches", err, is.ListHits.Load())
			}
			clk.Advance(2 * time.Second)
			_, _ = v.Verify(ctx, tok)
			if n := is.ListHits.Load(); n != 2 {
				t.Errorf("a second after %v: %d fetches, want 2", tc.keptFor, n)
			}
		})
	}
}

// When no fresh list can be had: by default the token is refused (503 unavailable); with
// AcceptUntilListExpires the last list is used until its exp, still refusing its set bits.
// Failed fetches are retried only after a pause.
func TestStatus_NoFreshListPolicy(t *testing.T) {
	ctx := context.Background()
	t.Run("refuse (the default)", func(t *testing.T) {
		is, v, clk := setup(t, 300, verify.JWKSOptions{})
		uri := is.ListURI("1")
		is.PublishList("1", is.SignList(uri, t0, 300, 7), 300)
		tok := is.Sign(withStatus(is, uri, 8))
		is.ListsOut.Store(true)
		_, err := v.Verify(ctx, tok)
		wantRefused(t, "no list ever fetched", err, 503, verify.CodeUnavailable, verify.ErrNoStatusList)
		is.ListsOut.Store(false)
		clk.Advance(6 * time.Second)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("the list back: %v", err)
		}
		is.ListsOut.Store(true)
		clk.Advance(301 * time.Second)
		_, err = v.Verify(ctx, tok)
		wantRefused(t, "past the ttl, entitled unreachable", err, 503, verify.CodeUnavailable, verify.ErrNoStatusList)
		hits := is.ListHits.Load()
		for i := 0; i < 20; i++ {
			_, _ = v.Verify(ctx, tok)
		}
		if n := is.ListHits.Load(); n != hits {
			t.Errorf("20 verifications right after a failed fetch: %d more fetches, want 0", n-hits)
		}
	})
	t.Run("accept until the list's exp", func(t *testing.T) {
		is, v, clk := setupWith(t, 300, verify.Options{StatusListFailure: verify.AcceptUntilListExpires})
		uri := is.ListURI("1")
		is.PublishList("1", is.SignList(uri, t0, 300, 7), 300)
		is.ListsOut.Store(true)
		_, err := v.Verify(ctx, is.Sign(withStatus(is, uri, 8)))
		wantRefused(t, "no list ever fetched", err, 503, verify.CodeUnavailable, verify.ErrNoStatusList)
		is.ListsOut.Store(false)
		clk.Advance(6 * time.Second)
		if _, err := v.Verify(ctx, is.Sign(withStatus(is, uri, 8))); err != nil {
			t.Fatal(err)
		}
		is.ListsOut.Store(true)
		clk.Advance(23 * time.Hour) // the list's exp is t0 + 24 h
		fresh := func(idx int64) string {
			c := withStatus(is, uri, idx)
			c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(clk.Now()), jwt.NewNumericDate(clk.Now()), jwt.NewNumericDate(clk.Now().Add(15*time.Minute))
			return is.Sign(c)
		}
		if _, err := v.Verify(ctx, fresh(8)); err != nil {
			t.Errorf("past the ttl, before the exp, entitled unreachable: %v", err)
		}
		_, err = v.Verify(ctx, fresh(7))
		wantRefused(t, "a bit set in the list held", err, 401, verify.ReasonRevoked, verify.ErrRevoked)
		clk.Advance(time.Hour)
		_, err = v.Verify(ctx, fresh(8))
		wantRefused(t, "past the list's exp", err, 503, verify.CodeUnavailable, verify.ErrNoStatusList)
	})
}

// Attacks on the list are refused: a list that is not a valid list of the issuer's is no list
// (503 under the default policy, whatever its bits say), and a token cannot send the verifier
// to another URL or past its list's end.
func TestStatus_ListAttacksRefused(t *testing.T) {
	is, v, _ := setup(t, 300, verify.JWKSOptions{})
	key := is.Keys()[0]
	pub := key.Public().(ed25519.PublicKey)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	good := func(uri string) map[string]any {
		return verifytest.ListClaims(uri, t0, 300, verifytest.Bits(verifytest.ListSize))
	}
	with := func(uri string, f func(c map[string]any)) map[string]any { c := good(uri); f(c); return c }
	hdr := func(kv ...any) map[string]any { return verifytest.Edited(verifytest.ListHeader(key), kv...) }
	lists := map[string]func(uri string) string{
		"typ JWT": func(u string) string { return verifytest.JWS(hdr("typ", "JWT"), good(u), verifytest.EdSigner(key)) },
		"typ ent+jwt": func(u string) string {
			return verifytest.JWS(hdr("typ", verify.TypEntitlement), good(u), verifytest.EdSigner(key))
		},
		"no typ": func(u string) string { return verifytest.JWS(hdr("typ", nil), good(u), verifytest.EdSigner(key)) },
		"alg none": func(u string) string {
			return verifytest.JWS(hdr("alg", "none"), good(u), func([]byte) []byte { return nil })
		},
		"HS256 keyed with the public key": func(u string) string {
			return verifytest.JWS(hdr("alg", "HS256"), good(u), verifytest.HMACSigner([]byte(pub)))
		},
		"a key not in the JWKS": func(u string) string {
			return verifytest.JWS(verifytest.ListHeader(stranger), good(u), verifytest.EdSigner(stranger))
		},
		"the issuer's kid, another key": func(u string) string { return verifytest.JWS(hdr(), good(u), verifytest.EdSigner(stranger)) },
		"no kid":                        func(u string) string { return verifytest.JWS(hdr("kid", nil), good(u), verifytest.EdSigner(key)) },
		"tampered lst (all bits 0 under a signature of a list with bit 1 set)": func(u string) string {
			signed := verifytest.JWS(hdr(), verifytest.ListClaims(u, t0, 300, verifytest.Bits(verifytest.ListSize, 1)), verifytest.EdSigner(key))
			parts := strings.Split(signed, ".")
			return parts[0] + "." + verifytest.B64JSON(good(u)) + "." + parts[2]
		},
		"tampered signature": func(u string) string {
			s := verifytest.JWS(hdr(), good(u), verifytest.EdSigner(key))
			i := len(s) - 10
			c := byte('A')
			if s[i] == 'A' {
				c = 'B'
			}
			return s[:i] + string(c) + s[i+1:]
		},
		"expired": func(u string) string {
			return verifytest.JWS(hdr(), verifytest.ListClaims(u, t0.Add(-25*time.Hour), 300, verifytest.Bits(verifytest.ListSize)), verifytest.EdSigner(key))
		},
		"no exp": func(u string) string {
			return verifytest.JWS(hdr(), with(u, func(c map[string]any) { delete(c, "exp") }), verifytest.EdSigner(key))
		},
		"no iat": func(u string) string {
			return verifytest.JWS(hdr(), with(u, func(c map[string]any) { delete(c, "iat") }), verifytest.EdSigner(key))
		},
		"another sub": func(u string) string {
			return verifytest.JWS(hdr(), good(is.ListURI("other")), verifytest.EdSigner(key))
		},
		"no sub": func(u string) string {
			return verifytest.JWS(hdr(), with(u, func(c map[string]any) { delete(c, "sub") }), verifytest.EdSigner(key))
		},
		"bits 2": func(u string) string {
			return verifytest.JWS(hdr(), with(u, bitsField("bits", 2)), verifytest.EdSigner(key))
		},
		"lst not ZLIB": func(u string) string {
			return verifytest.JWS(hdr(), with(u, bitsField("lst", verifytest.B64([]byte("not zlib at all, just bytes")))), verifytest.EdSigner(key))
		},
		"lst ZLIB with a wrong checksum": func(u string) string {
			var buf bytes.Buffer
			w := zlib.NewWriter(&buf)
			_, _ = w.Write(verifytest.Bits(verifytest.ListSize))
			_ = w.Close()
			z := buf.Bytes()
			z[len(z)-1] ^= 1
			return verifytest.JWS(hdr(), with(u, bitsField("lst", verifytest.B64(z))), verifytest.EdSigner(key))
		},
		"lst padded base64": func(u string) string {
			return verifytest.JWS(hdr(), with(u, bitsField("lst", verifytest.Lst(verifytest.Bits(verifytest.ListSize))+"==")), verifytest.EdSigner(key))
		},
		"lst a ZLIB bomb (64 MiB of zeros)": func(u string) string {
			var buf bytes.Buffer
			w, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
			zeros := make([]byte, 1<<20)
			for i := 0; i < 64; i++ {
				_, _ = w.Write(zeros)
			}
			_ = w.Close()
			return verifytest.JWS(hdr(), with(u, bitsField("lst", verifytest.B64(buf.Bytes()))), verifytest.EdSigner(key))
		},
		"not a JWT": func(string) string { return "<html>a captive portal</html>" },
	}
	ctx := context.Background()
	n := 0
	for name, list := range lists {
		n++
		id := fmt.Sprintf("attack-%d", n)
		uri := is.ListURI(id)
		is.PublishList(id, list(uri), 300)
		_, err := v.Verify(ctx, is.Sign(withStatus(is, uri, 1)))
		wantRefused(t, name, err, 503, verify.CodeUnavailable, verify.ErrNoStatusList)
		if !errors.Is(err, verify.ErrStatusListInvalid) {
			t.Errorf("%s: %v, want it caused by ErrStatusListInvalid", name, err)
		}
	}

	// A token naming a list elsewhere is refused without a request.
	site := newAttackerSite(t, pub)
	is.PublishList("1", is.SignList(is.ListURI("1"), t0, 300, 7), 300)
	hits := is.ListHits.Load()
	for _, uri := range []string{
		site.URL + "/v1/status-lists/1",
		"https://evil.example/v1/status-lists/1",
		is.URL + "/.well-known/jwks.json",
		is.URL + "/v1/status-lists/",
		is.URL + "/v1/status-lists/../../admin",
		is.URL + "/v1/status-lists/1/../2",
		is.URL + "/v1/status-lists/1?x=1",
		is.URL + "/v1/status-lists/1#x",
		is.URL + "/v1/status-lists/%31",
		is.URL + "@evil.example/v1/status-lists/1",
		strings.Replace(is.URL, "http://", "https://", 1) + "/v1/status-lists/1",
		strings.ToUpper(is.URL) + "/v1/status-lists/1",
	} {
		_, err := v.Verify(ctx, is.Sign(withStatus(is, uri, 1)))
		wantRefused(t, "status list at "+uri, err, 401, verify.CodeInvalidToken, verify.ErrStatusListURI)
	}
	if site.hits.Load() != 0 || is.ListHits.Load() != hits {
		t.Errorf("lists elsewhere: the attacker's site was fetched %d times, the issuer %d times; want 0", site.hits.Load(), is.ListHits.Load()-hits)
	}

	// An index past the list's end, or negative, is refused (the draft's verifier must).
	for _, idx := range []int64{verifytest.ListSize, verifytest.ListSize + 8, 1 << 40, -1} {
		_, err := v.Verify(ctx, is.Sign(withStatus(is, is.ListURI("1"), idx)))
		wantRefused(t, fmt.Sprintf("index %d", idx), err, 401, verify.CodeInvalidToken, verify.ErrStatusIndex)
	}
	if _, err := v.Verify(ctx, is.Sign(withStatus(is, is.ListURI("1"), verifytest.ListSize-1))); err != nil {
		t.Errorf("the last index: %v", err)
	}
}

func bitsField(k string, v any) func(c map[string]any) {
	return func(c map[string]any) { c["status_list"].(map[string]any)[k] = v }
}

// Many verifications at once of tokens whose list is not held make one fetch.
func TestStatus_ConcurrentVerificationsFetchOnce(t *testing.T) {
	is, v, _ := setup(t, 300, verify.JWKSOptions{})
	uri := is.ListURI("1")
	is.PublishList("1", is.SignList(uri, t0, 300), 300)
	tok := is.Sign(withStatus(is, uri, 3))
	if _, err := v.JWKS().PublicKey(context.Background(), "warm the key set"); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := is.ListHits.Load(); n != 1 {
		t.Errorf("64 concurrent verifications: %d list fetches, want 1", n)
	}
}

// The cache holds at most MaxLists lists: a third list makes room by dropping the one fetched
// longest ago, which is fetched again when next needed.
func TestStatus_MemoryIsBounded(t *testing.T) {
	is, v, clk := setupWith(t, 300, verify.Options{StatusLists: verify.StatusListOptions{MaxLists: 2}})
	for _, id := range []string{"a", "b", "c", "a"} {
		is.PublishList(id, is.SignList(is.ListURI(id), t0, 300), 300)
		if _, err := v.Verify(context.Background(), is.Sign(withStatus(is, is.ListURI(id), 1))); err != nil {
			t.Fatalf("list %s: %v", id, err)
		}
		clk.Advance(time.Second)
	}
	if n := is.ListHits.Load(); n != 4 {
		t.Errorf("lists a, b, c, a with room for 2: %d fetches, want 4", n)
	}
}

// The bits read in the draft's order: index i is bit i % 8, least significant first, of byte i / 8.
func TestParseStatusList_BitOrder(t *testing.T) {
	is, keys := newOfflineIssuer(t)
	uri := is.ListURI("1")
	// Byte 0 is 0b0000_0010 (index 1), byte 1 is 0b1000_0000 (index 15): built by hand.
	bits := make([]byte, verifytest.ListSize/8)
	bits[0], bits[1], bits[len(bits)-1] = 0x02, 0x80, 0x80
	tok := verifytest.JWS(verifytest.ListHeader(is.Keys()[0]), verifytest.ListClaims(uri, t0, 300, bits), verifytest.EdSigner(is.Keys()[0]))
	l, err := verify.ParseStatusList(keys, uri, []byte(tok+"\n"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != verifytest.ListSize || l.URI != uri || !l.Expires.Equal(t0.Add(24*time.Hour)) || l.TTL != 300*time.Second {
		t.Errorf("list %+v", l)
	}
	for i := int64(0); i < verifytest.ListSize; i++ {
		got, err := l.Revoked(i)
		if want := i == 1 || i == 15 || i == verifytest.ListSize-1; err != nil || got != want {
			t.Fatalf("index %d: %v %v, want %v", i, got, err, want)
		}
	}
	if _, err := verify.ParseStatusList(keys, is.ListURI("2"), []byte(tok), t0); !errors.Is(err, verify.ErrStatusListInvalid) {
		t.Errorf("read as another list's: %v", err)
	}
	if _, err := verify.ParseStatusList(keys, uri, []byte(tok), t0.Add(25*time.Hour)); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("past its exp: %v", err)
	}
}

// A license key is checked against its list offline (a list the product downloaded) or online
// (fetched as Verify does): a released key is refused, another key of the list is not.
func TestVerifyLicenseKey_Status(t *testing.T) {
	is, keys := newOfflineIssuer(t)
	uri := is.ListURI("9")
	listTok := is.SignList(uri, t0, 300, 40)
	is.PublishList("9", listTok, 300)
	key := func(idx int64, uri string) string {
		c := &verify.LicenseClaims{Issuer: is.URL, ID: "5", IssuedAt: jwt.NewNumericDate(t0), License: "LN-1", SKU: "S", VerMajor: 2,
			Fingerprint: "fp-1", Host: "h"}
		if uri != "" {
			c.Status = &verify.StatusClaim{StatusList: verify.StatusListRef{Index: idx, URI: uri}}
		}
		return verifytest.SignWith(is.Keys()[0], verify.TypLicense, c)
	}
	now := t0
	clk := func() time.Time { return now }

	list, err := verify.ParseStatusList(keys, uri, []byte(listTok), now)
	if err != nil {
		t.Fatal(err)
	}
	offline := verify.LicenseKeyOptions{Issuer: is.URL, Fingerprint: "fp-1", Now: clk, StatusList: list}
	online := verify.LicenseKeyOptions{Issuer: is.URL, Fingerprint: "fp-1", Now: clk,
		StatusLists: verify.NewStatusLists(is.URL, keys, verify.StatusListOptions{Now: clk})}
	for name, opts := range map[string]verify.LicenseKeyOptions{"offline": offline, "online": online} {
		if _, err := verify.VerifyLicenseKey(keys, key(41, uri), opts); err != nil {
			t.Errorf("%s: a valid key: %v", name, err)
		}
		if _, err := verify.VerifyLicenseKey(keys, key(0, ""), opts); err != nil {
			t.Errorf("%s: a key without status: %v", name, err)
		}
		if _, err := verify.VerifyLicenseKey(keys, key(40, uri), opts); !errors.Is(err, verify.ErrRevoked) {
			t.Errorf("%s: a released key: %v, want ErrRevoked", name, err)
		}
		if _, err := verify.VerifyLicenseKey(keys, key(verifytest.ListSize, uri), opts); !errors.Is(err, verify.ErrStatusIndex) {
			t.Errorf("%s: an index past the list: %v, want ErrStatusIndex", name, err)
		}
	}
	if _, err := verify.VerifyLicenseKey(keys, key(41, is.ListURI("10")), offline); !errors.Is(err, verify.ErrNoStatusList) {
		t.Errorf("offline, a key of another list: %v, want ErrNoStatusList", err)
	}
	if _, err := verify.VerifyLicenseKey(keys, key(41, "https://evil.example/v1/status-lists/9"), online); !errors.Is(err, verify.ErrStatusListURI) {
		t.Errorf("online, a list elsewhere: %v, want ErrStatusListURI", err)
	}
	now = t0.Add(25 * time.Hour)
	if _, err := verify.VerifyLicenseKey(keys, key(41, uri), offline); !errors.Is(err, verify.ErrNoStatusList) {
		t.Errorf("offline, the list past its exp: %v, want ErrNoStatusList", err)
	}
	// Without a list the status is not checked: a product that downloads none cannot know.
	if _, err := verify.VerifyLicenseKey(keys, key(40, uri), verify.LicenseKeyOptions{Issuer: is.URL, Now: clk}); err != nil {
		t.Errorf("no list given: %v", err)
	}
}

// Require answers a revoked token 401 with the code revoked and an invalid_token challenge.
func TestRequire_Revoked(t *testing.T) {
	is, v, _ := setup(t, 300, verify.JWKSOptions{})
	uri := is.ListURI("1")
	is.PublishList("1", is.SignList(uri, t0, 300, 7), 300)
	h := v.Require("")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	req := httptest.NewRequest("GET", "/files/x", nil)
	req.Header.Set("Authorization", "Bearer "+is.Sign(withStatus(is, uri, 7)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"code":"revoked"`) ||
		!strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("%d %s %q", rec.Code, rec.Body, rec.Header().Get("WWW-Authenticate"))
	}
}

// BenchmarkVerifyStatus is Verify of one token with a status claim, its list cached, by a
// verifier that checks the status (New) and by one that does not (NewWithKeys on the same key
// set): the difference is what the check costs, which the issue allows 5 %.
func BenchmarkVerifyStatus(b *testing.B) {
	is, checking, _ := setup(b, 300, verify.JWKSOptions{})
	uri := is.ListURI("1")
	is.PublishList("1", is.SignList(uri, t0, 300, 7), 300)
	tok := is.Sign(withStatus(is, uri, 123456))
	notChecking, err := verify.NewWithKeys(checking.JWKS(), verify.Options{Issuer: is.URL, Audience: []string{"downloads"},
		Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, v := range []*verify.Verifier{checking, notChecking} {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
	// On a shared machine the two runs apart drift with the load; interleaved, in blocks of 64,
	// both see the same load, and the ratio is reported.
	b.Run("interleaved", func(b *testing.B) {
		var with, without time.Duration
		for i := 0; i < b.N; i += 64 {
			for j, v := range []*verify.Verifier{notChecking, checking} {
				start := time.Now()
				for k := 0; k < 64; k++ {
					if _, err := v.Verify(ctx, tok); err != nil {
						b.Fatal(err)
					}
				}
				if j == 0 {
					without += time.Since(start)
				} else {
					with += time.Since(start)
				}
			}
		}
		n := float64((b.N + 63) / 64 * 64)
		b.ReportMetric(float64(without.Nanoseconds())/n, "ns/op-without")
		b.ReportMetric(float64(with.Nanoseconds())/n, "ns/op-with")
		b.ReportMetric(float64(with)/float64(without), "with/without")
	})
	b.Run("check alone", func(b *testing.B) {
		ref := verify.StatusListRef{Index: 123456, URI: uri}
		lists := checking.StatusLists()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := lists.Check(ctx, ref, verify.RefuseWithoutFreshList); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct {
		name string
		v    *verify.Verifier
	}{{"without", notChecking}, {"with", checking}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := bc.v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// When entitled is reached at another address than its issuer URL (the JWKS URL says where),
// a list named <issuer>/v1/status-lists/<id> is fetched from that address; the list still names
// itself by the issuer's URL, and a token naming the address itself is refused.
func TestStatus_FetchedWhereTheKeysAre(t *testing.T) {
	is := verifytest.NewIssuer(300)
	t.Cleanup(is.Close)
	const issuer = "https://entitled.example.com"
	v, err := verify.New(is.JWKSURL(), verify.Options{Issuer: issuer, Audience: []string{"downloads"}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	named := issuer + "/v1/status-lists/1"
	is.PublishList("1", is.SignList(named, t0, 300, 7), 300)
	token := func(uri string, idx int64) string {
		c := withStatus(is, uri, idx)
		c.Issuer = issuer
		return is.Sign(c)
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, token(named, 8)); err != nil {
		t.Errorf("a valid index: %v", err)
	}
	_, err = v.Verify(ctx, token(named, 7))
	wantRefused(t, "a revoked index", err, 401, verify.ReasonRevoked, verify.ErrRevoked)
	_, err = v.Verify(ctx, token(is.ListURI("1"), 8))
	wantRefused(t, "a list named by the address, not the issuer", err, 401, verify.CodeInvalidToken, verify.ErrStatusListURI)
	if n := is.ListHits.Load(); n != 1 {
		t.Errorf("%d list fetches, want 1", n)
	}
}

// A verification whose request was cancelled while the list was fetched does not make the
// next one wait out RetryAfterFailure: a client that went away is not entitled's failure.
func TestStatus_CancelledFetchIsNotAFailure(t *testing.T) {
	is, v, _ := setup(t, 300, verify.JWKSOptions{})
	uri := is.ListURI("1")
	is.PublishList("1", is.SignList(uri, t0, 300), 300)
	tok := is.Sign(withStatus(is, uri, 8))
	if _, err := v.JWKS().PublicKey(context.Background(), "warm the key set"); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Verify(gone, tok); !errors.Is(err, verify.ErrNoStatusList) {
		t.Fatalf("a cancelled verification: %v", err)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("the next verification, at once: %v", err)
	}
}

// Under AcceptUntilListExpires a verification does not wait for a fetch in progress while the
// list held may still be used: entitled hanging does not hang the service.
func TestStatus_AcceptUntilExpiresDoesNotWaitForAHangingFetch(t *testing.T) {
	is, v, clk := setupWith(t, 300, verify.Options{StatusListFailure: verify.AcceptUntilListExpires})
	uri := is.ListURI("1")
	is.PublishList("1", is.SignList(uri, t0, 300), 300)
	tok := is.Sign(withStatus(is, uri, 8))
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	clk.Advance(301 * time.Second)
	is.ListSlow.Store(int64(2 * time.Second))
	done := make(chan error, 1)
	go func() { _, err := v.Verify(ctx, tok); done <- err }() // fetches, and waits for the answer
	for is.ListHits.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Errorf("while a fetch hangs: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a verification waited %v for the fetch in progress", d)
	}
	if err := <-done; err != nil {
		t.Errorf("the verification that fetched: %v", err)
	}
}
