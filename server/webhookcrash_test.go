package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"entitled/mailer/mailtest"
	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

// allowLoopbackHooks is the setting under which a server delivers to the tests' receivers on
// 127.0.0.1 over http:// (setup.env leaves it out, and processEnv drops the test's own).
const allowLoopbackHooks = "ENTITLED_WEBHOOK_ALLOW_PRIVATE=true"

// startHookServer starts bin's "serve" with loopback receivers allowed and env added, and waits
// for /healthz.
func startHookServer(t *testing.T, bin string, s setup, env ...string) *process {
	t.Helper()
	s.Addr = freeAddr(t)
	p := launch(t, bin, s, append([]string{allowLoopbackHooks}, env...), "serve")
	if err := p.waitHealthy(startTimeout); err != nil {
		t.Fatalf("server did not become healthy: %v", err)
	}
	return p
}

// hookDelivery is one request a hookReceiver answered.
type hookDelivery struct {
	ID     string
	Header http.Header
	Body   []byte
	At     time.Time
}

// hookReceiver is a webhook endpoint on 127.0.0.1. While holding, it takes a request in full
// and never answers it (a receiver that is slow, or a delivery the sender dies in the middle
// of); otherwise it answers 204.
type hookReceiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	holding  bool
	held     []string // webhook-ids of the requests it took and did not answer
	answered []hookDelivery
}

func newHookReceiver(t *testing.T, holding bool) *hookReceiver {
	r := &hookReceiver{holding: holding}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		at := time.Now()
		r.mu.Lock()
		hold := r.holding
		if hold {
			r.held = append(r.held, req.Header.Get("webhook-id"))
		} else {
			r.answered = append(r.answered, hookDelivery{ID: req.Header.Get("webhook-id"), Header: req.Header.Clone(), Body: body, At: at})
		}
		r.mu.Unlock()
		if hold {
			<-req.Context().Done() // the sender gave up or died
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) hold(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.holding = on
}

func (r *hookReceiver) got() (held []string, answered []hookDelivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.held...), append([]hookDelivery(nil), r.answered...)
}

// registerHook registers an endpoint for events at url through the API and returns its secret.
func registerHook(t *testing.T, base, token, url string, events ...string) (secret string) {
	t.Helper()
	out := mustCall(t, base, "POST", "/v1/webhooks", token, map[string]any{"url": url, "events": events}, http.StatusCreated)
	secret, _ = out["secret"].(string)
	if id, _ := out["id"].(string); id == "" || !strings.HasPrefix(secret, models.WebhookSecretPrefix) {
		t.Fatalf("POST /v1/webhooks answered %v", out)
	}
	return secret
}

// The superadmin of the webhook tests, who registers the endpoints.
const hookAdmin, hookAdminPassword = "root@vendor.test", "quartz-lantern-58-orbit"

// seedOrderSystem prepares the migrated database of s, open as db, for orders whose events go to
// webhooks: it adds hookAdmin and the order system's API key, and seeds a contract current for a
// year, whose account and product new orders can name. It returns the key, the contract and its
// product's SKU.
func seedOrderSystem(t *testing.T, s setup, db *store.Store) (key string, seeded storetest.Seeded, sku string) {
	t.Helper()
	mustCLI(t, s, hookAdminPassword+"\n", "staff", "add", "--email", hookAdmin, "--roles", "superadmin")
	key = strings.TrimSpace(mustCLI(t, s, "", "apikey", "create", "--name", "order system", "--scopes", "orders:write"))
	today := models.DateOf(time.Now())
	seeded = storetest.SeedContract(t, db, storetest.Contract{StartsOn: today.AddDays(-10), EndsOn: today.AddDays(355)})
	if err := storetest.Gorm(t, db).Raw(`SELECT sku FROM products`).Scan(&sku).Error; err != nil {
		t.Fatal(err)
	}
	return key, seeded, sku
}

// hookJobsBusySQL counts the delivery jobs not yet completed: once it is 0 no attempt is under
// way or due, so a duplicate, which only an attempt makes, has arrived by then.
const hookJobsBusySQL = `SELECT count(*) FROM river_job WHERE kind = 'webhook_delivery' AND state <> 'completed'`

