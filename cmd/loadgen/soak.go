package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The soak (--soak) drives a realistic mix of reads and writes for --duration and compares the
// server's runtime before and after: no 5xx, no goroutine or memory growth, every database
// connection back in the pool. The server runs in its own process, so everything about it is
// read from its /metrics.

// soakLimits are the bounds a soak is judged by.
type soakLimits struct {
	// goroutineSlack is how many more goroutines the server may have after the load than before:
	// River's pollers and the one scrape connection come and go.
	goroutineSlack int
	// heapSlack and heapRatio bound the live heap after the load: at most before × (1 + ratio)
	// + slack. Caches that fill up (prepared statements, principals, the product versions) and
	// the sync.Pools of the HTTP stack may settle somewhat higher than after the warm-up; a leak
	// over a minute of load grows past it.
	heapSlack int64
	heapRatio float64
}

var defaultSoakLimits = soakLimits{goroutineSlack: 5, heapSlack: 4 << 20, heapRatio: 0.25}

// soakOp is one kind of user action in the mix; weight is its share of the actions.
type soakOp struct {
	name   string
	weight int
	do     func(ctx context.Context, w *soakWorker)
}

// Status classes of an answer: 0 is a transport error (no answer), 1–5 the first digit.
const classes = 6

// kindStats is what one kind of request got.
type kindStats struct {
	Name       string
	Requests   int
	Classes    [classes]int
	Unexpected int // answers outside what the request should get (any class)
	lat        []time.Duration
	P50, P99   time.Duration
}

// soakWorker is one closed-loop client of the soak, on its own keep-alive connection.
type soakWorker struct {
	client *http.Client
	stats  map[string]*kindStats
	errs   *errorLog
	phase  string
	live   *soakLive
	// The latencies of every request by stretch of bucketLen since start, for the p99 over time.
	start     time.Time
	bucketLen time.Duration
	buckets   [][]time.Duration
}

// soakLive are running totals for the progress lines.
type soakLive struct {
	requests, fivexx, transport atomic.Int64
}

