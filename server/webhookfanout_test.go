package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

// Fan-out figures, opt-in (they take a minute or two a dialect and load the machine):
//
//	ENTITLED_MEASURE=1 go test -count=1 -run '^TestWebhookFanout$' -v ./server/
//
// The server binary runs with the production defaults for its pool and job polling
// (ENTITLED_JOB_POLL_INTERVAL=1s; ENTITLED_MEASURE_POLL=100ms tries another;
// ENTITLED_MEASURE_BINARY=path runs another build), 4 endpoints with
// events ["*"] point at 4 local receivers that answer 204 at once, and an order system places
// fanoutChanges orders through the API, fanoutClients at a time: each order is one change with
// its order.created event, so 4 deliveries. It reports the time from the first order to the last
// delivery received, the deliveries a second that makes, and the latency of a delivery from its
// event's time (taken in the change's transaction, just before the commit) to its receipt; then
// the same for fanoutPaced changes one at a time, the latency of a queue that keeps up.
const (
	fanoutChanges   = 1000
	fanoutEndpoints = 4
	fanoutClients   = 8
	// fanoutPaced changes, one every fanoutPace, measure the latency of an idle queue.
	fanoutPaced = 100
	fanoutPace  = 100 * time.Millisecond
)

// fanoutReceiver answers 204 and notes when each delivery arrived, against its event's time.
type fanoutReceiver struct {
	srv       *httptest.Server
	mu        sync.Mutex
	latencies []time.Duration
	ids       map[string]int
	last      time.Time
}

func newFanoutReceiver(t *testing.T, total *atomic.Int64) *fanoutReceiver {
	r := &fanoutReceiver{ids: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		at := time.Now()
		w.WriteHeader(http.StatusNoContent)
		var ev struct {
			Timestamp time.Time `json:"timestamp"`
		}
		_ = json.Unmarshal(body, &ev)
		r.mu.Lock()
		r.latencies = append(r.latencies, at.Sub(ev.Timestamp))
		r.ids[req.Header.Get("webhook-id")]++
		r.last = at
		r.mu.Unlock()
		total.Add(1)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// newFanoutReceivers starts n receivers counting into total, and registers each for every event
// through the API at base, as hookAdmin.
func newFanoutReceivers(t *testing.T, n int, base string, total *atomic.Int64) []*fanoutReceiver {
	t.Helper()
	token := login(t, base, hookAdmin, hookAdminPassword)
	receivers := make([]*fanoutReceiver, n)
	for i := range receivers {
		receivers[i] = newFanoutReceiver(t, total)
		registerHook(t, base, token, receivers[i].srv.URL+"/hooks", "*")
	}
	return receivers
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

func TestWebhookFanout(t *testing.T) {
	if os.Getenv("ENTITLED_MEASURE") != "1" {
		t.Skip("a measurement: ENTITLED_MEASURE=1 runs it")
	}
	poll := "1s" // the production default of ENTITLED_JOB_POLL_INTERVAL
	if v := os.Getenv("ENTITLED_MEASURE_POLL"); v != "" {
		poll = v
	}
	bin := binary
	if v := os.Getenv("ENTITLED_MEASURE_BINARY"); v != "" {
		bin = v // another build of the server, to compare (go build -overlay, an older commit)
	}
	// One dialect after the other: the figures are of one server on an otherwise idle machine.
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		s := setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, d), Secret: testSecret}
		mustCLI(t, s, "", "migrate", "up")
		key, seeded, sku := seedOrderSystem(t, s, openDB(t, s.DatabaseURL))

		srv := startHookServer(t, bin, s, "ENTITLED_JOB_POLL_INTERVAL="+poll, "ENTITLED_DB_MAX_CONNS=0")
		var received atomic.Int64
		receivers := newFanoutReceivers(t, fanoutEndpoints, srv.URL(), &received)

		burst := runFanout(t, srv, key, seeded.AccountID, sku, "BURST", fanoutChanges, fanoutClients, 0, receivers, &received)
		t.Logf("%s, poll %s, burst: %s", d, poll, burst)
		// The same, at a rate the deliveries keep up with: the latency of one delivery rather
		// than of a queue.
		paced := runFanout(t, srv, key, seeded.AccountID, sku, "PACED", fanoutPaced, 1, fanoutPace, receivers, &received)
		t.Logf("%s, poll %s, paced (one change every %s): %s", d, poll, fanoutPace, paced)
	})
}

// runFanout places n orders through the API, clients at a time with pause between one client's
// orders, waits until every receiver has each of their events, and says how long it all took.
// The receivers' notes start afresh.
func runFanout(t *testing.T, srv *process, key, account, sku, prefix string, n, clients int, pause time.Duration,
	receivers []*fanoutReceiver, received *atomic.Int64) string {
	t.Helper()
	for _, r := range receivers {
		r.mu.Lock()
		r.latencies, r.ids, r.last = nil, map[string]int{}, time.Time{}
		r.mu.Unlock()
	}
	received.Store(0)
	today := models.DateOf(time.Now())
	start := time.Now()
	var committed atomic.Int64
	var lastCommit atomic.Int64 // UnixNano of the last order's answer
	refs := make(chan int)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range refs {
				order := map[string]any{"order_ref": fmt.Sprintf("PO-%s-%05d", prefix, i), "account": map[string]any{"account_id": account},
					"items": []any{map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual",
						"support": map[string]any{"program": "standard", "ends_on": today.AddDays(365).String()}}}}
				status, body, err := call(t, srv.URL(), "POST", "/v1/orders", key, order)
				if err != nil || status != http.StatusCreated {
					t.Errorf("order %d: %d %v %v", i, status, body, err)
					continue
				}
				committed.Add(1)
				lastCommit.Store(time.Now().UnixNano())
				time.Sleep(pause)
			}
		})
	}
	for i := range n {
		refs <- i
	}
	close(refs)
	wg.Wait()
	changesTook := time.Unix(0, lastCommit.Load()).Sub(start)
	want := committed.Load() * int64(len(receivers))
	if want == 0 {
		t.Fatal("no order was placed")
	}
	eventually(t, 10*time.Minute, fmt.Sprintf("%d deliveries", want), func() bool { return received.Load() >= want })
	var last time.Time
	var all []time.Duration
	for i, r := range receivers {
		r.mu.Lock()
		if r.last.After(last) {
			last = r.last
		}
		all = append(all, r.latencies...)
		dup := 0
		for _, n := range r.ids {
			dup += n - 1
		}
		if len(r.ids) != int(committed.Load()) || dup != 0 {
			t.Errorf("receiver %d: %d events, %d repeats; want %d events once each", i+1, len(r.ids), dup, committed.Load())
		}
		r.mu.Unlock()
	}
	drain := last.Sub(start)
	slices.Sort(all)
	return fmt.Sprintf("%d changes committed in %s (%.0f/s); %d deliveries to %d endpoints all received %s after the first change (%.0f deliveries/s), %s after the last commit; latency event→receipt p50 %s, p99 %s, max %s",
		committed.Load(), changesTook.Round(time.Millisecond), float64(committed.Load())/changesTook.Seconds(),
		len(all), len(receivers), drain.Round(time.Millisecond), float64(len(all))/drain.Seconds(), last.Sub(time.Unix(0, lastCommit.Load())).Round(time.Millisecond),
		percentile(all, 0.50).Round(time.Millisecond), percentile(all, 0.99).Round(time.Millisecond), all[len(all)-1].Round(time.Millisecond))
}
