package verify_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entitled-dev/entitled/verify"
	"github.com/entitled-dev/entitled/verify/verifytest"
)

// A download service gates its files on downloads.read, and applies the paid-for rule to an old
// release offline: a customer whose support lapsed still gets what was released while they paid.
func ExampleVerifier_Require() {
	entitled := verifytest.NewIssuer(300) // stands in for entitled: its JWKS, and tokens it signed
	defer entitled.Close()

	// The download service: ten lines.
	v, err := verify.New(entitled.URL+"/.well-known/jwks.json", verify.Options{Issuer: entitled.URL, Audience: []string{"downloads"}})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /latest", v.Require(verify.DownloadsRead)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "the newest release, for license %s", c.License)
	})))
	mux.Handle("GET /releases/1.0", v.Require("")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFrom(r.Context())
		if ok, reason := verify.CanDownload(c, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), verify.PhaseFull); !ok {
			http.Error(w, reason, http.StatusForbidden)
			return
		}
		fmt.Fprint(w, "release 1.0")
	})))
	site := httptest.NewServer(mux)
	defer site.Close()

	// A Support User whose support lapsed on 2026-06-30 asks with a fresh token.
	token := entitled.Sign(entitled.Claims(time.Now()))
	for _, path := range []string{"/latest", "/releases/1.0"} {
		for _, auth := range []string{"", "Bearer " + token} {
			req, _ := http.NewRequest("GET", site.URL+path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				panic(err)
			}
			res.Body.Close()
			fmt.Println(path, auth != "", res.StatusCode, res.Header.Get("Content-Type"))
		}
	}
	// Output:
	// /latest false 401 application/problem+json
	// /latest true 403 application/problem+json
	// /releases/1.0 false 401 application/problem+json
	// /releases/1.0 true 200 text/plain; charset=utf-8
}

// A product checks its license key offline, against entitled's JWKS saved to a file and shipped
// with it: the key must be signed by a published key, be a license key (typ lic+jwt), come from
// entitled, and be for this machine, product and major version.
func ExampleVerifyLicenseKey() {
	entitled := verifytest.NewIssuer(300)
	defer entitled.Close()
	dir, _ := os.MkdirTemp("", "jwks")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "jwks.json"), entitled.JWKS(), 0o600)
	licenseKey := verifytest.SignWith(entitled.Keys()[0], verify.TypLicense, &verify.LicenseClaims{
		Issuer: entitled.URL, ID: "17", IssuedAt: jwt.NewNumericDate(time.Now()), License: "LN-7KQ2-M9XD-44TB-R1ZC",
		SKU: "ACME-SRV", VerMajor: 4, Fingerprint: "a3f1-9c2e-77d0", Host: "build-01.example.com", SupportEndsOn: "2027-06-30"})

	// The product, at start-up:
	data, err := os.ReadFile(filepath.Join(dir, "jwks.json"))
	if err != nil {
		panic(err)
	}
	keys, err := verify.ParseJWKS(data)
	if err != nil {
		panic(err)
	}
	c, err := verify.VerifyLicenseKey(keys, licenseKey, verify.LicenseKeyOptions{
		Issuer: entitled.URL, Fingerprint: "a3f1-9c2e-77d0", SKU: "ACME-SRV", VerMajor: 4})
	fmt.Println(c.License, c.Host, c.SupportEndsOn, err)

	_, err = verify.VerifyLicenseKey(keys, licenseKey, verify.LicenseKeyOptions{Issuer: entitled.URL, Fingerprint: "another-machine"})
	fmt.Println(err)
	// Output:
	// LN-7KQ2-M9XD-44TB-R1ZC build-01.example.com 2027-06-30 <nil>
	// verify: the license key is for another machine
}

// A token that carries a status is checked against entitled's status list, downloaded once per
// the list's ttl. When the ttl has run out and entitled cannot be reached, the default policy
// refuses such tokens (503 unavailable) until a list is had again; AcceptUntilListExpires keeps
// using the last list until its exp, refusing the revocations it holds but not seeing newer ones.
func ExampleStatusListFailure() {
	entitled := verifytest.NewIssuer(300) // stands in for entitled: its JWKS, a status list, tokens
	defer entitled.Close()
	uri := entitled.URL + "/v1/status-lists/1"
	entitled.PublishList("1", entitled.SignList(uri, t0, 300, 7), 300) // index 7 revoked; ttl 5 minutes
	clk := &clock{t: t0}

	strict, _ := verify.New(entitled.URL+"/.well-known/jwks.json", verify.Options{Issuer: entitled.URL, Audience: []string{"downloads"},
		Now: clk.Now}) // StatusListFailure: verify.RefuseWithoutFreshList, the default
	lenient, _ := verify.New(entitled.URL+"/.well-known/jwks.json", verify.Options{Issuer: entitled.URL, Audience: []string{"downloads"},
		Now: clk.Now, StatusListFailure: verify.AcceptUntilListExpires})

	token := func(idx int64) string {
		c := entitled.Claims(clk.Now())
		c.Status = &verify.StatusClaim{StatusList: verify.StatusListRef{Index: idx, URI: uri}}
		return entitled.Sign(c)
	}
	show := func(when string) {
		for _, v := range []struct {
			name string
			*verify.Verifier
		}{{"refuse", strict}, {"accept until exp", lenient}} {
			for _, idx := range []int64{8, 7} {
				_, err := v.Verify(context.Background(), token(idx))
				var ve *verify.Error
				if errors.As(err, &ve) {
					fmt.Printf("%s, %s, index %d: %d %s\n", when, v.name, idx, ve.Status, ve.Code)
				} else {
					fmt.Printf("%s, %s, index %d: accepted\n", when, v.name, idx)
				}
			}
		}
	}
	show("list fetched")
	entitled.ListsOut.Store(true) // entitled cannot be reached
	clk.Advance(10 * time.Minute) // the ttl has run out
	show("no fresh list")
	// Output:
	// list fetched, refuse, index 8: accepted
	// list fetched, refuse, index 7: 401 revoked
	// list fetched, accept until exp, index 8: accepted
	// list fetched, accept until exp, index 7: 401 revoked
	// no fresh list, refuse, index 8: 503 unavailable
	// no fresh list, refuse, index 7: 503 unavailable
	// no fresh list, accept until exp, index 8: accepted
	// no fresh list, accept until exp, index 7: 401 revoked
}
