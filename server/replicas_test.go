package main

// Two replicas on one PostgreSQL database (issue #12): two real "entitled serve" processes with
// their own data directories and listen addresses, the same ENTITLED_DATABASE_URL and
// ENTITLED_SECRET, and one real SMTP sink. What the README promises for several replicas —
// one admin per license, each notice once, a rotation no verifier notices, each letter once — is
// checked here through the API, the CLI and the verify package, as production would exercise it.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"entitled/mailer/mailtest"
	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
	"github.com/entitled-dev/entitled/verify"
)

const (
	// replicaBaseURL is the public name both replicas answer to behind their load balancer: tokens
	// carry it as iss whichever replica signed them, so one verifier configuration fits both.
	replicaBaseURL = "http://entitled.replicas.test"
	// replicaJWKSMaxAge is ENTITLED_JWKS_MAX_AGE for the replicas: a rotated-in key then signs
	// after 2 s + 11 s instead of 5 min + 11 s, so the rotation fits in a test.
	replicaJWKSMaxAge = 2 * time.Second
	// replicaKeyRefresh is how often each replica re-reads the signing keys (store.Keyring's
	// default, not configurable).
	replicaKeyRefresh = 5 * time.Second
	// replicaPassword is every customer's and staff user's password in these tests.
	replicaPassword = "two replicas share one ledger 12"
)

// replicaExtraEnv is what the replicas (and the CLI commands run beside them) set beyond setup's
// variables. Later entries win in loadConfig, so the shared base URL replaces setup's per-address one.
var replicaExtraEnv = []string{
	"ENTITLED_BASE_URL=" + replicaBaseURL,
	"ENTITLED_JWKS_MAX_AGE=" + replicaJWKSMaxAge.String(),
}

