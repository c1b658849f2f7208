package main

// Crash tests: a binary built with -tags failpoint kills itself with SIGKILL at a named step of
// an order, a registration or a renewal-notice pass (ENTITLED_FAILPOINT, models/store/failpoint_on.go),
// and the ordinary binary is restarted on the same database. What the crash left must be whole or
// absent, and every letter must reach the SMTP sink exactly once.

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"entitled/mailer"
	"entitled/mailer/mailtest"
	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

var (
	failpointOnce sync.Once
	failpointBin  string
	failpointErr  error
)

// failpointBinary builds the failpoint binary once, beside the ordinary one (TestMain removes that
// directory at the end).
func failpointBinary(t *testing.T) string {
	t.Helper()
	failpointOnce.Do(func() {
		failpointBin = filepath.Join(filepath.Dir(binary), "entitled-failpoint")
		out, err := exec.Command("go", "build", "-tags", "failpoint", "-o", failpointBin, ".").CombinedOutput()
		if err != nil {
			failpointErr = fmt.Errorf("go build -tags failpoint: %v\n%s", err, out)
		}
	})
	if failpointErr != nil {
		t.Fatal(failpointErr)
	}
	return failpointBin
}

// launch starts bin with args under the setup plus extra environment entries, as startProcess
// does for the ordinary binary.
func launch(t *testing.T, bin string, s setup, extraEnv []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(s.processEnv(), extraEnv...)
	p, err := spawn(t, s, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startArmedServer starts the failpoint binary's "serve" with step armed and waits for /healthz.
func startArmedServer(t *testing.T, s setup, step string) *process {
	t.Helper()
	bin := failpointBinary(t)
	return startHealthy(t, s, "armed server", func(s setup) *process {
		return launch(t, bin, s, []string{"ENTITLED_FAILPOINT=" + step}, "serve")
	})
}

// waitKilled waits for the process to die of the SIGKILL its failpoint sent, then makes the jobs
// it left running rescuable at once (ageRunningJobs): the kill may come just after its job queue
// took a letter's job.
func waitKilled(t *testing.T, p *process, step string, db *store.Store) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(startTimeout):
		t.Fatalf("the process did not die at %s within %s", step, startTimeout)
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the process ended with %v, want death by SIGKILL at %s", p.cmd.ProcessState, step)
	}
	ageRunningJobs(t, db)
}

// ageRunningJobs makes the jobs a killed process left "running" rescuable now, as River's
// RescueStuckJobsAfter (5 minutes after their attempt) would later: the next server's rescuer
// runs them again instead of the test waiting out the five minutes.
func ageRunningJobs(t *testing.T, db *store.Store) {
	t.Helper()
	age := `UPDATE river_job SET attempted_at = attempted_at - interval '10 minutes' WHERE state = 'running'`
	if db.Dialect == store.SQLite {
		age = `UPDATE river_job SET attempted_at = strftime('%Y-%m-%d %H:%M:%f', attempted_at, '-10 minutes') WHERE state = 'running'`
	}
	if _, err := db.SQLDB().Exec(age); err != nil {
		t.Fatalf("age the running jobs: %v", err)
	}
}

// call sends body as JSON with the bearer token. A transport error (the server died mid-request)
// is returned, not fatal.
func call(t *testing.T, base, method, path, token string, body any) (int, map[string]any, error) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, nil
}

// mustCall is call for a request that must be answered with want.
func mustCall(t *testing.T, base, method, path, token string, body any, want int) map[string]any {
	t.Helper()
	status, out, err := call(t, base, method, path, token, body)
	if err != nil || status != want {
		t.Fatalf("%s %s: %d %v (%v), want %d", method, path, status, out, err, want)
	}
	return out
}