// send sends req, reads the whole answer and records it under kind. want lists the expected
// statuses (none: any 2xx). It returns the body and whether the status was expected.
func (w *soakWorker) send(kind string, req *http.Request, want ...int) ([]byte, bool) {
	t0 := time.Now()
	res, err := w.client.Do(req)
	status := 0
	var body []byte
	if err == nil {
		status = res.StatusCode
		body, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	d := time.Since(t0)
	ks := w.stats[kind]
	if ks == nil {
		ks = &kindStats{Name: kind}
		w.stats[kind] = ks
	}
	ks.Requests++
	ks.lat = append(ks.lat, d)
	if w.bucketLen > 0 {
		i := int(t0.Sub(w.start) / w.bucketLen)
		for len(w.buckets) <= i {
			w.buckets = append(w.buckets, nil)
		}
		w.buckets[i] = append(w.buckets[i], d)
	}
	class := 0
	if err == nil {
		class = min(max(status/100, 1), 5)
	}
	ks.Classes[class]++
	w.live.requests.Add(1)
	switch class {
	case 0:
		w.live.transport.Add(1)
	case 5:
		w.live.fivexx.Add(1)
	}
	ok := err == nil && status >= 200 && status <= 299
	if err == nil && len(want) > 0 {
		ok = slices.Contains(want, status)
	}
	if !ok {
		ks.Unexpected++
		w.errs.add(w.phase, describeFailure(req, status, body, err))
	}
	return body, ok
}

// soakMix builds the mix over the seeded data: mostly the hot reads other services and members
// make (check, support, token, introspect), and writes as they come in real use: orders placed by
// the shop, registrations of the licenses they made, member role changes, and logins each
// followed by a logout. Weights are per action; a login is two requests.
func soakMix(ctx context.Context, d *dataset, a *api, logf func(string, ...any)) ([]soakOp, error) {
	scen := buildScenarios(d, a, logf)
	var ops []soakOp
	for _, read := range []struct {
		name   string
		weight int
	}{{"check", 35}, {"support", 15}, {"token", 15}, {"introspect", 15}} {
		s := scen[read.name]
		if s.prepare != nil {
			skip, err := s.prepare(ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", read.name, err)
			}
			if skip != "" {
				logf("soak: %s left out of the mix: %s", read.name, skip)
				continue
			}
		}
		next := s.next
		name := read.name
		ops = append(ops, soakOp{name, read.weight, func(ctx context.Context, w *soakWorker) {
			if req, ok := next(); ok {
				w.send(name, req.WithContext(ctx))
			}
		}})
	}

	base := a.base
	// order: the shop sells one license with a support contract to a new account (a letter to its
	// primary contact is queued); the license joins the pool the registrations take from.
	order := func(ctx context.Context, w *soakWorker) (string, bool) {
		n := d.orders.Add(1)
		item := map[string]any{"sku": d.sku, "quantity": 5, "kind": "perpetual",
			"support": map[string]any{"program": "standard", "starts_on": time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly),
				"ends_on": time.Now().UTC().AddDate(1, 0, 0).Format(time.DateOnly)}}
		req := newRequest("POST", base+"/v1/orders", d.ordersKey, "application/json", mustJSON(d.orderBody(n, []map[string]any{item})))
		body, ok := w.send("order", req.WithContext(ctx), http.StatusCreated)
		var res struct {
			Licenses []struct {
				LicenseNumber string `json:"license_number"`
			} `json:"licenses"`
		}
		if !ok || json.Unmarshal(body, &res) != nil || len(res.Licenses) != 1 {
			return "", false
		}
		return res.Licenses[0].LicenseNumber, true
	}
	ops = append(ops, soakOp{"order", 4, func(ctx context.Context, w *soakWorker) {
		if ln, ok := order(ctx, w); ok {
			d.poolMu.Lock()
			d.pool = append(d.pool, ln)
			d.poolMu.Unlock()
		}
	}})

	// registration: a user registers a fresh license and becomes its admin (201). With the pool
	// empty the action orders one first.
	var regN atomic.Uint64
	ops = append(ops, soakOp{"registration", 4, func(ctx context.Context, w *soakWorker) {
		d.poolMu.Lock()
		var ln string
		if k := len(d.pool); k > 0 {
			ln, d.pool = d.pool[k-1], d.pool[:k-1]
		}
		d.poolMu.Unlock()
		if ln == "" {
			var ok bool
			if ln, ok = order(ctx, w); !ok {
				return
			}
		}
		u := d.users[(regN.Add(1)-1)%uint64(len(d.users))]
		req := newRequest("POST", base+"/v1/registrations", u.token, "application/json", mustJSON(map[string]string{"license_number": ln}))
		w.send("registration", req.WithContext(ctx), http.StatusCreated)
	}})

	// member: a license's admin changes the other member's roles, support alone or support and
	// license in turn; every change bumps the grant, so tokens taken before it introspect as
	// inactive.
	var pairs [][2]member // admin, other
	for k := 0; k+1 < len(d.members); k += 2 {
		if d.members[k].email != d.members[k+1].email {
			pairs = append(pairs, [2]member{d.members[k], d.members[k+1]})
		}
	}
	if len(pairs) > 0 {
		var memberN atomic.Uint64
		ops = append(ops, soakOp{"member", 4, func(ctx context.Context, w *soakWorker) {
			n := memberN.Add(1) - 1
			p := pairs[n%uint64(len(pairs))]
			roles := []string{"support"}
			if (n/uint64(len(pairs)))%2 == 0 {
				roles = append(roles, "license")
			}
			req := newRequest("PUT", base+"/v1/licenses/"+p[0].ln+"/members/"+url.PathEscape(p[1].email), p[0].token, "application/json",
				mustJSON(map[string]any{"roles": roles}))
			w.send("member", req.WithContext(ctx), http.StatusOK)
		}})
	}

	// login: a user logs in (argon2id, a new session) and logs out again.
	var loginN atomic.Uint64
	ops = append(ops, soakOp{"login", 2, func(ctx context.Context, w *soakWorker) {
		u := d.users[(loginN.Add(1)-1)%uint64(len(d.users))]
		req := newRequest("POST", base+"/v1/auth/login", "", "application/json", mustJSON(map[string]string{"email": u.email, "password": seedPassword}))
		body, ok := w.send("login", req.WithContext(ctx), http.StatusOK)
		var res struct {
			AccessToken string `json:"access_token"`
		}
		if !ok || json.Unmarshal(body, &res) != nil || res.AccessToken == "" {
			return
		}
		w.send("logout", newRequest("POST", base+"/v1/auth/logout", res.AccessToken, "", nil).WithContext(ctx), http.StatusNoContent)
	}})

	for _, op := range []func(context.Context, *dataset, *api) (soakOp, error){statusListOp, renewalRecordOp} {
		o, err := op(ctx, d, a)
		if err != nil {
			return nil, err
		}
		ops = append(ops, o)
	}
	return ops, nil
}

