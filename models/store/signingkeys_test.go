package store_test

// The signing keys' life: made once however many replicas start, sealed under ENTITLED_SECRET,
// rotated in ahead of signing, retired once what they signed has expired, re-sealed by
// `secret rotate`.

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
	"github.com/entitled-dev/entitled/verify"
)

const secretA = "the-first-secret-of-at-least-32-characters"
const secretB = "the-second-secret-of-at-least-32-characters"

// RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
func TestThumbprint_RFC8037Example(t *testing.T) {
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if got := dbstore.Thumbprint(ed25519.PublicKey(x)); got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Errorf("Thumbprint = %s, want kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", got)
	}
}

func keyring(t testing.TB, store *dbstore.Store, secret string) *dbstore.Keyring {
	t.Helper()
	k, err := dbstore.NewKeyring(store, models.KeyringOptions{Secret: secret, MaxAge: 5 * time.Minute, TokenTTL: 15 * time.Minute, Refresh: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func states(t testing.TB, k *dbstore.Keyring, purpose string) map[string]string {
	t.Helper()
	list, err := k.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, key := range list {
		if key.Purpose == purpose {
			out[key.Kid] = key.State
		}
	}
	return out
}

func count(m map[string]string, state string) int {
	n := 0
	for _, s := range m {
		if s == state {
			n++
		}
	}
	return n
}

// Replicas starting at once on a fresh database make exactly one active key per purpose.
func TestKeyring_ConcurrentStartsMakeOneActiveKeyPerPurpose(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		store := storetest.Open(t, d, nil)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- keyring(t, store, secretA).Ensure(context.Background())
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("Ensure: %v", err)
			}
		}
		k := keyring(t, store, secretA)
		for _, p := range models.KeyPurposes() {
			if s := states(t, k, p); len(s) != 1 || count(s, models.KeyActive) != 1 {
				t.Errorf("%s keys after 8 concurrent starts: %v, want one active", p, s)
			}
		}
	})
}

// A key rotated in is published at once and signs only after the JWKS max-age (and two re-read
// intervals and a second); the key it replaces stops signing then and stays published until the
// last token it signed has expired; a second rotation before the first key signed drops it.
func TestKeyring_RotationSchedule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		clock := models.NewFixedClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		store := storetest.Open(t, d, clock)
		k := keyring(t, store, secretA)
		if err := k.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		signer := func() string {
			_, kid, err := k.Sign(ctx, models.PurposeEntitlement, verify.TypEntitlement, jwt.MapClaims{})
			if err != nil {
				t.Fatal(err)
			}
			return kid
		}
		first := signer()
		dropped, err := k.Rotate(ctx, models.PurposeEntitlement, false, models.SystemActor("test"))
		if err != nil {
			t.Fatal(err)
		}
		next, err := k.Rotate(ctx, models.PurposeEntitlement, false, models.SystemActor("test"))
		if err != nil {
			t.Fatal(err)
		}
		s := states(t, k, models.PurposeEntitlement)
		if s[first] != models.KeyActive || s[dropped.Kid] != models.KeyRetired || s[next.Kid] != models.KeyNext {
			t.Fatalf("after two rotations: %v, want the first active, the second dropped, the third next", s)
		}
		if lead := next.ActivatesAt.Sub(clock.Now()); lead != 5*time.Minute+11*time.Second {
			t.Errorf("the next key signs %s after it was published, want max-age + 2 × 5 s + 1 s", lead)
		}
		body, _, _ := k.JWKS(ctx)
		if !strings.Contains(string(body), next.Kid) || strings.Contains(string(body), dropped.Kid) {
			t.Errorf("JWKS %s: want the next key published, the dropped one not", body)
		}

		clock.Advance(5*time.Minute + 10*time.Second)
		if err := k.Reload(ctx); err != nil || signer() != first {
			t.Fatalf("before its time the next key signs (err %v)", err)
		}
		clock.Advance(time.Second)
		if err := k.Reload(ctx); err != nil || signer() != next.Kid {
			t.Fatalf("at its time the next key does not sign (err %v)", err)
		}
		list, _ := k.Keys(ctx)
		for _, key := range list {
			if key.Kid == first && (key.State != models.KeyRetiring || key.RetireAfter == nil ||
				key.RetireAfter.Sub(*key.RetiringAt) != 15*time.Minute+10*time.Second+models.KeySkew) {
				t.Errorf("the replaced key: %s, retire after %v, want retiring until TTL + 2 × 5 s + skew", key.State, key.RetireAfter)
			}
		}
		clock.Advance(16*time.Minute + 10*time.Second)
		if s := states(t, k, models.PurposeEntitlement); s[first] != models.KeyRetired || s[next.Kid] != models.KeyActive {
			t.Errorf("after the last token expired: %v, want the first retired", s)
		}

		// A replaced license signing key that signed no license key still out is retired once
		// no replica can still be signing with it (TestLicenseSigningKey_PublishedWhileItsKeysAreOut
		// shows one that did).
		oldLic := signerOf(t, k, models.PurposeLicense)
		if _, err := k.Rotate(ctx, models.PurposeLicense, true, models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		if s := states(t, k, models.PurposeLicense); s[oldLic] != models.KeyRetiring {
			t.Errorf("a replaced license key at once: %v, want retiring", s)
		}
		clock.Advance(11 * time.Second)
		if s := states(t, k, models.PurposeLicense); s[oldLic] != models.KeyRetired {
			t.Errorf("a replaced license key that signed nothing, 11 s on: %v, want retired", s)
		}
	})
}

