package main

// Issue 18: every replica sees a change at once. Three "entitled serve" processes on one
// PostgreSQL database behind a round-robin reverse proxy (each request goes to the next replica):
// a logout, an API-key revocation, a member removal and a key rotation made through one replica
// are seen by the others within milliseconds (LISTEN/NOTIFY, models/store/changes.go), the JWKS
// of every replica has a rotated key as soon as `keys rotate` returns, and no token fails to
// verify across a rotation. On SQLite, a server and the CLI on one file: the server's next
// request sees what the CLI changed (PRAGMA data_version).

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
	"github.com/entitled-dev/entitled/verify"
)

// fleetBound is a generous sanity bound for a change to reach every replica (the target is
// ≤ 100 ms; the measured delays are logged, not asserted).
const fleetBound = 2 * time.Second

// fleetProxy is a round-robin reverse proxy in front of the replicas: request i goes to replica
// i mod n, and the answer says which one served it (X-Fleet-Replica).
type fleetProxy struct {
	srv      *httptest.Server
	replicas []*process
	next     atomic.Uint64
}

func newFleetProxy(t *testing.T, replicas []*process) *fleetProxy {
	t.Helper()
	p := &fleetProxy{replicas: replicas}
	targets := make([]*url.URL, len(replicas))
	for i, r := range replicas {
		u, err := url.Parse(r.URL())
		if err != nil {
			t.Fatal(err)
		}
		targets[i] = u
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			i := int((p.next.Add(1) - 1) % uint64(len(targets)))
			r.SetURL(targets[i])
			r.Out.Header.Set("X-Fleet-Replica", strconv.Itoa(i))
		},
		ModifyResponse: func(res *http.Response) error {
			res.Header.Set("X-Fleet-Replica", res.Request.Header.Get("X-Fleet-Replica"))
			return nil
		},
	}
	p.srv = httptest.NewServer(rp)
	t.Cleanup(p.srv.Close)
	return p
}

// do sends one request through the proxy: the status, the replica that answered, the body.
// Requests through do are sequential, so the proxy's counter names the replica that serves it.
func (p *fleetProxy) do(t *testing.T, method, path, token string, body any) (int, int, string) {
	t.Helper()
	replica := int(p.next.Load() % uint64(len(p.replicas)))
	status, b := replicaDo(p.front(t), method, path, token, body)
	return status, replica, b
}

// front is the proxy as a process, for replicaDo and replicaAPI.
func (p *fleetProxy) front(t *testing.T) *process {
	return &process{t: t, setup: setup{Addr: strings.TrimPrefix(p.srv.URL, "http://")}}
}

// api is do for a call that must answer want; the answer is decoded into out.
func (p *fleetProxy) api(t *testing.T, method, path, token string, body, out any, want int) {
	t.Helper()
	replicaAPI(t, p.front(t), method, path, token, body, out, want)
}

// seenByAll makes the change through the proxy (change), then asks through the proxy, round
// robin, until every replica has answered want to probe, and keeps answering it. It returns how
// long after change returned the last replica first answered want.
func (p *fleetProxy) seenByAll(t *testing.T, what string, change func(), method, path, token string, want int) time.Duration {
	t.Helper()
	// Every replica answers the old way first, so that each holds the principal or row in its cache.
	for range 2 * len(p.replicas) {
		if status, replica, body := p.do(t, method, path, token, nil); status == want {
			t.Fatalf("%s: before the change, replica %c already answers %d %s", what, 'A'+replica, status, body)
		}
	}
	change()
	changed := time.Now()
	firstSeen := make([]time.Duration, len(p.replicas))
	seen := 0
	for seen < len(p.replicas) {
		status, replica, body := p.do(t, method, path, token, nil)
		switch {
		case status == want && firstSeen[replica] == 0:
			firstSeen[replica] = max(time.Since(changed), time.Nanosecond)
			seen++
		case status != want && firstSeen[replica] != 0:
			t.Fatalf("%s: replica %c answered %d again after it had answered %d: %s", what, 'A'+replica, status, want, body)
		}
		if time.Since(changed) > fleetBound {
			t.Fatalf("%s: %v after the change, the replicas that see it: %v", what, fleetBound, firstSeen)
		}
	}
	last := slices.Max(firstSeen)
	t.Logf("%s: seen by replicas A, B, C after %v (the last %v after the change returned)", what, firstSeen, last)
	return last
}

