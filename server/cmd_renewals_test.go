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
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		t.Parallel()
		s := setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, d)}
		mustCLI(t, s, "", "migrate", "up")
		store := openDB(t, s.DatabaseURL)
		today := models.DateOf(time.Now())
		due := storetest.SeedContract(t, store, storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(25), ContactEmail: "pat@acme.test"})
		lapsed := storetest.SeedContract(t, store, storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(-1), ContactEmail: "lou@lapsed.test"})
		storetest.SeedContract(t, store, storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(200)})

		out := mustCLI(t, s, "", "renewals", "notify")
		for _, want := range []string{
			fmt.Sprintf("renewal notice (30 days)  contract %d  %s  ends %s, 25 day(s) left  to pat@acme.test", due.ContractID, due.LicenseNumber, today.AddDays(25)),
			fmt.Sprintf("lapse notice  contract %d  %s  ended %s  to lou@lapsed.test", lapsed.ContractID, lapsed.LicenseNumber, today.AddDays(-1)),
			today.String() + ": queued 1 renewal notice(s), 1 lapse notice(s), 0 digest letter(s); 2 contract(s) examined",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("renewals notify printed:\n%s\nwant a line %q", out, want)
			}
		}
		if out := mustCLI(t, s, "", "renewals", "notify"); !strings.Contains(out, "queued 0 renewal notice(s), 0 lapse notice(s), 0 digest letter(s); 0 contract(s)") {
			t.Errorf("the second run printed:\n%s", out)
		}
		var letters int64
		if err := storetest.Gorm(t, store).Raw("SELECT count(*) FROM river_job WHERE kind = 'send_letter'").Scan(&letters).Error; err != nil || letters != 2 {
			t.Errorf("%d letters queued (%v), want 2", letters, err)
		}
	})
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
