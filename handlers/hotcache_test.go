package handlers

import (
	"context"
	"net/http"
	"testing"
	"time"

	"entitled/models"
	"entitled/models/store"
)

// The in-process caches (principals by credential, products' versions, hot rows, verified
// tokens) are emptied by every write in this replica: each test warms the cache first (and checks
// by the store's counter that it answers from it), then checks that the change shows at once.
// Entries age by the store's clock: TestHotCache_EntriesAgeByTheStoreClock advances it.

// servedFromCache runs fn and reports whether the store's hot-path cache answered at least one
// lookup during it (a hit) and whether at least one went to the database (a miss).
func servedFromCache(a *testApp, fn func()) (hit, miss bool) {
	h0, m0 := a.store.HotCacheCounts()
	fn()
	h1, m1 := a.store.HotCacheCounts()
	return h1 > h0, m1 > m0
}

// wantCacheHit runs fn and fails unless the cache answered a lookup in it.
func wantCacheHit(t *testing.T, a *testApp, what string, fn func()) {
	t.Helper()
	if hit, _ := servedFromCache(a, fn); !hit {
		t.Errorf("%s: no hot-path cache hit, want one (the cache is warm)", what)
	}
}

func TestHotCache_EntriesAgeByTheStoreClock(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		a.me(t, u.token)
		if hit, miss := servedFromCache(a, func() { a.me(t, u.token) }); !hit || miss {
			t.Fatalf("warm cache: hit %v, miss %v; want a hit and no miss", hit, miss)
		}
		a.clock.Advance(5 * time.Second) // cacheTTL: the entry's last trusted instant
		if hit, miss := servedFromCache(a, func() { a.me(t, u.token) }); !hit || miss {
			t.Errorf("at cacheTTL on the store's clock: hit %v, miss %v; want a hit and no miss", hit, miss)
		}
		a.clock.Advance(time.Millisecond)
		if _, miss := servedFromCache(a, func() { a.me(t, u.token) }); !miss {
			t.Error("past cacheTTL on the store's clock the principal still came from the cache, want a miss")
		}
		if hit, miss := servedFromCache(a, func() { a.me(t, u.token) }); !hit || miss {
			t.Errorf("after the refresh: hit %v, miss %v; want a hit and no miss", hit, miss)
		}
	})
}

func TestHotCache_LogoutIs401AtOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		u := a.newUser(t)
		a.me(t, u.token)
		wantCacheHit(t, a, "second /v1/me", func() { a.me(t, u.token) })
		want(t, a.do(t, "POST", "/v1/auth/logout", u.token, nil), http.StatusNoContent)
		want(t, a.do(t, "GET", "/v1/me", u.token, nil), http.StatusUnauthorized, models.CodeUnauthenticated)
	})
}

func TestHotCache_RevokedAPIKeyIs401AtOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		root := a.newStaff(t, models.RoleSuperadmin)
		_, key, id := a.postAPIKey(t, root.token, "checker", "entitlements:introspect")
		check := "/v1/entitlements/check?license_number=" + store.NewLicenseNumber() + "&entitlement=assets.read&user=nobody@example.com"
		for range 2 { // the first use records the key's last use, a write that empties the cache
			want(t, a.do(t, "GET", check, key, nil), http.StatusOK)
		}
		wantCacheHit(t, a, "third check", func() { want(t, a.do(t, "GET", check, key, nil), http.StatusOK) })
		want(t, a.do(t, "DELETE", "/v1/api-keys/"+id, root.token, nil), http.StatusNoContent)
		want(t, a.do(t, "GET", check, key, nil), http.StatusUnauthorized, models.CodeUnauthenticated)
	})
}

