package main

// The renewal-notice sweep, in both of its forms: a River periodic job inside serve (daily,
// on the elected leader only, so one replica runs it), and `entitled renewals notify`, one pass
// on demand. Both run store.Renewals.Pass, which is exactly-once however often and however
// many times at once it runs.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/term"

	"entitled/models"
	dbstore "entitled/models/store"
)

// sweepTimeout is how long one pass may run inside serve: River's default of a minute is for
// small jobs; a first pass over a large database queues tens of thousands of letters.
const sweepTimeout = 30 * time.Minute

// newSweep builds the notice sweep from the configuration.
func newSweep(cfg Config, store *dbstore.Store, outbox dbstore.Outbox) (*dbstore.Renewals, error) {
	s, err := dbstore.NewRenewals(store, outbox, cfg.BaseURL, cfg.RenewalNoticeDays)
	if err != nil {
		return nil, fmt.Errorf("ENTITLED_RENEWAL_NOTICE_DAYS: %w", err)
	}
	s.RenewalWindowDays = cfg.RenewalWindowDays
	return s, nil
}

// renewalSweepArgs is the daily job that runs one pass of the sweep. Day makes it unique: River
// inserts one job per day whatever number of replicas become leader that day (each leader's
// RunOnStart and schedule insert it again; the insert of a day already queued, run or running is
// skipped), so that there is exactly one pass a day across the fleet, also when a stopped leader
// resumes. A pass that failed for good (discarded) may be inserted again.
type renewalSweepArgs struct {
	Day string `json:"day" river:"unique"`
}

func (renewalSweepArgs) Kind() string { return "renewal_sweep" }

type renewalSweepWorker struct {
	river.WorkerDefaults[renewalSweepArgs]
	sweep *dbstore.Renewals
	log   *slog.Logger
}

func (w *renewalSweepWorker) Work(ctx context.Context, _ *river.Job[renewalSweepArgs]) error {
	start := time.Now()
	rep, err := w.sweep.Pass(ctx, models.PassOptions{Undeliverable: func(u models.UndeliverableNotice) {
		// The address itself stays out of the log: it is personal data, and the contract finds it.
		w.log.Warn("renewal sweep: notice not sent, the primary contact's address cannot take mail",
			"kind", u.Kind, "contract_id", u.ContractID, "license_number", u.LicenseNumber, "account_id", u.AccountID, "offset_days", u.OffsetDays)
	}})
	if err != nil {
		return err
	}
	w.log.Info("renewal sweep", "day", rep.Day.String(), "contracts", rep.Contracts, "renewal_notices", rep.RenewalNotices,
		"lapse_notices", rep.LapseNotices, "digest_letters", rep.DigestLetters, "undeliverable", rep.Undeliverable,
		"duration_ms", time.Since(start).Milliseconds())
	return nil
}

func (w *renewalSweepWorker) Timeout(*river.Job[renewalSweepArgs]) time.Duration { return sweepTimeout }

// dailySweep is the sweep's schedule: every day just after midnight UTC (models.NextSweep).
type dailySweep struct{}

func (dailySweep) Next(t time.Time) time.Time { return models.NextSweep(t) }

// addRenewalSweep registers the daily sweep. It also runs when a replica becomes the leader
// (RunOnStart), so that a day on which every replica was down at 00:05 is caught up at once.
func (j *jobs) addRenewalSweep(cfg Config, store *dbstore.Store, log *slog.Logger) error {
	if j.workers == nil {
		return fmt.Errorf("addRenewalSweep on an insert-only job client")
	}
	sweep, err := newSweep(cfg, store, j.outbox)
	if err != nil {
		return err
	}
	river.AddWorker(j.workers, &renewalSweepWorker{sweep: sweep, log: log.With("component", "renewals")})
	j.client.PeriodicJobs().Add(river.NewPeriodicJob(dailySweep{},
		func() (river.JobArgs, *river.InsertOpts) {
			return renewalSweepArgs{Day: models.DateOf(store.Clock.Now()).String()}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
		},
		&river.PeriodicJobOpts{RunOnStart: true}))
	return nil
}

// cmdRenewals: "renewals notify" runs one pass of the sweep, prints each letter it queued and a
// summary, and exits. A running server delivers the letters. On a terminal, stderr shows the
// progress of the batches.
func cmdRenewals(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "notify" {
		return usageError{"usage: entitled renewals notify"}
	}
	return withCommand(ctx, "renewals notify", "renewals notify: unexpected arguments", args[1:], env, stderr, func(c commandEnv) error {
		sweep, err := newSweep(c.cfg, c.store, c.jobs.outbox)
		if err != nil {
			return err
		}
		opts := models.PassOptions{
			Queued:        func(q models.QueuedLetter) { fmt.Fprintln(stdout, describeLetter(q)) },
			Undeliverable: func(u models.UndeliverableNotice) { fmt.Fprintln(stdout, describeUndeliverable(u)) },
		}
		tty := false
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			tty = true
			opts.Progress = func(done, total int) {
				fmt.Fprintf(stderr, "\rrenewal notices: %d of %d contracts examined", done, total)
			}
		}
		rep, err := sweep.Pass(ctx, opts)
		if tty {
			fmt.Fprintln(stderr)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: queued %d renewal notice(s), %d lapse notice(s), %d digest letter(s); %d contract(s) examined",
			rep.Day, rep.RenewalNotices, rep.LapseNotices, rep.DigestLetters, rep.Contracts)
		if rep.Undeliverable > 0 {
			fmt.Fprintf(stdout, "; %d not sent: the primary contact's address cannot take mail", rep.Undeliverable)
		}
		fmt.Fprintln(stdout)
		return nil
	})
}

// describeUndeliverable is one line of a notice a pass could not send: the address is quoted,
// since a stored one that cannot take mail may hold anything.
func describeUndeliverable(u models.UndeliverableNotice) string {
	what := fmt.Sprintf("renewal notice (%d days)", u.OffsetDays)
	if u.Kind == models.LetterLapseNotice {
		what = "lapse notice"
	}
	return fmt.Sprintf("NOT SENT: %s  contract %d  %s  account %s: the primary contact's address %q cannot take mail; correct it with PATCH /v1/accounts/%s",
		what, u.ContractID, u.LicenseNumber, u.AccountID, u.Address, u.AccountID)
}

// describeLetter is one line of what a pass queued.
func describeLetter(q models.QueuedLetter) string {
	var b strings.Builder
	switch q.Kind {
	case models.LetterRenewalNotice:
		fmt.Fprintf(&b, "renewal notice (%d days)  contract %d  %s  ends %s, %d day(s) left", q.OffsetDays, q.ContractID, q.LicenseNumber, q.EndsOn, q.DaysLeft)
	case models.LetterLapseNotice:
		fmt.Fprintf(&b, "lapse notice  contract %d  %s  ended %s", q.ContractID, q.LicenseNumber, q.EndsOn)
	default:
		b.WriteString("digest")
	}
	fmt.Fprintf(&b, "  to %s", strings.Join(q.To, ", "))
	if len(q.Cc) > 0 {
		fmt.Fprintf(&b, "  cc %s", strings.Join(q.Cc, ", "))
	}
	return b.String()
}
