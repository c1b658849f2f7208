package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"entitled/models"
	"github.com/entitled-dev/entitled/verify"
)

// licenseKey asks for a license key.
func (a *testApp) licenseKey(t testing.TB, u *testUser, ln, fp, version string) *resp {
	t.Helper()
	return a.do(t, "POST", "/v1/licenses/"+ln+"/keys", u.token, map[string]string{"fingerprint": fp, "hostname": "build-01.example.com", "version": version})
}

// orderLicense orders one license of a new product (versions 1.0 on 2025-06-01, 2.0 on
// 2026-09-01, 3.0 on 2027-01-01) with the item's kind and support, and registers a fresh admin.
func (a *testApp) orderLicense(t testing.TB, item map[string]any) (ln, sku string, admin *testUser) {
	t.Helper()
	ops := a.newStaff(t, models.RoleOps).token
	sku = a.newProduct(t, ops, [3]string{"1.0", "2025-06-01", "full"}, [3]string{"2.0", "2026-09-01", "full"}, [3]string{"3.0", "2027-01-01", "full"})
	item["sku"] = sku
	body, _ := a.order(item)
	lic, admin := a.placeAndRegister(t, ops, body)
	return lic["license_number"].(string), sku, admin
}

// offline verifies a license key the way a product does: against the JWKS, saved.
func (a *testApp) offline(t testing.TB, key, fp string) (*verify.LicenseClaims, error) {
	t.Helper()
	r := a.do(t, "GET", "/.well-known/jwks.json", "", nil)
	keys, err := verify.ParseJWKS(r.raw)
	if err != nil {
		t.Fatal(err)
	}
	return verify.VerifyLicenseKey(keys, key, verify.LicenseKeyOptions{Issuer: testBaseURL, Fingerprint: fp, Now: a.clock.Now})
}

// Issue, re-issue on the same seat, a new major version on the same seat, exhaustion, release and
// re-use; every claim; the key verifies offline with the JWKS and not with the token key.
func TestLicenseKeys_SeatsReissueUpgradeAndRelease(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln, admin, _ := a.tokenLicense(t) // quantity 3, perpetual, support until 2026-06-30
		r := a.licenseKey(t, admin, ln, "machine-0001", "1.0")
		want(t, r, http.StatusCreated)
		id, key := r.str("id"), r.str("key")
		head, claims := segment(t, key, 0), segment(t, key, 1)
		if got := strings.Join(slices.Sorted(maps.Keys(claims)), ","); got != "fp,host,iat,iss,jti,lic,sku,status,support_ends_on,ver_major" {
			t.Errorf("claims %s, want exactly the contract's (no exp for a perpetual license)", got)
		}
		sku := a.do(t, "GET", "/v1/licenses/"+ln, admin.token, nil).body["product"].(map[string]any)["sku"]
		for k, v := range map[string]any{"iss": testBaseURL, "jti": id, "iat": float64(testStart.Unix()), "lic": ln, "sku": sku, "ver_major": float64(1),
			"fp": "machine-0001", "host": "build-01.example.com", "support_ends_on": "2026-06-30"} {
			if claims[k] != v {
				t.Errorf("%s = %v, want %v", k, claims[k], v)
			}
		}
		tokenKid := segment(t, a.token(t, admin, ln, "kb"), 0)["kid"]
		if head["typ"] != "lic+jwt" || head["alg"] != "EdDSA" || head["kid"] == tokenKid || a.jwksKeys(t)[head["kid"].(string)] == nil {
			t.Errorf("header %v: want typ lic+jwt, EdDSA, a published kid of its own (the token key is %v)", head, tokenKid)
		}
		if c, err := a.offline(t, key, "machine-0001"); err != nil || c.ID != id {
			t.Errorf("offline verification: %v %v", c, err)
		}
		if _, err := a.offline(t, key, "machine-9999"); !errors.Is(err, verify.ErrOtherMachine) {
			t.Errorf("on another machine: %v, want ErrOtherMachine", err)
		}
		onlyTokenKey := verify.StaticKeys{}
		all, _ := verify.ParseJWKS(a.do(t, "GET", "/.well-known/jwks.json", "", nil).raw)
		onlyTokenKey[tokenKid.(string)] = all[tokenKid.(string)]
		if _, err := verify.VerifyLicenseKey(onlyTokenKey, key, verify.LicenseKeyOptions{Issuer: testBaseURL}); !errors.Is(err, verify.ErrUnknownKey) {
			t.Errorf("with the entitlement-token key only: %v, want ErrUnknownKey", err)
		}

		r = a.licenseKey(t, admin, ln, "machine-0001", "1.0")
		want(t, r, http.StatusOK)
		if r.str("id") != id {
			t.Errorf("a re-issue answered key %s, want the same %s", r.str("id"), id)
		}
		r = a.licenseKey(t, admin, ln, "machine-0001", "2.0") // a new major version: a new key, the same seat
		want(t, r, http.StatusCreated)
		if r.str("id") == id || r.body["ver_major"] != float64(2) {
			t.Errorf("a new major version: %s", r)
		}
		want(t, a.licenseKey(t, admin, ln, "machine-0002", "1.0"), http.StatusCreated)
		third := a.licenseKey(t, admin, ln, "machine-0003", "1.0")
		want(t, third, http.StatusCreated)
		want(t, a.licenseKey(t, admin, ln, "machine-0004", "1.0"), http.StatusConflict, models.CodeSeatsExhausted)
		want(t, a.licenseKey(t, admin, ln, "machine-0001", "2.0"), http.StatusOK) // a seated machine still re-issues

		l := a.do(t, "GET", "/v1/licenses/"+ln+"/keys", admin.token, nil)
		want(t, l, http.StatusOK)
		if n := len(l.items()); n != 4 || l.items()[0]["issued_to"] != admin.email || l.items()[0]["key"] != nil {
			t.Errorf("the list: %s, want 4 keys with issued_to and no key", l)
		}

		want(t, a.do(t, "DELETE", "/v1/licenses/"+ln+"/keys/"+third.str("id")+"?reason="+url.QueryEscape("machine scrapped"), admin.token, nil), http.StatusNoContent)
		want(t, a.do(t, "DELETE", "/v1/licenses/"+ln+"/keys/"+third.str("id"), admin.token, nil), http.StatusNotFound, models.CodeNotFound)
		want(t, a.licenseKey(t, admin, ln, "machine-0004", "1.0"), http.StatusCreated)
		audit := a.do(t, "GET", "/v1/licenses/"+ln+"/audit", admin.token, nil)
		found := false
		for _, e := range audit.items() {
			if e["action"] == "license_key.released" && strings.Contains(fmt.Sprint(e["details"]), "machine scrapped") {
				found = true
			}
		}
		if !found {
			t.Errorf("no license_key.released audit entry with the reason: %s", audit)
		}
	})
}

