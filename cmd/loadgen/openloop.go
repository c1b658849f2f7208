package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Open-loop load: requests arrive at a fixed rate whatever the server does, and each one's latency
// is measured from the moment it was meant to be sent. A closed loop at saturation measures the
// queue it builds itself, and a slow answer there delays the requests behind it, which are then
// never sent late: "coordinated omission". Here a stall shows in the latency of every request that
// should have gone out during it.

// openResult is one open-loop run: the latencies (from the intended send time to the end of the
// answer) of every request meant to be sent inside the window, how many failed, and how many of
// them left late because every connection was busy.
type openResult struct {
	lat     []time.Duration
	errors  int
	late    int // sent more than a millisecond after their intended time
	elapsed time.Duration
	ranOut  bool
}

// arrivalGaps returns the wait before each next arrival at rate per second: constant, or
// exponentially distributed (a Poisson process) with the same mean.
func arrivalGaps(rate float64, poisson bool, rng *rand.Rand) func() time.Duration {
	mean := float64(time.Second) / rate
	if !poisson {
		return func() time.Duration { return time.Duration(mean) }
	}
	return func() time.Duration { return time.Duration(rng.ExpFloat64() * mean) }
}

// runOpenPhase sends requests at rate per second for d, on at most maxInFlight connections at
// once. A request whose time comes while all are busy waits for one, and that wait counts in its
// latency. Every request meant for the window is waited for and counted.
func runOpenPhase(ctx context.Context, client *http.Client, maxInFlight int, rate float64, poisson bool, d time.Duration, next nextFunc, phase string, errs *errorLog) openResult {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	gap := arrivalGaps(rate, poisson, rng)
	slots := make(chan struct{}, maxInFlight)
	var (
		mu  sync.Mutex
		out openResult
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	intended := start
	for ctx.Err() == nil {
		intended = intended.Add(gap())
		if !intended.Before(deadline) {
			break
		}
		if wait := time.Until(intended); wait > 0 {
			time.Sleep(wait)
		}
		req, ok := next()
		if !ok {
			out.ranOut = true
			deadline = time.Now()
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		go func(req *http.Request, intended time.Time) {
			defer func() { <-slots; wg.Done() }()
			late := time.Since(intended) > time.Millisecond
			status, body, err := send(client, req)
			lat := time.Since(intended)
			mu.Lock()
			defer mu.Unlock()
			out.lat = append(out.lat, lat)
			if late {
				out.late++
			}
			if err != nil || status < 200 || status > 299 {
				out.errors++
				errs.add(phase, describeFailure(req, status, body, err))
			}
		}(req, intended)
	}
	wg.Wait()
	out.elapsed = deadline.Sub(start)
	return out
}

// send makes one request and reads its whole answer.
func send(client *http.Client, req *http.Request) (int, []byte, error) {
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	var body bytes.Buffer
	_, err = io.Copy(&body, res.Body)
	return res.StatusCode, body.Bytes(), err
}

// latencyRow is what one scenario measured at one offered rate.
type latencyRow struct {
	Name                   string
	Skipped                string
	Offered                float64 // req/s asked for
	Requests, Errors, Late int
	Elapsed                time.Duration
	P50, P99, P999, Max    time.Duration
	Note                   string
	FirstErrorLines        []string
}

func (r *latencyRow) summarize(m openResult) {
	slices.Sort(m.lat)
	r.Requests, r.Errors, r.Late, r.Elapsed = len(m.lat), m.errors, m.late, m.elapsed
	r.P50, r.P99, r.P999 = percentile(m.lat, 0.50), percentile(m.lat, 0.99), percentile(m.lat, 0.999)
	if len(m.lat) > 0 {
		r.Max = m.lat[len(m.lat)-1]
	}
	if m.ranOut {
		r.Note = joinNotes(r.Note, fmt.Sprintf("ran out of requests to send after %s", m.elapsed.Round(time.Millisecond)))
	}
}

// measureOpen runs one scenario open-loop at rate: prepare, an open-loop warm-up at the same
// rate, the top-up, then the measured window.
func measureOpen(ctx context.Context, o options, s *scenario, servers fleet, rate float64, logf func(string, ...any)) latencyRow {
	r := latencyRow{Name: s.name, Offered: rate}
	if r.Skipped = s.ready(ctx); r.Skipped != "" {
		return r
	}
	client := newClient(o.connections, o.timeout)
	defer client.CloseIdleConnections()
	errs := &errorLog{max: 5}
	logf("%s: %.0f req/s open-loop, warm-up %s, then %s measured", s.name, rate, o.warmup, o.duration)
	if o.warmup > 0 {
		w := runOpenPhase(ctx, client, o.connections, rate, o.poisson, o.warmup, s.next, "warm-up", errs)
		warm := phaseResult{lat: w.lat, elapsed: w.elapsed, ranOut: w.ranOut}
		if r.Note, r.Skipped = s.warmedUp(ctx, warm, o.duration); r.Skipped != "" {
			return r
		}
	}
	cpu0 := servers.cpu()
	m := runOpenPhase(ctx, client, o.connections, rate, o.poisson, o.duration, s.next, "measured", errs)
	r.Note = joinNotes(r.Note, cpuNote(cpu0, servers.cpu()))
	r.summarize(m)
	r.FirstErrorLines = errs.list()
	return r
}

// formatLatencyTable renders one load level's rows: offered and achieved rate, the latency
// percentiles from the intended send time, errors, and how many requests left late.
func formatLatencyTable(rows []latencyRow) string {
	header := []string{"scenario", "offered/s", "done/s", "p50", "p99", "p99.9", "max", "errors", "sent late"}
	cells := [][]string{header}
	for _, r := range rows {
		if r.Skipped != "" {
			cells = append(cells, []string{r.Name, r.Skipped})
			continue
		}
		done := 0.0
		if r.Elapsed > 0 {
			done = float64(r.Requests) / r.Elapsed.Seconds()
		}
		late := fmt.Sprintf("%d", r.Late)
		if r.Requests > 0 {
			late = fmt.Sprintf("%d (%.1f%%)", r.Late, 100*float64(r.Late)/float64(r.Requests))
		}
		cells = append(cells, []string{r.Name, fmt.Sprintf("%.0f", r.Offered), fmt.Sprintf("%.0f", done),
			fmtMs(r.P50), fmtMs(r.P99), fmtMs(r.P999), fmtMs(r.Max), fmt.Sprintf("%d", r.Errors), late})
	}
	return alignTable(cells) + tableNotes(rows, func(r latencyRow) (string, string) { return r.Name, r.Note })
}

// openLoopTables measures every scenario open-loop, bare Gin first, at --rate or at each --load
// fraction of bare Gin's closed-loop capacity (base), and prints one latency table per rate.
func openLoopTables(ctx context.Context, o options, servers fleet, scenarios map[string]*scenario, ginBase string, base result, stdout io.Writer, logf func(string, ...any)) error {
	type level struct {
		name string
		rate float64
	}
	var levels []level
	if o.rate > 0 {
		levels = []level{{fmt.Sprintf("%.0f req/s", o.rate), o.rate}}
	}
	for _, f := range o.loads {
		levels = append(levels, level{fmt.Sprintf("%.0f%% of bare Gin's capacity (%.0f req/s)", 100*f, f*base.RPS()), f * base.RPS()})
	}
	arrivals := "steady"
	if o.poisson {
		arrivals = "Poisson"
	}
	fmt.Fprintf(stdout, "bare Gin closed-loop capacity: %.0f req/s; open loop, %s arrivals, at most %d requests in flight; latency from each request's intended send time\n",
		base.RPS(), arrivals, o.connections)
	for _, l := range levels {
		rows := []latencyRow{measureOpen(ctx, o, bareGinScenario(ginBase), nil, l.rate, logf)}
		rows[0].Name = "bare gin"
		for _, name := range o.scenarios {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if s := servers.dead(); s != nil {
				return fmt.Errorf("a server died before %s; its log:\n%s", name, tail(s.logPath, 30))
			}
			rows = append(rows, measureOpen(ctx, o, servers.roundRobin(scenarios[name]), servers, l.rate, logf))
		}
		fmt.Fprintf(stdout, "\n%s:\n%s", l.name, formatLatencyTable(rows))
		for _, r := range rows {
			if len(r.FirstErrorLines) > 0 {
				fmt.Fprintf(stdout, "first errors of %s:\n  %s\n", r.Name, strings.Join(r.FirstErrorLines, "\n  "))
			}
		}
	}
	fmt.Fprintf(stdout, "load average at the end: %s\n", loadAverage())
	return ctx.Err()
}
