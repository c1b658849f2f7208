package main

// "The first hour" (issue 18): what a newcomer meets first. The public URL follows the listen
// address, the link of a letter written as an .eml file is logged ready to open, --help and
// version answer and exit 0, a database URL of another scheme is named as such, demo runs once,
// and command output never mixes with log lines.

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"entitled/mailer/mailtest"
)

func TestBaseURLFollowsTheListenAddress(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		":8080":           "http://localhost:8080",
		"127.0.0.1:18200": "http://127.0.0.1:18200",
		"0.0.0.0:9000":    "http://localhost:9000",
		"[::]:9001":       "http://localhost:9001",
		"[::1]:9002":      "http://[::1]:9002",
		"licenses:443":    "http://licenses:443",
		"not an address":  "http://localhost:8080",
	} {
		if got := baseURLFromAddr(addr); got != want {
			t.Errorf("baseURLFromAddr(%q) = %q, want %q", addr, got, want)
		}
	}
	for _, tc := range []struct {
		name        string
		env, args   []string
		wantBaseURL string
	}{
		{"address from the environment", []string{"ENTITLED_ADDR=127.0.0.1:18200"}, nil, "http://127.0.0.1:18200"},
		{"address by flag", nil, []string{"--addr", "127.0.0.1:18201"}, "http://127.0.0.1:18201"},
		{"ENTITLED_BASE_URL wins", []string{"ENTITLED_ADDR=127.0.0.1:18200", "ENTITLED_BASE_URL=https://licenses.example.com"}, nil, "https://licenses.example.com"},
		{"--base-url wins", nil, []string{"--addr", "127.0.0.1:18200", "--base-url", "https://l.example/"}, "https://l.example"},
	} {
		c, _, err := loadConfig("serve", tc.args, tc.env)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.BaseURL != tc.wantBaseURL {
			t.Errorf("%s: base URL %q, want %q", tc.name, c.BaseURL, tc.wantBaseURL)
		}
	}
}

// A server started with only a listen address logs the base URL it derived from it, and the
// letter of a signup is logged with its link on that URL; the link, opened as logged, verifies.
func TestServeWithoutBaseURLLogsTheLetterLinkOnTheListenAddress(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir()}
	addr := freeAddr(t)
	cmd := exec.Command(binary, "serve", "--addr", addr)
	cmd.Env = s.processEnv() // no ENTITLED_ADDR, no ENTITLED_BASE_URL: s.Addr is empty
	p, err := spawn(t, s, cmd)
	if err != nil {
		t.Fatal(err)
	}
	p.setup.Addr = addr
	if err := p.waitHealthy(startTimeout); err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr
	p.waitOutput("base_url="+base, 5*time.Second)
	if strings.Contains(p.out.String(), "localhost:8080") {
		t.Errorf("the log names localhost:8080:\n%s", p.out.String())
	}
	// The OpenAPI document names this server too.
	if status, body := p.get("/openapi.json"); status != http.StatusOK || !strings.Contains(body, `"servers":[{"url":"`+base+`"}]`) {
		t.Errorf("GET /openapi.json: %d, servers not %s: %.300s", status, base, body)
	}

	res, err := http.Post(base+"/v1/auth/signup", "application/json",
		strings.NewReader(`{"email":"newcomer@example.test","password":"a long password 123","name":"New"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("signup: %d", res.StatusCode)
	}
	linkRE := regexp.MustCompile(`msg="letter written".* link=("[^"]+"|\S+)`)
	var link string
	eventually(t, 30*time.Second, "a logged letter link", func() bool {
		m := linkRE.FindStringSubmatch(p.out.String())
		if m != nil {
			link = strings.Trim(m[1], `"`)
		}
		return m != nil
	})
	if !strings.HasPrefix(link, base+"/verify?token=") {
		t.Fatalf("logged link %q, want one on %s", link, base)
	}
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := p.get(u.RequestURI()); status != http.StatusOK || !strings.Contains(body, `name="token"`) {
		t.Fatalf("GET %s: %d\n%s", link, status, body)
	}
	res, err = http.PostForm(base+"/verify", url.Values{"token": {u.Query().Get("token")}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("POST /verify with the logged link's token: %d", res.StatusCode)
	}
}

// --help anywhere prints the usage on stdout and succeeds; so do "help" and "version".
func TestHelpAndVersionSucceed(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir()}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "usage: entitled [command]"},
		{[]string{"-h"}, "usage: entitled [command]"},
		{[]string{"help"}, "usage: entitled [command]"},
		{[]string{"help", "keys"}, "entitled keys rotate"},
		{[]string{"serve", "--help"}, "usage: entitled [serve]"},
		{[]string{"keys", "--help"}, "entitled keys rotate"},
		{[]string{"keys", "rotate", "--help"}, "entitled keys rotate"},
		{[]string{"migrate", "--help"}, "entitled migrate up | status"},
		{[]string{"staff", "add", "--help"}, "entitled staff add"},
		{[]string{"demo", "-h"}, "entitled demo"},
		{[]string{"backup", "--help"}, "entitled backup"},
		{[]string{"version"}, "entitled "},
		{[]string{"--version"}, "entitled "},
	} {
		stdout, stderr, err := cli(t, s, "", tc.args...)
		if err != nil || !strings.Contains(stdout, tc.want) || stderr != "" {
			t.Errorf("entitled %s: error %v, stdout %q, stderr %q; want %q on stdout", strings.Join(tc.args, " "), err, stdout, stderr, tc.want)
		}
	}
	// The binary: exit status 0, and version names the revision when the build carries one.
	for _, args := range [][]string{{"--help"}, {"keys", "--help"}, {"version"}} {
		p := startProcess(t, s, args...)
		if code := p.waitExit(startTimeout); code != 0 {
			t.Errorf("entitled %s: exit status %d, want 0:\n%s", strings.Join(args, " "), code, p.out.String())
		}
	}
}