// schedule spreads the ops by weight over one shuffled cycle, the same every run, so that the
// workers walking it together send the mix in every stretch of time rather than in blocks.
func schedule(ops []soakOp) []int {
	var s []int
	for i, op := range ops {
		for range op.weight {
			s = append(s, i)
		}
	}
	r := rand.New(rand.NewPCG(12, 2026))
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// runMix drives the mix with conns workers for d. Actions in flight at the end are finished and
// counted: a soak counts every answer, it does not measure a rate. It also answers the p99 of
// every request in each tenth of d (at least a second), to show whether latency drifts.
func runMix(ctx context.Context, client *http.Client, conns int, d time.Duration, ops []soakOp, phase string, errs *errorLog, logf func(string, ...any)) ([]kindStats, time.Duration, timeline) {
	order := schedule(ops)
	var next atomic.Uint64
	live := &soakLive{}
	start := time.Now()
	deadline := start.Add(d)
	tl := timeline{Every: max(d/10, time.Second)}
	perW := make([]map[string]*kindStats, conns)
	perB := make([][][]time.Duration, conns)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &soakWorker{client: client, stats: map[string]*kindStats{}, errs: errs, phase: phase, live: live, start: start, bucketLen: tl.Every}
			for ctx.Err() == nil && time.Now().Before(deadline) {
				ops[order[(next.Add(1)-1)%uint64(len(order))]].do(ctx, w)
			}
			perW[i], perB[i] = w.stats, w.buckets
		}()
	}
	done := make(chan struct{})
	if d >= 20*time.Second {
		go func() {
			t := time.NewTicker(10 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					logf("%s: %s of %s, %d requests, %d 5xx, %d transport errors", phase, time.Since(start).Round(time.Second), d,
						live.requests.Load(), live.fivexx.Load(), live.transport.Load())
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	elapsed := time.Since(start)
	for b := 0; ; b++ {
		var lat []time.Duration
		more := false
		for _, w := range perB {
			if b < len(w) {
				lat, more = append(lat, w[b]...), true
			}
		}
		if !more {
			break
		}
		slices.Sort(lat)
		tl.P99 = append(tl.P99, percentile(lat, 0.99))
	}

	merged := map[string]*kindStats{}
	for _, m := range perW {
		for name, ks := range m {
			t := merged[name]
			if t == nil {
				t = &kindStats{Name: name}
				merged[name] = t
			}
			t.Requests += ks.Requests
			t.Unexpected += ks.Unexpected
			for c := range classes {
				t.Classes[c] += ks.Classes[c]
			}
			t.lat = append(t.lat, ks.lat...)
		}
	}
	var out []kindStats
	for _, op := range append(ops, soakOp{name: "logout"}) {
		if t := merged[op.name]; t != nil {
			slices.Sort(t.lat)
			t.P50, t.P99 = percentile(t.lat, 0.50), percentile(t.lat, 0.99)
			t.lat = nil
			out = append(out, *t)
			delete(merged, op.name)
		}
	}
	return out, elapsed, tl
}

// timeline is the p99 latency of all requests in each stretch of Every.
type timeline struct {
	Every time.Duration
	P99   []time.Duration
}

func (t timeline) String() string {
	var parts []string
	for _, p := range t.P99 {
		parts = append(parts, fmtMs(p))
	}
	return fmt.Sprintf("p99 each %s: %s", t.Every.Round(time.Second), strings.Join(parts, ", "))
}

// metricsSnapshot is what the server's /metrics says about its runtime at one moment.
type metricsSnapshot struct {
	Goroutines int64
	HeapInuse  int64 // go_memstats_heap_inuse_bytes
	HeapLive   int64 // go_gc_heap_live_bytes: marked live by the last collection
	HasLive    bool
	GCs        int64 // completed collections
	DBOpen     int64
	DBInUse    int64
	DBIdle     int64
	DBMaxOpen  int64
	DBWaits    int64
	HasDB      bool
	// MailBusy is the letters queued or being sent (entitled_mail_queue_jobs available, running).
	MailBusy int64
	// Answers by status class, as the server counted them (entitled_http_requests_total).
	Statuses [classes]int64
	// Webhooks: deliveries not yet succeeded or failed (entitled_webhook_pending_deliveries, -1
	// unknown) and attempts by outcome (entitled_webhook_attempts_total).
	HookPending                          int64
	HookSucceeded, HookRetry, HookFailed int64
}

// parseMetrics reads the few series the soak needs from the Prometheus text format.
func parseMetrics(r io.Reader) (metricsSnapshot, error) {
	var s metricsSnapshot
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		name, labels, valueText := line[:sp], "", line[sp+1:]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name, labels = name[:i], name[i:]
		}
		v, err := strconv.ParseFloat(valueText, 64)
		if err != nil {
			return s, fmt.Errorf("metrics: %q: %w", line, err)
		}
		n := int64(v)
		if strings.HasPrefix(name, "go_sql_") && !strings.Contains(labels, `db_name="entitled"`) {
			continue
		}
		seen[name] = true
		switch name {
		case "go_goroutines":
			s.Goroutines = n
		case "go_memstats_heap_inuse_bytes":
			s.HeapInuse = n
		case "go_gc_heap_live_bytes":
			s.HeapLive, s.HasLive = n, true
		case "go_gc_duration_seconds_count":
			s.GCs = n
		case "go_sql_open_connections":
			s.DBOpen, s.HasDB = n, true
		case "go_sql_in_use_connections":
			s.DBInUse = n
		case "go_sql_idle_connections":
			s.DBIdle = n
		case "go_sql_max_open_connections":
			s.DBMaxOpen = n
		case "go_sql_wait_count_total":
			s.DBWaits = n
		case "entitled_mail_queue_jobs":
			if st, _ := labelValue(labels, "state"); st == "available" || st == "running" {
				s.MailBusy += n
			}
		case "entitled_webhook_pending_deliveries":
			s.HookPending = n
		case "entitled_webhook_attempts_total":
			switch outcome, _ := labelValue(labels, "outcome"); outcome {
			case "succeeded":
				s.HookSucceeded += n
			case "retrying":
				s.HookRetry += n
			case "failed":
				s.HookFailed += n
			}
		case "entitled_http_requests_total":
			if code, ok := labelValue(labels, "status"); ok {
				c, err := strconv.Atoi(code)
				if err == nil && c >= 100 && c <= 599 {
					s.Statuses[c/100] += n
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	for _, must := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "go_gc_duration_seconds_count"} {
		if !seen[must] {
			return s, fmt.Errorf("metrics: no %s", must)
		}
	}
	return s, nil
}

// labelValue finds name="value" in a {…} label set (values the soak reads hold no quotes).
func labelValue(labels, name string) (string, bool) {
	i := strings.Index(labels, name+`="`)
	if i < 0 || (i > 0 && labels[i-1] != '{' && labels[i-1] != ',') {
		return "", false
	}
	rest := labels[i+len(name)+2:]
	j := strings.IndexByte(rest, '"')
	if j < 0 {
		return "", false
	}
	return rest[:j], true
}

// scraper reads the server's /metrics over one keep-alive connection, the same one for every
// snapshot, so that it counts the same in the goroutines before and after.
type scraper struct {
	url    string
	client *http.Client
}

func (s *scraper) scrape(ctx context.Context) (metricsSnapshot, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", s.url, nil)
	if err != nil {
		return metricsSnapshot{}, err
	}
	res, err := s.client.Do(req)
	if err != nil {
		return metricsSnapshot{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 300))
		return metricsSnapshot{}, fmt.Errorf("GET /metrics: %d %s", res.StatusCode, b)
	}
	return parseMetrics(res.Body)
}

// settle waits, once the load has stopped and its connections are closed, until the server is
// at rest, and returns its snapshot then. At rest means: two collections completed since the load
// stopped (so the live heap was marked with no request in flight; an idle server would not
// collect for two minutes, so settle makes garbage by scraping /metrics, which needs no data),
// the goroutine count unchanged over a second, and no database connection in use.
func settle(ctx context.Context, sc *scraper, timeout time.Duration) (metricsSnapshot, string, error) {
	deadline := time.Now().Add(timeout)
	first, err := sc.scrape(ctx)
	if err != nil {
		return first, "", err
	}
	garbage := newClient(4, 10*time.Second)
	defer garbage.CloseIdleConnections()
	for last := first; last.GCs < first.GCs+2; {
		if time.Now().After(deadline) {
			return last, "", fmt.Errorf("the server completed %d of 2 collections in %s of scraping", last.GCs-first.GCs, timeout)
		}
		if err := parallel(ctx, 40, 4, func(ctx context.Context, _ int) error {
			req, _ := http.NewRequestWithContext(ctx, "GET", sc.url, nil)
			res, err := garbage.Do(req)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return err
		}); err != nil {
			return last, "", err
		}
		if last, err = sc.scrape(ctx); err != nil {
			return last, "", err
		}
	}
	garbage.CloseIdleConnections()

	// A connection the server has just seen close ends its goroutine a moment later, River polls
	// (taking a connection) every ENTITLED_JOB_POLL_INTERVAL, and each letter still queued runs
	// on a goroutine of its own: the snapshot takes the fewest goroutines and connections in use
	// over a window of scrapes, once the mail queue is empty. A leaked goroutine or connection is
	// there in every scrape, so it is in the minimum too.
	const window = 8 // scrapes 250 ms apart
	for {
		var ss []metricsSnapshot
		for i := range window {
			if i > 0 {
				select {
				case <-ctx.Done():
					return metricsSnapshot{}, "", ctx.Err()
				case <-time.After(250 * time.Millisecond):
				}
			}
			s, err := sc.scrape(ctx)
			if err != nil {
				return s, "", err
			}
			ss = append(ss, s)
		}
		// The pool's figures from one scrape (the last with the fewest in use), so that open is
		// in use plus idle; the goroutines the fewest of any.
		s := ss[len(ss)-1]
		for _, o := range ss {
			if o.DBInUse <= s.DBInUse {
				g := min(s.Goroutines, o.Goroutines)
				s = o
				s.Goroutines = g
			}
			s.Goroutines = min(s.Goroutines, o.Goroutines)
		}
		if s.DBInUse == 0 && s.MailBusy == 0 && s.HookPending <= 0 {
			return s, "", nil
		}
		if time.Now().After(deadline) {
			return s, fmt.Sprintf("not at rest after %s: goroutines %v, database connections in use %d, letters queued or sending %d, webhook deliveries pending %d",
				timeout, goroutinesOf(ss), s.DBInUse, s.MailBusy, s.HookPending), nil
		}
	}
}

func goroutinesOf(ss []metricsSnapshot) []int64 {
	out := make([]int64, len(ss))
	for i, s := range ss {
		out[i] = s.Goroutines
	}
	return out
}

// soakReport is what a soak measured and found.
type soakReport struct {
	Dialect     string
	Connections int
	Warmup      time.Duration
	Elapsed     time.Duration // of the soak proper
	Mix         []soakOp
	WarmupKinds []kindStats
	Kinds       []kindStats
	Timeline    timeline        // the soak's p99 over time
	Hooks       hookTally       // what the soak's webhook receivers got
	Before      metricsSnapshot // at rest after the warm-up
	After       metricsSnapshot // at rest after the soak
	Limits      soakLimits
	ServerCPU   time.Duration
	RSSStart    int64
	RSSEnd      int64
	RSSPeak     int64
	Notes       []string // a settle that did not reach rest
	FirstErrors []string
	Failures    []string
}

// totals sums the classes of every kind.
func totals(kinds []kindStats) (requests int, c [classes]int, unexpected int) {
	for _, k := range kinds {
		requests += k.Requests
		unexpected += k.Unexpected
		for i := range classes {
			c[i] += k.Classes[i]
		}
	}
	return requests, c, unexpected
}

// heapBound is the most live heap the limits allow after the soak.
func (r *soakReport) heapBound() int64 {
	return r.Before.HeapLive + int64(float64(r.Before.HeapLive)*r.Limits.heapRatio) + r.Limits.heapSlack
}

// judge fills Failures: every way the soak may fail, each one line.
func (r *soakReport) judge() {
	r.Failures = nil
	fail := func(format string, a ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, a...)) }
	for _, ph := range []struct {
		name  string
		kinds []kindStats
	}{{"warm-up", r.WarmupKinds}, {"soak", r.Kinds}} {
		n, c, _ := totals(ph.kinds)
		if c[5] > 0 {
			fail("%s: %d of %d answers were 5xx", ph.name, c[5], n)
		}
		if c[0] > 0 {
			fail("%s: %d of %d requests got no answer (transport errors)", ph.name, c[0], n)
		}
		// Every request of the mix should succeed; a 4xx means the server (or the mix) changed
		// what it answers under load, e.g. a conflict between concurrent writes.
		if _, _, u := totals(ph.kinds); u > c[5]+c[0] {
			fail("%s: %d answers were not what the request should get (first ones below)", ph.name, u-c[5]-c[0])
		}
	}
	if n, _, _ := totals(r.Kinds); n == 0 {
		fail("soak: no request was answered")
	}
	if d := r.After.Statuses[5] - r.Before.Statuses[5]; d > 0 {
		fail("the server counted %d 5xx answers during the soak (entitled_http_requests_total)", d)
	}
	if g := r.After.Goroutines - r.Before.Goroutines; g > int64(r.Limits.goroutineSlack) {
		fail("goroutines grew by %d (%d → %d), more than the slack of %d", g, r.Before.Goroutines, r.After.Goroutines, r.Limits.goroutineSlack)
	}
	if !r.Before.HasLive || !r.After.HasLive {
		fail("the server's /metrics has no go_gc_heap_live_bytes: is it older than the soak?")
	} else if r.After.HeapLive > r.heapBound() {
		fail("the live heap grew from %s to %s MiB, beyond the bound of %s MiB", fmtMiB(r.Before.HeapLive), fmtMiB(r.After.HeapLive), fmtMiB(r.heapBound()))
	}
	if !r.After.HasDB {
		fail(`the server's /metrics has no go_sql_*{db_name="entitled"}: is it older than the soak?`)
	} else if r.After.DBInUse > 0 {
		fail("%d database connections still in use after the load", r.After.DBInUse)
	}
	if r.Hooks.Endpoints > 0 {
		switch {
		case r.After.HookPending != 0:
			fail("%d webhook deliveries still pending at rest", r.After.HookPending)
		case r.After.HookFailed+r.After.HookRetry > 0:
			fail("webhook attempts that failed: %d (retried %d, given up %d); the receivers answer 204", r.After.HookFailed+r.After.HookRetry, r.After.HookRetry, r.After.HookFailed)
		case int64(r.Hooks.Received) != r.After.HookSucceeded:
			fail("the receivers got %d deliveries, the server counts %d succeeded attempts", r.Hooks.Received, r.After.HookSucceeded)
		case r.Hooks.Events == 0:
			fail("no webhook event reached the receivers")
		}
	}
	for _, n := range r.Notes {
		fail("%s", n)
	}
}

