package store_test

// What the service tests of the store set up alike: an outbox whose letters stay queued for the
// test to read (storetest.Letters).

import (
	"database/sql"
	"fmt"
	"log/slog"
	"testing"

	"github.com/riverqueue/river"

	"entitled/mailer"
	dbstore "entitled/models/store"
)

// newOutbox is an outbox on the River client jobs, or on an insert-only client when jobs is nil
// (letters then stay in the outbox for the test to read with storetest.Letters). It answers the
// client too.
func newOutbox(tb testing.TB, store *dbstore.Store, jobs *river.Client[*sql.Tx]) (*mailer.Outbox, *river.Client[*sql.Tx]) {
	tb.Helper()
	if jobs == nil {
		var err error
		if jobs, err = river.NewClient(store.RiverDriver(), &river.Config{Logger: slog.New(slog.DiscardHandler)}); err != nil {
			tb.Fatalf("river: %v", err)
		}
	}
	r, err := mailer.NewRenderer(baseURL)
	if err != nil {
		tb.Fatalf("renderer: %v", err)
	}
	return mailer.NewOutbox(jobs, r), jobs
}

// wantCode checks that err is a problem of the code; what (a format with args) says what was tried.
func wantCode(tb testing.TB, err error, code, what string, args ...any) {
	tb.Helper()
	if got := dbstore.ErrorCode(err); got != code {
		tb.Errorf("%s: %v (code %q), want %s", fmt.Sprintf(what, args...), err, got, code)
	}
}
