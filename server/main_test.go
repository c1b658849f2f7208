package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"entitled/mailer/mailtest"
	"entitled/models/store"
	"entitled/models/storetest"
)

// binary is the entitled executable built once for the tests that run it as a process. Signals
// must reach the server itself, so these tests never use "go run" (the signal would hit the go
// tool instead).
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "entitled-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "entitled")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build -o", binary, ".:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	// testSecret is an ENTITLED_SECRET for runs that must not generate one (PostgreSQL).
	testSecret = "test-secret-0123456789abcdef-0123456789abcdef"
	// pollInterval is ENTITLED_JOB_POLL_INTERVAL in these tests: letters are picked up fast.
	pollInterval = 100 * time.Millisecond
	// shutdownTimeout is ENTITLED_SHUTDOWN_TIMEOUT in these tests.
	shutdownTimeout = 10 * time.Second
	// startTimeout bounds how long a server may take to migrate and answer /healthz.
	startTimeout = 60 * time.Second
	// testDBMaxConns is ENTITLED_DB_MAX_CONNS in these tests (see setup.env).
	testDBMaxConns = 8
)

// setup is how one run of entitled (a server process or an in-process CLI command) is configured.
type setup struct {
	DataDir     string // required: ENTITLED_DATA_DIR
	DatabaseURL string // "": the default, SQLite in the data dir
	SMTPURL     string // "": letters are written as .eml files into <data dir>/mail
	Secret      string // "": generated into the data dir (SQLite) or missing (PostgreSQL)
	Addr        string // set by startServer
}

// eachDialectInParallel runs fn on each dialect, the two in parallel with each other and with the
// other tests: each test starts its own processes on its own database.
func eachDialectInParallel(t *testing.T, fn func(t *testing.T, d store.Dialect)) {
	t.Helper()
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		t.Parallel()
		fn(t, d)
	})
}

// mailedSetup is one deployment on a fresh database of dialect d whose letters go to a new mail
// sink: its own data directory, the tests' secret.
func mailedSetup(t *testing.T, d store.Dialect) (*mailtest.Sink, setup) {
	t.Helper()
	sink := mailtest.Start(t)
	return sink, setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, d), SMTPURL: sink.URL(), Secret: testSecret}
}

// env is the ENTITLED_* environment of the setup. Nothing of the test process's own ENTITLED_*
// variables leaks in.
func (s setup) env() []string {
	env := []string{
		"ENTITLED_DATA_DIR=" + s.DataDir,
		"ENTITLED_JOB_POLL_INTERVAL=" + pollInterval.String(),
		"ENTITLED_SHUTDOWN_TIMEOUT=" + shutdownTimeout.String(),
		// Many servers and commands run at once on one PostgreSQL: a small pool each keeps
		// them under its max_connections.
		"ENTITLED_DB_MAX_CONNS=" + strconv.Itoa(testDBMaxConns),
	}
	if s.Addr != "" {
		env = append(env, "ENTITLED_ADDR="+s.Addr, "ENTITLED_BASE_URL=http://"+s.Addr)
	}
	for k, v := range map[string]string{
		"ENTITLED_DATABASE_URL": s.DatabaseURL,
		"ENTITLED_SMTP_URL":     s.SMTPURL,
		"ENTITLED_SECRET":       s.Secret,
	} {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// processEnv is the environment of a child process: the test's own, minus any ENTITLED_*
// setting, plus the setup's.
func (s setup) processEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ENTITLED_") {
			env = append(env, kv)
		}
	}
	return append(env, s.env()...)
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// process is a running entitled binary.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	out    *syncBuffer // stdout and stderr together
	exited chan struct{}
	setup  setup
}

// startProcess starts the binary with args under the setup and returns at once. When the test
// ends the process is killed if it still runs, and its output is shown if the test failed.
func startProcess(t *testing.T, s setup, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = s.processEnv()
	p, err := spawn(t, s, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// spawn starts cmd (its path, arguments and environment set) as a process of the setup, for
// every way the tests start one (another binary, another user, more settings). When the test
// ends the process is killed if it still runs, and its output is shown if the test failed. A
// command that cannot start is returned as a process that has exited, with the error; spawn
// never fails the test itself, so it may be called from any goroutine.
func spawn(t *testing.T, s setup, cmd *exec.Cmd) (*process, error) {
	p := &process{t: t, cmd: cmd, out: &syncBuffer{}, exited: make(chan struct{}), setup: s}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		close(p.exited)
		err = fmt.Errorf("start %v: %w", cmd.Args, err)
		fmt.Fprintln(p.out, err)
		return p, err
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if !p.hasExited() {
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("output of %v (pid %d, data dir %s):\n%s", cmd.Args, cmd.Process.Pid, s.DataDir, p.out.String())
		}
	})
	return p, nil
}

func startServer(t *testing.T, s setup) *process {
	t.Helper()
	return startHealthy(t, s, "server", func(s setup) *process { return startProcess(t, s, "serve") })
}

// startHealthy starts a server (what) with start on a free port and waits for /healthz.
func startHealthy(t *testing.T, s setup, what string, start func(setup) *process) *process {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s.Addr = freeAddr(t)
		p := start(s)
		err := p.waitHealthy(startTimeout)
		if err == nil {
			return p
		}
		// Another process may have taken the port between freeAddr and the server's listen.
		if p.hasExited() && strings.Contains(p.out.String(), "address already in use") && attempt < 3 {
			continue
		}
		t.Fatalf("%s did not become healthy: %v", what, err)
	}
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// URL is the server's base URL.
func (p *process) URL() string { return "http://" + p.setup.Addr }

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// waitHealthy polls /healthz until it answers 200, the process exits, or the deadline passes.
func (p *process) waitHealthy(timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		if p.hasExited() {
			return fmt.Errorf("the process exited with status %d before answering /healthz", p.cmd.ProcessState.ExitCode())
		}
		resp, err := client.Get(p.URL() + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/healthz did not answer 200 within %s (last: %v)", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get fetches a path of the server and returns the status and body.
func (p *process) get(path string) (int, string) {
	p.t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(p.URL() + path)
	if err != nil {
		p.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (p *process) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("send %v to the server: %v", sig, err)
	}
}

// kill ends the process with SIGKILL, as a crash or an OOM kill would, and waits for it.
func (p *process) kill() {
	p.t.Helper()
	p.signal(syscall.SIGKILL)
	<-p.exited
}

// waitExit waits for the process to exit and returns its exit status (-1 when a signal ended it).
func (p *process) waitExit(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		p.t.Fatalf("the process did not exit within %s", timeout)
		return 0
	}
}

// waitOutput waits until the process's output contains s.
func (p *process) waitOutput(s string, timeout time.Duration) {
	p.t.Helper()
	eventually(p.t, timeout, "output to contain "+strconv.Quote(s), func() bool {
		return strings.Contains(p.out.String(), s)
	})
}

// eventually polls cond until it holds, failing the test at the deadline.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cli runs one entitled command in-process, as the binary would with that environment, and
// returns what it wrote to stdout and stderr and the error the binary would exit with.
func cli(t *testing.T, s setup, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = run(ctx, args, s.env(), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustCLI is cli for a command that must succeed.
func mustCLI(t *testing.T, s setup, stdin string, args ...string) string {
	t.Helper()
	stdout, stderr, err := cli(t, s, stdin, args...)
	if err != nil {
		t.Fatalf("entitled %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout
}

// openDB opens the database that the processes and CLI commands use, so that the test can look
// at what they left there (the job queue, users).
func openDB(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.OpenOptions{URL: url, MaxConns: 2})
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
