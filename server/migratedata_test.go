package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"entitled/mailer/mailtest"
)

// An installation grown on SQLite moves to PostgreSQL with "entitled migrate-data": licenses,
// members, contracts, sessions and signing keys come along (a server on PostgreSQL answers the
// same, publishes the same keys and accepts a token signed before the move), a letter still
// waiting in the outbox is sent from PostgreSQL exactly once (and none sent before goes out
// again), new rows get new ids, and a second copy into the now non-empty target is refused.
func TestMigrateDataFromSQLiteToPostgreSQL(t *testing.T) {
	t.Parallel()
	pgURL := postgresURL(t)
	sink := mailtest.Start(t)
	s := setup{DataDir: t.TempDir(), SMTPURL: sink.URL(), Secret: testSecret}
	sqliteURL := "sqlite://" + filepath.Join(s.DataDir, "entitled.db")
	p := startServer(t, s)
	// The day's renewal pass (the leader runs it on start) is over before the demo's contracts
	// exist, so that their notices are not owed until tomorrow: the pass is once a day, and its
	// job moves with the data, so the server on PostgreSQL sends no notices today either.
	sweepDB := openDB(t, sqliteURL)
	eventually(t, time.Minute, "the day's renewal sweep on the server on SQLite", func() bool {
		return replicaCount(t, sweepDB, `SELECT count(*) FROM river_job WHERE kind = 'renewal_sweep' AND state = 'completed'`) == 1
	})
	sweepDB.Close()

	out := mustCLI(t, s, "", "demo")
	ln := regexp.MustCompile(`License Number (LN-[0-9A-Z-]+)`).FindStringSubmatch(out)
	pw := regexp.MustCompile(`password: (\S+)`).FindStringSubmatch(out)
	if ln == nil || pw == nil {
		t.Fatalf("demo printed no License Number or password:\n%s", out)
	}
	license := ln[1]
	staff := login(t, p.URL(), "renewals@demo.example", pw[1])
	apiKey := strings.TrimSpace(mustCLI(t, s, "", "apikey", "create", "--name", "orders", "--scopes", "orders:write"))
	u := replicaSignUp(t, sink, p, p, "member@customer.test", "Mia Member")
	replicaAPI(t, p, "POST", "/v1/registrations", u.session, map[string]any{"license_number": license}, nil, http.StatusCreated)
	var minted struct {
		Token string `json:"token"`
	}
	replicaAPI(t, p, "POST", "/v1/entitlements/token", u.session, map[string]any{"license_number": license, "audience": "kb"}, &minted, http.StatusCreated)

	// What the server on SQLite answers, to compare with the one on PostgreSQL.
	reads := []struct{ path, token string }{
		{"/v1/licenses/" + license, u.session},
		{"/v1/licenses/" + license + "/members", u.session},
		{"/v1/licenses", u.session},
		{"/v1/contracts", staff},
		{"/v1/products", staff},
		{"/.well-known/jwks.json", ""},
	}
	answer := func(p *process, path, token string) any {
		t.Helper()
		status, body := replicaDo(p, "GET", path, token, nil)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return v
	}
	before := map[string]any{}
	for _, r := range reads {
		before[r.path] = answer(p, r.path, r.token)
	}

	db := openDB(t, sqliteURL)
	waitLettersSettled(t, db)
	p.signal(os.Interrupt)
	if code := p.waitExit(shutdownTimeout + 10*time.Second); code != 0 {
		t.Fatalf("the server on SQLite exited with %d", code)
	}
	// A letter queued while no server runs stays in the SQLite outbox: it must move.
	const pendingTo = "pending@example.test"
	pendingID := queueTestLetter(t, s, pendingTo)
	sentBefore := sink.ByMessageID(t)
	rowsOf := map[string]int64{}
	for _, table := range []string{"users", "licenses", "members", "contracts", "sessions", "signing_keys", "river_job", "sent_letters"} {
		rowsOf[table] = count(t, db, "SELECT count(*) FROM "+table)
		if rowsOf[table] == 0 && table != "sent_letters" {
			t.Fatalf("the seeded SQLite database has no %s", table)
		}
	}
	db.Close()

	m := startProcess(t, s, "migrate-data", "--from", sqliteURL, "--to", pgURL)
	if code := m.waitExit(3 * time.Minute); code != 0 {
		t.Fatalf("migrate-data exited with %d:\n%s", code, m.out.String())
	}
	for table, n := range rowsOf {
		if line := fmt.Sprintf("%s: %d rows\n", table, n); !strings.Contains(m.out.String(), line) {
			t.Errorf("migrate-data did not report %q:\n%s", line, m.out.String())
		}
	}
	t.Logf("migrate-data:\n%s", m.out.String())

	// The server on PostgreSQL takes the old one's address, and so its base URL: tokens name it
	// as their issuer.
	s2 := setup{DataDir: t.TempDir(), DatabaseURL: pgURL, SMTPURL: sink.URL(), Secret: testSecret, Addr: p.setup.Addr}
	p2 := startProcess(t, s2, "serve")
	if err := p2.waitHealthy(startTimeout); err != nil {
		t.Fatalf("the server on PostgreSQL: %v", err)
	}
	pg := openDB(t, pgURL)
	for _, r := range reads {
		// PostgreSQL keeps instants to the microsecond, SQLite (as written by Go) to the nanosecond.
		if got := answer(p2, r.path, r.token); !reflect.DeepEqual(toMicroseconds(got), toMicroseconds(before[r.path])) {
			a, _ := json.Marshal(before[r.path])
			b, _ := json.Marshal(got)
			t.Errorf("GET %s answers differently after the move:\nSQLite:     %s\nPostgreSQL: %s", r.path, a, b)
		}
	}

	// The token signed on SQLite verifies on PostgreSQL, and new ones are signed with the same key.
	introspect := strings.TrimSpace(mustCLI(t, s2, "", "apikey", "create", "--name", "introspect", "--scopes", "entitlements:introspect"))
	req, _ := http.NewRequest("POST", p2.URL()+"/v1/entitlements/introspect", strings.NewReader(url.Values{"token": {minted.Token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+introspect)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var intro struct {
		Active bool `json:"active"`
	}
	err = json.NewDecoder(res.Body).Decode(&intro)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || !intro.Active {
		t.Errorf("introspection of a token signed before the move: %d active=%v (%v), want 200 active", res.StatusCode, intro.Active, err)
	}
	var again struct {
		Token string `json:"token"`
	}
	replicaAPI(t, p2, "POST", "/v1/entitlements/token", u.session, map[string]any{"license_number": license, "audience": "kb"}, &again, http.StatusCreated)
	if tokenKid(t, again.Token) != tokenKid(t, minted.Token) {
		t.Errorf("a token minted after the move is signed by %s, before by %s", tokenKid(t, again.Token), tokenKid(t, minted.Token))
	}

	// The pending letter is sent exactly once from PostgreSQL; none sent before goes out again.
	eventually(t, deliveryTimeout, "the pending letter to be delivered", func() bool { return len(sink.To(pendingTo)) > 0 })
	// New rows get fresh ids (the sequences were moved past the copied ones).
	mustCall(t, p2.URL(), "POST", "/v1/orders", apiKey, faultOrder("MOVED", 1), http.StatusCreated)
	waitLettersSettled(t, pg)
	after := sink.ByMessageID(t)
	if after[pendingID] != 1 {
		t.Errorf("the letter pending at the move was delivered %d times, want 1", after[pendingID])
	}
	for id, n := range after {
		if n != 1 {
			t.Errorf("letter %s was delivered %d times", id, n)
		}
		if sentBefore[id] > 0 && n != sentBefore[id] {
			t.Errorf("letter %s, sent before the move, was sent again after it", id)
		}
	}
	if len(after) != len(sentBefore)+2 { // the pending letter and the new order's
		t.Errorf("%d letters delivered after the move, want 2", len(after)-len(sentBefore))
	}

	// A second copy into the now non-empty database is refused and changes nothing.
	users := count(t, pg, "SELECT count(*) FROM users")
	second := startProcess(t, s, "migrate-data", "--from", sqliteURL, "--to", pgURL)
	if code := second.waitExit(time.Minute); code == 0 || !strings.Contains(second.out.String(), "not empty") {
		t.Errorf("a second migrate-data exited %d with %q, want a refusal saying the target is not empty", code, second.out.String())
	}
	if n := count(t, pg, "SELECT count(*) FROM users"); n != users {
		t.Errorf("the refused copy changed the users from %d to %d", users, n)
	}
}

// toMicroseconds rounds every RFC 3339 instant in a decoded JSON value to the microsecond.
func toMicroseconds(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = toMicroseconds(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = toMicroseconds(e)
		}
		return out
	case string:
		if t, err := time.Parse(time.RFC3339Nano, x); err == nil && strings.Contains(x, "T") {
			return t.Round(time.Microsecond).UTC().Format(time.RFC3339Nano)
		}
	}
	return v
}

// migrate-data wants a sqlite:// source that exists and a postgres:// target; it creates no
// empty SQLite file for a mistyped path.
func TestMigrateDataRefusesBadArguments(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir()}
	missing := filepath.Join(t.TempDir(), "nope.db")
	for _, args := range [][]string{
		{"migrate-data"},
		{"migrate-data", "--from", "postgres://a/b", "--to", "postgres://c/d"},
		{"migrate-data", "--from", "sqlite://" + missing, "--to", "sqlite://" + missing},
	} {
		_, _, err := cli(t, s, "", args...)
		if _, ok := err.(usageError); !ok {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	_, _, err := cli(t, s, "", "migrate-data", "--from", "sqlite://"+missing, "--to", "postgres://postgres@127.0.0.1:1/none")
	if err == nil || !strings.Contains(err.Error(), "source database") {
		t.Errorf("a missing source: %v, want an error about the source database", err)
	}
	if _, statErr := os.Stat(missing); !os.IsNotExist(statErr) {
		t.Errorf("migrate-data created %s", missing)
	}
}