// count runs a count(*) query (? placeholders on both dialects).
func count(t *testing.T, db *store.Store, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := storetest.Gorm(t, db).Raw(query, args...).Scan(&n).Error; err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// queuedJob is a send_letter job of the outbox: its River state and its letter.
type queuedJob struct {
	state  string
	letter mailer.Letter
}

// letterJobs are the outbox's (committed) send_letter jobs.
func letterJobs(t *testing.T, db *store.Store) []queuedJob {
	t.Helper()
	// River keeps SQLite's job args as binary JSONB; json() gives them back as text.
	args := "args"
	if db.Dialect == store.SQLite {
		args = "json(args)"
	}
	return storetest.Rows(t, db, `SELECT state, `+args+` FROM river_job WHERE kind = 'send_letter'`, func(r *sql.Rows) (j queuedJob, err error) {
		var raw []byte
		if err := r.Scan(&j.state, &raw); err != nil {
			return j, err
		}
		var a mailer.SendLetterArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return j, fmt.Errorf("a letter job's args %.80q…: %w", raw, err)
		}
		j.letter = a.Letter
		return j, nil
	})
}

// queuedLetters are the letters the outbox holds (committed send_letter jobs), by Message-ID.
func queuedLetters(t *testing.T, db *store.Store) map[string]mailer.Letter {
	t.Helper()
	out := map[string]mailer.Letter{}
	for _, j := range letterJobs(t, db) {
		out[j.letter.MessageID] = j.letter
	}
	return out
}

// lettersOf lists the queued letters of a kind to an address.
func lettersOf(letters map[string]mailer.Letter, kind, to string) []mailer.Letter {
	var out []mailer.Letter
	for _, l := range letters {
		if l.Kind == kind && slices.Contains(l.To, to) {
			out = append(out, l)
		}
	}
	return out
}

// waitAllCompleted waits until every letter job has completed: a letter delivered by a process
// that is then killed before River records it would be sent again, which is the outbox's
// at-least-once and not what these tests are about.
func waitAllCompleted(t *testing.T, db *store.Store) {
	t.Helper()
	eventually(t, deliveryTimeout, "every letter's job to complete", func() bool {
		return count(t, db, `SELECT count(*) FROM river_job WHERE kind = 'send_letter' AND state <> 'completed'`) == 0
	})
}

// queueBusySQL counts the letter jobs (send_letter, or a *_letter job that decides and queues
// one) not yet in a final state: available, running, retryable or scheduled ones will run again.
// Other jobs are not counted: a housekeeping job a killed server left "running" stays so until
// River rescues it minutes later, and sends nothing.
const queueBusySQL = `SELECT count(*) FROM river_job WHERE kind LIKE '%letter' AND state NOT IN ('completed', 'cancelled', 'discarded')`

// waitQueueIdle waits until the job queue is idle (queueBusySQL counts nothing): every letter
// job has ended and no attempt is under way or due, so a duplicate delivery, which only an
// attempt makes, has reached the sink by now. Tests count letters after it instead of sleeping
// a few poll intervals.
func waitQueueIdle(t *testing.T, db *store.Store) {
	t.Helper()
	eventually(t, deliveryTimeout, "the job queue to be idle (every letter job ended)", func() bool {
		return count(t, db, queueBusySQL) == 0
	})
}

// deliveredExactlyOnce waits for every queued letter to be delivered and for the job queue to be
// idle (room for a duplicate to show), and checks that the sink has each queued letter exactly
// once and nothing else. It returns the numbers of letters, lost ones and doubled ones.
func deliveredExactlyOnce(t *testing.T, db *store.Store, sink *mailtest.Sink) (letters, lost, doubled int) {
	t.Helper()
	waitAllCompleted(t, db)
	waitQueueIdle(t, db)
	queued := queuedLetters(t, db)
	got := sink.ByMessageID(t)
	for id, l := range queued {
		switch n := got[id]; {
		case n == 0:
			lost++
			t.Errorf("letter %s (%s to %v) was never delivered", id, l.Kind, l.To)
		case n > 1:
			doubled++
			t.Errorf("letter %s (%s to %v) was delivered %d times", id, l.Kind, l.To, n)
		}
	}
	for id, n := range got {
		if _, ok := queued[id]; !ok {
			t.Errorf("the sink has %d letter(s) %s that the outbox does not hold: a letter of work that rolled back", n, id)
		}
	}
	return len(queued), lost, doubled
}