func TestVersionText(t *testing.T) {
	t.Parallel()
	info := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "entitled", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}}}
	got := versionText(info)
	for _, want := range []string{"entitled v1.2.3", "revision 0123456789abcdef+modified", "2026-12-01T10:00:00Z", "go1.26.0"} {
		if !strings.Contains(got, want) {
			t.Errorf("version text %q lacks %q", got, want)
		}
	}
	info.Settings = nil
	info.Main.Version = ""
	if got := versionText(info); !strings.Contains(got, "(devel)") || !strings.Contains(got, "revision unknown") {
		t.Errorf("without VCS information: %q", got)
	}
}

// An unknown flag is a usage error (exit 2) said once, with one "entitled:" prefix.
func TestUnknownFlagIsSaidOnce(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir()}
	for _, args := range [][]string{{"--bogus"}, {"keys", "rotate", "--bogus"}, {"keys", "list", "--bogus"}, {"apikey", "create", "--bogus"}, {"demo", "--bogus"}} {
		_, _, err := cli(t, s, "", args...)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("entitled %s: error %v, want a usage error", strings.Join(args, " "), err)
			continue
		}
		msg := err.Error()
		if strings.Count(msg, "flag provided but not defined") != 1 || strings.HasPrefix(msg, "entitled:") || strings.Contains(msg, "entitled: entitled") {
			t.Errorf("entitled %s: message %q", strings.Join(args, " "), msg)
		}
	}
	p := startProcess(t, s, "keys", "rotate", "--bogus")
	if code := p.waitExit(startTimeout); code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	if out := p.out.String(); strings.Count(out, "entitled:") != 1 || strings.Count(out, "-bogus") != 1 {
		t.Errorf("output:\n%s", out)
	}
}

// A database URL of a scheme entitled does not speak is refused as such, before anything asks
// for ENTITLED_SECRET, and its password is not repeated.
func TestUnsupportedDatabaseSchemeIsNamed(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir()}
	for _, args := range [][]string{{"--database-url", "mysql://root:hunter2@db.example:3306/entitled"}, {"migrate", "up", "--database-url", "mysql://root:hunter2@db.example/entitled"}} {
		_, _, err := cli(t, s, "", args...)
		if err == nil {
			t.Fatalf("entitled %s succeeded", strings.Join(args, " "))
		}
		msg := err.Error()
		if !strings.Contains(msg, `scheme "mysql" is not supported`) || strings.Contains(msg, "ENTITLED_SECRET") || strings.Contains(msg, "hunter2") {
			t.Errorf("entitled %s: %q", strings.Join(args, " "), msg)
		}
	}
}

