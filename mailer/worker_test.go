package mailer_test

import (
	"os"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"entitled/mailer"
)

func mustReadFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// Backoff doubles from 2 s and stops growing at 15 minutes.
func TestNextRetryBackoff(t *testing.T) {
	w := &mailer.Worker{}
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{1, 2 * time.Second},
		{2, 4 * time.Second},
		{3, 8 * time.Second},
		{9, 512 * time.Second},
		{10, 15 * time.Minute},
		{25, 15 * time.Minute},
		{100, 15 * time.Minute},
	}
	for _, tt := range tests {
		before := time.Now()
		got := w.NextRetry(&river.Job[mailer.SendLetterArgs]{JobRow: &rivertype.JobRow{Attempt: tt.attempt}})
		after := time.Now()
		if got.Before(before.Add(tt.want)) || got.After(after.Add(tt.want)) {
			t.Errorf("attempt %d: retry in %v, want %v", tt.attempt, got.Sub(before), tt.want)
		}
	}
	if got := w.Timeout(nil); got != time.Minute {
		t.Errorf("Timeout = %v, want 1m", got)
	}
}
