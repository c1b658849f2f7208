package main

// Issue 25, a fleet under faults: three replicas on one PostgreSQL database while one of them is
// killed in the middle of a burst (SIGKILL), while the leader is stopped for 30 s (SIGSTOP), and
// while PostgreSQL itself restarts under them. fleetproc_test.go has what they set up alike.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"entitled/models"
)

const (
	fleetKillOrders    = 1000
	fleetKillClients   = 8
	fleetKillEndpoints = 4
	fleetKillAt        = 300 // orders committed when the replica is killed
)

// Three replicas on one PostgreSQL database take a burst of 1,000 orders (each a change with its
// webhook event for 4 endpoints and its letter to a primary contact) and one replica is killed with SIGKILL in the middle of it, then started again. The
// order system retries a failed request on the next replica with the same Idempotency-Key, as a
// client behind a load balancer does. Afterwards every event has reached every endpoint and
// every letter its contact; duplicates are counted and reported (an at-least-once delivery may
// repeat what the killed process was sending at the instant of its death).
func TestFleetReplicaKilledDuringABurstLosesNoEventOrLetter(t *testing.T) {
	slowTest(t, "a burst of 1,000 orders on three replicas")
	dbURL := postgresURL(t)
	sink, setups := fleetSetups(t, 3, dbURL)
	for i := range setups {
		setups[i].Addr = freeAddr(t) // fixed: a replica killed comes back on its address
	}
	mustCLI(t, setups[0], "", "migrate", "up")
	db := openDB(t, dbURL)
	key, _, sku := seedOrderSystem(t, setups[0], db)
	today := models.DateOf(time.Now())

	// start starts replica i and waits until it is healthy; it never fails the test itself, so
	// that the killer goroutine may call it.
	start := func(i int) (*process, error) {
		cmd := exec.Command(binary, "serve")
		cmd.Env = append(setups[i].processEnv(), allowLoopbackHooks, "ENTITLED_JOB_POLL_INTERVAL=200ms")
		p, err := spawn(t, setups[i], cmd)
		if err == nil {
			err = p.waitHealthy(startTimeout)
		}
		return p, err
	}
	replicas := make([]*process, len(setups))
	for i := range replicas {
		var err error
		if replicas[i], err = start(i); err != nil {
			t.Fatalf("replica %c: %v", 'A'+i, err)
		}
	}
	var received atomic.Int64
	receivers := newFanoutReceivers(t, fleetKillEndpoints, replicas[1].URL(), &received)

	// The burst. A client sends order i to replica i mod 3 and, when that replica does not answer
	// (refused, reset, or a 5xx), to the next one, with the order's own Idempotency-Key.
	var committed, retried, replayed, inProgress, placedByTheDead atomic.Int64
	client := &http.Client{Timeout: 30 * time.Second}
	place := func(i int) {
		body, _ := json.Marshal(map[string]any{"order_ref": fmt.Sprintf("PO-KILL-%04d", i),
			"account":         map[string]any{"name": fmt.Sprintf("Fleet Account %d", i)},
			"primary_contact": map[string]any{"name": "Pat Contact", "email": fmt.Sprintf("po%04d@fleet.test", i)},
			"items": []any{map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual",
				"support": map[string]any{"program": "standard", "ends_on": today.AddDays(365).String()}}}})
		for attempt := range 60 {
			req, _ := http.NewRequest("POST", "http://"+setups[(i+attempt)%len(setups)].Addr+"/v1/orders", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Idempotency-Key", "fleet-kill-"+strconv.Itoa(i))
			res, err := client.Do(req)
			wait := 100 * time.Millisecond
			if err == nil {
				answer, _ := io.ReadAll(res.Body)
				res.Body.Close()
				switch {
				case res.StatusCode == http.StatusCreated:
					committed.Add(1)
					if res.Header.Get("Idempotent-Replayed") == "true" {
						replayed.Add(1)
					}
					return
				case res.StatusCode == http.StatusConflict && strings.Contains(string(answer), `"code":"idempotency_in_progress"`):
					// The first attempt ran on the replica that was killed: its key is taken over
					// once that replica's heartbeat is stale; the answer says when to ask again.
					inProgress.Add(1)
					if s, _ := strconv.Atoi(res.Header.Get("Retry-After")); s > 0 {
						wait = time.Duration(s) * time.Second
					}
				case res.StatusCode == http.StatusConflict && strings.Contains(string(answer), `"code":"order_ref_taken"`):
					// The killed replica committed the order and died before it answered: the
					// repeat, taking the key over, finds the order already there.
					committed.Add(1)
					placedByTheDead.Add(1)
					return
				case res.StatusCode < 500:
					t.Errorf("order %d: %d %s", i, res.StatusCode, answer)
					return
				}
			}
			retried.Add(1)
			time.Sleep(wait)
		}
		t.Errorf("order %d: no replica took it in 60 attempts", i)
	}
	var killedPID int
	var downFor time.Duration
	var killer sync.WaitGroup
	killer.Go(func() {
		for committed.Load() < fleetKillAt {
			time.Sleep(5 * time.Millisecond)
		}
		killedPID = replicas[1].cmd.Process.Pid
		down := time.Now()
		_ = replicas[1].cmd.Process.Kill()
		<-replicas[1].exited
		time.Sleep(time.Second)
		var err error
		if replicas[1], err = start(1); err != nil { // the same address: the load balancer's target comes back
			t.Errorf("replica B did not come back: %v", err)
		}
		downFor = time.Since(down)
	})
	began := time.Now()
	refs := make(chan int)
	var wg sync.WaitGroup
	for range fleetKillClients {
		wg.Go(func() {
			for i := range refs {
				place(i)
			}
		})
	}
	for i := range fleetKillOrders {
		refs <- i
	}
	close(refs)
	wg.Wait()
	killer.Wait()
	burst := time.Since(began)
	if n := committed.Load(); n != fleetKillOrders {
		t.Fatalf("%d of %d orders committed", n, fleetKillOrders)
	}
	if n := replicaCount(t, db, `SELECT count(*) FROM orders WHERE order_ref LIKE 'PO-KILL-%'`); n != fleetKillOrders {
		t.Fatalf("%d orders stored, want %d (each once)", n, fleetKillOrders)
	}

	// What the killed process was working on stays "running" until River rescues it (after
	// RescueStuckJobsAfter, 5 minutes in production): made rescuable now, for its jobs only.
	if _, err := db.SQLDB().Exec(`UPDATE river_job SET attempted_at = attempted_at - interval '10 minutes'
		WHERE state = 'running' AND attempted_by[array_upper(attempted_by, 1)] LIKE $1`, fmt.Sprintf("%%_pid%d_%%", killedPID)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "every webhook delivery to be worked", func() bool {
		return replicaCount(t, db, hookJobsBusySQL) == 0
	})
	waitLettersSettled(t, db)

	var lostEvents, dupEvents int
	for i, r := range receivers {
		var endpoint int64
		if err := db.SQLDB().QueryRow(`SELECT id FROM webhook_endpoints WHERE url = $1`, r.srv.URL+"/hooks").Scan(&endpoint); err != nil {
			t.Fatal(err)
		}
		rows, err := db.SQLDB().Query(`SELECT DISTINCT event_id FROM webhook_deliveries WHERE endpoint_id = $1`, endpoint)
		if err != nil {
			t.Fatal(err)
		}
		events := 0
		r.mu.Lock()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			events++
			switch n := r.ids[id]; {
			case n == 0:
				lostEvents++
			case n > 1:
				dupEvents += n - 1
			}
		}
		r.mu.Unlock()
		rows.Close()
		if events < fleetKillOrders {
			t.Errorf("endpoint %d has %d events, want at least one per order (%d)", i+1, events, fleetKillOrders)
		}
	}
	var lostLetters, dupLetters int
	for i := range fleetKillOrders {
		switch n := len(sink.To(fmt.Sprintf("po%04d@fleet.test", i))); {
		case n == 0:
			lostLetters++
		case n > 1:
			dupLetters += n - 1
		}
	}
	if lostEvents > 0 || lostLetters > 0 {
		t.Errorf("lost: %d event deliveries, %d letters", lostEvents, lostLetters)
	}
	t.Logf("1 SIGKILL of 3 replicas after %d of %d orders (down %v, %d client retries, %d idempotent replays, %d answers 'in progress' while the dead replica's keys were held, %d orders the dead replica had committed); burst %v; "+
		"%d endpoints × %d orders: 0 lost, %d delivered twice; %d letters: %d lost, %d sent twice",
		fleetKillAt, fleetKillOrders, downFor.Round(time.Millisecond), retried.Load(), replayed.Load(), inProgress.Load(), placedByTheDead.Load(), burst.Round(time.Millisecond),
		fleetKillEndpoints, fleetKillOrders, dupEvents, fleetKillOrders, lostLetters, dupLetters)
}