// The start-up log names the effective database: the SQLite file, or PostgreSQL's user, host and
// database without the password.
func TestDatabaseLabel(t *testing.T) {
	t.Parallel()
	c := defaultConfig()
	c.DatabaseURL = "sqlite:///srv/entitled/entitled.db"
	if got := c.databaseLabel(); got != "sqlite /srv/entitled/entitled.db" {
		t.Errorf("SQLite: %q", got)
	}
	c.DatabaseURL = "postgres://app:s3cret@db.example:5432/entitled?sslmode=require"
	if got := c.databaseLabel(); got != "postgres app@db.example:5432/entitled" {
		t.Errorf("PostgreSQL: %q", got)
	}
	var buf bytes.Buffer
	newLogger(c, &buf).Info("starting entitled", c.logAttrs()...)
	if strings.Contains(buf.String(), "s3cret") || !strings.Contains(buf.String(), "app@db.example:5432/entitled") {
		t.Errorf("start-up line: %s", buf.String())
	}
}

// demo seeds once: a second run says so, adds nothing and prints the same License Number; what
// it prints names the data directory it seeded.
func TestDemoRunsOnceAndNamesItsDatabase(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir()}
	first := mustCLI(t, s, "", "demo")
	ln := regexp.MustCompile(`LN-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(first)
	if ln == "" || !strings.Contains(first, "go run ./server --data-dir "+s.DataDir) || !strings.Contains(first, "link=") {
		t.Fatalf("first run printed:\n%s", first)
	}
	second := mustCLI(t, s, "", "demo")
	if !strings.Contains(second, "already there") || !strings.Contains(second, ln) || strings.Contains(second, "Demo data is ready") {
		t.Errorf("second run printed:\n%s", second)
	}
	st := openDB(t, "sqlite://"+s.DataDir+"/entitled.db")
	var n int
	if err := st.SQLDB().QueryRowContext(context.Background(), "SELECT count(*) FROM contracts").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("%d contracts after two runs, want the 6 of one", n)
	}
}

// Command output goes to stdout and log lines to stderr, never the other way.
func TestCommandOutputHasNoLogLines(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir()}
	logLine := regexp.MustCompile(`(?m)^time=|level=|msg=`)
	for _, args := range [][]string{{"migrate", "up"}, {"migrate", "up"}, {"migrate", "status"}, {"keys", "list"}, {"demo"}, {"renewals", "notify"}} {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(binary, args...)
		cmd.Env = s.processEnv()
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("entitled %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		if logLine.MatchString(stdout.String()) {
			t.Errorf("entitled %s: log lines on stdout:\n%s", strings.Join(args, " "), stdout.String())
		}
		if stdout.Len() == 0 {
			t.Errorf("entitled %s printed nothing on stdout", strings.Join(args, " "))
		}
	}
}

// A PostgreSQL host that accepts the connection and never answers (as a black-holed one never
// completes it) fails start-up after the default connect_timeout, with a line naming the host,
// instead of hanging.
func TestPostgreSQLThatNeverAnswersFailsStartUp(t *testing.T) {
	slowTest(t, "waits for the 10 s connect_timeout")
	host, port := mailtest.Hanging(t) // connections are never read, never answered
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	s := setup{DataDir: t.TempDir(), Secret: testSecret, DatabaseURL: "postgres://postgres@" + addr + "/entitled?sslmode=disable"}
	start := time.Now()
	p := startProcess(t, s, "migrate", "status")
	code := p.waitExit(40 * time.Second)
	if code == 0 {
		t.Fatalf("migrate status succeeded against a server that never answers")
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("failing took %s, want about the 10 s connect_timeout", took)
	}
	if out := p.out.String(); !strings.Contains(out, addr) {
		t.Errorf("the error does not name the host:\n%s", out)
	}
}
