package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// fanoutEndpoints is how many local receivers --fanout registers, each for every event.
const fanoutEndpoints = 4

// runFanout is --fanout N (issue #24, webhooks): the entitlement check is offered open-loop at a
// fraction of bare Gin's capacity (--load, 0.5 by default) while an order system places N orders
// 8 at a time, each an order.created event for 4 endpoints on local receivers that answer 204.
// It reports how long the N orders took to commit, how long after the first order every one of
// the 4N deliveries was received (and after the last commit), the repeats, and the check's
// latency over the same window beside its latency at the same rate with no burst.
func runFanout(ctx context.Context, o options, servers fleet, scenarios map[string]*scenario, d *dataset, a *api, bare result, stdout io.Writer, logf func(string, ...any)) error {
	load := 0.5
	if len(o.loads) > 0 {
		load = o.loads[0]
	}
	rate := load * bare.RPS()
	check := servers.roundRobin(scenarios["check"])
	if skip := check.ready(ctx); skip != "" {
		return fmt.Errorf("the check scenario cannot run: %s", skip)
	}
	hooks, err := startSoakHooks(ctx, a, d.staffToken, fanoutEndpoints)
	if err != nil {
		return err
	}
	defer hooks.close()

	client := newClient(o.connections, o.timeout)
	defer client.CloseIdleConnections()
	errs := &errorLog{max: 5}
	logf("fanout: check at %.0f req/s (%.0f%% of bare Gin's %.0f) for %s with no burst", rate, 100*load, bare.RPS(), o.duration)
	runOpenPhase(ctx, client, o.connections, rate, o.poisson, o.warmup, check.next, "warm-up", errs)
	quiet := latencyRow{Name: "check, no burst", Offered: rate}
	quiet.summarize(runOpenPhase(ctx, client, o.connections, rate, o.poisson, o.duration, check.next, "no burst", errs))

	// The check runs until every delivery is in (at most 3 minutes); the burst starts a second in.
	checkCtx, stopCheck := context.WithCancel(ctx)
	defer stopCheck()
	var during openResult
	var checkDone sync.WaitGroup
	checkDone.Add(1)
	checkStart := time.Now()
	go func() {
		defer checkDone.Done()
		during = runOpenPhase(checkCtx, client, o.connections, rate, o.poisson, 3*time.Minute, check.next, "during the burst", errs)
	}()
	time.Sleep(time.Second)

	want := fanoutEndpoints * o.fanout
	logf("fanout: %d orders, 8 at a time, to %d endpoints", o.fanout, fanoutEndpoints)
	first := time.Now()
	item := map[string]any{"sku": d.sku, "quantity": 1, "kind": "perpetual"}
	orderErr := parallel(ctx, o.fanout, 8, func(ctx context.Context, _ int) error {
		_, err := d.order(ctx, a, []map[string]any{item})
		return err
	})
	committed := time.Since(first)
	if orderErr != nil {
		stopCheck()
		checkDone.Wait()
		return fmt.Errorf("placing the orders: %w", orderErr)
	}
	var drained time.Duration
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if t := hooks.tally(); t.Events >= want {
			drained = time.Since(first)
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(time.Second) // the check runs a moment past the end of the burst
	stopCheck()
	checkDone.Wait()
	busy := latencyRow{Name: "check, during the burst", Offered: rate}
	during.elapsed = time.Since(checkStart)
	busy.summarize(during)

	t := hooks.tally()
	fmt.Fprintf(stdout, "fanout: %d orders (one order.created each) to %d endpoints = %d deliveries; check offered %.0f req/s (%.0f%% of bare Gin's closed-loop %.0f)\n",
		o.fanout, fanoutEndpoints, want, rate, 100*load, bare.RPS())
	fmt.Fprintf(stdout, "orders committed in %s (8 at a time)\n", committed.Round(time.Millisecond))
	if drained > 0 {
		fmt.Fprintf(stdout, "every delivery received %s after the first order, %s after the last commit (%.0f deliveries/s)\n",
			drained.Round(time.Millisecond), (drained - committed).Round(time.Millisecond), float64(want)/drained.Seconds())
	} else {
		fmt.Fprintf(stdout, "NOT DRAINED: %d of %d events received 2 minutes after the last commit\n", t.Events, want)
	}
	fmt.Fprintf(stdout, "received %d deliveries of %d events, %d repeats\n\n%s", t.Received, t.Events, t.Duplicates, formatLatencyTable([]latencyRow{quiet, busy}))
	if lines := errs.list(); len(lines) > 0 {
		fmt.Fprintf(stdout, "first errors:\n  %s\n", strings.Join(lines, "\n  "))
	}
	if drained == 0 {
		return fmt.Errorf("%d of %d deliveries received", t.Events, want)
	}
	return nil
}
