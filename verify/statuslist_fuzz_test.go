package verify_test

import (
	"errors"
	"testing"
	"time"

	"github.com/entitled-dev/entitled/verify"
	"github.com/entitled-dev/entitled/verify/verifytest"
)

// FuzzParseStatusList signs, with the issuer's genuine key, a list whose lst and bits are the
// fuzzer's, so that the decoder itself is what is fuzzed (a forged signature stops earlier):
// never a panic; a list refused is ErrStatusListInvalid; a list accepted inflates to at most
// the verifier's cap (an empty list is no list of any token), and every index in it answers while the first index past it is refused.
func FuzzParseStatusList(f *testing.F) {
	is := verifytest.NewIssuer(300)
	f.Cleanup(is.Close)
	keys, err := verify.ParseJWKS(is.JWKS())
	if err != nil {
		f.Fatal(err)
	}
	key := is.Keys()[0]
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	uri := is.ListURI("1")
	for _, seed := range []struct {
		lst  string
		bits int
	}{
		{verifytest.Lst(verifytest.Bits(64, 3)), 1},
		{verifytest.Lst(verifytest.Bits(verifytest.ListSize, 7)), 1},
		{verifytest.Lst(nil), 1},
		{"eJw", 1},
		{"not base64!", 1},
		{verifytest.Lst(verifytest.Bits(64)), 2},
		{verifytest.B64([]byte{0x78, 0x9c, 0xff, 0xff}), 1},
	} {
		f.Add(seed.lst, seed.bits)
	}
	f.Fuzz(func(t *testing.T, lst string, bits int) {
		claims := verifytest.ListClaims(uri, now, 300, nil)
		claims["status_list"] = map[string]any{"bits": bits, "lst": lst}
		token := verifytest.JWS(verifytest.ListHeader(key), claims, verifytest.EdSigner(key))
		l, err := verify.ParseStatusList(keys, uri, []byte(token), now)
		if err != nil {
			if !errors.Is(err, verify.ErrStatusListInvalid) {
				t.Fatalf("lst %q bits %d: refused with %v, not ErrStatusListInvalid", lst, bits, err)
			}
			return
		}
		if n := l.Len(); n < 0 || n > 1<<24 {
			t.Fatalf("lst %q bits %d: accepted with %d indexes", lst, bits, n)
		}
		for _, idx := range []int64{0, l.Len() - 1} {
			if _, err := l.Revoked(idx); err != nil && l.Len() > 0 {
				t.Fatalf("index %d of a list of %d: %v", idx, l.Len(), err)
			}
		}
		if _, err := l.Revoked(l.Len()); err == nil {
			t.Fatalf("index %d past a list of %d answers", l.Len(), l.Len())
		}
	})
}
