package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The soak's wider mix (issue 25): webhook endpoints on local receivers subscribed to every
// event, so that the orders, registrations and member changes of the mix make deliveries; the
// token status list fetched as other services fetch it; and renewal staff working renewal
// records.

// soakHooks are webhook receivers on 127.0.0.1 that answer 204 and count each webhook-id.
type soakHooks struct {
	servers []*http.Server
	mu      sync.Mutex
	ids     []map[string]int // per endpoint: webhook-id → deliveries received
}

// hookTally is what the receivers got: deliveries, distinct events, and the repeats among them.
type hookTally struct {
	Endpoints, Received, Events, Duplicates int
}

// startSoakHooks starts n receivers and registers each, through the API with a superadmin's
// token, for every event type.
func startSoakHooks(ctx context.Context, a *api, token string, n int) (*soakHooks, error) {
	h := &soakHooks{}
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			h.close()
			return nil, err
		}
		h.ids = append(h.ids, map[string]int{})
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.mu.Lock()
			h.ids[i][r.Header.Get("webhook-id")]++
			h.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		})}
		h.servers = append(h.servers, srv)
		go func() { _ = srv.Serve(l) }()
		body := map[string]any{"url": "http://" + l.Addr().String() + "/hooks", "events": []string{"*"}, "description": fmt.Sprintf("loadgen soak receiver %d", i+1)}
		if _, err := a.call(ctx, "POST", "/v1/webhooks", token, body, nil); err != nil {
			h.close()
			return nil, fmt.Errorf("register a webhook endpoint: %w", err)
		}
	}
	return h, nil
}

func (h *soakHooks) tally() hookTally {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := hookTally{Endpoints: len(h.ids)}
	for _, ids := range h.ids {
		for _, n := range ids {
			t.Received += n
			t.Events++
			t.Duplicates += n - 1
		}
	}
	return t
}

func (h *soakHooks) close() {
	for _, s := range h.servers {
		_ = s.Close()
	}
}

// statusListOp fetches the status list that a member's entitlement token points at, as a
// service that checks revocation offline does when its copy is due.
func statusListOp(ctx context.Context, d *dataset, a *api) (soakOp, error) {
	list, err := statusListURL(ctx, d, a)
	if err != nil {
		return soakOp{}, err
	}
	return soakOp{"status list", 5, func(ctx context.Context, w *soakWorker) {
		w.send("status list", newRequest("GET", list, "", "", nil).WithContext(ctx))
	}}, nil
}

// statusListURL is the status list a member's entitlement token points at, on the server under
// test.
func statusListURL(ctx context.Context, d *dataset, a *api) (string, error) {
	if len(d.members) == 0 {
		return "", errors.New("no member to take a token for")
	}
	m := d.members[0]
	var res struct {
		Token string `json:"token"`
	}
	if _, err := a.call(ctx, "POST", "/v1/entitlements/token", m.token, map[string]string{"license_number": m.ln, "audience": tokenAudience}, &res); err != nil {
		return "", err
	}
	parts := strings.Split(res.Token, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("the token endpoint answered %q", res.Token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var claims struct {
		Status struct {
			StatusList struct {
				URI string `json:"uri"`
			} `json:"status_list"`
		} `json:"status"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Status.StatusList.URI == "" {
		return "", fmt.Errorf("the token names no status list (%v)", err)
	}
	u, err := url.Parse(claims.Status.StatusList.URI)
	if err != nil {
		return "", err
	}
	// The list's path on the server under test (its issuer URL may name another host).
	return a.base + u.Path, nil
}

// renewalRecordOp has renewal staff move contracts' renewal records between contacted and
// quoted, as a renewals desk works its list (each change audited, and a contract event).
func renewalRecordOp(ctx context.Context, d *dataset, a *api) (soakOp, error) {
	var res struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if _, err := a.call(ctx, "GET", "/v1/contracts?limit=100", d.staffToken, nil, &res); err != nil {
		return soakOp{}, err
	}
	if len(res.Items) == 0 {
		return soakOp{}, errors.New("no contract to work on")
	}
	var n atomic.Uint64
	return soakOp{"renewal record", 3, func(ctx context.Context, w *soakWorker) {
		i := n.Add(1) - 1
		stage := []string{"contacted", "quoted"}[(i/uint64(len(res.Items)))%2]
		req := newRequest("PATCH", a.base+"/v1/contracts/"+res.Items[i%uint64(len(res.Items))].ID+"/renewal", d.staffToken, "application/json",
			mustJSON(map[string]string{"stage": stage}))
		w.send("renewal record", req.WithContext(ctx), http.StatusOK)
	}}, nil
}
