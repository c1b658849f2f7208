package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// api calls the server under test during seeding; answers outside want are errors.
type api struct {
	base   string
	client *http.Client
}

type apiError struct {
	method, path string
	status       int
	body         string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.status, strings.TrimSpace(e.body))
}

// call sends body as JSON (nil: no body) with the bearer token, decodes the answer into out (may
// be nil) and returns the status. Statuses outside want (default: any 2xx) are an *apiError.
func (a *api) call(ctx context.Context, method, path, token string, body, out any, want ...int) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := a.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	ok := res.StatusCode >= 200 && res.StatusCode < 300
	if len(want) > 0 {
		ok = false
		for _, w := range want {
			ok = ok || res.StatusCode == w
		}
	}
	if !ok {
		return res.StatusCode, &apiError{method, path, res.StatusCode, string(b)}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: decode %q: %w", method, path, b, err)
		}
	}
	return res.StatusCode, nil
}

// parallel runs fn(i) for i in [0, n) on at most workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

const seedPassword = "loadgen orchard ledger 2026"

type user struct {
	email, token string
}

// member is a user's place on a license, with the user's session.
type member struct {
	ln    string
	email string
	token string
}

// dataset is everything seeded that the scenarios use.
type dataset struct {
	run           string // a random tag, so that a reused database gets fresh names
	sku           string
	versions      []string
	staffToken    string // a staff user with ops, renewals and superadmin: the catalogue, renewal records, webhooks
	ordersKey     string
	introspectKey string
	users         []user
	licenses      []string // registered, each with an admin and a support member
	members       []member
	mailDir       string

	poolMu sync.Mutex
	pool   []string // fresh licenses nobody has registered, for the registration scenario
	orders atomic.Int64
}

type seedOptions struct {
	accounts, licensesPerAccount, users, pool int
}

