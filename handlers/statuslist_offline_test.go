package handlers

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"entitled/models"
	"github.com/entitled-dev/entitled/verify"
)

// The status lists' promise, end to end: a verifier that is offline from entitled but for the
// JWKS and one status list every ttl refuses a removed member's token within ttl (here: the
// token still has 10 minutes to live), and a token of a grant that did not change stays valid.
func TestStatusLists_AnOfflineVerifierRefusesARemovedMembersTokenWithinTTL(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ctx := context.Background()
		ln, admin, _ := a.tokenLicense(t)
		member := a.newUser(t)
		want(t, a.do(t, "PUT", "/v1/licenses/"+ln+"/members/"+member.email, admin.token, map[string]any{"roles": []string{"support"}}), http.StatusOK)
		removed, kept := a.token(t, member, ln, "downloads"), a.token(t, admin, ln, "downloads")
		v := a.verifier(t, "downloads", verify.JWKSOptions{})
		for _, tok := range []string{removed, kept} {
			if c, err := v.Verify(ctx, tok); err != nil || c.Status == nil {
				t.Fatalf("before the removal: %+v, %v; want a valid token with a status claim", c, err)
			}
		}

		want(t, a.do(t, "DELETE", "/v1/licenses/"+ln+"/members/"+member.email, admin.token, nil), http.StatusNoContent)
		// One ttl (ENTITLED_STATUS_LIST_TTL, 300 s by default) later, the verifier has fetched the
		// list again: the removed member's token is refused as revoked; the admin's is not.
		a.clock.Advance(models.StatusListTTL + time.Second)
		_, err := v.Verify(ctx, removed)
		var ve *verify.Error
		if !errors.As(err, &ve) || ve.Code != verify.ReasonRevoked {
			t.Fatalf("a removed member's token one ttl later: %v, want %s", err, verify.ReasonRevoked)
		}
		if _, err := v.Verify(ctx, kept); err != nil {
			t.Errorf("the admin's token: %v", err)
		}
		// Introspection agrees.
		if active(a.introspect(t, a.newAPIKey(t, models.ScopeEntitlementsIntrospect), removed)) {
			t.Error("introspection says the removed member's token is active")
		}
	})
}
