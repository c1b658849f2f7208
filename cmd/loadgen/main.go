// Command loadgen is entitled's load harness. It starts the server as a subprocess on a loopback
// port with a temporary data directory (SQLite, or a fresh PostgreSQL database), seeds it through
// its own API and CLI, starts a bare Gin server in this process, and drives both with the same
// closed-loop client: a fixed number of keep-alive connections, a warm-up, a fixed measured
// window. It prints one table of req/s, p50, p99, errors and the ratio of each scenario to bare
// Gin, with the server's resident memory at the start and end of each scenario.
//
//	go run ./cmd/loadgen --duration 5s
//	go run ./cmd/loadgen --database-url 'postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type options struct {
	serverBin   string
	databaseURL string
	freshDB     bool
	connections int
	warmup      time.Duration
	duration    time.Duration
	timeout     time.Duration
	scenarios   []string
	seed        seedOptions
	keep        bool
	soak        bool

	// Open loop: rate (req/s) fixed for every scenario, or loads, fractions of bare Gin's
	// closed-loop capacity measured first; poisson spaces arrivals exponentially.
	rate    float64
	loads   []float64
	poisson bool

	// replicas is how many server processes share the PostgreSQL database (round-robin).
	replicas int
	// rounds is how many times each scenario runs, each time paired with a bare Gin run.
	rounds int
	// fanout, if set, is how many orders --fanout places while the check runs open-loop.
	fanout int
	// profileDir, if set, receives a CPU profile of the (first) server over each measured window.
	profileDir string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.serverBin, "server-bin", "", "the entitled binary to test (default: go build ./server into a temp dir)")
	fs.StringVar(&o.databaseURL, "database-url", "", "postgres://… to test on PostgreSQL (default: SQLite in the temp data dir)")
	fs.BoolVar(&o.freshDB, "fresh-db", true, "with --database-url: create loadgen_<random> on that server, use it, and drop it at the end")
	fs.IntVar(&o.connections, "connections", 64, "closed-loop workers, each on its own keep-alive connection")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up per scenario, not measured")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured window per scenario")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: offer this many requests a second to every scenario, latency measured from each request's intended send time (0: closed loop)")
	loads := fs.String("load", "", "open loop at these fractions of bare Gin's closed-loop capacity, measured first (e.g. 0.25,0.5,0.75)")
	arrivals := fs.String("arrivals", "steady", "open loop: steady (evenly spaced) or poisson arrivals")
	fs.StringVar(&o.profileDir, "profile", "", "write a CPU profile of the server over each scenario's measured window into this directory (<scenario>.pprof; read with go tool pprof)")
	fs.IntVar(&o.fanout, "fanout", 0, "instead of the table: place this many orders, 8 at a time, each delivered to 4 local webhook receivers, while the check runs open-loop at --load (0.5 by default) of bare Gin's capacity; report the drain time and the check's latency")
	fs.IntVar(&o.rounds, "rounds", 1, "closed loop: run every scenario this many times, each right after a bare Gin run, and report the medians")
	fs.IntVar(&o.replicas, "replicas", 1, "with --database-url: run this many server processes on the one database and spread requests over them round-robin")
	list := fs.String("scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios: "+strings.Join(allScenarios, ","))
	fs.IntVar(&o.seed.accounts, "accounts", 20, "accounts to seed (one order each)")
	fs.IntVar(&o.seed.licensesPerAccount, "licenses-per-account", 5, "licenses (with contracts) per account")
	fs.IntVar(&o.seed.users, "users", 16, "verified users; each license gets one as admin and the next as a support member")
	fs.IntVar(&o.seed.pool, "registration-pool", 2000, "fresh licenses ordered up front for the registration scenario (topped up after its warm-up)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temp dir (server binary, data, server.log)")
	fs.BoolVar(&o.soak, "soak", false, "instead of the table: drive a mix of every scenario and some writes for --duration after --warmup, and fail on any 5xx, goroutine or live-heap growth, or database connections left in use")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.soak {
		// The soak's orders refill the pool as it goes; a large pool up front only slows seeding.
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "registration-pool" })
		if !set {
			o.seed.pool = 100
		}
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch *arrivals {
	case "steady":
	case "poisson":
		o.poisson = true
	default:
		return o, fmt.Errorf("--arrivals: %q is neither steady nor poisson", *arrivals)
	}
	for _, f := range strings.Split(*loads, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || v <= 0 || v > 2 {
			return o, fmt.Errorf("--load: %q is not a fraction of capacity between 0 and 2", f)
		}
		o.loads = append(o.loads, v)
	}
	if o.rate < 0 || o.rate > 0 && len(o.loads) > 0 {
		return o, errors.New("--rate must be positive, and not given with --load")
	}
	for _, s := range strings.Split(*list, ",") {
		s = strings.TrimSpace(s)
		switch {
		case s == "":
		case s == "all":
			o.scenarios = append(o.scenarios, allScenarios...)
		case slices.Contains(allScenarios, s):
			o.scenarios = append(o.scenarios, s)
		default:
			return o, fmt.Errorf("--scenarios: unknown %q (want some of %s)", s, strings.Join(allScenarios, ","))
		}
	}
	switch {
	case o.connections < 1:
		return o, errors.New("--connections must be at least 1")
	case o.duration <= 0 || o.warmup < 0:
		return o, errors.New("--duration must be positive and --warmup not negative")
	case o.seed.accounts < 1 || o.seed.licensesPerAccount < 1 || o.seed.licensesPerAccount > 100 || o.seed.users < 1:
		return o, errors.New("--accounts, --users and --licenses-per-account (at most 100) must be at least 1")
	case o.rounds < 1 || o.rounds > 9:
		return o, errors.New("--rounds must be 1 to 9")
	case o.replicas < 1 || o.replicas > 16:
		return o, errors.New("--replicas must be 1 to 16")
	case o.replicas > 1 && o.databaseURL == "":
		return o, errors.New("--replicas needs --database-url: replicas share one PostgreSQL database")
	case o.databaseURL != "" && !strings.HasPrefix(o.databaseURL, "postgres://") && !strings.HasPrefix(o.databaseURL, "postgresql://"):
		return o, errors.New("--database-url must be postgres://… (leave it out for SQLite)")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "seed-contracts" { // seedcontracts.go
		return runSeedContracts(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "bare-gin" { // baregin.go: the ceiling, started by this program
		return runBareGin(ctx, args[1:], stderr)
	}
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	_, err = execute(ctx, o, stdout, stderr)
	return err
}

// execute starts and seeds the server and runs either the scenarios (the table) or, with
// o.soak, the soak, whose report it returns.
func execute(ctx context.Context, o options, stdout, stderr io.Writer) (_ *soakReport, err error) {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "loadgen: "+format+"\n", a...) }

	tmp, err := os.MkdirTemp("", "entitled-loadgen-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if o.keep {
			logf("kept %s", tmp)
			return
		}
		os.RemoveAll(tmp)
	}()

	bin := o.serverBin
	if bin == "" {
		t0 := time.Now()
		if bin, err = buildServer(ctx, tmp); err != nil {
			return nil, err
		}
		logf("built the server in %s", time.Since(t0).Round(time.Millisecond))
	}

	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	dataDir := filepath.Join(tmp, "data")
	settings := map[string]string{
		"ENTITLED_ADDR":              addr,
		"ENTITLED_BASE_URL":          "http://" + addr,
		"ENTITLED_DATA_DIR":          dataDir,
		"ENTITLED_SECRET":            randomHex(32),
		"ENTITLED_RATE_ANON_PER_MIN": "1000000",
		"ENTITLED_TOKEN_TTL":         "1h", // tokens taken before the introspect scenario outlive any run
		"ENTITLED_TOKEN_AUDIENCES":   "support-portal,downloads,kb,chat",
		"ENTITLED_JOB_POLL_INTERVAL": "100ms",
		// The soak's webhook receivers listen on 127.0.0.1.
		"ENTITLED_WEBHOOK_ALLOW_PRIVATE": "true",
	}
	if o.profileDir != "" {
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return nil, err
		}
		if settings["ENTITLED_PPROF_ADDR"], err = freeLoopbackAddr(); err != nil {
			return nil, err
		}
	}
	dialect := "sqlite"
	if o.databaseURL != "" {
		dialect = "postgres"
		dbURL := o.databaseURL
		if o.freshDB {
			var drop func()
			if dbURL, drop, err = freshDatabase(ctx, o.databaseURL); err != nil {
				return nil, err
			}
			defer drop()
			logf("created database %s (dropped at the end)", dbName(dbURL))
		}
		settings["ENTITLED_DATABASE_URL"] = dbURL
	}
	env := serverEnv(settings)

	// The CLI first (it migrates): a staff user for the catalogue, the renewal desk and the
	// webhooks, and the two machine keys.
	d := &dataset{run: randomHex(3), mailDir: filepath.Join(dataDir, "mail")}
	d.sku = "LOADGEN-" + strings.ToUpper(d.run)
	staffEmail := "staff-" + d.run + "@loadgen.test"
	if _, err := runCLI(ctx, bin, env, seedPassword+"\n", "staff", "add", "--email", staffEmail, "--roles", "ops,renewals,superadmin"); err != nil {
		return nil, err
	}
	key := func(scope string) (string, error) {
		out, err := runCLI(ctx, bin, env, "", "apikey", "create", "--name", "loadgen "+scope, "--scopes", scope)
		return strings.TrimSpace(out), err
	}
	if d.ordersKey, err = key("orders:write"); err != nil {
		return nil, err
	}
	if d.introspectKey, err = key("entitlements:introspect"); err != nil {
		return nil, err
	}

	srv, err := startServer(ctx, bin, env, addr, filepath.Join(tmp, "server.log"))
	if err != nil {
		return nil, err
	}
	srv.pprofAddr = settings["ENTITLED_PPROF_ADDR"]
	defer srv.stop()
	defer func() {
		if err != nil && !o.keep {
			logf("the server's last log lines:\n%s", tail(srv.logPath, 20))
		}
	}()
	logf("server %s on %s (%s), pid %d", bin, srv.base, dialect, srv.cmd.Process.Pid)
	servers := fleet{srv}
	if o.replicas > 1 {
		if servers, err = startReplicas(ctx, srv, bin, settings, o.replicas, tmp); err != nil {
			return nil, err
		}
		defer servers[1:].stop()
		logf("%d replicas on one database, requests spread round-robin", len(servers))
	}

	seedAPI := &api{base: srv.base, client: &http.Client{Timeout: 60 * time.Second}}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if _, err := seedAPI.call(ctx, "POST", "/v1/auth/login", "", map[string]string{"email": staffEmail, "password": seedPassword}, &login); err != nil {
		return nil, err
	}
	d.staffToken = login.AccessToken
	if err := seed(ctx, seedAPI, d, o.seed, logf); err != nil {
		return nil, fmt.Errorf("seeding: %w", err)
	}

	if o.soak {
		fmt.Fprintf(stdout, "entitled loadgen --soak: %s, %d connections, warm-up %s, soak %s; %d CPUs shared by client and server; load average %s\n",
			dialect, o.connections, o.warmup, o.duration, runtime.NumCPU(), loadAverage())
		fmt.Fprintf(stdout, "seeded: %d accounts, %d licenses with contracts, %d users, %d memberships, %d fresh licenses for registration\n",
			o.seed.accounts, len(d.licenses), len(d.users), len(d.members), len(d.pool))
		rep, err := runSoak(ctx, o, srv, d, &api{base: srv.base, client: newClient(o.connections, o.timeout)}, dialect, defaultSoakLimits, logf)
		if rep != nil {
			fmt.Fprint(stdout, rep.format())
		}
		return rep, err
	}

	bareGin, err := startBareGin(ctx, tmp)
	if err != nil {
		return nil, err
	}
	defer bareGin.stop()

	fmt.Fprintf(stdout, "entitled loadgen: %s, %d connections, warm-up %s, measured %s per scenario; %d CPUs shared by client and servers; load average %s\n",
		dialect, o.connections, o.warmup, o.duration, runtime.NumCPU(), loadAverage())
	fmt.Fprintf(stdout, "seeded: %d accounts, %d licenses with contracts, %d users, %d memberships, %d fresh licenses for registration\n\n",
		o.seed.accounts, len(d.licenses), len(d.users), len(d.members), len(d.pool))

	bare := func() result { return measure(ctx, o, bareGinScenario(bareGin.base), fleet{bareGin}, logf) }
	scenarios := buildScenarios(d, seedAPI, logf)
	if o.fanout > 0 {
		return nil, runFanout(ctx, o, servers, scenarios, d, seedAPI, bare(), stdout, logf)
	}
	if o.rate > 0 || len(o.loads) > 0 {
		return nil, openLoopTables(ctx, o, servers, scenarios, bareGin.base, bare(), stdout, logf)
	}
	// Each scenario runs right after a bare Gin run of its own, round after round, so that its
	// ratio is taken against the machine as it was then: a shared machine's speed drifts.
	var results []result
	pairs := map[string][]pairedResult{}
	for round := 1; round <= o.rounds; round++ {
		for _, name := range o.scenarios {
			if ctx.Err() != nil {
				break
			}
			if s := servers.dead(); s != nil {
				return nil, fmt.Errorf("a server died before %s; its log:\n%s", name, tail(s.logPath, 30))
			}
			b := bare()
			r := measure(ctx, o, servers.roundRobin(scenarios[name]), servers, logf)
			pairs[name] = append(pairs[name], pairedResult{bare: b, scenario: r})
			b.Name = fmt.Sprintf("bare gin (before %s, round %d)", name, round)
			r.Name = fmt.Sprintf("%s (round %d)", name, round)
			results = append(results, b, r)
		}
	}

	fmt.Fprint(stdout, formatPairedTable(o.scenarios, pairs))
	fmt.Fprintf(stdout, "\nevery run (× bare gin against the bare Gin run just before it), with the server's RSS:\n%s", formatRuns(results))
	fmt.Fprintf(stdout, "load average at the end: %s\n", loadAverage())
	for _, r := range results {
		if len(r.FirstErrorLines) > 0 {
			fmt.Fprintf(stdout, "\nfirst errors of %s:\n", r.Name)
			for _, l := range r.FirstErrorLines {
				fmt.Fprintf(stdout, "  %s\n", l)
			}
		}
	}
	return nil, ctx.Err()
}

