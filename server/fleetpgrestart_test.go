package main

// Issue 25, a fleet under faults: PostgreSQL is restarted while three replicas serve check and
// token load. No answer is a 500 (503 "unavailable" while it is away), every replica is ready
// again within 2 s of PostgreSQL accepting connections, and each replica's LISTEN connection is
// back: a change made through one replica afterwards reaches the others within the fleet bound.

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fleetReadyBound is how soon after PostgreSQL accepts connections again every replica must say
// it is ready.
const fleetReadyBound = 2 * time.Second

// fleetNoticeBound is a generous bound for a change to reach every replica by notice: far below
// the caches' TTLs, so that a listener still away would be seen.
const fleetNoticeBound = 500 * time.Millisecond

func TestPostgreSQLRestartedUnderAFleetOfThree(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("restarts a private PostgreSQL under three replicas")
	}
	pg := newPGCluster(t)
	sink, setups := fleetSetups(t, 3, pg.URL())
	ordersKey := prepareFleetDB(t, setups[0])
	replicas := startReplicas(t, setups...)
	proxy := newFleetProxy(t, replicas)
	a, b := replicas[0], replicas[1]
	root := replicaLogin(t, a, "root@vendor.test")
	ln, admin := proxy.licenseWithAdmin(t, sink, a, b, root, ordersKey, "Restart", "pgrestart.test")

	// The load: check (support) and token requests, each to the next replica, 4 at a time.
	type answer struct {
		what   string
		status int
		body   string
	}
	var mu sync.Mutex
	var answers []answer
	var stop atomic.Bool
	var sent atomic.Uint64
	var load sync.WaitGroup
	for range 4 {
		load.Go(func() {
			for !stop.Load() {
				n := sent.Add(1)
				p := replicas[n%uint64(len(replicas))]
				var a answer
				if n%2 == 0 {
					a.what = "check"
					a.status, a.body = replicaDo(p, "GET", "/v1/licenses/"+ln+"/support", admin.session, nil)
				} else {
					a.what = "token"
					a.status, a.body = replicaDo(p, "POST", "/v1/entitlements/token", admin.session, map[string]any{"license_number": ln, "audience": "kb"})
				}
				mu.Lock()
				answers = append(answers, a)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	time.Sleep(time.Second)
	if err := pg.stop("fast"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := pg.start(); err != nil {
		t.Fatal(err)
	}
	pgUp := time.Now()
	// ready: /readyz answers 200; listening: it also says the change notices are connected.
	ready := make([]time.Duration, len(replicas))
	listening := make([]time.Duration, len(replicas))
	var readyWait sync.WaitGroup
	for i, p := range replicas {
		readyWait.Go(func() {
			client := &http.Client{Timeout: time.Second}
			for time.Since(pgUp) < 30*time.Second {
				if res, err := client.Get(p.URL() + "/readyz"); err == nil {
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode == http.StatusOK && ready[i] == 0 {
						ready[i] = time.Since(pgUp)
					}
					if res.StatusCode == http.StatusOK && strings.Contains(string(body), `"change_notices":"connected"`) {
						listening[i] = time.Since(pgUp)
						return
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			ready[i], listening[i] = -1, -1
		})
	}
	readyWait.Wait()
	time.Sleep(time.Second) // load with the database back
	stop.Store(true)
	load.Wait()
	for i := range replicas {
		if d := ready[i]; d < 0 || d > fleetReadyBound {
			t.Errorf("replica %c ready %v after PostgreSQL accepted connections, want within %v", 'A'+i, d, fleetReadyBound)
		}
		if d := listening[i]; d < 0 || d > fleetReadyBound {
			t.Errorf("replica %c's change notices connected again %v after PostgreSQL accepted connections, want within %v", 'A'+i, d, fleetReadyBound)
		}
	}

	counts := map[string]map[int]int{}
	for _, a := range answers {
		if counts[a.what] == nil {
			counts[a.what] = map[int]int{}
		}
		counts[a.what][a.status]++
		if a.status != http.StatusOK && a.status != http.StatusCreated &&
			(a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, `"code":"unavailable"`)) {
			t.Errorf("%s answered %d while PostgreSQL restarted: %s", a.what, a.status, a.body)
		}
	}
	if counts["check"][http.StatusServiceUnavailable]+counts["token"][http.StatusServiceUnavailable] == 0 {
		t.Logf("no request met the outage (the caches answered every check and token): %v", counts)
	}

	// The LISTEN connections are back: a logout through one replica is refused by every one.
	session := replicaLogin(t, a, "root@vendor.test")
	seen := proxy.seenByAll(t, "logout after the restart", func() {
		proxy.api(t, "POST", "/v1/auth/logout", session, nil, nil, http.StatusNoContent)
	}, "GET", "/v1/me", session, http.StatusUnauthorized)
	// With every listener back, a change is seen at once (the fleet's target is 100 ms; a cache's
	// TTL, the fallback without notices, is 30 s).
	if seen > fleetNoticeBound {
		t.Errorf("after the restart a logout took %v to reach every replica, want within %v: the change notices are not back", seen, fleetNoticeBound)
	}
	t.Logf("PostgreSQL restarted (fast stop, 3 s down) under check and token load on 3 replicas: answers %v; ready again after %v, notices connected after %v; a logout reached every replica %v after it returned",
		counts, ready, listening, seen)
}
