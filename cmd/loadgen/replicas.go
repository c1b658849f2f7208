package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// fleet is the servers a scenario drives: one, or with --replicas N, N processes of the same
// binary on one PostgreSQL database, which the harness itself spreads requests over round-robin
// (as a load balancer would), so that their aggregate rate and each one's CPU can be measured.
type fleet []*server

// startReplicas starts n-1 more servers beside first, each on its own loopback port with the same
// settings (the same database, ENTITLED_BASE_URL and secret: one service behind one name).
func startReplicas(ctx context.Context, first *server, bin string, settings map[string]string, n int, dir string) (fleet, error) {
	f := fleet{first}
	for i := 2; i <= n; i++ {
		addr, err := freeLoopbackAddr()
		if err != nil {
			f[1:].stop()
			return nil, err
		}
		s := make(map[string]string, len(settings))
		for k, v := range settings {
			s[k] = v
		}
		s["ENTITLED_ADDR"] = addr
		delete(s, "ENTITLED_PPROF_ADDR") // the first server is the one profiled
		srv, err := startServer(ctx, bin, serverEnv(s), addr, filepath.Join(dir, fmt.Sprintf("server-%d.log", i)))
		if err != nil {
			f[1:].stop()
			return nil, err
		}
		f = append(f, srv)
	}
	return f, nil
}

// stop stops every server of the fleet.
func (f fleet) stop() {
	for _, s := range f {
		s.stop()
	}
}

// dead is the first server of the fleet that is not running, or nil.
func (f fleet) dead() *server {
	for _, s := range f {
		if !s.alive() {
			return s
		}
	}
	return nil
}

// cpu is each server's CPU time so far (0 where it cannot be read).
func (f fleet) cpu() []time.Duration {
	out := make([]time.Duration, len(f))
	for i, s := range f {
		out[i], _ = s.cpu()
	}
	return out
}

// roundRobin sends each next request of s to the next server of the fleet in turn (the
// scenarios build their requests for the first one).
func (f fleet) roundRobin(s *scenario) *scenario {
	if len(f) < 2 {
		return s
	}
	hosts := make([]string, len(f))
	for i, srv := range f {
		hosts[i] = strings.TrimPrefix(srv.base, "http://")
	}
	var n atomic.Uint64
	out := *s
	out.next = func() (*http.Request, bool) {
		req, ok := s.next()
		if ok {
			req.URL.Host = hosts[(n.Add(1)-1)%uint64(len(hosts))]
			req.Host = req.URL.Host
		}
		return req, ok
	}
	return &out
}

// cpuNote says how the window's server CPU was spread over the replicas.
func cpuNote(before, after []time.Duration) string {
	if len(before) < 2 {
		return ""
	}
	parts := make([]string, len(before))
	for i := range before {
		parts[i] = fmt.Sprintf("%.2fs", (after[i] - before[i]).Seconds())
	}
	return "server CPU by replica: " + strings.Join(parts, ", ")
}