// loadAverage is the 1-minute load average (from /proc/loadavg), to tell a busy machine.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

// dbName is the database a postgres:// URL names.
func dbName(u string) string {
	if p, err := url.Parse(u); err == nil {
		return strings.TrimPrefix(p.Path, "/")
	}
	return ""
}

// measure runs one scenario: prepare, warm-up, top-up, measured window, with the (first) server's
// RSS sampled from before the warm-up to after the window and the fleet's CPU time summed (nil:
// no server to sample).
func measure(ctx context.Context, o options, s *scenario, servers fleet, logf func(string, ...any)) result {
	r := result{Name: s.name}
	if r.Skipped = s.ready(ctx); r.Skipped != "" {
		return r
	}
	var sampler *rssSampler
	if len(servers) > 0 {
		sampler = startRSSSampler(servers[0])
	}
	client := newClient(o.connections, o.timeout)
	defer client.CloseIdleConnections()
	errs := &errorLog{max: 5}
	logf("%s: warm-up %s, then %s measured", s.name, o.warmup, o.duration)
	warm := phaseResult{}
	if o.warmup > 0 {
		warm = runPhase(ctx, client, o.connections, o.warmup, s.next, "warm-up", errs)
	}
	if r.Note, r.Skipped = s.warmedUp(ctx, warm, o.duration); r.Skipped != "" {
		return r
	}
	var profiled <-chan error
	if o.profileDir != "" && len(servers) > 0 && servers[0].pprofAddr != "" {
		profiled = servers[0].cpuProfile(ctx, o.duration, filepath.Join(o.profileDir, profileName(s.name)))
	}
	cpu0 := servers.cpu()
	m := runPhase(ctx, client, o.connections, o.duration, s.next, "measured", errs)
	cpu1 := servers.cpu()
	if profiled != nil {
		if err := <-profiled; err != nil {
			logf("%s: no CPU profile: %v", s.name, err)
		}
	}
	for i := range cpu0 {
		if cpu0[i] > 0 && cpu1[i] > 0 {
			r.ServerCPU += cpu1[i] - cpu0[i]
		}
	}
	r.Note = joinNotes(r.Note, cpuNote(cpu0, cpu1))
	r.summarize(m.lat, m.elapsed)
	r.Errors = m.errors
	if m.ranOut {
		r.Note = joinNotes(r.Note, fmt.Sprintf("ran out of requests to send after %s (figures over that span)", m.elapsed.Round(time.Millisecond)))
	}
	r.FirstErrorLines = errs.list()
	if sampler != nil {
		r.HasRSS = true
		r.RSSStart, r.RSSEnd, r.RSSPeak = sampler.stop()
	}
	return r
}

// rssSampler reads the server's RSS at the start, every 250 ms, and at the end.
type rssSampler struct {
	srv         *server
	start, peak int64
	done        chan struct{}
	wg          sync.WaitGroup
	mu          sync.Mutex
}

func startRSSSampler(srv *server) *rssSampler {
	s := &rssSampler{srv: srv, done: make(chan struct{})}
	s.start, _ = srv.rss()
	s.peak = s.start
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				if v, err := srv.rss(); err == nil {
					s.mu.Lock()
					s.peak = max(s.peak, v)
					s.mu.Unlock()
				}
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() (start, end, peak int64) {
	close(s.done)
	s.wg.Wait()
	end, _ = s.srv.rss()
	return s.start, end, max(s.peak, end)
}
