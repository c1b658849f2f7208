package main

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"entitled/mailer"
	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

// seed-contracts writes what the store would have: on the seeded day the notice pass queues a
// notice to exactly the due share of the contracts (the others in the window had theirs), the
// renewal list and the forecast read the rows, and the services can add to the tables after them.
func TestSeedContracts_TheNextPassOwesExactlyTheDueShare(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		url := storetest.URL(t, d)
		o, err := parseSeedContracts([]string{"--database-url", url, "--contracts", "2000", "--due-share", "0.025", "--chunk", "700"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := seedContracts(ctx, o, t.Logf)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Contracts != 2000 || rep.Due != 50 || rep.Notices == 0 {
			t.Fatalf("seeded %+v, want 2000 contracts, 50 due and notices already sent for the rest of the window", rep)
		}

		clock := models.NewFixedClock(o.today.Time().Add(9 * time.Hour))
		s, err := store.Open(ctx, store.OpenOptions{URL: url, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var n int
		if err := s.SQLDB().QueryRowContext(ctx, "SELECT count(*) FROM contracts c JOIN licenses l ON l.id = c.license_id JOIN renewal_records r ON r.contract_id = c.id AND r.closed_at IS NULL").Scan(&n); err != nil || n != 2000 {
			t.Fatalf("contracts with a license and an open renewal record: %d (%v), want 2000", n, err)
		}
		jobs, err := river.NewClient(s.RiverDriver(), &river.Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		r, err := mailer.NewRenderer("https://entitled.example")
		if err != nil {
			t.Fatal(err)
		}
		outbox := mailer.NewOutbox(jobs, r)
		sweep, err := store.NewRenewals(s, outbox, "https://entitled.example", o.offsets)
		if err != nil {
			t.Fatal(err)
		}
		pass, err := sweep.Pass(ctx, models.PassOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := pass.RenewalNotices + pass.LapseNotices; got != rep.Due || pass.Undeliverable != 0 {
			t.Errorf("the pass queued %d notices (%d undeliverable), want the %d due", got, pass.Undeliverable, rep.Due)
		}

		contracts := store.NewContracts(s, outbox, 90)
		page, _ := store.ParseContractPage("", "")
		list, err := contracts.List(ctx, models.ContractFilter{Within: 90, HasWithin: true}, page)
		if err != nil || len(list.Items) == 0 {
			t.Fatalf("renewals list: %v, %d items", err, len(list.Items))
		}
		f, err := contracts.Forecast(ctx, 12)
		if err != nil {
			t.Fatal(err)
		}
		due, renewed := 0, 0
		for _, m := range f.Months {
			due += m.Due
		}
		for _, h := range f.History {
			renewed += h.Renewed
		}
		if due == 0 || renewed == 0 {
			t.Errorf("forecast: %d due ahead, %d renewed in the past year; want some of each", due, renewed)
		}

		// The services go on after the seeded ids (PostgreSQL's sequences were moved past them).
		c := list.Items[0].Contract
		staff := models.Actor{Kind: models.ActorStaff, Email: "desk@vendor.example"}
		if _, err := contracts.Renew(ctx, fmt.Sprint(c.ID), models.RenewalInput{EndsOn: c.EndsOn.AddDays(365).String()}, staff); err != nil {
			t.Fatalf("renew a seeded contract: %v", err)
		}
		if err := s.SQLDB().QueryRowContext(ctx, "SELECT count(*) FROM renewal_notices").Scan(&n); err != nil || n != rep.Notices+rep.Due {
			t.Errorf("renewal_notices: %d (%v), want %d", n, err, rep.Notices+rep.Due)
		}
	})
}