// The normal binary refuses ENTITLED_FAILPOINT: it has no failpoints, and must not let anyone
// believe one is armed.
func TestFailpoint_RefusedWithoutTheBuildTag(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir()}
	p := launch(t, binary, s, []string{"ENTITLED_FAILPOINT=order.before_commit"}, "serve")
	if code := p.waitExit(startTimeout); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if out := p.out.String(); !strings.Contains(out, "ENTITLED_FAILPOINT") || !strings.Contains(out, "-tags failpoint") {
		t.Errorf("the refusal does not say why:\n%s", out)
	}
	if files, _ := filepath.Glob(filepath.Join(s.DataDir, "entitled.db*")); len(files) != 0 {
		t.Errorf("a refused start made %q", files)
	}
}

// orderState is what the database holds of the test's order.
type orderState struct {
	orders, licenses, contracts, terms, renewedTerms, audit, letters int64
	renewedEndsOn                                                    string // YYYY-MM-DD
}

func readOrder(t *testing.T, db *store.Store, ref string, seeded storetest.Seeded, contact string) orderState {
	t.Helper()
	var st orderState
	st.orders = count(t, db, `SELECT count(*) FROM orders WHERE order_ref = ?`, ref)
	st.licenses = count(t, db, `SELECT count(*) FROM licenses WHERE id <> ?`, seeded.LicenseID)
	st.contracts = count(t, db, `SELECT count(*) FROM contracts WHERE id <> ?`, seeded.ContractID)
	st.terms = count(t, db, `SELECT count(*) FROM contract_terms WHERE contract_id <> ?`, seeded.ContractID)
	st.renewedTerms = count(t, db, `SELECT count(*) FROM contract_terms WHERE contract_id = ? AND kind = 'renewal'`, seeded.ContractID)
	st.audit = count(t, db, `SELECT count(*) FROM audit_log WHERE action IN ('license.created', 'contract.renewed')`)
	st.letters = int64(len(lettersOf(queuedLetters(t, db), "order_confirmation", contact)))
	var c models.Contract
	if err := storetest.Gorm(t, db).Take(&c, seeded.ContractID).Error; err != nil {
		t.Fatal(err)
	}
	st.renewedEndsOn = c.EndsOn.String()
	return st
}

// An order is whole (its row, two new licenses with contracts and terms, the renewal's term and
// new ends_on, three audit rows, one letter) or absent (none of it): it returns which, or fails.
func (st orderState) placed(t *testing.T, oldEnds, newEnds models.Date) bool {
	t.Helper()
	whole := orderState{1, 2, 2, 2, 1, 3, 1, newEnds.String()}
	absent := orderState{0, 0, 0, 0, 0, 0, 0, oldEnds.String()}
	switch st {
	case whole:
		return true
	case absent:
		return false
	}
	t.Errorf("half-written order: %+v; want whole %+v or absent %+v", st, whole, absent)
	return false
}

// eachFailpoint runs crash for each step on both dialects, all in parallel, each on a fresh
// database that the normal binary has migrated, with its own mail sink.
func eachFailpoint(t *testing.T, steps []string, crash func(t *testing.T, step string, s setup, sink *mailtest.Sink, db *store.Store)) {
	eachDialectInParallel(t, func(t *testing.T, d store.Dialect) {
		for _, step := range steps {
			t.Run(step, func(t *testing.T) {
				t.Parallel()
				sink, s := mailedSetup(t, d)
				mustCLI(t, s, "", "migrate", "up")
				crash(t, step, s, sink, openDB(t, s.DatabaseURL))
			})
		}
	})
}