// Twenty machines race for the last seats of a license with three: exactly three get one.
func TestLicenseKeys_RaceForTheLastSeat(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln, admin, _ := a.tokenLicense(t)
		var wg sync.WaitGroup
		codes := make(chan string, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := postRaw(a, admin.token, "/v1/licenses/"+ln+"/keys", fmt.Sprintf(`{"fingerprint":"racer-%04d","hostname":"h%d","version":"1.0"}`, i, i))
				if err != nil {
					codes <- err.Error()
					return
				}
				codes <- r
			}()
		}
		wg.Wait()
		close(codes)
		count := map[string]int{}
		for c := range codes {
			count[c]++
		}
		if count["201"] != 3 || count["409 seats_exhausted"] != 17 {
			t.Errorf("20 machines racing for 3 seats: %v, want 3 × 201 and 17 × 409 seats_exhausted", count)
		}
		if n := len(a.do(t, "GET", "/v1/licenses/"+ln+"/keys", admin.token, nil).items()); n != 3 {
			t.Errorf("%d keys listed, want 3", n)
		}
	})
}

// postRaw POSTs JSON without testing.T (for goroutines) and answers "201" or "409 code".
func postRaw(a *testApp, session, path, body string) (string, error) {
	status, raw, err := postJSONRaw(a, session, path, body)
	if err != nil {
		return "", err
	}
	r := &resp{status: status}
	_ = json.Unmarshal(raw, &r.body)
	if r.status >= 400 {
		return fmt.Sprintf("%d %s", r.status, r.code()), nil
	}
	return fmt.Sprint(r.status), nil
}

// Who may have a key for which version, and what input is refused.
func TestLicenseKeys_EntitlementRolesAndInput(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln, admin, _ := a.tokenLicense(t)
		want(t, a.licenseKey(t, admin, ln, "machine-0001", "9.9"), http.StatusNotFound, models.CodeVersionNotFound)
		r := a.do(t, "POST", "/v1/licenses/"+ln+"/keys", admin.token, map[string]string{"fingerprint": "short", "hostname": "-bad-.example", "version": ""})
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		if f := r.fields(); f["fingerprint"] != models.FieldTooShort || f["hostname"] != models.FieldInvalid || f["version"] != models.FieldRequired {
			t.Errorf("fields %v", f)
		}
		for _, fp := range []string{"machine-é-0001", strings.Repeat("x", 129), "tab\there-ok?"} {
			r := a.do(t, "POST", "/v1/licenses/"+ln+"/keys", admin.token, map[string]string{"fingerprint": fp, "hostname": "h", "version": "1.0"})
			want(t, r, http.StatusBadRequest, models.CodeValidation)
		}
		long := strings.Repeat(strings.Repeat("a", 63)+".", 4) // 256 characters
		want(t, a.do(t, "POST", "/v1/licenses/"+ln+"/keys", admin.token, map[string]string{"fingerprint": "machine-0001", "hostname": long, "version": "1.0"}),
			http.StatusBadRequest, models.CodeValidation)

		sup := a.newUser(t)
		want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+sup.email, admin.token, map[string]any{"roles": []string{"support"}}), http.StatusOK)
		want(t, a.licenseKey(t, sup, ln, "machine-0001", "1.0"), http.StatusForbidden, models.CodeRoleMissing)
		want(t, a.do(t, "GET", "/v1/licenses/"+ln+"/keys", sup.token, nil), http.StatusForbidden, models.CodeRoleMissing)
		want(t, a.licenseKey(t, a.newUser(t), ln, "machine-0001", "1.0"), http.StatusForbidden, models.CodeNotAMember)
		want(t, a.licenseKey(t, a.newUnverifiedUser(t), ln, "machine-0001", "1.0"), http.StatusForbidden, models.CodeEmailUnverified)
		want(t, a.licenseKey(t, a.newStaff(t, models.RoleSupport), ln, "machine-0001", "1.0"), http.StatusForbidden, models.CodeNotAMember)

		// Support lapsed on 2026-06-30: what was released before stays keyable, a newer release is not.
		a.travel(t, 0, time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC), admin)
		want(t, a.licenseKey(t, admin, ln, "machine-0001", "1.0"), http.StatusCreated)
		want(t, a.licenseKey(t, admin, ln, "machine-0001", "2.0"), http.StatusForbidden, models.ReasonSupportLapsed)
	})
}

