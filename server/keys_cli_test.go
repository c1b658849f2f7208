package main

import (
	"regexp"
	"strings"
	"testing"

	"entitled/models/store"
	"entitled/models/storetest"
)

// keyRows parses `keys list`: kid → "purpose state".
func keyRows(t *testing.T, out string) map[string]string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "KID") {
		t.Fatalf("keys list printed %q", out)
	}
	rows := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		rows[f[0]] = f[1] + " " + f[2]
	}
	return rows
}

// keys rotate publishes a next key (or, with --now, an active one), keys list shows every key,
// and secret rotate re-seals them all under the new secret, after which the old one opens
// nothing and the new one opens everything.
func TestKeysRotateListAndSecretRotate(t *testing.T) {
	eachDialectInParallel(t, func(t *testing.T, d store.Dialect) {
		oldSecret := "0123456789abcdef0123456789abcdef-old"
		s := setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, d), Secret: oldSecret}

		rows := keyRows(t, mustCLI(t, s, "", "keys", "list"))
		if len(rows) != 2 {
			t.Fatalf("a fresh database lists %v, want one key of each purpose", rows)
		}
		out := mustCLI(t, s, "", "keys", "rotate")
		if !regexp.MustCompile(`entitlement key \S+ is published and signs from \S+ \(after ENTITLED_JWKS_MAX_AGE=5m0s\)`).MatchString(out) {
			t.Errorf("keys rotate printed %q", out)
		}
		out = mustCLI(t, s, "", "keys", "rotate", "--purpose", "license", "--now")
		if !strings.Contains(out, "is active now") {
			t.Errorf("keys rotate --now printed %q", out)
		}
		if _, _, err := cli(t, s, "", "keys", "rotate", "--purpose", "payroll"); err == nil {
			t.Error("keys rotate --purpose payroll succeeded")
		}
		rows = keyRows(t, mustCLI(t, s, "", "keys", "list"))
		got := map[string]int{}
		for _, r := range rows {
			got[r]++
		}
		want := map[string]int{"entitlement active": 1, "entitlement next": 1, "license active": 1, "license retiring": 1}
		if len(got) != len(want) {
			t.Fatalf("keys list: %v, want %v", got, want)
		}
		for k, n := range want {
			if got[k] != n {
				t.Errorf("keys list: %v, want %v", got, want)
			}
		}

		newSecret := "0123456789abcdef0123456789abcdef-new"
		s2 := s
		s2.Secret = newSecret
		if _, _, err := cli(t, s2, "", "keys", "list"); err == nil || !strings.Contains(err.Error(), "ENTITLED_SECRET") {
			t.Errorf("keys list with another secret: %v, want a refusal naming ENTITLED_SECRET", err)
		}
		if _, _, err := cli(t, s2, "not-the-old-secret-0123456789abcdef\n", "secret", "rotate"); err == nil {
			t.Error("secret rotate with a wrong old secret succeeded")
		}
		if out := mustCLI(t, s2, oldSecret+"\n", "secret", "rotate"); !strings.Contains(out, "re-encrypted 4 signing keys") {
			t.Errorf("secret rotate printed %q", out)
		}
		if rows2 := keyRows(t, mustCLI(t, s2, "", "keys", "list")); len(rows2) != 4 {
			t.Errorf("after secret rotate the new secret lists %v", rows2)
		}
		if _, _, err := cli(t, s, "", "keys", "list"); err == nil {
			t.Error("after secret rotate the old secret still opens the keys")
		}
	})
}

// keys retire --kid unpublishes a key at once; retiring the active key of a purpose makes a
// fresh one active in its place, so that signing never stops.
func TestKeysRetire(t *testing.T) {
	eachDialectInParallel(t, func(t *testing.T, d store.Dialect) {
		s := setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, d), Secret: "0123456789abcdef0123456789abcdef-kr"}
		var active string
		for kid, row := range keyRows(t, mustCLI(t, s, "", "keys", "list")) {
			if row == "entitlement active" {
				active = kid
			}
		}
		out := mustCLI(t, s, "", "keys", "retire", "--kid", active)
		if !strings.Contains(out, "is active now in place of the retired one") || !strings.Contains(out, active+" is retired") {
			t.Errorf("keys retire printed %q", out)
		}
		rows := keyRows(t, mustCLI(t, s, "", "keys", "list"))
		if rows[active] != "entitlement retired" {
			t.Errorf("after retire the key is %q, want entitlement retired", rows[active])
		}
		n := 0
		for _, row := range rows {
			if row == "entitlement active" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("after retiring the active key: %v, want exactly one new active entitlement key", rows)
		}
		if _, _, err := cli(t, s, "", "keys", "retire"); err == nil {
			t.Error("keys retire without --kid succeeded")
		}
		if _, _, err := cli(t, s, "", "keys", "retire", "--kid", "no-such-kid"); err == nil {
			t.Error("keys retire of an unknown kid succeeded")
		}
	})
}