// Killed inside the order's transaction, the order is absent and a retry places it; killed just
// after the commit (before the answer), it is whole and a retry is order_ref_taken. Either way
// the welcome letter is delivered exactly once.
func TestFailpoint_Order(t *testing.T) {
	eachFailpoint(t, []string{"order.before_commit", "order.after_commit"}, func(t *testing.T, step string, s setup, sink *mailtest.Sink, db *store.Store) {
		today := models.DateOf(time.Now())
		const contact = "buyer@acme.test"
		oldEnds, newEnds := today.AddDays(200), today.AddDays(565)
		seeded := storetest.SeedContract(t, db, storetest.Contract{StartsOn: today.AddDays(-165), EndsOn: oldEnds, ContactEmail: contact})
		var sku string
		if err := storetest.Gorm(t, db).Raw(`SELECT sku FROM products`).Scan(&sku).Error; err != nil {
			t.Fatal(err)
		}
		key := strings.TrimSpace(mustCLI(t, s, "", "apikey", "create", "--name", "order system", "--scopes", "orders:write"))
		const ref = "PO-CRASH-1"
		order := map[string]any{
			"order_ref": ref,
			"account":   map[string]any{"account_id": seeded.AccountID},
			"items": []any{
				map[string]any{"sku": sku, "quantity": 3, "kind": "perpetual", "support": map[string]any{"program": "standard", "ends_on": today.AddDays(365).String()}},
				map[string]any{"sku": sku, "quantity": 1, "kind": "perpetual", "support": map[string]any{"program": "24x7", "ends_on": today.AddDays(365).String()}},
				map[string]any{"license_number": seeded.LicenseNumber, "support": map[string]any{"program": "standard", "ends_on": newEnds.String()}},
			},
		}

		armed := startArmedServer(t, s, step)
		status, body, err := call(t, armed.URL(), "POST", "/v1/orders", key, order)
		waitKilled(t, armed, step, db)
		if err == nil {
			t.Errorf("the order was answered (%d %v) by a process killed at %s", status, body, step)
		}
		placed := readOrder(t, db, ref, seeded, contact).placed(t, oldEnds, newEnds)
		if want := step == "order.after_commit"; placed != want {
			t.Errorf("after the kill at %s the order is placed=%v, want %v", step, placed, want)
		}

		srv := startServer(t, s)
		// The order system did not get an answer, so it sends the order again.
		if placed {
			if out := mustCall(t, srv.URL(), "POST", "/v1/orders", key, order, http.StatusConflict); out["code"] != "order_ref_taken" {
				t.Errorf("retry of a placed order: %v, want order_ref_taken", out)
			}
		} else {
			mustCall(t, srv.URL(), "POST", "/v1/orders", key, order, http.StatusCreated)
		}
		if !readOrder(t, db, ref, seeded, contact).placed(t, oldEnds, newEnds) {
			t.Errorf("after the restart and the retry the order is not placed")
		}
		letters, lost, doubled := deliveredExactlyOnce(t, db, sink)
		if n := len(sink.To(contact)); n != 1 {
			t.Errorf("the primary contact got %d letters, want 1 order confirmation", n)
		}
		t.Logf("%s %s: killed at %s, placed before retry=%v; %d letter(s), %d lost, %d doubled", db.Dialect, step, step, placed, letters, lost, doubled)
	})
}

// registrationState is what the database holds of the test's registration.
type registrationState struct {
	claimed, members, audit, letters int64
}

func readRegistration(t *testing.T, db *store.Store, seeded storetest.Seeded, contact string) registrationState {
	t.Helper()
	return registrationState{
		claimed: count(t, db, `SELECT count(*) FROM licenses WHERE id = ? AND claimed_by IS NOT NULL AND registered_on IS NOT NULL`, seeded.LicenseID),
		members: count(t, db, `SELECT count(*) FROM members WHERE license_id = ? AND role_admin`, seeded.LicenseID),
		audit:   count(t, db, `SELECT count(*) FROM audit_log WHERE action = 'registration.claimed' AND license_id = ?`, seeded.LicenseID),
		letters: int64(len(lettersOf(queuedLetters(t, db), "claim_notice", contact))),
	}
}