// Two replicas of entitled share one PostgreSQL database: a registration race split across them
// makes one admin, a notice pass run on both at once sends each notice once, a key rotation made
// beside them reaches both without a failed verification, and their mail workers deliver every
// letter once. The subtests run in order on the same pair of processes and the same sink; the
// notices come first, as their passes start with the replicas and their letters fill the queue.
func TestReplicasOnOnePostgreSQL(t *testing.T) {
	t.Parallel()
	dbURL := postgresURL(t)
	began := time.Now()
	sink, setups := fleetSetups(t, 2, dbURL)
	sA, sB := setups[0], setups[1]

	// The notice contracts and the renewals staff user exist before the replicas start, so that
	// the leader's sweep (River runs it when a replica becomes leader) races the CLI passes below.
	replicaCLI(t, sA, "", "migrate", "up")
	db := openDB(t, dbURL)
	notices := seedNoticeContracts(t, db)
	replicaCLI(t, sA, replicaPassword+"\n", "staff", "add", "--email", "desk@vendor.test", "--roles", "renewals", "--name", "Renewal Desk")

	replicas := startReplicas(t, sA, sB)
	a, b := replicas[0], replicas[1]
	t.Logf("replica A on %s, replica B on %s, started in %s", a.setup.Addr, b.setup.Addr, time.Since(began).Round(time.Millisecond))
	// The moment both serve is about when the leader starts its sweep: one "renewals notify" per
	// replica's configuration starts now, so that three passes run at once. When each ran is
	// recorded, to show whether they did overlap.
	passesStarted := time.Now()
	passes := []*process{
		startEntitled(t, sA, "renewals", "notify"),
		startEntitled(t, sB, "renewals", "notify"),
	}
	passesEnded := make([]time.Time, len(passes))
	var passesDone sync.WaitGroup
	for i, p := range passes {
		passesDone.Add(1)
		go func() {
			defer passesDone.Done()
			<-p.exited
			passesEnded[i] = time.Now()
		}()
	}

	// The catalogue and the order system's key, made once for every subtest.
	replicaCLI(t, sA, replicaPassword+"\n", "staff", "add", "--email", "ops@vendor.test", "--roles", "ops", "--name", "Ops")
	ordersKey := strings.TrimSpace(replicaCLI(t, sB, "", "apikey", "create", "--name", "order system", "--scopes", "orders:write"))
	ops := replicaLogin(t, a, "ops@vendor.test")
	replicaAPI(t, a, "POST", "/v1/products", ops, map[string]any{"sku": "REPL-1", "name": "Replicated Product"}, nil, http.StatusCreated)
	replicaAPI(t, b, "POST", "/v1/products/REPL-1/versions", ops, map[string]any{"version": "1.0", "released_on": "2025-01-15", "phase": "full"}, nil, http.StatusCreated)
	orders := 0
	order := func(p *process, contact string) string {
		orders++
		return orderLicense(t, p, ordersKey, fmt.Sprintf("REPL-%d", orders), fmt.Sprintf("Replicated Account %d", orders), contact, "REPL-1")
	}

	t.Run("the notice pass run on both replicas at once sends each notice once", func(t *testing.T) {
		// The first round started with the replicas: the leader's periodic sweep and one CLI pass
		// per replica's configuration. A second round of two passes at once finds nothing left.
		queued := 0
		for i, p := range passes {
			if code := p.waitExit(2 * time.Minute); code != 0 {
				t.Fatalf("renewals notify beside replica %c exited %d:\n%s", 'A'+i, code, p.out.String())
			}
			n := queuedRenewalNotices(t, p.out.String())
			queued += n
			t.Logf("the CLI pass with replica %c's configuration queued %d notices", 'A'+i, n)
		}
		passesDone.Wait()
		spans := []string{
			fmt.Sprintf("CLI pass beside A 0–%.2f s", passesEnded[0].Sub(passesStarted).Seconds()),
			fmt.Sprintf("CLI pass beside B 0–%.2f s", passesEnded[1].Sub(passesStarted).Seconds()),
		}
		var sweeps []string
		eventually(t, 2*time.Minute, "the leader's renewal sweep to run", func() bool {
			sweeps = append(logLines(a.out.String(), "renewal sweep"), logLines(b.out.String(), "renewal sweep")...)
			return len(sweeps) > 0
		})
		sweepRE := regexp.MustCompile(`^time=(\S+) .*renewal_notices=(\d+) lapse_notices=(\d+) .*duration_ms=(\d+)`)
		for _, l := range sweeps {
			m := sweepRE.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("a sweep log line without its figures: %s", l)
			}
			renewal, _ := strconv.Atoi(m[2])
			lapse, _ := strconv.Atoi(m[3])
			queued += renewal + lapse
			ended, err := time.Parse(time.RFC3339Nano, m[1])
			ms, _ := strconv.Atoi(m[4])
			if err == nil {
				start := ended.Add(-time.Duration(ms) * time.Millisecond)
				spans = append(spans, fmt.Sprintf("the leader's periodic sweep %.2f–%.2f s (queued %d)",
					start.Sub(passesStarted).Seconds(), ended.Sub(passesStarted).Seconds(), renewal+lapse))
			}
		}
		// River runs the periodic sweep on the leader only, one job a day (a change of leader does
		// not run it again: fleetfaults_test.go); the CLI passes are separate, so the count of
		// sweeps in the logs is reported, not asserted.
		t.Logf("when the passes ran, from the moment both replicas served: %s (%d periodic sweep(s) in the replicas' logs)",
			strings.Join(spans, "; "), len(sweeps))

		var again sync.WaitGroup
		outs := make([]string, 2)
		errs := make([]error, 2)
		for i, s := range []setup{sA, sB} {
			again.Add(1)
			go func() {
				defer again.Done()
				outs[i], errs[i] = replicaRun(s, "", "renewals", "notify")
			}()
		}
		again.Wait()
		for i := range outs {
			if errs[i] != nil || !strings.Contains(outs[i], "queued 0 renewal notice(s), 0 lapse notice(s), 0 digest letter(s)") {
				t.Errorf("a second pass beside replica %c: %v\n%s", 'A'+i, errs[i], outs[i])
			}
		}

		rows := replicaCount(t, db, `SELECT count(*) FROM renewal_notices`)
		distinct := replicaCount(t, db, `SELECT count(*) FROM (SELECT DISTINCT contract_id, ends_on, offset_days FROM renewal_notices) d`)
		digests := replicaCount(t, db, `SELECT count(*) FROM renewal_digests`)
		if rows != len(notices.due) || distinct != rows || digests != 1 {
			t.Errorf("%d notice rows (%d distinct), %d digest rows; want %d, all distinct, and 1", rows, distinct, digests, len(notices.due))
		}
		if queued != len(notices.due) {
			t.Errorf("the passes together say they queued %d notices, want %d", queued, len(notices.due))
		}

		waitLettersSettled(t, db)
		missing, doubled := noticeLetters(sink, notices.due)
		for _, c := range notices.notDue {
			if got := sink.To(c.ContactEmail); len(got) != 0 {
				t.Errorf("contract %d is not due a notice, yet %s got %d letters", c.ContractID, c.ContactEmail, len(got))
			}
		}
		digest := lettersWith(sink, "desk@vendor.test", "Renewals ")
		if len(digest) != 1 {
			t.Errorf("the renewals staff user got %d digest letters, want 1", len(digest))
		}
		if missing+doubled > 0 {
			t.Errorf("%d notices never reached the sink, %d reached it more than once", missing, doubled)
		}
		t.Logf("%d contracts due a notice → %d notice rows, %d letters at the sink (%d missing, %d doubled); %d digest letter(s)",
			len(notices.due), rows, len(notices.due)-missing, missing, doubled, len(digest))
	})

	t.Run("a registration race split across both replicas makes exactly one admin", func(t *testing.T) {
		const racers, rounds = 16, 3
		// Each racer signs up on one replica, follows its letter's link on the other, and later
		// registers through the replica it signed up on: half the race goes to each.
		users := make([]replicaUser, racers)
		for i := range users {
			on, other := a, b
			if i%2 == 1 {
				on, other = b, a
			}
			users[i] = replicaSignUp(t, sink, on, other, fmt.Sprintf("racer%02d@customer.test", i), fmt.Sprintf("Racer %02d", i))
			users[i].via = on
		}
		admins := 0
		for round := range rounds {
			contact := fmt.Sprintf("buyer%d@customer.test", round)
			ln := order(a, contact)
			type answer struct {
				status int
				body   string
			}
			answers := make([]answer, racers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, u := range users {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					answers[i].status, answers[i].body = replicaDo(u.via, "POST", "/v1/registrations", u.session, map[string]any{"license_number": ln})
				}()
			}
			close(start)
			wg.Wait()

			winner := -1
			for i, ans := range answers {
				switch ans.status {
				case http.StatusCreated:
					var got struct {
						Roles  []string `json:"roles"`
						Status string   `json:"status"`
					}
					_ = json.Unmarshal([]byte(ans.body), &got)
					if got.Status != "active" || !slices.Equal(sorted(got.Roles), []string{"admin", "license", "support"}) {
						t.Errorf("round %d: the winner's answer is %s, want status active with admin, support and license", round, ans.body)
					}
					if winner >= 0 {
						t.Errorf("round %d: %s and %s both became admin of %s", round, users[winner].email, users[i].email, ln)
					}
					winner = i
					admins++
				case http.StatusAccepted:
					if !strings.Contains(ans.body, `"pending"`) || !strings.Contains(ans.body, `"request_id"`) {
						t.Errorf("round %d: a loser's 202 is %s, want {request_id, status: pending}", round, ans.body)
					}
				default:
					t.Errorf("round %d: %s got %d %s, want 201 or 202", round, users[i].email, ans.status, ans.body)
				}
			}
			if winner < 0 {
				t.Fatalf("round %d: nobody became admin of %s", round, ln)
			}
			t.Logf("round %d: %d registrations of %s (%d via each replica): %s won through replica %s, %d joined the queue",
				round, racers, ln, racers/2, users[winner].email, replicaName(users[winner].via, a), racers-1)

			memberAdmins := replicaCount(t, db, `SELECT count(*) FROM members m JOIN licenses l ON l.id = m.license_id WHERE l.license_number = $1 AND m.role_admin`, ln)
			pending := replicaCount(t, db, `SELECT count(*) FROM join_requests j JOIN licenses l ON l.id = j.license_id WHERE l.license_number = $1 AND j.status = 'pending'`, ln)
			claimed := replicaCount(t, db, `SELECT count(*) FROM audit_log WHERE subject_id = $1 AND action = 'registration.claimed'`, ln)
			requested := replicaCount(t, db, `SELECT count(*) FROM audit_log WHERE subject_id = $1 AND action = 'registration.requested'`, ln)
			if memberAdmins != 1 || pending != racers-1 || claimed != 1 || requested != racers-1 {
				t.Errorf("round %d: %d admin members, %d pending requests, %d registration.claimed and %d registration.requested audit rows; want 1, %d, 1, %d",
					round, memberAdmins, pending, claimed, requested, racers-1, racers-1)
			}

			// Letters: the order's contact is told once who claimed the license, and the admin
			// gets one letter per join request.
			waitLettersSettled(t, db)
			claims := lettersWith(sink, contact, "License "+ln+" was registered")
			if len(claims) != 1 || !strings.Contains(claims[0].text, users[winner].email) {
				t.Errorf("round %d: %d claim letters to %s (want 1, naming %s)", round, len(claims), contact, users[winner].email)
			}
			if joins := lettersWith(sink, users[winner].email, "asks to join license "+ln); len(joins) != racers-1 {
				t.Errorf("round %d: the admin got %d join-request letters, want %d", round, len(joins), racers-1)
			}
		}
		t.Logf("%d registrations in %d races → %d admins", racers*rounds, rounds, admins)
	})

	t.Run("a key rotation beside both replicas reaches the other one without a failed verification", func(t *testing.T) {
		u := replicaSignUp(t, sink, b, a, "verifier-user@customer.test", "Token User")
		ln := order(b, "rotation-buyer@customer.test")
		replicaAPI(t, a, "POST", "/v1/registrations", u.session, map[string]any{"license_number": ln}, nil, http.StatusCreated)
		mint := func(p *process) string {
			var res struct {
				Token string `json:"token"`
			}
			replicaAPI(t, p, "POST", "/v1/entitlements/token", u.session, map[string]any{"license_number": ln, "audience": "kb"}, &res, http.StatusCreated)
			return res.Token
		}

		// One verifier per replica's JWKS, the way another service deployed beside each would
		// be. Each has spent its one early refresh on an unknown kid and may not make another
		// for an hour, so it knows a key only from a key set it fetched when its max-age ran
		// out: a token signed before its key was published long enough would fail here instead
		// of being rescued by an early fetch.
		verifiers := map[string]*verify.Verifier{}
		for name, p := range map[string]*process{"A": a, "B": b} {
			v, err := verify.New(p.URL()+"/.well-known/jwks.json", verify.Options{Issuer: replicaBaseURL, Audience: []string{"kb"},
				JWKS: verify.JWKSOptions{MinRefreshInterval: time.Hour}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.JWKS().PublicKey(context.Background(), "no-such-kid"); !errors.Is(err, verify.ErrUnknownKey) {
				t.Fatalf("spending the early refresh of verifier %s: %v", name, err)
			}
			verifiers[name] = v
		}
		tries, failures := 0, 0
		check := func(token, mintedOn string) {
			for name, v := range verifiers {
				tries++
				if _, err := v.Verify(context.Background(), token); err != nil {
					failures++
					if failures <= 5 {
						t.Errorf("a token minted on replica %s (kid %s) failed verification against replica %s's JWKS: %v", mintedOn, tokenKid(t, token), name, err)
					}
				}
			}
		}
		before := map[string]string{"A": mint(a), "B": mint(b)}
		oldKid := tokenKid(t, before["A"])
		if k := tokenKid(t, before["B"]); k != oldKid {
			t.Fatalf("before the rotation replica A signs with %s and replica B with %s", oldKid, k)
		}
		for name, tok := range before {
			check(tok, name)
		}

		out := replicaCLI(t, sA, "", "keys", "rotate")
		rotated := time.Now()
		m := regexp.MustCompile(`^entitlement key (\S+) is published and signs from (\S+) \(after ENTITLED_JWKS_MAX_AGE=2s\)\n$`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("keys rotate printed %q", out)
		}
		newKid := m[1]
		activates, err := time.Parse(time.RFC3339, m[2])
		if err != nil {
			t.Fatalf("keys rotate printed %q: %v", out, err)
		}
		t.Logf("rotated: %s, signing from %s (%s after the command returned)", newKid, m[2], activates.Sub(rotated).Round(time.Millisecond))

		// Mint on both replicas and verify with both verifiers until each replica has signed with
		// the new key, then a few rounds more. The bound is the README's: the key signs from
		// activates (ENTITLED_JWKS_MAX_AGE + 11 s), and a replica promotes it at its next re-read.
		firstNew := map[string]time.Time{}
		deadline := activates.Add(2*replicaKeyRefresh + 60*time.Second)
		extra := 0
		for extra < 5 {
			for name, p := range map[string]*process{"A": a, "B": b} {
				tok := mint(p)
				check(tok, name)
				kid := tokenKid(t, tok)
				switch kid {
				case newKid:
					if iat := tokenIssuedAt(t, tok); iat.Before(activates) {
						t.Errorf("replica %s signed with the new key at %s, before it was due at %s", name, iat, activates)
					}
					if firstNew[name].IsZero() {
						firstNew[name] = time.Now()
					}
				case oldKid:
					if !firstNew[name].IsZero() {
						t.Errorf("replica %s signed with the old key again after it had switched to the new one", name)
					}
				default:
					t.Errorf("replica %s signed with kid %s, neither the old %s nor the new %s", name, kid, oldKid, newKid)
				}
			}
			if len(firstNew) == 2 {
				extra++
			}
			if time.Now().After(deadline) {
				t.Fatalf("by %s (activation + %s) the replicas that sign with the new key are %v", deadline.Format(time.RFC3339), deadline.Sub(activates), firstNew)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// Tokens signed by the old key are still good after both replicas switched: it stays
		// published for the token lifetime and more.
		for name, tok := range before {
			check(tok, name)
		}
		for _, name := range []string{"A", "B"} {
			t.Logf("replica %s signs with the new kid %s after the rotate command returned (%s after the stated activation at max-age + 11 s)",
				name, firstNew[name].Sub(rotated).Round(100*time.Millisecond), firstNew[name].Sub(activates).Round(100*time.Millisecond))
		}
		t.Logf("%d verifications of tokens minted on either replica against either replica's JWKS, %d failed; JWKS fetches: A %d, B %d",
			tries, failures, verifiers["A"].JWKS().Fetches(), verifiers["B"].JWKS().Fetches())
	})

	t.Run("the mail workers of both replicas deliver every letter once", func(t *testing.T) {
		const letters, queuers = 40, 4
		// Four "mail test" commands at a time, half with each replica's configuration, so that
		// letters arrive in bursts while both workers poll the queue.
		ids := make([]string, letters)
		errs := make([]error, letters)
		queuedRE := regexp.MustCompile(`^queued (<[^>\s]+>) to (\S+)\n$`)
		var wg sync.WaitGroup
		for q := range queuers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := q; i < letters; i += queuers {
					s := sA
					if i%2 == 1 {
						s = sB
					}
					to := fmt.Sprintf("letter%02d@outbox.test", i)
					out, err := replicaRun(s, "", "mail", "test", "--to", to)
					if m := queuedRE.FindStringSubmatch(out); err == nil && (m == nil || m[2] != to) {
						err = fmt.Errorf("mail test --to %s printed %q", to, out)
					} else if err == nil {
						ids[i] = m[1]
					}
					errs[i] = err
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		waitLettersSettled(t, db)
		delivered, doubled := 0, 0
		for i, id := range ids {
			got := sink.To(fmt.Sprintf("letter%02d@outbox.test", i))
			delivered += len(got)
			if len(got) != 1 {
				doubled += max(0, len(got)-1)
				t.Errorf("letter %d: %d copies at the sink, want 1", i, len(got))
				continue
			}
			if m, err := mail.ReadMessage(bytes.NewReader(got[0].Data)); err != nil || m.Header.Get("Message-ID") != id {
				t.Errorf("letter %d: not the message queued as %s (%v)", i, id, err)
			}
		}
		// Which worker sent what: River records the client that worked each job. The split is
		// not promised (either worker may take every letter) and only reported.
		rows, err := db.SQLDB().Query(`SELECT attempted_by[array_length(attempted_by, 1)], count(*) FROM river_job
			WHERE kind = 'send_letter' AND args::text LIKE '%@outbox.test%' GROUP BY 1 ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var split []string
		for rows.Next() {
			var client string
			var n int
			if err := rows.Scan(&client, &n); err != nil {
				t.Fatal(err)
			}
			split = append(split, fmt.Sprintf("%s: %d", client, n))
		}
		t.Logf("%d letters queued (half through each replica's configuration) → %d delivered, %d doubled; by worker: %s",
			letters, delivered, doubled, strings.Join(split, ", "))
	})

	t.Run("no letter reached the sink twice", func(t *testing.T) {
		waitLettersSettled(t, db)
		msgs := sink.Messages()
		seen := sink.ByMessageID(t) // the letters are settled: msgs are all there are
		for id, n := range seen {
			if n != 1 {
				t.Errorf("Message-ID %s reached the sink %d times", id, n)
			}
		}
		jobs := replicaCount(t, db, `SELECT count(*) FROM river_job WHERE kind = 'send_letter'`)
		if len(msgs) != jobs {
			t.Errorf("%d letters at the sink for %d letter jobs", len(msgs), jobs)
		}
		t.Logf("the whole run: %d letter jobs, %d letters at the sink, %d distinct Message-IDs; wall time %s",
			jobs, len(msgs), len(seen), time.Since(began).Round(time.Second))
	})
}

// noticeContracts are the contracts seeded for the notice race.
type noticeContracts struct {
	due    []storetest.Seeded // owed one notice today (renewal or lapse)
	notDue []storetest.Seeded
}

// seedNoticeContracts writes 1,200 contracts straight into the database: 200 owed each renewal
// notice (90, 60, 30 and 7 days) and the lapse notice, and 200 owed nothing. The 1,000 due take
// the sweep two batches of 500, so that concurrent passes can meet batch by batch.
func seedNoticeContracts(t *testing.T, db *store.Store) noticeContracts {
	t.Helper()
	today := models.DateOf(time.Now())
	daysLeft := []int{80, 50, 25, 5, -1, 200} // → 90, 60, 30, 7 days, lapse, nothing
	seeded := storetest.SeedContracts(t, db, 1200, func(i int) storetest.Contract {
		return storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(daysLeft[i%len(daysLeft)]),
			ContactEmail: fmt.Sprintf("notice%04d@renewals.test", i)}
	})
	var c noticeContracts
	for i, s := range seeded {
		if daysLeft[i%len(daysLeft)] == 200 {
			c.notDue = append(c.notDue, s)
		} else {
			c.due = append(c.due, s)
		}
	}
	return c
}

// queuedRenewalNotices is the renewal and lapse notices a "renewals notify" summary says it queued.
func queuedRenewalNotices(t *testing.T, out string) int {
	t.Helper()
	m := regexp.MustCompile(`queued (\d+) renewal notice\(s\), (\d+) lapse notice\(s\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("renewals notify printed no summary:\n%s", out)
	}
	r, _ := strconv.Atoi(m[1])
	l, _ := strconv.Atoi(m[2])
	return r + l
}

// replicaEnv is the environment of a CLI command run beside the replicas.
func replicaEnv(s setup) []string { return append(s.env(), replicaExtraEnv...) }

// replicaRun runs one entitled command in-process with the replicas' settings. It is safe to
// call from any goroutine.
func replicaRun(s setup, stdin string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, args, replicaEnv(s), strings.NewReader(stdin), &out, &errOut)
	if err != nil {
		err = fmt.Errorf("entitled %s: %w\nstderr:\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), err
}

// replicaCLI is replicaRun for a command that must succeed.
func replicaCLI(t *testing.T, s setup, stdin string, args ...string) string {
	t.Helper()
	out, err := replicaRun(s, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// startEntitled starts the binary with the replicas' settings, as startProcess does with the
// setup's alone. It never fails the test itself, so it may be called from any goroutine; a
// process that cannot start is returned as one that has exited.
func startEntitled(t *testing.T, s setup, args ...string) *process {
	cmd := exec.Command(binary, args...)
	cmd.Env = append(s.processEnv(), replicaExtraEnv...)
	p, _ := spawn(t, s, cmd) // the error is in the process's output
	return p
}

// startReplicas starts "entitled serve" for every setup at once, each on a free loopback port,
// and waits until all answer /healthz.
func startReplicas(t *testing.T, setups ...setup) []*process {
	t.Helper()
	ps := make([]*process, len(setups))
	for i := range setups {
		setups[i].Addr = freeAddr(t)
		ps[i] = startEntitled(t, setups[i], "serve")
	}
	for i := range ps {
		for attempt := 1; ; attempt++ {
			err := ps[i].waitHealthy(startTimeout)
			if err == nil {
				break
			}
			// Another process may have taken the port between freeAddr and the server's listen.
			if ps[i].hasExited() && strings.Contains(ps[i].out.String(), "address already in use") && attempt < 3 {
				setups[i].Addr = freeAddr(t)
				ps[i] = startEntitled(t, setups[i], "serve")
				continue
			}
			t.Fatalf("replica %c did not become healthy: %v\n%s", 'A'+i, err, ps[i].out.String())
		}
	}
	return ps
}

func replicaName(p, a *process) string {
	if p == a {
		return "A"
	}
	return "B"
}

// replicaDo sends a JSON request to a replica and returns the status and body (status 0 and the
// error's text when no answer came). It never fails the test, so goroutines may call it.
func replicaDo(p *process, method, path, token string, body any) (int, string) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, p.URL()+path, rd)
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 60 * time.Second}
	res, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// replicaAPI is replicaDo for a call that must answer want; the answer is decoded into out.
func replicaAPI(t *testing.T, p *process, method, path, token string, body, out any, want int) {
	t.Helper()
	status, b := replicaDo(p, method, path, token, body)
	if status != want {
		t.Fatalf("%s %s on %s: %d %s, want %d", method, path, p.setup.Addr, status, b, want)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(b), out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
}

func replicaLogin(t *testing.T, p *process, email string) string {
	t.Helper()
	var res struct {
		AccessToken string `json:"access_token"`
	}
	replicaAPI(t, p, "POST", "/v1/auth/login", "", map[string]string{"email": email, "password": replicaPassword}, &res, http.StatusOK)
	return res.AccessToken
}

// replicaUser is a verified customer with a session.
type replicaUser struct {
	email, session string
	via            *process // the replica the user registers through
}

// replicaSignUp signs a customer up on one replica, verifies the address with the link of the
// letter at the sink on the other (any replica accepts it), and logs in.
func replicaSignUp(t *testing.T, sink *mailtest.Sink, signUpOn, verifyOn *process, email, name string) replicaUser {
	t.Helper()
	replicaAPI(t, signUpOn, "POST", "/v1/auth/signup", "", map[string]string{"email": email, "password": replicaPassword, "name": name}, nil, http.StatusCreated)
	token := mailtest.LinkToken(t, sink.WaitFor(t, email, 0, "/verify?token="))
	replicaAPI(t, verifyOn, "POST", "/v1/auth/verify", "", map[string]string{"token": token}, nil, http.StatusOK)
	return replicaUser{email: email, session: replicaLogin(t, signUpOn, email)}
}

// replicaCount is the count(*) that a query against the shared database answers.
func replicaCount(t *testing.T, db *store.Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.SQLDB().QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitLettersSettled waits until no letter job is left to work (each completed, or given up on),
// and for the job queue to be idle, so that a duplicate delivery would have reached the sink.
func waitLettersSettled(t *testing.T, db *store.Store) {
	t.Helper()
	eventually(t, deliveryTimeout, "every queued letter to be worked", func() bool {
		return replicaCount(t, db, `SELECT count(*) FROM river_job WHERE kind = 'send_letter' AND state NOT IN ('completed', 'cancelled', 'discarded')`) == 0
	})
	if failed := replicaCount(t, db, `SELECT count(*) FROM river_job WHERE kind = 'send_letter' AND state <> 'completed'`); failed != 0 {
		t.Errorf("%d letter jobs ended without being sent", failed)
	}
	waitQueueIdle(t, db)
}

// sinkLetter is a letter at the sink, with its decoded subject and searchable text.
type sinkLetter struct {
	subject, text string
}

// lettersWith lists the letters to addr whose subject contains s.
func lettersWith(sink *mailtest.Sink, addr, s string) []sinkLetter {
	var out []sinkLetter
	for _, m := range sink.To(addr) {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			continue
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			subject = msg.Header.Get("Subject")
		}
		if strings.Contains(subject, s) {
			out = append(out, sinkLetter{subject: subject, text: m.Text()})
		}
	}
	return out
}

// tokenPart decodes part (0: header, 1: claims) of a compact JWS into v, checking nothing.
func tokenPart(t *testing.T, token string, part int, v any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("%q is not a compact JWS", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[part])
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.Fatalf("token part %d: %v", part, err)
	}
}

func tokenKid(t *testing.T, token string) string {
	t.Helper()
	var h struct {
		Kid string `json:"kid"`
	}
	tokenPart(t, token, 0, &h)
	return h.Kid
}

func tokenIssuedAt(t *testing.T, token string) time.Time {
	t.Helper()
	var c struct {
		IssuedAt int64 `json:"iat"`
	}
	tokenPart(t, token, 1, &c)
	return time.Unix(c.IssuedAt, 0)
}
