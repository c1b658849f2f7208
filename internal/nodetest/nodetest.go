// Package nodetest holds the set-up shared by the tests that run the Node examples under
// examples/: copying one into a temporary directory and installing its locked dependencies.
package nodetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Install copies files of the example in dir into a temporary directory, so that the checkout is
// left as it is, installs the example's locked dependencies there (npm ci) and returns the
// directory. It skips the test when node or npm is missing, or when npm cannot reach the
// registry, since neither says anything about the example.
func Install(t *testing.T, dir string, files ...string) string {
	t.Helper()
	what := "the Node example " + filepath.Base(dir)
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH: %s is not tried", tool, what)
		}
	}
	tmp := t.TempDir()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
	install.Dir = tmp
	if out, err := install.CombinedOutput(); err != nil {
		for _, offline := range []string{"ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ENETUNREACH"} {
			if strings.Contains(string(out), offline) {
				t.Skipf("npm ci cannot reach the registry (%s): %s is not tried\n%s", offline, what, out)
			}
		}
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	return tmp
}