// registered reports whether the registration is whole (claimed, one admin member, its audit row,
// the claim letter) or absent (none of it), and fails the test on anything between.
func (st registrationState) registered(t *testing.T) bool {
	t.Helper()
	switch st {
	case registrationState{1, 1, 1, 1}:
		return true
	case registrationState{}:
		return false
	}
	t.Errorf("half-written registration: %+v (claimed, admin members, audit rows, claim letters); want all 1 or all 0", st)
	return false
}

// Killed after the member row was written but before its audit row, the registration is absent
// and a retry makes the customer admin; killed after the commit, it is whole and a retry says
// already a member. The claim letter to the primary contact is delivered exactly once.
func TestFailpoint_Registration(t *testing.T) {
	eachFailpoint(t, []string{"registration.before_commit", "registration.after_commit"}, func(t *testing.T, step string, s setup, sink *mailtest.Sink, db *store.Store) {
		today := models.DateOf(time.Now())
		const contact, customer, password = "owner@acme.test", "admin@acme.test", "quartz-lantern-58-orbit"
		seeded := storetest.SeedContract(t, db, storetest.Contract{StartsOn: today.AddDays(-10), EndsOn: today.AddDays(355), ContactEmail: contact})

		// The armed server does the customer's sign-up too: its failpoint fires only at the step.
		armed := startArmedServer(t, s, step)
		mustCall(t, armed.URL(), "POST", "/v1/auth/signup", "", map[string]any{"email": customer, "password": password, "name": "Ada Admin"}, http.StatusCreated)
		verify := sink.WaitFor(t, customer, 0, "verify")
		mustCall(t, armed.URL(), "POST", "/v1/auth/verify", "", map[string]any{"token": mailtest.LinkToken(t, verify)}, http.StatusOK)
		login := mustCall(t, armed.URL(), "POST", "/v1/auth/login", "", map[string]any{"email": customer, "password": password}, http.StatusOK)
		token, _ := login["access_token"].(string)
		waitAllCompleted(t, db)

		reg := map[string]any{"license_number": seeded.LicenseNumber}
		status, body, err := call(t, armed.URL(), "POST", "/v1/registrations", token, reg)
		waitKilled(t, armed, step, db)
		if err == nil {
			t.Errorf("the registration was answered (%d %v) by a process killed at %s", status, body, step)
		}
		registered := readRegistration(t, db, seeded, contact).registered(t)
		if want := step == "registration.after_commit"; registered != want {
			t.Errorf("after the kill at %s the license is registered=%v, want %v", step, registered, want)
		}

		srv := startServer(t, s)
		want := http.StatusCreated
		if registered {
			want = http.StatusOK // already a member
		}
		mustCall(t, srv.URL(), "POST", "/v1/registrations", token, reg, want)
		if !readRegistration(t, db, seeded, contact).registered(t) {
			t.Errorf("after the restart and the retry the license is not registered")
		}
		letters, lost, doubled := deliveredExactlyOnce(t, db, sink)
		if n := len(sink.To(contact)); n != 1 {
			t.Errorf("the primary contact got %d letters, want 1 claim notice", n)
		}
		t.Logf("%s %s: killed at %s, registered before retry=%v; %d letter(s), %d lost, %d doubled", db.Dialect, step, step, registered, letters, lost, doubled)
	})
}