func signerOf(t testing.TB, k *dbstore.Keyring, purpose string) string {
	t.Helper()
	_, kid, err := k.Sign(context.Background(), purpose, "x", jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return kid
}

// Private keys are sealed under ENTITLED_SECRET: another secret cannot start; `secret rotate`
// re-seals every key, in one go, and every key keeps working under the new secret.
func TestReencryptKeys_KeepsEveryKeyUsable(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		store := storetest.Open(t, d, nil)
		a := keyring(t, store, secretA)
		if err := a.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Rotate(ctx, models.PurposeEntitlement, false, models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Rotate(ctx, models.PurposeLicense, true, models.SystemActor("test")); err != nil {
			t.Fatal(err)
		}
		if err := keyring(t, store, secretB).Ensure(ctx); err == nil {
			t.Fatal("a key ring with another secret started")
		}

		_, err := dbstore.ReencryptKeys(ctx, store, "a-wrong-old-secret-of-at-least-32-characters", secretB, models.SystemActor("test"))
		var me *models.Error
		if !errors.As(err, &me) || me.Code != models.CodeValidation {
			t.Fatalf("a wrong old secret: %v, want validation_failed", err)
		}
		if err := keyring(t, store, secretA).Ensure(ctx); err != nil {
			t.Fatalf("a failed re-encryption changed keys: %v", err)
		}

		n, err := dbstore.ReencryptKeys(ctx, store, secretA, secretB, models.SystemActor("test"))
		if err != nil || n != 4 {
			t.Fatalf("re-encrypted %d keys (%v), want all 4", n, err)
		}
		b := keyring(t, store, secretB)
		if err := b.Ensure(ctx); err != nil {
			t.Fatalf("the new secret does not open the keys: %v", err)
		}
		if n, err := dbstore.ReencryptKeys(ctx, store, secretA, secretB, models.SystemActor("test")); err != nil || n != 0 {
			t.Errorf("a repeated run re-encrypted %d (%v), want 0: every key opens with the new secret", n, err)
		}
		for _, p := range models.KeyPurposes() {
			tok, _, err := b.Sign(ctx, p, verify.TypEntitlement, &verify.Claims{Issuer: "i", Audience: "kb", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))})
			if err != nil {
				t.Fatal(err)
			}
			v, _ := verify.NewWithKeys(b.PublicKeys(p), verify.Options{Issuer: "i", Audience: []string{"kb"}})
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Errorf("%s: a token signed after re-encryption does not verify: %v", p, err)
			}
		}
		if err := keyring(t, store, secretA).Ensure(ctx); err == nil {
			t.Error("the old secret still opens the keys")
		}
	})
}

// Stop ends the key ring's goroutines and waits for them: the periodic reload Start began, and a
// background reload that a stale read started. When Stop returns none is left, even though the
// context given to Start is still alive; the ring still answers afterwards, and Start after Stop
// starts nothing.
func TestKeyring_StopEndsItsGoroutines(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		ctx := context.Background()
		s := storetest.Open(t, d, nil)
		const refresh = 20 * time.Millisecond
		k, err := dbstore.NewKeyring(s, models.KeyringOptions{Secret: strings.Repeat("k", 32), Refresh: refresh})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Ensure(ctx); err != nil {
			t.Fatal(err)
		}
		before := keyringGoroutines()

		k.Start(ctx)
		// A read of keys older than Refresh (but not twice that) reloads them in the background.
		if _, _, err := k.JWKS(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(refresh + refresh/2)
		if _, _, err := k.JWKS(ctx); err != nil {
			t.Fatal(err)
		}
		if started := minusIDs(keyringGoroutines(), before); len(started) == 0 {
			t.Fatal("no key ring goroutine is running after Start: the check below would prove nothing")
		}

		k.Stop()
		if left := minusIDs(keyringGoroutines(), before); len(left) > 0 {
			t.Fatalf("after Stop, %d key ring goroutine(s) still run:\n%s", len(left), strings.Join(left, "\n\n"))
		}
		k.Stop() // a second Stop is harmless

		k.Start(ctx)
		time.Sleep(3 * refresh) // stale: read in the foreground, nothing in the background
		if _, _, err := k.JWKS(ctx); err != nil {
			t.Fatalf("JWKS after Stop: %v", err)
		}
		if left := minusIDs(keyringGoroutines(), before); len(left) > 0 {
			t.Fatalf("Start or a read after Stop started %d goroutine(s):\n%s", len(left), strings.Join(left, "\n\n"))
		}
	})
}

// keyringGoroutines are the stacks of the goroutines running a key ring's code (a function of
// *Keyring or a closure in one), other than the caller's.
func keyringGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i > 0 && strings.Contains(g, "models/store.(*Keyring)") {
			out = append(out, g)
		}
	}
	return out
}

// minusIDs are the goroutines of now whose id ("goroutine N [") is not among before's.
func minusIDs(now, before []string) []string {
	id := func(g string) string { return strings.SplitN(g, " [", 2)[0] }
	var ids []string
	for _, g := range before {
		ids = append(ids, id(g))
	}
	var out []string
	for _, g := range now {
		if !slices.Contains(ids, id(g)) {
			out = append(out, g)
		}
	}
	return out
}