// jwksKids is the kids of a replica's JWKS, fetched directly.
func jwksKids(t *testing.T, p *process) []string {
	t.Helper()
	status, body := p.get("/.well-known/jwks.json")
	if status != http.StatusOK {
		t.Fatalf("JWKS of %s: %d %s", p.setup.Addr, status, body)
	}
	keys, err := verify.ParseJWKS([]byte(body))
	if err != nil {
		t.Fatalf("JWKS of %s: %v", p.setup.Addr, err)
	}
	var kids []string
	for kid := range keys {
		kids = append(kids, kid)
	}
	return kids
}

func TestFleetOfThreeSeesEveryChangeAtOnce(t *testing.T) {
	t.Parallel()
	dbURL := postgresURL(t)
	sink, setups := fleetSetups(t, 3, dbURL)
	ordersKey := prepareFleetDB(t, setups[0])
	db := openDB(t, dbURL)
	replicas := startReplicas(t, setups...)
	for i, p := range replicas {
		t.Logf("replica %c on %s", 'A'+i, p.setup.Addr)
	}
	proxy := newFleetProxy(t, replicas)
	a, b := replicas[0], replicas[1]

	root := replicaLogin(t, a, "root@vendor.test")
	ln, admin := proxy.licenseWithAdmin(t, sink, a, b, root, ordersKey, "Fleet", "fleet.test")

	t.Run("a logout through one replica is refused by every replica", func(t *testing.T) {
		session := replicaLogin(t, a, "root@vendor.test")
		proxy.seenByAll(t, "logout", func() {
			proxy.api(t, "POST", "/v1/auth/logout", session, nil, nil, http.StatusNoContent)
		}, "GET", "/v1/me", session, http.StatusUnauthorized)
	})

	t.Run("an API-key revocation through one replica is refused by every replica", func(t *testing.T) {
		var key struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		}
		proxy.api(t, "POST", "/v1/api-keys", root, map[string]any{"name": "renewals feed", "scopes": []string{"renewals:read"}}, &key, http.StatusCreated)
		proxy.seenByAll(t, "API-key revocation", func() {
			proxy.api(t, "DELETE", "/v1/api-keys/"+key.ID, root, nil, nil, http.StatusNoContent)
		}, "GET", "/v1/renewals", key.Key, http.StatusUnauthorized)
	})

	t.Run("a member removal through one replica is refused by every replica", func(t *testing.T) {
		member := replicaSignUp(t, sink, b, a, "member@fleet.test", "Fleet Member")
		proxy.api(t, "PUT", "/v1/licenses/"+ln+"/members/member@fleet.test", admin.session, map[string]any{"roles": []string{"support"}}, nil, http.StatusOK)
		proxy.seenByAll(t, "member removal", func() {
			proxy.api(t, "DELETE", "/v1/licenses/"+ln+"/members/member@fleet.test", admin.session, nil, nil, http.StatusNoContent)
		}, "GET", "/v1/licenses/"+ln+"/support", member.session, http.StatusForbidden)
	})

	t.Run("a key rotation is in every replica's JWKS when the command returns, and no token fails", func(t *testing.T) {
		mint := func(p *process) string {
			var res struct {
				Token string `json:"token"`
			}
			replicaAPI(t, p, "POST", "/v1/entitlements/token", admin.session, map[string]any{"license_number": ln, "audience": "kb"}, &res, http.StatusCreated)
			return res.Token
		}
		// One verifier per replica's JWKS, each holding the key set from before the rotation.
		verifiers := make([]*verify.Verifier, len(replicas))
		for i, p := range replicas {
			v, err := verify.New(p.URL()+"/.well-known/jwks.json", verify.Options{Issuer: replicaBaseURL, Audience: []string{"kb"}})
			if err != nil {
				t.Fatal(err)
			}
			verifiers[i] = v
		}
		var tokens []string
		tries, failures := 0, 0
		check := func() {
			for _, tok := range tokens {
				for i, v := range verifiers {
					tries++
					if _, err := v.Verify(context.Background(), tok); err != nil {
						failures++
						if failures <= 5 {
							t.Errorf("a token (kid %s) failed verification against replica %c's JWKS: %v", tokenKid(t, tok), 'A'+i, err)
						}
					}
				}
			}
		}
		for _, p := range replicas {
			tokens = append(tokens, mint(p))
		}
		check()

		// A rotation publishes the new key: every replica's next JWKS has it.
		out := replicaCLI(t, setups[1], "", "keys", "rotate")
		m := regexp.MustCompile(`^entitlement key (\S+) is published`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("keys rotate printed %q", out)
		}
		for i, p := range replicas {
			if kids := jwksKids(t, p); !slices.Contains(kids, m[1]) {
				t.Errorf("right after keys rotate returned, replica %c's JWKS has %v, not the new key %s", 'A'+i, kids, m[1])
			}
		}

		// --now: the new key is published when the command returns and every replica signs with
		// it within the notice's delay; tokens of both keys verify from every replica's JWKS.
		out = replicaCLI(t, setups[2], "", "keys", "rotate", "--now")
		rotated := time.Now()
		m = regexp.MustCompile(`^entitlement key (\S+) is active now`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("keys rotate --now printed %q", out)
		}
		newKid := m[1]
		for i, p := range replicas {
			if kids := jwksKids(t, p); !slices.Contains(kids, newKid) {
				t.Errorf("right after keys rotate --now returned, replica %c's JWKS has %v, not the new key %s", 'A'+i, kids, newKid)
			}
		}
		for i, p := range replicas {
			for {
				tok := mint(p)
				tokens = append(tokens, tok)
				if tokenKid(t, tok) == newKid {
					t.Logf("replica %c signs with the new key %v after keys rotate --now returned", 'A'+i, time.Since(rotated))
					break
				}
				if time.Since(rotated) > fleetBound {
					t.Fatalf("replica %c still signs with %s %v after keys rotate --now", 'A'+i, tokenKid(t, tok), fleetBound)
				}
			}
		}
		for range 3 {
			for _, p := range replicas {
				tokens = append(tokens, mint(p))
			}
		}
		check()
		if failures != 0 {
			t.Errorf("%d of %d verifications failed across the rotation", failures, tries)
		}
		t.Logf("%d tokens minted across the rotation, %d verifications against the three JWKS, %d failed", len(tokens), tries, failures)
	})

	t.Run("the invalidation delay between replicas over 100 changes", func(t *testing.T) {
		// Replica A revokes an API key that replica B holds in its cache; B is asked again and
		// again until it refuses the key. The delay runs from A's answer to B's first refusal.
		const changes = 100
		delays := make([]time.Duration, 0, changes)
		for i := range changes {
			var key struct {
				ID  string `json:"id"`
				Key string `json:"key"`
			}
			replicaAPI(t, a, "POST", "/v1/api-keys", root, map[string]any{"name": fmt.Sprintf("probe %d", i), "scopes": []string{"renewals:read"}}, &key, http.StatusCreated)
			for range 2 {
				replicaAPI(t, b, "GET", "/v1/renewals", key.Key, nil, nil, http.StatusOK)
			}
			replicaAPI(t, a, "DELETE", "/v1/api-keys/"+key.ID, root, nil, nil, http.StatusNoContent)
			revoked := time.Now()
			for {
				status, body := replicaDo(b, "GET", "/v1/renewals", key.Key, nil)
				if status == http.StatusUnauthorized {
					break
				}
				if status != http.StatusOK {
					t.Fatalf("probe %d: replica B answered %d %s", i, status, body)
				}
				if time.Since(revoked) > fleetBound {
					t.Fatalf("probe %d: replica B still accepts a key revoked on A %v ago", i, fleetBound)
				}
			}
			delays = append(delays, time.Since(revoked))
		}
		slices.Sort(delays)
		p50, p99 := delays[len(delays)/2], delays[len(delays)*99/100-1]
		t.Logf("cross-replica invalidation delay over %d API-key revocations (A's answer → B's first refusal, polling B): p50 %v, p99 %v, max %v",
			changes, p50, p99, delays[len(delays)-1])
	})

	t.Run("one renewal-notice sweep across the three replicas sends each notice once", func(t *testing.T) {
		// The contracts appear now, after the leader's start-up sweep: three passes at once,
		// one with each replica's configuration, race for them.
		notices := seedNoticeContracts(t, db)
		var wg sync.WaitGroup
		outs := make([]string, len(setups))
		errs := make([]error, len(setups))
		for i, s := range setups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				outs[i], errs[i] = replicaRun(s, "", "renewals", "notify")
			}()
		}
		wg.Wait()
		queued := 0
		for i := range outs {
			if errs[i] != nil {
				t.Fatalf("the pass beside replica %c: %v", 'A'+i, errs[i])
			}
			queued += queuedRenewalNotices(t, outs[i])
		}
		rows := replicaCount(t, db, `SELECT count(*) FROM renewal_notices`)
		distinct := replicaCount(t, db, `SELECT count(*) FROM (SELECT DISTINCT contract_id, ends_on, offset_days FROM renewal_notices) d`)
		if queued != len(notices.due) || rows != len(notices.due) || distinct != rows {
			t.Errorf("three passes queued %d notices, %d rows (%d distinct); want %d", queued, rows, distinct, len(notices.due))
		}
		waitLettersSettled(t, db)
		checkNoticeLetters(t, sink, notices.due)
		t.Logf("%d contracts due a notice → %d queued by three concurrent passes, %d rows", len(notices.due), queued, rows)
	})
}

