package store_test

import (
	"context"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

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
