package main

// Issue 25, a fleet under faults: three replicas on one PostgreSQL database take a burst of 1,000
// orders (each a change with its webhook event for 4 endpoints and its letter to a primary
// contact) and one replica is killed with SIGKILL in the middle of it, then started again. The
// order system retries a failed request on the next replica with the same Idempotency-Key, as a
// client behind a load balancer does. Afterwards every event has reached every endpoint and
// every letter its contact; duplicates are counted and reported (an at-least-once delivery may
// repeat what the killed process was sending at the instant of its death).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

func TestFleetReplicaKilledDuringABurstLosesNoEventOrLetter(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a burst of 1,000 orders on three replicas")
	}
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
