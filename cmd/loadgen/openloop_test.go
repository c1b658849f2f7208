package main

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A stall of the server shows in the latency of every request that was meant to be sent during
// it (no coordinated omission): with one connection and a 300 ms stall at 100 req/s, some thirty
// requests wait, each measured from its intended send time, not from when it got a connection.
func TestRunOpenPhase_AStallCountsForEveryRequestMeantDuringIt(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 5 {
			time.Sleep(300 * time.Millisecond)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	client := srv.Client()
	next := func() (*http.Request, bool) {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		return req, true
	}
	m := runOpenPhase(context.Background(), client, 1, 100, false, time.Second, next, "measured", &errorLog{max: 5})
	// Steady arrivals at 100/s in a 1 s window: 99 intended sends after the start, every one counted.
	if len(m.lat) != 99 || m.errors != 0 {
		t.Fatalf("%d requests, %d errors; want all 99 meant for the window", len(m.lat), m.errors)
	}
	slow := 0
	for _, l := range m.lat {
		if l >= 100*time.Millisecond {
			slow++
		}
	}
	// Those meant for the stall's first 200 ms waited at least 100 ms each: some 20 of them.
	if slow < 15 || m.late < 15 {
		t.Errorf("%d requests measured ≥ 100 ms and %d sent late; a 300 ms stall at 100/s holds up about 30", slow, m.late)
	}
}

func TestRunOpenPhase_StopsWhenTheScenarioRunsOut(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	left := 10
	next := func() (*http.Request, bool) {
		if left == 0 {
			return nil, false
		}
		left--
		req, _ := http.NewRequest("GET", srv.URL, nil)
		return req, true
	}
	m := runOpenPhase(context.Background(), srv.Client(), 4, 1000, true, 10*time.Second, next, "measured", &errorLog{max: 5})
	if !m.ranOut || len(m.lat) != 10 || m.elapsed >= 10*time.Second {
		t.Errorf("ran out %v after %d requests in %s; want the 10 there were, and the window cut short", m.ranOut, len(m.lat), m.elapsed)
	}
}

// Poisson arrivals have the rate's mean gap; steady ones are exactly it.
func TestArrivalGaps(t *testing.T) {
	if g := arrivalGaps(250, false, nil)(); g != 4*time.Millisecond {
		t.Errorf("steady gap at 250/s = %s, want 4ms", g)
	}
	gap := arrivalGaps(250, true, rand.New(rand.NewPCG(1, 2)))
	var sum time.Duration
	const n = 20000
	for range n {
		sum += gap()
	}
	if mean := sum / n; mean < 3800*time.Microsecond || mean > 4200*time.Microsecond {
		t.Errorf("Poisson mean gap at 250/s = %s, want about 4ms", mean)
	}
}

func TestParseOptions_OpenLoop(t *testing.T) {
	o, err := parseOptions([]string{"--load", "0.25, 0.5,0.75", "--arrivals", "poisson"}, &strings.Builder{})
	if err != nil || len(o.loads) != 3 || o.loads[1] != 0.5 || !o.poisson {
		t.Errorf("--load 0.25,0.5,0.75 --arrivals poisson: %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"--load", "half"}, {"--load", "0"}, {"--arrivals", "bursty"}, {"--rate", "100", "--load", "0.5"}, {"--rate", "-1"}} {
		if _, err := parseOptions(bad, &strings.Builder{}); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}

func TestFormatLatencyTable(t *testing.T) {
	got := formatLatencyTable([]latencyRow{
		{Name: "bare gin", Offered: 1000, Requests: 2000, Elapsed: 2 * time.Second, P50: ms(0.3), P99: ms(1), P999: ms(2), Max: ms(3)},
		{Name: "token", Skipped: "not built yet"},
	})
	want := "scenario  offered/s  done/s      p50      p99    p99.9      max  errors  sent late\n" +
		"bare gin       1000    1000  0.30 ms  1.00 ms  2.00 ms  3.00 ms       0   0 (0.0%)\n" +
		"token     not built yet\n"
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}