func TestHotCache_StaffRoleChangeTakesEffectAtOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		s := a.newStaff(t, models.RoleOps)
		put := func(roles ...string) {
			t.Helper()
			if _, _, err := a.identity.PutStaff(context.Background(), models.StaffInput{Email: s.email, Roles: roles}, models.SystemActor("test")); err != nil {
				t.Fatalf("PutStaff: %v", err)
			}
		}
		want(t, a.do(t, "GET", "/v1/staff", s.token, nil), http.StatusForbidden, models.CodeForbidden)
		wantCacheHit(t, a, "second GET /v1/staff", func() {
			want(t, a.do(t, "GET", "/v1/staff", s.token, nil), http.StatusForbidden, models.CodeForbidden)
		})
		put(models.RoleSuperadmin)
		want(t, a.do(t, "GET", "/v1/staff", s.token, nil), http.StatusOK)
		want(t, a.do(t, "GET", "/v1/staff", s.token, nil), http.StatusOK)
		put(models.RoleOps)
		want(t, a.do(t, "GET", "/v1/staff", s.token, nil), http.StatusForbidden, models.CodeForbidden)
	})
}

func TestHotCache_VersionsFollowAddVersionAndSetPhase(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		sku := a.newProduct(t, ops, [3]string{"1.0", "2025-06-01", "full"})
		body, _ := a.order(map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual",
			"support": map[string]any{"program": "standard", "starts_on": "2025-07-01", "ends_on": "2026-06-30"}})
		lic, admin := a.placeAndRegister(t, ops, body)
		ln := lic["license_number"].(string)
		check := func(version string) *resp {
			return a.do(t, "GET", "/v1/entitlements/check?license_number="+ln+"&entitlement=assets.read&version="+version, admin.token, nil)
		}

		for i := range 2 {
			warm := func() {
				if v := a.support(t, admin.token, ln, "").str("version"); v != "1.0" {
					t.Fatalf("default version = %q, want 1.0", v)
				}
				want(t, check("1.1"), http.StatusNotFound, models.CodeVersionNotFound)
			}
			if i == 0 {
				warm()
			} else {
				wantCacheHit(t, a, "second support and check", warm)
			}
		}
		want(t, a.do(t, "POST", "/v1/products/"+sku+"/versions", ops, map[string]any{"version": "1.1", "released_on": "2025-06-15", "phase": "full"}), http.StatusCreated)
		want(t, check("1.1"), http.StatusOK)
		if v := a.support(t, admin.token, ln, "").str("version"); v != "1.1" {
			t.Fatalf("after AddVersion the default version = %q, want 1.1", v)
		}
		want(t, a.do(t, "PATCH", "/v1/products/"+sku+"/versions/1.1", ops, map[string]any{"phase": "discontinued"}), http.StatusOK)
		if v := a.support(t, admin.token, ln, "").str("version"); v != "1.0" {
			t.Fatalf("after SetPhase discontinued the default version = %q, want 1.0", v)
		}
	})
}

// Introspection remembers the signatures it checked, not the answers: a remembered token still
// expires on time, and a grant revoked in this replica makes it inactive at once.
func TestHotCache_RememberedTokenStillExpiresAndFollowsItsGrant(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ln, admin, _ := a.tokenLicense(t)
		key := a.newAPIKey(t, models.ScopeEntitlementsIntrospect)
		tok := a.token(t, admin, ln, "kb")
		if !active(a.introspect(t, key, tok)) {
			t.Fatal("a fresh token is not active")
		}
		wantCacheHit(t, a, "second introspection", func() {
			if !active(a.introspect(t, key, tok)) {
				t.Fatal("a fresh token is not active")
			}
		})
		a.clock.Advance(15*time.Minute + 2*time.Minute) // past exp and the leeway, writing nothing
		if r := a.introspect(t, key, tok); active(r) {
			t.Errorf("a remembered token is still active after it expired: %s", r)
		}

		su := a.newUser(t)
		want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+su.email, admin.token, map[string]any{"roles": []string{"support"}}), http.StatusOK)
		tok = a.token(t, su, ln, "kb")
		for range 3 {
			if !active(a.introspect(t, key, tok)) {
				t.Fatal("a member's fresh token is not active")
			}
		}
		want(t, a.do(t, "DELETE", "/v1/licenses/"+ln+"/members/"+su.email, admin.token, nil), http.StatusNoContent)
		if active(a.introspect(t, key, tok)) {
			t.Error("a remembered token of a revoked grant is still active")
		}
	})
}
