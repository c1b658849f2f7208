package verify_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Another service's module takes verify as the README says, before it is published: a require
// and a replace pointing at a copy, then go mod tidy. It builds, and its module graph holds
// golang-jwt and nothing of the server (no GORM, no River, not even Gin unless it imports
// ginverify).
func TestImportableFromAnotherModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module with the go command")
	}
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/downloads\n\ngo 1.25\n")
	write("main.go", `package main

import (
	"fmt"

	"github.com/entitled-dev/entitled/verify"
)

func main() { fmt.Println(verify.DownloadsRead) }
`)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		// Offline: every module it needs is in the module cache of the machine running the test.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("mod", "edit", "-require", "github.com/entitled-dev/entitled/verify@v0.0.0",
		"-replace", "github.com/entitled-dev/entitled/verify="+here)
	run("mod", "tidy")
	run("build", "-o", filepath.Join(dir, "downloads"), ".")
	mods := run("list", "-deps", "-f", "{{with .Module}}{{.Path}} {{end}}", ".") + readFile(t, filepath.Join(dir, "go.mod"))
	for _, server := range []string{"gorm.io/gorm", "github.com/riverqueue/river", "modernc.org/sqlite", "entitled ", "github.com/gin-gonic/gin"} {
		if strings.Contains(mods, server) {
			t.Errorf("the consumer's module graph holds %s:\n%s", server, mods)
		}
	}
	if !strings.Contains(mods, "github.com/golang-jwt/jwt/v5") {
		t.Errorf("the consumer's module graph lacks golang-jwt:\n%s", mods)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