// seed fills the server through its API, as its clients would: a product with versions, orders
// (accounts, licenses, contracts) with the orders:write key, users signed up and verified by the
// link in their letter, registrations, and a second member on every license.
func seed(ctx context.Context, a *api, d *dataset, o seedOptions, logf func(string, ...any)) error {
	t0 := time.Now()
	if _, err := a.call(ctx, "POST", "/v1/products", d.staffToken, map[string]any{"sku": d.sku, "name": "Loadgen product " + d.run}, nil); err != nil {
		return err
	}
	for _, v := range [][3]string{{"0.9", "2023-01-10", "discontinued"}, {"1.0", "2024-03-01", "full"}, {"2.0", "2025-09-01", "full"}} {
		if _, err := a.call(ctx, "POST", "/v1/products/"+d.sku+"/versions", d.staffToken, map[string]any{"version": v[0], "released_on": v[1], "phase": v[2]}, nil); err != nil {
			return err
		}
	}
	d.versions = []string{"", "1.0", "2.0"}

	// Orders: one per account, with varied kinds and programs so that the rules take every path.
	today := time.Now().UTC()
	day := func(days int) string { return today.AddDate(0, 0, days).Format(time.DateOnly) }
	licenses := make([][]string, o.accounts)
	err := parallel(ctx, o.accounts, 4, func(ctx context.Context, acct int) error {
		var items []map[string]any
		for j := range o.licensesPerAccount {
			k := acct*o.licensesPerAccount + j
			item := map[string]any{"sku": d.sku, "quantity": 5, "kind": "perpetual"}
			program := []string{"standard", "24x7"}[k%2]
			ends := day(365)
			if k%4 == 3 {
				ends = day(30) // expiring
			}
			switch {
			case k%7 == 6: // bought without support
			case k%5 == 4:
				item["kind"] = "subscription"
				item["support"] = map[string]any{"program": program, "starts_on": day(-30), "ends_on": ends}
			default:
				item["support"] = map[string]any{"program": program, "premier": k%3 == 0, "starts_on": day(-30), "ends_on": ends}
			}
			items = append(items, item)
		}
		lns, err := d.order(ctx, a, items)
		licenses[acct] = lns
		return err
	})
	if err != nil {
		return fmt.Errorf("orders: %w", err)
	}
	for _, l := range licenses {
		d.licenses = append(d.licenses, l...)
	}
	logf("seeded %d accounts with %d licenses and contracts in %s", o.accounts, len(d.licenses), time.Since(t0).Round(time.Millisecond))

	// Users: sign up, follow the link of the verification letter, log in.
	t0 = time.Now()
	d.users = make([]user, o.users)
	for i := range d.users {
		d.users[i].email = fmt.Sprintf("user%d-%s@loadgen.test", i, d.run)
	}
	err = parallel(ctx, o.users, 4, func(ctx context.Context, i int) error {
		_, err := a.call(ctx, "POST", "/v1/auth/signup", "", map[string]string{"email": d.users[i].email, "password": seedPassword, "name": fmt.Sprintf("Load User %d", i)}, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("signup: %w", err)
	}
	tokens, err := waitForVerifyLinks(ctx, d.mailDir, d.users, 60*time.Second)
	if err != nil {
		return err
	}
	err = parallel(ctx, o.users, 4, func(ctx context.Context, i int) error {
		u := &d.users[i]
		tok := tokens[strings.ToLower(u.email)]
		// The link opens a page whose button POSTs the token; do what that button does.
		if _, err := a.call(ctx, "GET", "/verify?token="+url.QueryEscape(tok), "", nil, nil, http.StatusOK); err != nil {
			return err
		}
		if _, err := a.call(ctx, "POST", "/v1/auth/verify", "", map[string]string{"token": tok}, nil); err != nil {
			return err
		}
		var login struct {
			AccessToken string `json:"access_token"`
		}
		if _, err := a.call(ctx, "POST", "/v1/auth/login", "", map[string]string{"email": u.email, "password": seedPassword}, &login); err != nil {
			return err
		}
		u.token = login.AccessToken
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify and log in: %w", err)
	}
	logf("seeded %d users (signed up, verified by the letter's link, logged in) in %s", o.users, time.Since(t0).Round(time.Millisecond))

	// Members: license k is registered by user k (its admin), who then adds user k+1 as support.
	t0 = time.Now()
	d.members = make([]member, 2*len(d.licenses))
	err = parallel(ctx, len(d.licenses), 8, func(ctx context.Context, k int) error {
		ln := d.licenses[k]
		admin, other := d.users[k%len(d.users)], d.users[(k+1)%len(d.users)]
		if _, err := a.call(ctx, "POST", "/v1/registrations", admin.token, map[string]any{"license_number": ln}, nil, http.StatusCreated); err != nil {
			return err
		}
		d.members[2*k] = member{ln: ln, email: admin.email, token: admin.token}
		if admin.email == other.email {
			d.members[2*k+1] = d.members[2*k]
			return nil
		}
		if _, err := a.call(ctx, "PUT", "/v1/licenses/"+ln+"/members/"+url.PathEscape(other.email), admin.token, map[string]any{"roles": []string{"support"}}, nil); err != nil {
			return err
		}
		d.members[2*k+1] = member{ln: ln, email: other.email, token: other.token}
		return nil
	})
	if err != nil {
		return fmt.Errorf("registrations: %w", err)
	}
	logf("seeded %d memberships (registrations and grants) in %s", len(d.members), time.Since(t0).Round(time.Millisecond))

	if o.pool > 0 {
		t0 = time.Now()
		if err := d.growPool(ctx, a, o.pool); err != nil {
			return err
		}
		logf("seeded %d fresh licenses for the registration scenario in %s", o.pool, time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

// order places one order for a new account with the orders:write key and returns its License
// Numbers.
func (d *dataset) order(ctx context.Context, a *api, items []map[string]any) ([]string, error) {
	n := d.orders.Add(1)
	body := d.orderBody(n, items)
	var res struct {
		Licenses []struct {
			LicenseNumber string `json:"license_number"`
		} `json:"licenses"`
	}
	if _, err := a.call(ctx, "POST", "/v1/orders", d.ordersKey, body, &res, http.StatusCreated); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(res.Licenses))
	for _, l := range res.Licenses {
		out = append(out, l.LicenseNumber)
	}
	if len(out) != len(items) {
		return nil, fmt.Errorf("order %d: asked for %d licenses, got %d", n, len(items), len(out))
	}
	return out, nil
}

// orderBody is the n-th order of the run: a new account with its primary contact, and items.
func (d *dataset) orderBody(n int64, items []map[string]any) map[string]any {
	return map[string]any{
		"order_ref":       fmt.Sprintf("LOADGEN-%s-%d", d.run, n),
		"account":         map[string]any{"name": fmt.Sprintf("Loadgen Account %d", n)},
		"primary_contact": map[string]any{"name": "Pat Contact", "email": fmt.Sprintf("contact%d-%s@loadgen.test", n, d.run)},
		"items":           items,
	}
}

// growPool orders n more fresh licenses (100 to an order, the most one order may hold).
func (d *dataset) growPool(ctx context.Context, a *api, n int) error {
	const perOrder = 100
	orders := (n + perOrder - 1) / perOrder
	return parallel(ctx, orders, 4, func(ctx context.Context, i int) error {
		items := make([]map[string]any, min(perOrder, n-i*perOrder))
		for j := range items {
			items[j] = map[string]any{"sku": d.sku, "quantity": 1, "kind": "perpetual"}
		}
		lns, err := d.order(ctx, a, items)
		if err != nil {
			return fmt.Errorf("registration pool: %w", err)
		}
		d.poolMu.Lock()
		d.pool = append(d.pool, lns...)
		d.poolMu.Unlock()
		return nil
	})
}

var verifyLinkRE = regexp.MustCompile(`/verify\?token=([A-Za-z0-9_\-.~%]+)`)

// waitForVerifyLinks reads the .eml letters the server writes until every user has a
// verification link, and returns each address's token.
func waitForVerifyLinks(ctx context.Context, dir string, users []user, timeout time.Duration) (map[string]string, error) {
	tokens := map[string]string{}
	seen := map[string]bool{}
	deadline := time.Now().Add(timeout)
	for {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".eml") || seen[e.Name()] {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				continue
			}
			seen[e.Name()] = true
			to, tok, err := verifyToken(b)
			if err == nil && tok != "" {
				for _, addr := range to {
					tokens[strings.ToLower(addr)] = tok
				}
			}
		}
		missing := ""
		for _, u := range users {
			if tokens[strings.ToLower(u.email)] == "" {
				missing = u.email
				break
			}
		}
		if missing == "" {
			return tokens, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no verification letter for %s in %s after %s", missing, dir, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// verifyToken reads an RFC 5322 letter and returns its recipients and the token of its
// /verify?token= link ("" when it has none). Parts are decoded by their transfer encoding.
func verifyToken(eml []byte) (to []string, token string, err error) {
	m, err := mail.ReadMessage(bytes.NewReader(eml))
	if err != nil {
		return nil, "", err
	}
	if list, err := m.Header.AddressList("To"); err == nil {
		for _, a := range list {
			to = append(to, a.Address)
		}
	}
	texts, err := bodyTexts(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
	if err != nil {
		return to, "", err
	}
	for _, t := range texts {
		if found := verifyLinkRE.FindStringSubmatch(t); found != nil {
			tok, err := url.QueryUnescape(found[1])
			if err != nil {
				tok = found[1]
			}
			return to, tok, nil
		}
	}
	return to, "", nil
}

// bodyTexts decodes a body, walking multipart bodies, into the texts of its parts.
func bodyTexts(contentType, encoding string, body io.Reader) ([]string, error) {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		var out []string
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				return out, err
			}
			texts, err := bodyTexts(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			if err != nil {
				return out, err
			}
			out = append(out, texts...)
		}
	}
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body) // it skips the line breaks itself
	}
	b, err := io.ReadAll(body)
	return []string{string(b)}, err
}