// A server SIGKILLed after a change committed, before its event reached the endpoints, delivers
// it after the restart on the same database: each endpoint gets the event, signed with its own
// secret and with the one webhook-id, exactly once. Two moments of death:
//   - order.after_commit (the failpoint binary): the order is committed, not yet answered, and
//     no delivery has been attempted; the jobs wait in the outbox.
//   - delivery.in_flight (the ordinary binary): the order was answered and both receivers hold
//     its delivery unanswered when the kill comes; the jobs, left running, are rescued (River's
//     RescueStuckJobsAfter, aged here as in the letter crash tests) and sent again with the same
//     webhook-id, by which a consumer recognises the repeat of what it may have taken.
func TestWebhookEventCommittedBeforeASIGKILLIsDeliveredOnceAfterTheRestart(t *testing.T) {
	eachFailpoint(t, []string{"order.after_commit", "delivery.in_flight"}, func(t *testing.T, step string, s setup, _ *mailtest.Sink, db *store.Store) {
		key, seeded, sku := seedOrderSystem(t, s, db)
		today := models.DateOf(time.Now())

		// Both receivers hold whatever comes before the kill: even a delivery the first process
		// managed to start is then not one the receivers answered.
		receivers := []*hookReceiver{newHookReceiver(t, true), newHookReceiver(t, true)}
		var first *process
		if step == "order.after_commit" {
			first = startHookServer(t, failpointBinary(t), s, "ENTITLED_FAILPOINT="+step)
		} else {
			first = startHookServer(t, binary, s)
		}
		token := login(t, first.URL(), hookAdmin, hookAdminPassword)
		secrets := map[*hookReceiver]string{}
		for _, r := range receivers {
			secrets[r] = registerHook(t, first.URL(), token, r.srv.URL+"/hooks", models.EventOrderCreated)
		}

		const ref = "PO-HOOK-CRASH-1"
		order := map[string]any{"order_ref": ref, "account": map[string]any{"account_id": seeded.AccountID},
			"items": []any{map[string]any{"sku": sku, "quantity": 2, "kind": "perpetual",
				"support": map[string]any{"program": "standard", "ends_on": today.AddDays(365).String()}}}}
		status, body, err := call(t, first.URL(), "POST", "/v1/orders", key, order)
		switch step {
		case "order.after_commit":
			waitKilled(t, first, step, db)
			if err == nil {
				t.Errorf("the order was answered (%d %v) by a process killed at %s", status, body, step)
			}
		case "delivery.in_flight":
			if err != nil || status != http.StatusCreated {
				t.Fatalf("the order: %d %v %v", status, body, err)
			}
			eventually(t, deliveryTimeout, "both receivers to hold the delivery", func() bool {
				for _, r := range receivers {
					if held, _ := r.got(); len(held) == 0 {
						return false
					}
				}
				return true
			})
			first.kill()
			ageRunningJobs(t, db)
		}
		if n := count(t, db, `SELECT count(*) FROM orders WHERE order_ref = ?`, ref); n != 1 {
			t.Fatalf("after the kill at %s there are %d orders %s, want the committed one", step, n, ref)
		}
		var eventIDs []string
		if err := storetest.Gorm(t, db).Raw(`SELECT DISTINCT event_id FROM webhook_deliveries WHERE event_type = ?`, models.EventOrderCreated).
			Scan(&eventIDs).Error; err != nil {
			t.Fatal(err)
		}
		if len(eventIDs) != 1 || count(t, db, `SELECT count(*) FROM webhook_deliveries`) != 2 {
			t.Fatalf("after the kill: event ids %v and %d deliveries, want one event with a delivery per endpoint", eventIDs, count(t, db, `SELECT count(*) FROM webhook_deliveries`))
		}
		event := eventIDs[0]
		heldBefore := map[*hookReceiver][]string{}
		for _, r := range receivers {
			heldBefore[r], _ = r.got()
			r.hold(false)
		}

		startHookServer(t, binary, s)
		eventually(t, deliveryTimeout, "every delivery job to complete after the restart", func() bool {
			return count(t, db, hookJobsBusySQL) == 0
		})
		for i, r := range receivers {
			held, answered := r.got()
			if len(answered) != 1 {
				t.Errorf("endpoint %d: %d deliveries answered after the restart, want exactly 1 (%d held before the kill)", i+1, len(answered), len(held))
				continue
			}
			d := answered[0]
			if d.ID != event {
				t.Errorf("endpoint %d got webhook-id %q, want the committed event's %q", i+1, d.ID, event)
			}
			wh, err := standardwebhooks.NewWebhook(secrets[r])
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(d.Body, d.Header); err != nil {
				t.Errorf("endpoint %d: the delivery does not verify with its secret: %v", i+1, err)
			}
			if !strings.Contains(string(d.Body), `"type":"order.created"`) || !strings.Contains(string(d.Body), ref) {
				t.Errorf("endpoint %d got %s, want order.created of %s", i+1, d.Body, ref)
			}
			for _, id := range heldBefore[r] {
				if id != event {
					t.Errorf("endpoint %d held a delivery %q before the kill, not the event's %q", i+1, id, event)
				}
			}
		}
		if n := count(t, db, `SELECT count(*) FROM webhook_deliveries WHERE status = ?`, models.WebhookDeliverySucceeded); n != 2 {
			t.Errorf("%d deliveries recorded succeeded, want 2", n)
		}
		t.Logf("%s %s: event %s; held before the kill: %d and %d; each endpoint answered it once after the restart",
			db.Dialect, step, event, len(heldBefore[receivers[0]]), len(heldBefore[receivers[1]]))
	})
}