// Killed inside the notice batch's transaction, the pass leaves no notice row and no letter;
// killed after it committed (before the digest), every notice row has its one letter. The pass
// after the restart (serve's own at leadership, and the command run again) sends what is missing
// once: each contact gets one notice, the renewal desk one digest.
func TestFailpoint_NoticePass(t *testing.T) {
	eachFailpoint(t, []string{"notice.before_commit", "notice.after_commit"}, func(t *testing.T, step string, s setup, sink *mailtest.Sink, db *store.Store) {
		mustCLI(t, s, "quartz-lantern-58-orbit\n", "staff", "add", "--email", "desk@vendor.test", "--roles", "renewals")
		today := models.DateOf(time.Now())
		due := map[string]string{} // contact → the letter kind it is owed
		var contacts []storetest.Seeded
		for _, c := range []struct {
			ends int
			to   string
			kind string
		}{{25, "thirty@acme.test", "renewal_notice"}, {6, "seven@acme.test", "renewal_notice"}, {-1, "lapsed@acme.test", "lapse_notice"}} {
			contacts = append(contacts, storetest.SeedContract(t, db, storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(c.ends), ContactEmail: c.to}))
			due[c.to] = c.kind
		}
		storetest.SeedContract(t, db, storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(200), ContactEmail: "later@acme.test"})

		pass := launch(t, failpointBinary(t), s, []string{"ENTITLED_FAILPOINT=" + step}, "renewals", "notify")
		waitKilled(t, pass, step, db)
		notices := checkNotices(t, db, contacts, due)
		if want := map[string]int64{"notice.before_commit": 0, "notice.after_commit": 3}[step]; notices != want {
			t.Errorf("after the kill at %s: %d notice rows, want %d", step, notices, want)
		}
		if n := count(t, db, `SELECT count(*) FROM renewal_digests`); n != 0 {
			t.Errorf("after the kill at %s the digest is marked sent (%d)", step, n)
		}

		startServer(t, s) // becomes the job queue's leader and runs the sweep
		out := mustCLI(t, s, "", "renewals", "notify")
		eventually(t, deliveryTimeout, "the notices and the digest after the restart", func() bool {
			return count(t, db, `SELECT count(*) FROM renewal_notices`) == 3 && count(t, db, `SELECT count(*) FROM renewal_digests`) == 1
		})
		checkNotices(t, db, contacts, due)
		letters, lost, doubled := deliveredExactlyOnce(t, db, sink)
		for to, kind := range due {
			if n := len(sink.To(to)); n != 1 {
				t.Errorf("%s got %d letters, want its one %s", to, n, kind)
			}
		}
		if n := len(sink.To("desk@vendor.test")); n != 1 {
			t.Errorf("the renewal desk got %d digests, want 1", n)
		}
		if n := len(sink.To("later@acme.test")); n != 0 {
			t.Errorf("a contract not yet due got %d letters", n)
		}
		t.Logf("%s %s: killed at %s, %d notice row(s) survived the kill; the pass after restart printed %q; %d letter(s), %d lost, %d doubled",
			db.Dialect, step, step, notices, lastLine(out), letters, lost, doubled)
	})
}

// checkNotices checks that every renewal_notices row has exactly one letter of its kind to its
// contract's contact, and every notice letter its row; it returns the number of rows.
func checkNotices(t *testing.T, db *store.Store, contracts []storetest.Seeded, due map[string]string) int64 {
	t.Helper()
	letters := queuedLetters(t, db)
	var rows int64
	for _, c := range contracts {
		n := count(t, db, `SELECT count(*) FROM renewal_notices WHERE contract_id = ?`, c.ContractID)
		got := int64(len(lettersOf(letters, due[c.ContactEmail], c.ContactEmail)))
		if n > 1 || got != n {
			t.Errorf("contract %d: %d notice row(s) and %d %s letter(s) to %s; want as many letters as rows, at most one", c.ContractID, n, got, due[c.ContactEmail], c.ContactEmail)
		}
		rows += n
	}
	if all := count(t, db, `SELECT count(*) FROM renewal_notices`); all != rows {
		t.Errorf("%d notice rows, %d of them for the contracts that are due", all, rows)
	}
	return rows
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
