package handlers

import (
	"context"
	"net/http"
	"testing"

	"entitled/models"
	"entitled/models/store"
)

// `keys rotate --now` leaves a compromised key published for as long as what it signed may be
// shown (for ever, for a perpetual license key). `keys retire` unpublishes it at once: the JWKS
// no longer has it, introspection refuses the tokens it signed, license keys it signed stop
// verifying offline, and a fresh key signs in its place.
func TestKeysRetire_UnpublishesACompromisedKeyAtOnce(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ctx := context.Background()
		ln, admin, _ := a.tokenLicense(t)
		introspector := a.newAPIKey(t, "entitlements:introspect")

		tok := a.token(t, admin, ln, "kb")
		entKid := segment(t, tok, 0)["kid"].(string)
		lic := a.licenseKey(t, admin, ln, "machine-0001", "1.0")
		want(t, lic, http.StatusCreated)
		licKid := segment(t, lic.str("key"), 0)["kid"].(string)
		if !active(a.introspect(t, introspector, tok)) {
			t.Fatal("a fresh token is not active")
		}

		// The entitlement key is the active one: retiring it puts a successor in its place.
		retired, successor, err := a.keys.Retire(ctx, entKid, models.SystemActor("test"))
		if err != nil {
			t.Fatal(err)
		}
		if retired.State != models.KeyRetired || successor == nil || successor.State != models.KeyActive {
			t.Fatalf("retire the active key: %+v, successor %+v; want retired and a new active key", retired, successor)
		}
		jwks := a.jwksKeys(t)
		if jwks[entKid] != nil {
			t.Errorf("the retired entitlement key is still in the JWKS")
		}
		if jwks[successor.Kid] == nil {
			t.Errorf("the successor %s is not in the JWKS", successor.Kid)
		}
		if active(a.introspect(t, introspector, tok)) {
			t.Errorf("a token signed by the retired key is still active")
		}
		if got := segment(t, a.token(t, admin, ln, "kb"), 0)["kid"]; got != successor.Kid {
			t.Errorf("a new token is signed by %v, want the successor %s", got, successor.Kid)
		}

		// A license signing key replaced by rotate --now stays published while its (perpetual)
		// keys are out; retire takes it out anyway.
		if _, err := a.keys.Rotate(ctx, models.PurposeLicense, true, models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		if a.jwksKeys(t)[licKid] == nil {
			t.Fatal("after rotate --now the old license signing key should still be published")
		}
		if _, successor, err = a.keys.Retire(ctx, licKid, models.SystemActor("test")); err != nil || successor != nil {
			t.Fatalf("retire a retiring key: successor %+v, err %v; want no successor", successor, err)
		}
		if a.jwksKeys(t)[licKid] != nil {
			t.Errorf("the retired license signing key is still in the JWKS")
		}
		if _, err := a.offline(t, lic.str("key"), "machine-0001"); err == nil {
			t.Errorf("a license key signed by the retired key still verifies offline")
		}

		// Again: nothing changes. An unknown kid: not_found.
		if again, successor, err := a.keys.Retire(ctx, licKid, models.SystemActor("test")); err != nil || successor != nil || again.State != models.KeyRetired {
			t.Errorf("retire twice: %+v, %+v, %v", again, successor, err)
		}
		if _, _, err := a.keys.Retire(ctx, "no-such-kid", models.SystemActor("test")); store.ErrorCode(err) != models.CodeNotFound {
			t.Errorf("retire an unknown kid: %v, want not_found", err)
		}
	})
}