// The leader stopped: the replica that leads River (and so runs the scheduled jobs)
// is stopped with SIGSTOP for 30 s, as a long GC pause, a frozen VM or a debugger would stop it.
// Another replica takes the lead and the scheduled jobs; the day still has exactly one notice
// pass; and when the stopped one resumes it does not run the pass again nor send anything twice.

// leaderStop is how long the leader stays stopped: longer than River's leadership lease, so that
// another replica is elected while it sleeps.
const leaderStop = 30 * time.Second

func TestLeaderStoppedForThirtySecondsHandsOverTheScheduledJobs(t *testing.T) {
	slowTest(t, "stops a replica for 30 s")
	dbURL := postgresURL(t)
	sink, setups := fleetSetups(t, 3, dbURL)
	replicaCLI(t, setups[0], "", "migrate", "up")
	db := openDB(t, dbURL)
	notices := seedNoticeContracts(t, db)
	replicas := startReplicas(t, setups...)

	sweeps := func() int {
		return replicaCount(t, db, `SELECT count(*) FROM river_job WHERE kind = 'renewal_sweep'`)
	}
	prunes := func() int {
		return replicaCount(t, db, `SELECT count(*) FROM river_job WHERE kind = 'prune_expired'`)
	}
	// leader is the replica whose River client leads now (-1: none), by the pid in its client id.
	pidRE := regexp.MustCompile(`_pid(\d+)_`)
	leader := func() int {
		var id string
		if err := db.SQLDB().QueryRow(`SELECT leader_id FROM river_leader WHERE expires_at > now()`).Scan(&id); err != nil {
			return -1
		}
		m := pidRE.FindStringSubmatch(id)
		if m == nil {
			t.Fatalf("River's leader id %q has no pid", id)
		}
		pid, _ := strconv.Atoi(m[1])
		return slices.IndexFunc(replicas, func(p *process) bool { return p.cmd.Process.Pid == pid })
	}

	eventually(t, 2*time.Minute, "today's renewal sweep to complete on the leader", func() bool {
		return replicaCount(t, db, `SELECT count(*) FROM river_job WHERE kind = 'renewal_sweep' AND state = 'completed'`) == 1
	})
	first := leader()
	if first < 0 {
		t.Fatal("no replica leads River")
	}
	prunesBefore := prunes()
	t.Logf("replica %c leads; %d sweep job, %d prune jobs", 'A'+first, sweeps(), prunesBefore)

	stopped := time.Now()
	replicas[first].signal(syscall.SIGSTOP)
	resumed := false
	t.Cleanup(func() {
		if !resumed {
			_ = replicas[first].cmd.Process.Signal(syscall.SIGCONT)
		}
	})
	next := -1
	eventually(t, leaderStop, "another replica to lead while the leader is stopped", func() bool {
		next = leader()
		return next >= 0 && next != first
	})
	handover := time.Since(stopped)
	// The new leader runs the scheduled jobs at once (RunOnStart): the hourly prune is inserted
	// again, the day's sweep is not (one job per day).
	eventually(t, leaderStop, "the new leader to run the hourly prune", func() bool { return prunes() > prunesBefore })
	t.Logf("replica %c leads %v after replica %c stopped", 'A'+next, handover.Round(time.Millisecond), 'A'+first)
	if n := sweeps(); n != 1 {
		t.Errorf("after the new leader started its scheduled jobs: %d sweep jobs today, want 1", n)
	}

	time.Sleep(time.Until(stopped.Add(leaderStop)))
	replicas[first].signal(syscall.SIGCONT)
	resumed = true
	// The resumed replica finds it no longer leads; nothing runs twice.
	eventually(t, 30*time.Second, "the resumed replica to serve again", func() bool {
		return replicas[first].waitHealthy(time.Second) == nil
	})
	time.Sleep(10 * time.Second) // a leadership round or two of the resumed replica
	if now := leader(); now == first {
		t.Logf("the resumed replica %c leads again (it won a later election)", 'A'+first)
	}
	if n := sweeps(); n != 1 {
		t.Errorf("after the stopped leader resumed: %d sweep jobs today, want exactly 1", n)
	}
	rows := replicaCount(t, db, `SELECT count(*) FROM renewal_notices`)
	if rows != len(notices.due) {
		t.Errorf("%d notice rows, want %d", rows, len(notices.due))
	}
	waitLettersSettled(t, db)
	checkNoticeLetters(t, sink, notices.due)
	t.Logf("SIGSTOP of the leader for %v: handed over in %v; 1 sweep; %d notices, each delivered once", leaderStop, handover.Round(time.Millisecond), len(notices.due))
}

// PostgreSQL restarted: it is restarted while three replicas serve check and token load. No
// answer is a 500 (503 "unavailable" while it is away), every replica is ready again soon after
// PostgreSQL accepts connections (the 2 s, logged), and each replica's LISTEN connection
// is back: a change made through one replica afterwards reaches the others within the bound.

// fleetReadyBound is how soon after PostgreSQL accepts connections again every replica must say
// it is ready, and have its change notices back. The figure is 2 s, which the test logs
// and the README reports (0.5 to 0.9 s on a quiet machine, 2.1 s once in CI beside the other
// packages); the assertion allows 10 s, so that it fails for a replica that does not come back on
// its own, not for a loaded machine.
const fleetReadyBound = 10 * time.Second

// fleetNoticeBound is a generous bound for a change to reach every replica by notice: far below
// the caches' TTLs, so that a listener still away would be seen.
const fleetNoticeBound = 500 * time.Millisecond

func TestPostgreSQLRestartedUnderAFleetOfThree(t *testing.T) {
	slowTest(t, "restarts a private PostgreSQL under three replicas")
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
