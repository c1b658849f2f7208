package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// "renewals notify" runs one pass: it prints each letter it queued and a summary, and a second
// run the same day queues nothing.
func TestRenewalsNotify_OnePassPrintsWhatItQueued(t *testing.T) {
	t.Parallel()
	eachMigrated(t, func(t *testing.T, s setup, store *dbstore.Store) {
		today := models.DateOf(time.Now())
		due := storetest.SeedContract(t, store, storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(25), ContactEmail: "pat@acme.test"})
		lapsed := storetest.SeedContract(t, store, storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(-1), ContactEmail: "lou@lapsed.test"})
		storetest.SeedContract(t, store, storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(200)})

		wantNotified(t, mustCLI(t, s, "", "renewals", "notify"),
			fmt.Sprintf("renewal notice (30 days)  contract %d  %s  ends %s, 25 day(s) left  to pat@acme.test", due.ContractID, due.LicenseNumber, today.AddDays(25)),
			fmt.Sprintf("lapse notice  contract %d  %s  ended %s  to lou@lapsed.test", lapsed.ContractID, lapsed.LicenseNumber, today.AddDays(-1)),
			today.String()+": queued 1 renewal notice(s), 1 lapse notice(s), 0 digest letter(s); 2 contract(s) examined",
		)
		if out := mustCLI(t, s, "", "renewals", "notify"); !strings.Contains(out, "queued 0 renewal notice(s), 0 lapse notice(s), 0 digest letter(s); 0 contract(s)") {
			t.Errorf("the second run printed:\n%s", out)
		}
		var letters int64
		if err := storetest.Gorm(t, store).Raw("SELECT count(*) FROM river_job WHERE kind = 'send_letter'").Scan(&letters).Error; err != nil || letters != 2 {
			t.Errorf("%d letters queued (%v), want 2", letters, err)
		}
	})
}

// "renewals notify" goes on past a contract whose contact cannot take mail (stored before
// addresses were checked as they are now): the customer 26 days from lapse beside it gets the
// notice, the skipped one is printed with what to do, and the summary counts it. Issue 16, item 4.
func TestRenewalsNotify_SkipsAnUndeliverableContactAndNotifiesEveryoneElse(t *testing.T) {
	t.Parallel()
	eachMigrated(t, func(t *testing.T, s setup, store *dbstore.Store) {
		today := models.DateOf(time.Now())
		bad := storetest.SeedContract(t, store, storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(20)})
		if err := storetest.Gorm(t, store).Exec("UPDATE accounts SET contact_email = ? WHERE account_id = ?", "x@[10.0.0.1]", bad.AccountID).Error; err != nil {
			t.Fatal(err)
		}
		good := storetest.SeedContract(t, store, storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(26), ContactEmail: "pat@acme.test"})

		wantNotified(t, mustCLI(t, s, "", "renewals", "notify"),
			fmt.Sprintf("renewal notice (30 days)  contract %d  %s  ends %s, 26 day(s) left  to pat@acme.test", good.ContractID, good.LicenseNumber, today.AddDays(26)),
			fmt.Sprintf("NOT SENT: renewal notice (30 days)  contract %d  %s  account %s: the primary contact's address \"x@[10.0.0.1]\" cannot take mail", bad.ContractID, bad.LicenseNumber, bad.AccountID),
			today.String()+": queued 1 renewal notice(s), 0 lapse notice(s), 0 digest letter(s); 2 contract(s) examined; 1 not sent: the primary contact's address cannot take mail",
		)
	})
}

// eachMigrated runs fn, in parallel, on a fresh migrated database of each dialect, with the
// CLI's setup for it and the store open on it.
func eachMigrated(t *testing.T, fn func(t *testing.T, s setup, store *dbstore.Store)) {
	t.Helper()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		t.Parallel()
		s := setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, d)}
		mustCLI(t, s, "", "migrate", "up")
		fn(t, s, openDB(t, s.DatabaseURL))
	})
}

// wantNotified fails unless "renewals notify" printed (out) every line.
func wantNotified(t testing.TB, out string, lines ...string) {
	t.Helper()
	for _, want := range lines {
		if !strings.Contains(out, want) {
			t.Errorf("renewals notify printed:\n%s\nwant a line %q", out, want)
		}
	}
}

func TestRenewalsNotify_Usage(t *testing.T) {
	s := setup{DataDir: t.TempDir()}
	for _, args := range [][]string{{"renewals"}, {"renewals", "send"}, {"renewals", "notify", "extra"}} {
		_, _, err := cli(t, s, "", args...)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("entitled %s: %v, want a usage error", strings.Join(args, " "), err)
		}
	}
}

// serve runs the sweep as a periodic job, at once when it becomes River's leader: a notice that
// is due is written to the mail directory without anyone running the command.
func TestServeRunsTheRenewalSweep(t *testing.T) {
	t.Parallel()
	s := setup{DataDir: t.TempDir()}
	mustCLI(t, s, "", "migrate", "up")
	store := openDB(t, "sqlite://"+filepath.Join(s.DataDir, "entitled.db"))
	today := models.DateOf(time.Now())
	due := storetest.SeedContract(t, store, storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(6), ContactEmail: "pat@acme.test"})
	p := startServer(t, s)
	eventually(t, 30*time.Second, "the renewal notice in the mail directory", func() bool {
		files, _ := filepath.Glob(filepath.Join(s.DataDir, "mail", "*.eml"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), due.LicenseNumber) && strings.Contains(string(b), "pat@acme.test") {
				return true
			}
		}
		return false
	})
	p.waitOutput("renewal sweep", 10*time.Second)
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(shutdownTimeout + 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM", code)
	}
}
