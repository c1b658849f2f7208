package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"entitled/models"
	"entitled/models/store"
)

// pgCluster is a private PostgreSQL instance made with initdb in a directory of its own, on a
// port of its own, so that a test may stop and start it. The shared PostgreSQL on 5432 is never
// touched: other tests (and other people) depend on it staying up.
type pgCluster struct {
	t      *testing.T
	bin    string // the directory of initdb and pg_ctl
	dir    string // holds data/, the socket and the log; removed at the end
	data   string
	port   int
	runAs  string // "postgres" when the tests run as root (initdb refuses root), else ""
	logPth string
}

// pgBinDir finds initdb and pg_ctl: on PATH, or in Debian's versioned directories (the newest).
func pgBinDir() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "pg_ctl")); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) > pgMajor(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// newPGCluster makes and starts a private cluster with trust authentication for user postgres.
// It is skipped only where PostgreSQL's server programs are not installed and CI is unset.
func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	bin := pgBinDir()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but initdb and pg_ctl are not installed (looked on PATH and in /usr/lib/postgresql/*/bin)")
		}
		t.Skip("initdb and pg_ctl are not installed (PATH, /usr/lib/postgresql/*/bin): no private PostgreSQL to stop and start")
	}
	c := &pgCluster{t: t, bin: bin}
	// t.TempDir lives under a directory that only root may traverse, and initdb refuses to run
	// as root, so the cluster gets a directory of its own under the system temp dir, owned by
	// the postgres user.
	dir, err := os.MkdirTemp("", "entitled-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c.dir, c.data, c.logPth = dir, filepath.Join(dir, "data"), filepath.Join(dir, "postgres.log")
	t.Cleanup(func() {
		// Whatever state the test left it in: stop it at once, then remove everything.
		_ = c.pgCtl("stop", "-m", "immediate", "-w", "-t", "30")
		if t.Failed() {
			if b, err := os.ReadFile(c.logPth); err == nil {
				t.Logf("log of the private PostgreSQL:\n%s", b)
			}
		}
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("the tests run as root, and initdb refuses root, but there is no postgres user to run it as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.runAs = "postgres"
	}
	if out, err := c.command("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
		"--no-sync", "--no-instructions").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	for attempt := 1; ; attempt++ {
		addr := freeAddr(t)
		c.port, _ = strconv.Atoi(addr[strings.LastIndex(addr, ":")+1:])
		err := c.start()
		if err == nil {
			return c
		}
		if attempt == 3 {
			log, _ := os.ReadFile(c.logPth)
			t.Fatalf("start the private PostgreSQL: %v\n%s", err, log)
		}
	}
}

// command is one of PostgreSQL's programs, run as the postgres user when the tests run as root.
func (c *pgCluster) command(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bin, prog)
	if c.runAs != "" {
		return exec.Command("runuser", append([]string{"-u", c.runAs, "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

func (c *pgCluster) pgCtl(args ...string) error {
	out, err := c.command("pg_ctl", append([]string{"-D", c.data}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// start starts the cluster on its port and waits until it accepts connections. Only TCP on
// loopback, and the socket in the cluster's own directory (not /var/run/postgresql, which the
// shared instance uses). fsync is off: the machine is shared, and a crash of the test machine
// loses nothing of value.
func (c *pgCluster) start() error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c full_page_writes=off -c max_connections=60", c.port, c.dir)
	return c.pgCtl("start", "-w", "-t", "60", "-l", c.logPth, "-o", opts)
}

// stop stops the cluster with pg_ctl's mode (fast: sessions are ended with an error; immediate:
// the server quits without a word, as on a crash) and waits until it is down.
func (c *pgCluster) stop(mode string) error { return c.pgCtl("stop", "-m", mode, "-w", "-t", "60") }

func (c *pgCluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// outcome is one answer (or transport error) seen by the load while the database came and went.
type outcome struct {
	phase       string // when it was sent: before, stopping, gap, restart, after
	endPhase    string // when its answer came: a request may span a change of phase
	name        string // the request
	status      int    // 0: transport error
	contentType string
	code        string // the problem's code, for a problem answer
	body        string
	err         error
	at          time.Time
}

// driverText are words of driver and network errors that must never reach a client.
var driverText = []string{"dial", "connection refused", "pgconn", "pgx", "sqlstate", "unexpected eof",
	"broken pipe", "connection reset", "failed to connect", "127.0.0.1:", "conn closed", "driver"}

// PostgreSQL stopped and started while requests run: every answer that is not 2xx is 503
// problem+json with code "unavailable" and nothing of the driver's words, never a 500; /healthz
// stays 200 and /readyz says not ready while the database is down; the same process answers 2xx
// again once the database is back, and its mail worker (River) delivers again. Done twice, with
// a fast stop (sessions are told the server shuts down) and an immediate one (connections just
// die, as on a crash).
func TestPostgreSQLStoppedAndStartedWhileRequestsRun(t *testing.T) {
	pg := newPGCluster(t)
	s := setup{DataDir: t.TempDir(), DatabaseURL: pg.URL(), Secret: testSecret}
	p := startServer(t, s)

	// Seed: the demo data (a product, contracts, a renewals+support staff user) and an API key
	// that may place orders.
	out := mustCLI(t, s, "", "demo")
	pw := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if pw == nil {
		t.Fatalf("demo printed no password:\n%s", out)
	}
	token := login(t, p.URL(), "renewals@demo.example", pw[1])
	apiKey := strings.TrimSpace(mustCLI(t, s, "", "apikey", "create", "--name", "orders", "--scopes", "orders:write"))

	client := &http.Client{Timeout: 20 * time.Second}
	var orderSeq struct {
		sync.Mutex
		n int
	}
	type request struct {
		name string
		do   func() (*http.Response, error)
	}
	get := func(path, bearer string) func() (*http.Response, error) {
		return func() (*http.Response, error) {
			req, _ := http.NewRequest("GET", p.URL()+path, nil)
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			return client.Do(req)
		}
	}
	placeOrder := func() (*http.Response, error) {
		orderSeq.Lock()
		orderSeq.n++
		n := orderSeq.n
		orderSeq.Unlock()
		body, _ := json.Marshal(map[string]any{
			"order_ref":       fmt.Sprintf("DBF-%d", n),
			"account":         map[string]any{"name": fmt.Sprintf("Outage Customer %d", n)},
			"primary_contact": map[string]any{"name": "Pat", "email": fmt.Sprintf("pat%d@outage.example", n)},
			"items":           []any{map[string]any{"sku": "DEMO-EDGE", "quantity": 1, "kind": "perpetual"}},
		})
		req, _ := http.NewRequest("POST", p.URL()+"/v1/orders", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		return client.Do(req)
	}
	requests := []request{
		{"GET /healthz", get("/healthz", "")},
		{"GET /readyz", get("/readyz", "")},
		{"GET /v1/me", get("/v1/me", token)},
		{"GET /v1/renewals", get("/v1/renewals?within_days=90", token)},
		{"GET /v1/contracts", get("/v1/contracts", token)},
		{"GET /v1/products/DEMO-EDGE", get("/v1/products/DEMO-EDGE", token)},
		{"POST /v1/orders", placeOrder},
	}

	var (
		mu       sync.Mutex
		phase    = "before"
		outcomes []outcome
	)
	setPhase := func(ph string) {
		mu.Lock()
		phase = ph
		mu.Unlock()
	}
	send := func(r request) outcome {
		mu.Lock()
		ph := phase
		mu.Unlock()
		o := outcome{phase: ph, name: r.name, at: time.Now()}
		resp, err := r.do()
		if err != nil {
			o.err = err
			return o
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		mu.Lock()
		o.endPhase = phase
		mu.Unlock()
		o.status, o.contentType, o.body = resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
		var pb struct{ Code string }
		if json.Unmarshal(b, &pb) == nil {
			o.code = pb.Code
		}
		return o
	}
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	const workers = 3
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; ; i++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				o := send(requests[i%len(requests)])
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				// A little pause: the machine is shared, and a few hundred requests a second
				// prove as much as thousands.
				time.Sleep(15 * time.Millisecond)
			}
		}()
	}
	loadStopped := false
	finishLoad := func() {
		if !loadStopped {
			loadStopped = true
			close(stopLoad)
			wg.Wait()
		}
	}
	defer finishLoad()

	// allOK says whether every kind of request is answered 2xx right now (sent one by one,
	// beside the load).
	allOK := func() (bool, string) {
		for _, r := range requests {
			o := send(r)
			mu.Lock()
			outcomes = append(outcomes, o) // checked with the rest
			mu.Unlock()
			if o.status < 200 || o.status > 299 {
				return false, fmt.Sprintf("%s: %d %v %s", r.name, o.status, o.err, o.body)
			}
		}
		return true, ""
	}

	const gap = 4 * time.Second
	const recoveryBound = 60 * time.Second
	type round struct {
		mode              string
		pgStart, recovery time.Duration // pg_ctl start until it accepts connections; then until all is 2xx
	}
	var rounds []round
	time.Sleep(time.Second) // some answers with the database up
	for _, mode := range []string{"fast", "immediate"} {
		setPhase("stopping")
		if err := pg.stop(mode); err != nil {
			t.Fatal(err)
		}
		setPhase("gap")
		time.Sleep(gap)
		setPhase("restart")
		started := time.Now()
		if err := pg.start(); err != nil {
			t.Fatal(err)
		}
		pgUp := time.Now()
		// The same process must answer again, without a restart, within the bound.
		var last string
		recovered := false
		for deadline := time.Now().Add(recoveryBound); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			var ok bool
			if ok, last = allOK(); ok {
				recovered = true
				break
			}
		}
		if !recovered {
			t.Fatalf("after PostgreSQL was started again (stop -m %s), requests did not all answer 2xx within %s; last: %s", mode, recoveryBound, last)
		}
		rounds = append(rounds, round{mode: mode, pgStart: pgUp.Sub(started), recovery: time.Since(pgUp)})
		setPhase("after")
		time.Sleep(time.Second) // answers with the database back, before the next round
	}
	finishLoad()
	if p.hasExited() {
		t.Fatalf("the server exited while the database was away")
	}

	// Every answer, in every phase: 2xx, or 503 problem+json "unavailable" without driver words.
	// Never a 500, never a transport error (a hung or dropped request).
	counts := map[string]map[int]int{}
	bad := 0
	for _, o := range outcomes {
		if counts[o.phase] == nil {
			counts[o.phase] = map[int]int{}
		}
		counts[o.phase][o.status]++
		complain := func(format string, args ...any) {
			bad++
			if bad <= 20 {
				t.Errorf("[%s] %s: %s", o.phase, o.name, fmt.Sprintf(format, args...))
			}
		}
		switch {
		case o.err != nil:
			complain("transport error: %v", o.err)
			continue
		case o.status >= 200 && o.status <= 299:
		case o.status != http.StatusServiceUnavailable:
			complain("status %d, want 2xx or 503: %s", o.status, o.body)
		case !strings.HasPrefix(o.contentType, "application/problem+json"):
			complain("503 with Content-Type %q, want application/problem+json", o.contentType)
		case o.code != models.CodeUnavailable:
			complain("503 with code %q, want %q: %s", o.code, models.CodeUnavailable, o.body)
		}
		// The problem's type is the server's own URL (127.0.0.1:… here): look past it.
		shown := o.body
		var pb map[string]any
		if json.Unmarshal([]byte(o.body), &pb) == nil {
			delete(pb, "type")
			b, _ := json.Marshal(pb)
			shown = string(b)
		}
		lower := strings.ToLower(shown)
		for _, w := range driverText {
			if o.status >= 400 && strings.Contains(lower, w) {
				complain("the answer shows driver text %q: %s", w, o.body)
			}
		}
		if o.name == "GET /healthz" && o.status != http.StatusOK {
			complain("/healthz answered %d: it must not depend on the database", o.status)
		}
		steady := o.phase == o.endPhase
		if steady && o.phase == "gap" && o.name == "GET /readyz" && o.status != http.StatusServiceUnavailable {
			complain("/readyz answered %d while the database was down, want 503", o.status)
		}
		if steady && (o.phase == "before" || o.phase == "after") && (o.status < 200 || o.status > 299) {
			complain("status %d with the database up: %s", o.status, o.body)
		}
	}
	// The gap must really have been seen by the load: reads, writes and /readyz all got 503s.
	for _, name := range []string{"GET /readyz", "GET /v1/renewals", "POST /v1/orders"} {
		n := 0
		for _, o := range outcomes {
			if o.phase == "gap" && o.name == name && o.status == http.StatusServiceUnavailable {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no 503 for %s while the database was down: the outage was not exercised", name)
		}
	}
	for _, r := range rounds {
		t.Logf("stop -m %s: PostgreSQL took %s to start; then the same process answered every kind of request 2xx after %s",
			r.mode, r.pgStart.Round(time.Millisecond), r.recovery.Round(time.Millisecond))
	}
	phases := []string{"before", "stopping", "gap", "restart", "after"}
	for _, ph := range phases {
		if c := counts[ph]; c != nil {
			keys := make([]int, 0, len(c))
			total := 0
			for k, v := range c {
				keys = append(keys, k)
				total += v
			}
			slices.Sort(keys)
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%d×%d", c[k], k))
			}
			t.Logf("%-8s %4d answers: %s", ph, total, strings.Join(parts, " "))
		}
	}
	if strings.Contains(p.out.String(), "panic") {
		t.Errorf("the server's log shows a panic")
	}

	// The mail worker (River, on the same pool) works again: a letter queued now is delivered.
	const to = "after-outage@example.test"
	id := queueTestLetter(t, s, to)
	eventually(t, deliveryTimeout, "the letter queued after the outage to be written", func() bool {
		files, _ := filepath.Glob(filepath.Join(s.DataDir, "mail", "*.eml"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte(id)) {
				return true
			}
		}
		return false
	})
	if p.hasExited() {
		t.Fatal("the server exited")
	}
}

// sqliteSeed starts a server on a fresh SQLite data dir (it migrates and makes the signing keys),
// seeds the demo data, makes an orders key and a session, and stops the server again, so that
// the test can restart it on the same file under a fault.
func sqliteSeed(t *testing.T) (s setup, dbPath, token, apiKey string) {
	t.Helper()
	s = setup{DataDir: t.TempDir()}
	p := startServer(t, s)
	out := mustCLI(t, s, "", "demo")
	pw := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if pw == nil {
		t.Fatalf("demo printed no password:\n%s", out)
	}
	token = login(t, p.URL(), "renewals@demo.example", pw[1])
	apiKey = strings.TrimSpace(mustCLI(t, s, "", "apikey", "create", "--name", "orders", "--scopes", "orders:write"))
	p.signal(os.Interrupt)
	if code := p.waitExit(shutdownTimeout + 10*time.Second); code != 0 {
		t.Fatalf("the seeding server exited with %d", code)
	}
	return s, filepath.Join(s.DataDir, "entitled.db"), token, apiKey
}

// faultAnswer is a status, content type and decoded problem of one request.
type faultAnswer struct {
	status      int
	contentType string
	code        string
	detail      string
	body        string
}

func faultCall(t *testing.T, method, url, bearer string, body any) faultAnswer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := faultAnswer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: string(b)}
	var pb struct{ Code, Detail string }
	if json.Unmarshal(b, &pb) == nil {
		a.code, a.detail = pb.Code, pb.Detail
	}
	return a
}

func faultOrder(prefix string, n int) map[string]any {
	return map[string]any{
		"order_ref":       fmt.Sprintf("%s-%d", prefix, n),
		"account":         map[string]any{"name": fmt.Sprintf("%s Customer %d", prefix, n)},
		"primary_contact": map[string]any{"name": "Pat", "email": fmt.Sprintf("pat%d@%s.example", n, strings.ToLower(prefix))},
		"items":           []any{map[string]any{"sku": "DEMO-EDGE", "quantity": 1, "kind": "perpetual"}},
	}
}

// wantUnavailable checks a refused write: 503 problem+json, code "unavailable", a detail that
// contains want, and nothing of SQLite's own words.
func wantUnavailable(t *testing.T, what string, a faultAnswer, want string) {
	t.Helper()
	if a.status != http.StatusServiceUnavailable || !strings.HasPrefix(a.contentType, "application/problem+json") ||
		a.code != models.CodeUnavailable || !strings.Contains(a.detail, want) {
		t.Errorf("%s: %d %s %s, want 503 problem+json code %q with a detail saying %q", what, a.status, a.contentType, a.body, models.CodeUnavailable, want)
	}
	for _, w := range []string{"sqlite", "SQLITE", "entitled.db", "disk", "(13)", "(8)"} {
		if strings.Contains(a.body, w) {
			t.Errorf("%s: the answer shows the driver's words (%q): %s", what, w, a.body)
		}
	}
}

// integrityOK runs PRAGMA integrity_check on the SQLite file (no server running) and counts the
// accounts whose name starts with prefix.
func integrityOK(t *testing.T, dbPath, prefix string) (accounts int) {
	t.Helper()
	st, err := store.Open(t.Context(), store.OpenOptions{URL: "sqlite://" + dbPath, MaxConns: 1})
	if err != nil {
		t.Fatalf("open %s: %v", dbPath, err)
	}
	defer st.Close()
	var res []string
	rows, err := st.SQLDB().QueryContext(t.Context(), "PRAGMA integrity_check")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var r string
		_ = rows.Scan(&r)
		res = append(res, r)
	}
	rows.Close()
	if len(res) != 1 || res[0] != "ok" {
		t.Errorf("PRAGMA integrity_check = %q, want ok", res)
	}
	if err := st.SQLDB().QueryRowContext(t.Context(), "SELECT count(*) FROM accounts WHERE name LIKE ?", prefix+" Customer %").Scan(&accounts); err != nil {
		t.Fatal(err)
	}
	return accounts
}

// SQLite full (max_page_count, which the sqlite:// URL carries to every connection as
// _pragma=max_page_count(N); N below the file's size means "full at its present size"): writes
// that need room are answered 503 problem+json "unavailable" saying the database is full, never a
// 500; reads still work; the file passes integrity_check, and every order answered 201 is there
// and no refused one is; with room again (a larger max_page_count) writes work.
func TestSQLiteFullRefusesWritesCleanly(t *testing.T) {
	t.Parallel()
	s, dbPath, token, apiKey := sqliteSeed(t)
	full := s
	full.DatabaseURL = "sqlite://" + dbPath + "?_pragma=max_page_count(1)"
	p := startServer(t, full)

	created, refused := 0, 0
	for n := 1; n <= 500 && refused == 0; n++ {
		a := faultCall(t, "POST", p.URL()+"/v1/orders", apiKey, faultOrder("Full", n))
		switch a.status {
		case http.StatusCreated:
			created++
		default:
			refused++
			wantUnavailable(t, fmt.Sprintf("order %d on a full database", n), a, "the database is full")
		}
	}
	if refused == 0 {
		t.Fatalf("500 orders fitted into a database limited to its present size: the limit did not apply")
	}
	// Again, and other writes too: still refused the same way, the process still up.
	wantUnavailable(t, "another order", faultCall(t, "POST", p.URL()+"/v1/orders", apiKey, faultOrder("Full", 9999)), "the database is full")
	for _, path := range []string{"/v1/me", "/v1/renewals?within_days=90", "/v1/products/DEMO-EDGE", "/v1/contracts", "/readyz"} {
		if a := faultCall(t, "GET", p.URL()+path, token, nil); a.status != http.StatusOK {
			t.Errorf("GET %s on a full database: %d %s, want 200 (reads need no room)", path, a.status, a.body)
		}
	}
	if p.hasExited() {
		t.Fatal("the server exited on a full database")
	}
	t.Logf("full at its present size: %d orders fitted, the next was refused with 503", created)
	p.signal(os.Interrupt)
	p.waitExit(shutdownTimeout + 10*time.Second)

	if got := integrityOK(t, dbPath, "Full"); got != created {
		t.Errorf("%d accounts of the orders in the file, want %d (one per order answered 201, none of the refused)", got, created)
	}

	// Room again: the same file with a larger limit takes writes.
	roomy := s
	roomy.DatabaseURL = "sqlite://" + dbPath + "?_pragma=max_page_count(1000000)"
	p = startServer(t, roomy)
	if a := faultCall(t, "POST", p.URL()+"/v1/orders", apiKey, faultOrder("Full", 10000)); a.status != http.StatusCreated {
		t.Errorf("an order after space was freed: %d %s, want 201", a.status, a.body)
	}
	p.signal(os.Interrupt)
	p.waitExit(shutdownTimeout + 10*time.Second)
	if got := integrityOK(t, dbPath, "Full"); got != created+1 {
		t.Errorf("%d accounts of the orders in the file, want %d", got, created+1)
	}
}

// startAsUnprivileged starts the binary with args under the setup as a user who may not write
// what root made: the tests run as root here, and root writes through any permission bits, so
// a read-only data dir is only read-only for another user. It returns nil (and the reason) when
// there is no such user to run as.
func startAsUnprivileged(t *testing.T, s setup, args ...string) (*process, string) {
	t.Helper()
	var cmd *exec.Cmd
	if os.Geteuid() != 0 {
		cmd = exec.Command(binary, args...)
	} else {
		if _, err := user.Lookup("nobody"); err != nil {
			return nil, "the tests run as root and there is no user nobody to run the server as"
		}
		// The test binary's directory is root's alone: nobody runs a copy from a directory of
		// its own.
		dir, err := os.MkdirTemp("", "entitled-ro-bin-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		b, err := os.ReadFile(binary)
		if err != nil {
			t.Fatal(err)
		}
		exe := filepath.Join(dir, "entitled")
		if err := os.WriteFile(exe, b, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command("runuser", append([]string{"-u", "nobody", "--", exe}, args...)...)
	}
	cmd.Env = s.processEnv()
	p, err := spawn(t, s, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return p, ""
}

// A data dir the server may read but not write (root's files; the server runs as nobody, or the
// files are chmod'ed read-only when the tests do not run as root): the server refuses to start,
// exits non-zero and says that the database is read-only, naming the file, instead of failing
// later on the first write; the file is left intact. Both when neither the directory nor the
// file is writable, and when only the file is not (SQLite could make its -wal and -shm there).
func TestSQLiteReadOnlyDataDirRefusesToStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		dirWritable bool
	}{{"directory and file read-only", false}, {"file read-only", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Its own directory, not t.TempDir: the server's user must be able to reach it.
			dir, err := os.MkdirTemp("", "entitled-ro-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			s := setup{DataDir: filepath.Join(dir, "data"), Secret: testSecret}
			p := startServer(t, s) // migrates and makes the signing keys
			mustCLI(t, s, "", "demo")
			p.signal(os.Interrupt)
			if code := p.waitExit(shutdownTimeout + 10*time.Second); code != 0 {
				t.Fatalf("the seeding server exited with %d", code)
			}
			dbPath := filepath.Join(s.DataDir, "entitled.db")
			before, err := os.ReadFile(dbPath)
			if err != nil {
				t.Fatal(err)
			}
			// Make the data dir readable and not writable for the server's user.
			if err := filepath.Walk(s.DataDir, func(path string, info os.FileInfo, err error) error {
				if err != nil {
					return err
				}
				if info.IsDir() {
					return os.Chmod(path, 0o555)
				}
				return os.Chmod(path, 0o444)
			}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Chmod(s.DataDir, 0o755) }) // so that it can be removed
			if tc.dirWritable {
				if os.Geteuid() == 0 {
					u, _ := user.Lookup("nobody")
					if u != nil {
						uid, _ := strconv.Atoi(u.Uid)
						if err := os.Chown(s.DataDir, uid, -1); err != nil {
							t.Fatal(err)
						}
					}
				}
				if err := os.Chmod(s.DataDir, 0o755); err != nil {
					t.Fatal(err)
				}
			}

			s.Addr = freeAddr(t)
			ro, why := startAsUnprivileged(t, s, "serve")
			if ro == nil {
				if os.Getenv("CI") != "" {
					t.Fatal(why)
				}
				t.Skip(why)
			}
			code := ro.waitExit(startTimeout)
			out := ro.out.String()
			if code == 0 {
				t.Errorf("the server exited 0 on a read-only data dir, want a failure")
			}
			if !strings.Contains(out, "is read-only") || !strings.Contains(out, dbPath) {
				t.Errorf("the server's error does not say that %s is read-only:\n%s", dbPath, out)
			}
			if strings.Contains(out, "panic") {
				t.Errorf("the server panicked:\n%s", out)
			}
			t.Logf("refused to start: %s", finalLine(out))

			// Untouched, and sound.
			after, err := os.ReadFile(dbPath)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("the read-only database file was changed")
			}
			if err := os.Chmod(s.DataDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dbPath, 0o644); err != nil {
				t.Fatal(err)
			}
			integrityOK(t, dbPath, "None")
		})
	}
}

func finalLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
