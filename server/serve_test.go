package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"entitled/models/store"
	"entitled/models/storetest"
)

// With no ENTITLED_DATABASE_URL the server keeps an SQLite database and a generated secret in its
// data directory, says so in a warning without printing the secret, and answers liveness and
// readiness. A second start on the same directory reuses the secret.
func TestServeWithoutDatabaseURLKeepsEverythingInTheDataDir(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	p := startServer(t, setup{DataDir: dataDir})

	for _, path := range []string{"/healthz", "/readyz"} {
		if status, body := p.get(path); status != http.StatusOK {
			t.Errorf("GET %s = %d %s, want 200", path, status, body)
		}
	}

	header := make([]byte, 16)
	f, err := os.Open(filepath.Join(dataDir, "entitled.db"))
	if err != nil {
		t.Fatalf("the database is not in the data dir: %v", err)
	}
	_, err = io.ReadFull(f, header)
	f.Close()
	if err != nil || string(header) != "SQLite format 3\x00" {
		t.Errorf("entitled.db starts with %q (%v), want an SQLite file", header, err)
	}

	secretPath := filepath.Join(dataDir, "secret")
	fi, err := os.Stat(secretPath)
	if err != nil {
		t.Fatalf("no generated secret: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("secret file mode %v, want -rw------- (0600)", perm)
	}
	secret := readSecret(t, secretPath)
	if len(secret) < 32 {
		t.Errorf("generated secret has %d characters, want at least 32", len(secret))
	}
	if warnings := logLines(p.out.String(), "level=WARN", "ENTITLED_SECRET"); len(warnings) != 1 {
		t.Errorf("want one warning that ENTITLED_SECRET was generated, got %q", warnings)
	}
	if strings.Contains(p.out.String(), secret) {
		t.Errorf("the log shows the generated secret")
	}

	p.signal(syscall.SIGTERM)
	if code := p.waitExit(shutdownTimeout + 10*time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	again := startServer(t, setup{DataDir: dataDir})
	if got := readSecret(t, secretPath); got != secret {
		t.Errorf("the second start replaced the secret")
	}
	if warnings := logLines(again.out.String(), "ENTITLED_SECRET"); len(warnings) != 0 {
		t.Errorf("the second start warns again about the secret: %q", warnings)
	}
}

func readSecret(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// logLines are the lines of out that contain every one of the substrings.
func logLines(out string, contains ...string) []string {
	var found []string
	for line := range strings.Lines(out) {
		ok := true
		for _, c := range contains {
			ok = ok && strings.Contains(line, c)
		}
		if ok {
			found = append(found, strings.TrimSpace(line))
		}
	}
	return found
}

// On SIGTERM or SIGINT the server stops taking connections, but a request it is in the middle of
// still gets its answer, and then the process exits 0 within the shutdown timeout.
func TestSignalDrainsInFlightRequestAndExitsZero(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sig  os.Signal
	}{
		{"SIGTERM", syscall.SIGTERM},
		{"SIGINT", syscall.SIGINT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startServer(t, setup{DataDir: t.TempDir()})
			req := beginRequest(t, p.setup.Addr)

			p.signal(tc.sig)
			p.waitOutput("shutting down", shutdownTimeout)
			// The listener is closed once Shutdown runs: from here on the request is drained,
			// not merely finished before the signal was noticed.
			eventually(t, shutdownTimeout, "the server to stop accepting connections", func() bool {
				c, err := net.DialTimeout("tcp", p.setup.Addr, time.Second)
				if err != nil {
					return true
				}
				c.Close()
				return false
			})
			if p.hasExited() {
				t.Fatalf("the server exited with a request in flight")
			}

			resp, body := req.finish(t)
			if resp.StatusCode < 200 {
				t.Errorf("in-flight request got %s, want a final answer", resp.Status)
			}
			t.Logf("in-flight request answered %s %s", resp.Status, body)

			if code := p.waitExit(shutdownTimeout + 10*time.Second); code != 0 {
				t.Errorf("exit status %d after %s, want 0", code, tc.name)
			}
			if !strings.Contains(p.out.String(), "stopped") {
				t.Errorf("the log does not say the server stopped")
			}
		})
	}
}

// partialRequest is a POST /v1/auth/verify whose body has only partly been sent.
type partialRequest struct {
	conn net.Conn
	br   *bufio.Reader
	rest string
}

// beginRequest sends the headers of a POST /v1/auth/verify and the first bytes of its body,
// and returns once the handler is reading the body: the request carries Expect: 100-continue,
// and Go's server answers "100 Continue" when the handler first reads.
func beginRequest(t *testing.T, addr string) *partialRequest {
	t.Helper()
	body := `{"token":"a-token-that-was-never-issued"}`
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	head := "POST /v1/auth/verify HTTP/1.1\r\n" +
		"Host: " + addr + "\r\n" +
		"Content-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Expect: 100-continue\r\n\r\n"
	if _, err := io.WriteString(conn, head+body[:10]); err != nil {
		t.Fatalf("send the request's start: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read 100 Continue: %v", err)
	}
	if resp.StatusCode != http.StatusContinue {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("the server answered %s %s before reading the body, want 100 Continue", resp.Status, b)
	}
	return &partialRequest{conn: conn, br: br, rest: body[10:]}
}

// finish sends the rest of the body and reads the answer.
func (r *partialRequest) finish(t *testing.T) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(r.conn, r.rest); err != nil {
		t.Fatalf("send the rest of the body: %v", err)
	}
	resp, err := http.ReadResponse(r.br, nil)
	if err != nil {
		t.Fatalf("the in-flight request got no answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the in-flight request's answer was cut off: %v", err)
	}
	return resp, string(bytes.TrimSpace(b))
}

// On PostgreSQL, where replicas must share it, ENTITLED_SECRET is required: without it the server
// refuses to start and says which setting is missing; with it the server serves and is ready.
func TestServeOnPostgreSQL(t *testing.T) {
	t.Parallel()
	if !slices.Contains(storetest.Dialects(t), store.Postgres) {
		t.Skip("PostgreSQL does not answer")
	}
	t.Run("without ENTITLED_SECRET it refuses to start", func(t *testing.T) {
		t.Parallel()
		s := setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, store.Postgres)}
		p := startProcess(t, s, "serve")
		if code := p.waitExit(startTimeout); code == 0 {
			t.Errorf("exit status 0, want a failure")
		}
		if out := p.out.String(); !strings.Contains(out, "ENTITLED_SECRET") {
			t.Errorf("the error does not name ENTITLED_SECRET:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(s.DataDir, "secret")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a secret was generated for PostgreSQL (stat: %v)", err)
		}
	})
	t.Run("with the secret it serves and is ready", func(t *testing.T) {
		t.Parallel()
		p := startServer(t, setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, store.Postgres), Secret: testSecret})
		for _, path := range []string{"/healthz", "/readyz"} {
			if status, body := p.get(path); status != http.StatusOK {
				t.Errorf("GET %s = %d %s, want 200", path, status, body)
			}
		}
		if out := p.out.String(); strings.Contains(out, testSecret) {
			t.Errorf("the log shows ENTITLED_SECRET")
		}
	})
}