// A server and the CLI on one SQLite file: what the CLI changes, the server's next request sees.
func TestSQLiteServerSeesTheCLIsChangesAtTheNextRequest(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir()}
	mustCLI(t, s, "", "migrate", "up")
	mustCLI(t, s, replicaPassword+"\n", "staff", "add", "--email", "root@vendor.test", "--roles", "superadmin", "--name", "Root")
	key := strings.TrimSpace(mustCLI(t, s, "", "apikey", "create", "--name", "feed", "--scopes", "renewals:read"))
	srv := startServer(t, s)

	// keys rotate: the very next JWKS has the new key.
	before := jwksKids(t, srv)
	out := mustCLI(t, s, "", "keys", "rotate")
	m := regexp.MustCompile(`^entitlement key (\S+) is published`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("keys rotate printed %q", out)
	}
	if kids := jwksKids(t, srv); !slices.Contains(kids, m[1]) {
		t.Errorf("the JWKS right after keys rotate has %v (before: %v), not the new key %s", kids, before, m[1])
	}

	// staff add with other roles: the next request has them.
	root := replicaLogin(t, srv, "root@vendor.test")
	for range 2 {
		replicaAPI(t, srv, "GET", "/v1/api-keys", root, nil, nil, http.StatusOK)
	}
	// No password on standard input: the roles change, the sessions stay.
	mustCLI(t, s, "", "staff", "add", "--email", "root@vendor.test", "--roles", "support")
	if status, body := replicaDo(srv, "GET", "/v1/api-keys", root, nil); status != http.StatusForbidden {
		t.Errorf("right after staff add took superadmin away, GET /v1/api-keys answered %d %s, want 403", status, body)
	}

	// An API key revoked by another process: the next request refuses it.
	for range 2 {
		replicaAPI(t, srv, "GET", "/v1/renewals", key, nil, nil, http.StatusOK)
	}
	db := openDB(t, "sqlite://"+s.DataDir+"/entitled.db")
	var id int64
	if err := db.SQLDB().QueryRow(`SELECT id FROM api_keys WHERE name = 'feed'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := store.NewIdentity(db, nil, "").RevokeAPIKey(context.Background(), strconv.FormatInt(id, 10), models.SystemActor("test")); err != nil {
		t.Fatal(err)
	}
	if status, body := replicaDo(srv, "GET", "/v1/renewals", key, nil); status != http.StatusUnauthorized {
		t.Errorf("right after another process revoked the API key, it got %d %s, want 401", status, body)
	}
}

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
