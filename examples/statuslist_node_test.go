// Package examples_test runs the Node examples for other services against entitled's wire
// formats: the status list verifier here (examples/statuslist-node), the webhook consumer in
// webhooks/node_example_test.go.
package examples_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"entitled/internal/nodetest"
	"github.com/entitled-dev/entitled/verify"
	"github.com/entitled-dev/entitled/verify/verifytest"
)

// nodeExample returns a temporary copy of examples/statuslist-node with its locked dependencies
// installed (see nodetest.Install).
func nodeExample(t *testing.T) string {
	t.Helper()
	return nodetest.Install(t, "statuslist-node",
		"package.json", "package-lock.json", "verify.js")
}

// The Node example of the README verifies tokens offline with jose and node:zlib against a JWKS
// and a status list served as entitled serves them: a valid index is accepted, a revoked one
// refused, and so are a token naming a list elsewhere and a tampered list.
func TestNodeStatusListExample(t *testing.T) {
	dir := nodeExample(t)
	is := verifytest.NewIssuer(300)
	defer is.Close()
	now := time.Now() // node runs on the real clock
	uri := is.ListURI("1")
	is.PublishList("1", is.SignList(uri, now, 300, 7), 300)
	tampered := is.SignList(is.ListURI("2"), now, 300, 7)
	tampered = tampered[:strings.LastIndexByte(tampered, '.')] + "." + verifytest.B64(make([]byte, 64))
	is.PublishList("2", tampered, 300)

	token := func(uri string, idx int64) string {
		c := is.Claims(now)
		c.Status = nil
		if uri != "" {
			c.Status = &verify.StatusClaim{StatusList: verify.StatusListRef{Index: idx, URI: uri}}
		}
		return is.Sign(c)
	}
	kb := is.Claims(now)
	kb.Audience = "kb"
	otherAudience := is.Sign(kb)
	for _, tc := range []struct {
		name, token string
		valid       bool
		reason      string
	}{
		{"a valid index", token(uri, 8), true, ""},
		{"a token without status", token("", 0), true, ""},
		{"a revoked index", token(uri, 7), false, "revoked"},
		{"an index past the list", token(uri, verifytest.ListSize), false, "invalid_token"},
		{"a list elsewhere", token("https://evil.example/v1/status-lists/1", 8), false, "invalid_token"},
		{"a tampered list", token(is.ListURI("2"), 8), false, "unavailable"},
		{"a token for another service", otherAudience, false, "invalid_token"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "node", "verify.js", tc.token)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ENTITLED_URL="+is.URL, "AUDIENCE=downloads")
		out, err := cmd.Output()
		cancel()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var got struct {
			Valid  bool   `json:"valid"`
			Reason string `json:"reason"`
			Detail string `json:"detail"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: not a JSON line: %q (%v)", tc.name, out, err)
		}
		if got.Valid != tc.valid || got.Reason != tc.reason || (err == nil) != tc.valid {
			t.Errorf("%s: %s (exit %v), want valid %v reason %q", tc.name, out, err, tc.valid, tc.reason)
		}
	}
}
