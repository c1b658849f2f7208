package verify_test

import (
	"testing"

	"github.com/entitled-dev/entitled/verify"
	"github.com/entitled-dev/entitled/verify/verifytest"
)

// newOfflineIssuer is a test issuer, closed when the test ends, and its JWKS as a product that
// verifies offline holds it.
func newOfflineIssuer(t testing.TB) (*verifytest.Issuer, verify.StaticKeys) {
	t.Helper()
	is := verifytest.NewIssuer(300)
	t.Cleanup(is.Close)
	keys, err := verify.ParseJWKS(is.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	return is, keys
}