// exp only for trial and subscription licenses (the end of the contract's ends_on); no
// support_ends_on without support, and then keys only for versions released by the order day.
func TestLicenseKeys_ExpiryAndSupportClaimsByKind(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		for _, tc := range []struct {
			name     string
			item     map[string]any
			exp      any
			supEnds  any
			newer    int
			newerWhy string
		}{
			{"perpetual", map[string]any{"quantity": 1, "kind": "perpetual", "support": map[string]any{"program": "24x7", "starts_on": "2026-01-01", "ends_on": "2026-12-31"}},
				nil, "2026-12-31", http.StatusCreated, ""},
			{"subscription", map[string]any{"quantity": 1, "kind": "subscription", "support": map[string]any{"program": "standard", "starts_on": "2026-01-01", "ends_on": "2026-12-31"}},
				float64(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Unix()), "2026-12-31", http.StatusCreated, ""},
			{"trial", map[string]any{"quantity": 1, "kind": "trial"},
				float64(time.Date(2026, 4, 2, 0, 0, 0, 0, time.UTC).Unix()), "2026-04-01", http.StatusCreated, ""},
			{"without support", map[string]any{"quantity": 1, "kind": "perpetual"},
				nil, nil, http.StatusForbidden, models.ReasonNoSupportContract},
		} {
			ln, _, admin := a.orderLicense(t, tc.item)
			r := a.licenseKey(t, admin, ln, "machine-"+tc.name, "1.0")
			want(t, r, http.StatusCreated)
			claims := segment(t, r.str("key"), 1)
			if claims["exp"] != tc.exp || claims["support_ends_on"] != tc.supEnds {
				t.Errorf("%s: exp %v, support_ends_on %v; want %v, %v", tc.name, claims["exp"], claims["support_ends_on"], tc.exp, tc.supEnds)
			}
			if c, err := a.offline(t, r.str("key"), "machine-"+tc.name); err != nil || c.License != ln {
				t.Errorf("%s: offline: %v", tc.name, err)
			}
			r = a.licenseKey(t, admin, ln, "machine-"+tc.name, "2.0") // released after the order day
			if r.status != tc.newer || (tc.newerWhy != "" && r.code() != tc.newerWhy) {
				t.Errorf("%s: version 2.0 got %s, want %d %s", tc.name, r, tc.newer, tc.newerWhy)
			}
		}
	})
}

// A license signing key rotated out stays published while a license key it signed is out —
// perpetual keys never expire — and is unpublished once that key is released.
func TestLicenseSigningKey_PublishedWhileItsKeysAreOut(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ctx := context.Background()
		ln, admin, _ := a.tokenLicense(t)
		r := a.licenseKey(t, admin, ln, "machine-0001", "1.0")
		want(t, r, http.StatusCreated)
		oldKid := segment(t, r.str("key"), 0)["kid"].(string)
		if _, err := a.keys.Rotate(ctx, models.PurposeLicense, true, models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		a.travel(t, 400*24*time.Hour, time.Time{}, admin)
		if err := a.keys.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if a.jwksKeys(t)[oldKid] == nil {
			t.Fatalf("a year on, the key that signed an unreleased perpetual license key is unpublished")
		}
		if _, err := a.offline(t, r.str("key"), "machine-0001"); err != nil {
			t.Errorf("the old license key no longer verifies: %v", err)
		}
		want(t, a.do(t, "DELETE", "/v1/licenses/"+ln+"/keys/"+r.str("id"), admin.token, nil), http.StatusNoContent)
		if err := a.keys.Reload(ctx); err != nil {
			t.Fatal(err)
		}
		if a.jwksKeys(t)[oldKid] != nil {
			t.Errorf("the old license signing key is still published after its last key was released")
		}
	})
}