// format renders the report: the answers by kind and class, the server before and after, and
// the verdict.
func (r *soakReport) format() string {
	var b strings.Builder
	var mix []string
	total := 0
	for _, op := range r.Mix {
		total += op.weight
	}
	for _, op := range r.Mix {
		mix = append(mix, fmt.Sprintf("%s %d%%", op.name, (100*op.weight+total/2)/total))
	}
	fmt.Fprintf(&b, "soak: %s, %d connections, %s (after a %s warm-up); mix of actions: %s\n\n",
		r.Dialect, r.Connections, r.Elapsed.Round(100*time.Millisecond), r.Warmup, strings.Join(mix, ", "))

	cells := [][]string{{"kind", "requests", "2xx", "3xx", "4xx", "5xx", "no answer", "unexpected", "p50", "p99"}}
	row := func(name string, n int, c [classes]int, unexpected int, p50, p99 string) {
		cells = append(cells, []string{name, strconv.Itoa(n), strconv.Itoa(c[2]), strconv.Itoa(c[3]), strconv.Itoa(c[4]),
			strconv.Itoa(c[5]), strconv.Itoa(c[0]), strconv.Itoa(unexpected), p50, p99})
	}
	for _, k := range r.Kinds {
		row(k.Name, k.Requests, k.Classes, k.Unexpected, fmtMs(k.P50), fmtMs(k.P99))
	}
	n, c, u := totals(r.Kinds)
	rate := "-"
	if r.Elapsed > 0 {
		rate = fmt.Sprintf("%.0f/s", float64(n)/r.Elapsed.Seconds())
	}
	row("all", n, c, u, rate, "")
	b.WriteString(alignTable(cells))

	fmt.Fprintf(&b, "\nserver, at rest     after warm-up  after soak  change  limit\n")
	line := func(what string, before, after int64, change, limit string) {
		fmt.Fprintf(&b, "%-20s%13d%12d%8s  %s\n", what, before, after, change, limit)
	}
	line("goroutines", r.Before.Goroutines, r.After.Goroutines, signed(r.After.Goroutines-r.Before.Goroutines), fmt.Sprintf("≤ +%d", r.Limits.goroutineSlack))
	mib := func(what string, before, after int64, limit string) {
		fmt.Fprintf(&b, "%-20s%13s%12s%8s  %s\n", what, fmtMiB(before), fmtMiB(after), fmt.Sprintf("%+.1f", float64(after-before)/(1<<20)), limit)
	}
	mib("heap live MiB", r.Before.HeapLive, r.After.HeapLive, fmt.Sprintf("≤ %s (before + %.0f%% + %s)", fmtMiB(r.heapBound()), 100*r.Limits.heapRatio, fmtMiB(r.Limits.heapSlack)))
	mib("heap in use MiB", r.Before.HeapInuse, r.After.HeapInuse, "(not judged: holds unswept garbage)")
	line("db open", r.Before.DBOpen, r.After.DBOpen, signed(r.After.DBOpen-r.Before.DBOpen), fmt.Sprintf("(pool max %d)", r.After.DBMaxOpen))
	line("db in use", r.Before.DBInUse, r.After.DBInUse, signed(r.After.DBInUse-r.Before.DBInUse), "= 0")
	line("db idle", r.Before.DBIdle, r.After.DBIdle, signed(r.After.DBIdle-r.Before.DBIdle), "")
	line("db waits (total)", r.Before.DBWaits, r.After.DBWaits, signed(r.After.DBWaits-r.Before.DBWaits), "(for a free connection)")
	line("mail queue busy", r.Before.MailBusy, r.After.MailBusy, signed(r.After.MailBusy-r.Before.MailBusy), "(letters queued or sending)")
	line("GC cycles (total)", r.Before.GCs, r.After.GCs, signed(r.After.GCs-r.Before.GCs), "")
	line("server 5xx (total)", r.Before.Statuses[5], r.After.Statuses[5], signed(r.After.Statuses[5]-r.Before.Statuses[5]), "+0")
	line("webhooks pending", r.Before.HookPending, r.After.HookPending, signed(r.After.HookPending-r.Before.HookPending), "= 0")
	fmt.Fprintf(&b, "server CPU in the soak %s; RSS %s → %s MiB (peak %s)\n", r.ServerCPU.Round(10*time.Millisecond), fmtMiB(r.RSSStart), fmtMiB(r.RSSEnd), fmtMiB(r.RSSPeak))
	if len(r.Timeline.P99) > 0 {
		fmt.Fprintf(&b, "latency over the soak, every request: %s\n", r.Timeline)
	}
	if r.Hooks.Endpoints > 0 {
		fmt.Fprintf(&b, "webhooks (warm-up and soak): %d endpoints received %d deliveries of %d events (%d repeats); the server counts %d succeeded, %d retried, %d failed attempts\n",
			r.Hooks.Endpoints, r.Hooks.Received, r.Hooks.Events, r.Hooks.Duplicates, r.After.HookSucceeded, r.After.HookRetry, r.After.HookFailed)
	}

	if len(r.FirstErrors) > 0 {
		b.WriteString("\nfirst unexpected answers:\n")
		for _, l := range r.FirstErrors {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	if len(r.Failures) == 0 {
		b.WriteString("\nsoak passed\n")
	} else {
		b.WriteString("\nsoak FAILED:\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	return b.String()
}

func signed(n int64) string { return fmt.Sprintf("%+d", n) }

// soakErr is the error a failed soak returns.
type soakErr struct{ failures []string }

func (e *soakErr) Error() string { return "soak failed: " + strings.Join(e.failures, "; ") }

// runSoak warms up with the mix, lets the server come to rest and takes its snapshot, runs the
// mix for o.duration, lets it rest again and compares. It returns the report (also when it
// fails, with the reasons in Failures) and a *soakErr when the soak failed.
func runSoak(ctx context.Context, o options, srv *server, d *dataset, a *api, dialect string, limits soakLimits, logf func(string, ...any)) (*soakReport, error) {
	ops, err := soakMix(ctx, d, a, logf)
	if err != nil {
		return nil, err
	}
	r := &soakReport{Dialect: dialect, Connections: o.connections, Warmup: o.warmup, Mix: ops, Limits: limits}
	hooks, err := startSoakHooks(ctx, a, d.staffToken, 2)
	if err != nil {
		return nil, err
	}
	defer hooks.close()
	sc := &scraper{url: srv.base + "/metrics", client: newClient(1, 10*time.Second)}
	defer sc.client.CloseIdleConnections()
	errs := &errorLog{max: 8}
	// Letters queued during the load are still being delivered when it stops; at rest means
	// after them.
	const settleTimeout = 60 * time.Second

	client := newClient(o.connections, o.timeout)
	if o.warmup > 0 {
		logf("soak: warm-up %s with %d connections", o.warmup, o.connections)
		r.WarmupKinds, _, _ = runMix(ctx, client, o.connections, o.warmup, ops, "warm-up", errs, logf)
	}
	client.CloseIdleConnections()
	before, note, err := settle(ctx, sc, settleTimeout)
	if err != nil {
		return nil, fmt.Errorf("settle after the warm-up: %w", err)
	}
	if note != "" {
		r.Notes = append(r.Notes, "after the warm-up: "+note)
	}
	r.Before = before
	logf("soak: at rest: %d goroutines, live heap %s MiB, %d database connections open, %d in use", before.Goroutines, fmtMiB(before.HeapLive), before.DBOpen, before.DBInUse)

	logf("soak: %s with %d connections", o.duration, o.connections)
	sampler := startRSSSampler(srv)
	cpu0, _ := srv.cpu()
	r.Kinds, r.Elapsed, r.Timeline = runMix(ctx, client, o.connections, o.duration, ops, "soak", errs, logf)
	if cpu1, err := srv.cpu(); err == nil && cpu0 > 0 {
		r.ServerCPU = cpu1 - cpu0
	}
	r.RSSStart, r.RSSEnd, r.RSSPeak = sampler.stop()
	client.CloseIdleConnections()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if !srv.alive() {
		return nil, fmt.Errorf("the server died during the soak; its log:\n%s", tail(srv.logPath, 30))
	}
	after, note, err := settle(ctx, sc, settleTimeout)
	if err != nil {
		return nil, fmt.Errorf("settle after the soak: %w", err)
	}
	if note != "" {
		r.Notes = append(r.Notes, "after the soak: "+note)
	}
	r.After = after
	r.Hooks = hooks.tally()
	r.FirstErrors = errs.list()
	r.judge()
	if len(r.Failures) > 0 {
		return r, &soakErr{r.Failures}
	}
	return r, nil
}
