package storetest

// Reading a River client's queue: the letters it holds, and waiting until its jobs have run.

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"entitled/mailer"
	"entitled/models/store"
)

// Letters are the letters queued on jobs (sent or not) that keep accepts, oldest first.
func Letters(tb testing.TB, jobs *river.Client[*sql.Tx], keep func(mailer.Letter) bool) []mailer.Letter {
	tb.Helper()
	res, err := jobs.JobList(context.Background(), river.NewJobListParams().Kinds(mailer.SendLetterArgs{}.Kind()).First(10000))
	if err != nil {
		tb.Fatalf("list jobs: %v", err)
	}
	var out []mailer.Letter
	for _, j := range res.Jobs {
		var args mailer.SendLetterArgs
		if err := json.Unmarshal(j.EncodedArgs, &args); err != nil {
			tb.Fatalf("decode job %d: %v", j.ID, err)
		}
		if keep(args.Letter) {
			out = append(out, args.Letter)
		}
	}
	return out
}

// Settle waits until every job on jobs (of the queues, when any are named) has run or given up,
// for at most 30 s. It waits for a state, not for a time.
func Settle(tb testing.TB, jobs *river.Client[*sql.Tx], queues ...string) {
	tb.Helper()
	params := river.NewJobListParams().States(rivertype.JobStateAvailable, rivertype.JobStatePending,
		rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled).First(1)
	if len(queues) > 0 {
		params = params.Queues(queues...)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := jobs.JobList(context.Background(), params)
		if err != nil {
			tb.Fatalf("list jobs: %v", err)
		}
		if len(res.Jobs) == 0 {
			return
		}
		if j := res.Jobs[0]; time.Now().After(deadline) {
			tb.Fatalf("jobs still not done after 30 s: job %d (%s) is %s, errors %v", j.ID, j.Kind, j.State, j.Errors)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// NewJobs is a River client of the config on the store, polling often (50 ms) and logging nothing
// unless the config says otherwise. It is not started: RunJobs starts it (with no Queues it only
// inserts).
func NewJobs(tb testing.TB, s *store.Store, cfg *river.Config) *river.Client[*sql.Tx] {
	tb.Helper()
	if cfg.FetchPollInterval == 0 {
		cfg.FetchPollInterval, cfg.FetchCooldown = 50*time.Millisecond, 10*time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	jobs, err := river.NewClient(s.RiverDriver(), cfg)
	if err != nil {
		tb.Fatalf("river: %v", err)
	}
	return jobs
}

// RunJobs starts the client and stops it when the test ends.
func RunJobs(tb testing.TB, jobs *river.Client[*sql.Tx]) {
	tb.Helper()
	if err := jobs.Start(context.Background()); err != nil {
		tb.Fatalf("river start: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := jobs.Stop(ctx); err != nil {
			tb.Errorf("river stop: %v", err)
		}
	})
}

// StartJobs is NewJobs, started by RunJobs.
func StartJobs(tb testing.TB, s *store.Store, cfg *river.Config) *river.Client[*sql.Tx] {
	tb.Helper()
	jobs := NewJobs(tb, s, cfg)
	RunJobs(tb, jobs)
	return jobs
}
