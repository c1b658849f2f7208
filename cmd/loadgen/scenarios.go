package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"
)

// allScenarios are the scenarios in the order they run; bare gin always runs first.
var allScenarios = []string{"check", "token", "introspect", "support", "statuslist", "jwks", "login", "registration"}

// scenario is one kind of request, sent over and over by the closed-loop workers.
type scenario struct {
	name string
	// prepare readies the scenario (probes, tokens to introspect); a non-empty skip is the reason
	// it cannot run ("not built yet"), shown in its row.
	prepare func(ctx context.Context) (skip string, err error)
	next    nextFunc
	// afterWarmup may top up what the measured window will use, from the warm-up's rate.
	afterWarmup func(ctx context.Context, warm phaseResult, measure time.Duration) (note string, err error)
}

// ready prepares the scenario and says why its row is skipped: the reason prepare gave, or that
// prepare failed; "" when it is ready to run.
func (s *scenario) ready(ctx context.Context) (skipped string) {
	if s.prepare == nil {
		return ""
	}
	skip, err := s.prepare(ctx)
	if err != nil {
		return "not run: " + err.Error()
	}
	return skip
}

// warmedUp runs afterWarmup, if the scenario has one, and answers its note, or why the scenario
// is not run after all when it failed.
func (s *scenario) warmedUp(ctx context.Context, warm phaseResult, measure time.Duration) (note, skipped string) {
	if s.afterWarmup == nil {
		return "", ""
	}
	note, err := s.afterWarmup(ctx, warm, measure)
	if err != nil {
		return "", "not run: " + err.Error()
	}
	return note, ""
}

