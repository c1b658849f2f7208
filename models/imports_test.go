package models_test

import (
	"os/exec"
	"strings"
	"testing"
)

// Package models is the vocabulary and the pure rules: it imports the standard library only, so
// that a rule never reaches a database, a queue or the network (issue 17). Persistence is in
// models/store. Checked for every build tag the project uses.
func TestModelsImportsOnlyTheStandardLibrary(t *testing.T) {
	for _, tags := range []string{"", "failpoint"} {
		cmd := exec.Command("go", "list", "-deps", "-tags", tags,
			"-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps (tags %q): %v\n%s", tags, err, out)
		}
		for _, p := range strings.Fields(string(out)) {
			if p != "entitled/models" {
				t.Errorf("models imports %s (tags %q): it may import the standard library only", p, tags)
			}
		}
	}
}