func newRequest(method, url, token, contentType string, body []byte) *http.Request {
	var req *http.Request
	if body != nil {
		req, _ = http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
	} else {
		req, _ = http.NewRequest(method, url, nil)
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// notBuilt probes an endpoint once: 404 or 405 means the route does not exist yet.
func notBuilt(client *http.Client, req *http.Request) (bool, int, []byte, error) {
	res, err := client.Do(req)
	if err != nil {
		return false, 0, nil, err
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	return res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusMethodNotAllowed, res.StatusCode, b.Bytes(), nil
}

const tokenAudience = "downloads"

// buildScenarios makes every scenario over the seeded data.
func buildScenarios(d *dataset, a *api, logf func(string, ...any)) map[string]*scenario {
	base := a.base
	var entitlements = []string{"assets.read", "support.cases", "downloads.read", "license.keys", "support.premier"}
	out := map[string]*scenario{}

	// check: the online check by another service's introspection key, for a member by email.
	var checkURLs []string
	for _, e := range entitlements {
		for vi, m := range d.members {
			q := url.Values{"license_number": {m.ln}, "entitlement": {e}, "user": {m.email}}
			if v := d.versions[vi%len(d.versions)]; v != "" {
				q.Set("version", v)
			}
			checkURLs = append(checkURLs, base+"/v1/entitlements/check?"+q.Encode())
		}
	}
	var checkN atomic.Uint64
	out["check"] = &scenario{name: "check", next: func() (*http.Request, bool) {
		u := checkURLs[(checkN.Add(1)-1)%uint64(len(checkURLs))]
		return newRequest("GET", u, d.introspectKey, "", nil), true
	}}

	// token: a member asks for an entitlement token for one of the services.
	tokenBodies := make([][]byte, len(d.members))
	for i, m := range d.members {
		tokenBodies[i] = mustJSON(map[string]string{"license_number": m.ln, "audience": tokenAudience})
	}
	var tokenN atomic.Uint64
	tokenReq := func() *http.Request {
		i := (tokenN.Add(1) - 1) % uint64(len(d.members))
		return newRequest("POST", base+"/v1/entitlements/token", d.members[i].token, "application/json", tokenBodies[i])
	}
	out["token"] = &scenario{name: "token", next: func() (*http.Request, bool) { return tokenReq(), true },
		prepare: func(ctx context.Context) (string, error) {
			gone, status, body, err := notBuilt(a.client, tokenReq())
			if err != nil || gone {
				return "not built yet", err
			}
			if status != http.StatusCreated {
				logf("warning: the token probe answered %d %s", status, body)
			}
			return "", nil
		}}

	// introspect: RFC 7662 form token= with the introspection key, tokens from the token endpoint.
	var forms [][]byte
	var introN atomic.Uint64
	introReq := func() *http.Request {
		f := forms[(introN.Add(1)-1)%uint64(len(forms))]
		return newRequest("POST", base+"/v1/entitlements/introspect", d.introspectKey, "application/x-www-form-urlencoded", f)
	}
	out["introspect"] = &scenario{name: "introspect", next: func() (*http.Request, bool) { return introReq(), true },
		prepare: func(ctx context.Context) (string, error) {
			forms = nil
			for i := range min(len(d.members), 64) {
				var res struct {
					Token string `json:"token"`
				}
				status, err := a.call(ctx, "POST", "/v1/entitlements/token", d.members[i].token,
					map[string]string{"license_number": d.members[i].ln, "audience": tokenAudience}, &res)
				if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
					return "not built yet (no token endpoint to get tokens from)", nil
				}
				if err != nil {
					return "", fmt.Errorf("a token to introspect: %w", err)
				}
				forms = append(forms, []byte(url.Values{"token": {res.Token}}.Encode()))
			}
			gone, status, body, err := notBuilt(a.client, introReq())
			if err != nil || gone {
				return "not built yet", err
			}
			var ans struct {
				Active bool `json:"active"`
			}
			if json.Unmarshal(body, &ans); status != http.StatusOK || !ans.Active {
				logf("warning: the introspect probe answered %d %s", status, body)
			}
			return "", nil
		}}

	// support: a member reads their license's support status and entitlements.
	supportURLs := make([]string, len(d.members))
	for i, m := range d.members {
		supportURLs[i] = base + "/v1/licenses/" + m.ln + "/support"
	}
	var supportN atomic.Uint64
	out["support"] = &scenario{name: "support", next: func() (*http.Request, bool) {
		i := (supportN.Add(1) - 1) % uint64(len(d.members))
		return newRequest("GET", supportURLs[i], d.members[i].token, "", nil), true
	}}

	// statuslist: a service fetches the token status list its tokens point at (anonymous, cached
	// by the server until the list changes).
	var listURL string
	out["statuslist"] = &scenario{name: "statuslist",
		next: func() (*http.Request, bool) { return newRequest("GET", listURL, "", "", nil), true },
		prepare: func(ctx context.Context) (string, error) {
			u, err := statusListURL(ctx, d, a)
			if err != nil {
				return "", err
			}
			listURL = u
			return "", nil
		}}

	// jwks: a service refreshes the signing keys it verifies tokens with.
	out["jwks"] = &scenario{name: "jwks", next: func() (*http.Request, bool) {
		return newRequest("GET", base+"/.well-known/jwks.json", "", "", nil), true
	}}

	// login: the seeded users log in (each success makes a session; argon2id makes it slow).
	loginBodies := make([][]byte, len(d.users))
	for i, u := range d.users {
		loginBodies[i] = mustJSON(map[string]string{"email": u.email, "password": seedPassword})
	}
	var loginN atomic.Uint64
	out["login"] = &scenario{name: "login", next: func() (*http.Request, bool) {
		i := (loginN.Add(1) - 1) % uint64(len(loginBodies))
		return newRequest("POST", base+"/v1/auth/login", "", "application/json", loginBodies[i]), true
	}}

	// registration: each request registers a fresh license (its registrant becomes admin, 201).
	var regN atomic.Uint64
	out["registration"] = &scenario{name: "registration",
		next: func() (*http.Request, bool) {
			n := regN.Add(1) - 1
			d.poolMu.Lock()
			if n >= uint64(len(d.pool)) {
				d.poolMu.Unlock()
				return nil, false
			}
			ln := d.pool[n]
			d.poolMu.Unlock()
			u := d.users[n%uint64(len(d.users))]
			return newRequest("POST", base+"/v1/registrations", u.token, "application/json", mustJSON(map[string]string{"license_number": ln})), true
		},
		afterWarmup: func(ctx context.Context, warm phaseResult, measure time.Duration) (string, error) {
			rate := float64(len(warm.lat)) / max(warm.elapsed.Seconds(), 0.001)
			want := int(rate*measure.Seconds()*1.5) + 256
			d.poolMu.Lock()
			left := len(d.pool) - int(min(regN.Load(), uint64(len(d.pool))))
			d.poolMu.Unlock()
			if left >= want {
				return "", nil
			}
			t0 := time.Now()
			if err := d.growPool(ctx, a, want-left); err != nil {
				return "", err
			}
			return fmt.Sprintf("ordered %d more fresh licenses after the warm-up (%.0f/s) in %s", want-left, rate, time.Since(t0).Round(time.Millisecond)), nil
		}}
	return out
}
