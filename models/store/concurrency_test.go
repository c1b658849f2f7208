package store_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

// Many write transactions at the same instant all commit, on both dialects: on SQLite they queue
// for the one write lock (BEGIN IMMEDIATE and the busy timeout) instead of failing with
// "database is locked". Each transaction reads before it writes, the pattern that fails when a
// deferred SQLite transaction has to upgrade its read lock.
func TestConcurrentWriteTransactionsAllCommit(t *testing.T) {
	const writers = 64
	for _, tc := range []struct {
		name  string
		write func(ctx context.Context, s *store.Store, i int) error
		count string // rows the writers made
	}{
		{
			name: "read then insert in Store.WithTx",
			write: func(ctx context.Context, s *store.Store, i int) error {
				return s.WithTx(ctx, func(tx *gorm.DB) error {
					var n int64
					if err := tx.Raw("SELECT count(*) FROM audit_log").Scan(&n).Error; err != nil {
						return err
					}
					return tx.Exec("INSERT INTO audit_log (at, actor_kind, action, subject_type, subject_id) VALUES (?, 'system', 'test.concurrent', 'test', ?)",
						time.Now().UTC(), strconv.Itoa(i)).Error
				})
			},
			count: "SELECT count(DISTINCT subject_id) FROM audit_log WHERE action = 'test.concurrent'",
		},
		{
			name: "Identity.CreateAPIKey (key and audit row in one transaction)",
			write: func(ctx context.Context, s *store.Store, i int) error {
				_, _, err := store.NewIdentity(s, nil, "http://x").CreateAPIKey(ctx, "key "+strconv.Itoa(i),
					[]string{models.ScopeOrdersWrite}, models.SystemActor("test"))
				return err
			},
			count: "SELECT count(*) FROM api_keys k JOIN audit_log a ON a.subject_type = 'api_key' AND a.subject_id = " + castText("k.id"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, d store.Dialect) {
				s := storetest.Open(t, d, nil)
				ctx := context.Background()
				start := make(chan struct{})
				errs := make([]error, writers)
				var wg sync.WaitGroup
				for i := range writers {
					wg.Go(func() {
						<-start
						errs[i] = tc.write(ctx, s, i)
					})
				}
				close(start)
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("writer %d: %v", i, err)
						if strings.Contains(err.Error(), "locked") {
							t.Errorf("writer %d met a locked database instead of waiting its turn", i)
						}
					}
				}
				var n int64
				if err := s.GormDB().Raw(tc.count).Scan(&n).Error; err != nil {
					t.Fatal(err)
				}
				if n != writers {
					t.Errorf("%d rows committed, want %d", n, writers)
				}
			})
		})
	}
}

// castText is a SQL cast to text that both dialects understand.
func castText(expr string) string { return "CAST(" + expr + " AS TEXT)" }

// A replica killed while it runs a request under an Idempotency-Key leaves the key claimed. A
// repeat on another replica is told to retry in a second (409 idempotency_in_progress with
// Retry-After) while the claimant's heartbeat is fresh, and takes the key over as soon as the
// heartbeat is stale (a crash) or gone (a shutdown) — not 5 minutes later. A key claimed by a
// process that does not beat (the CLI) keeps the 5-minute rule.
func TestIdempotencyKeyOfADeadReplicaIsTakenOverWhenItsHeartbeatStops(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		url := storetest.URL(t, d)
		clock := models.NewFixedClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
		open := func() *store.Store {
			s, err := store.Open(ctx, store.OpenOptions{URL: url, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		a, b := open(), open()
		if err := a.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		db := storetest.Gorm(t, b)
		claim := func(s *store.Store, key string) error {
			_, _, err := s.ClaimIdempotencyKey(ctx, "api_key:1", "POST", "/v1/orders", key, []byte(`{"order_ref":"PO-1"}`))
			return err
		}
		busy := func(what string, err error) {
			t.Helper()
			var e *models.Error
			if store.ErrorCode(err) != models.CodeIdempotencyBusy || !errors.As(err, &e) || e.RetryAfter <= 0 {
				t.Fatalf("%s: %v, want idempotency_in_progress with a Retry-After", what, err)
			}
		}
		ownerOf := func(key string) string {
			var owner string
			if err := db.Raw(`SELECT owner FROM idempotency_keys WHERE key = ?`, key).Scan(&owner).Error; err != nil {
				t.Fatal(err)
			}
			return owner
		}

		// Replica A beats and runs a request; a repeat on B waits while A lives.
		beatA, stopA := context.WithCancel(ctx)
		if err := a.RunHeartbeat(beatA); err != nil {
			t.Fatal(err)
		}
		if err := claim(a, "k-crash"); err != nil {
			t.Fatal(err)
		}
		owner := ownerOf("k-crash")
		if owner == "" {
			t.Fatal("a claim by a beating replica names no owner")
		}
		busy("a repeat while the claimant beats", claim(b, "k-crash"))

		// A is killed: its row stays where it was; once stale, B takes the key over.
		stopA()
		waitFor(t, "A's heartbeat loop to end", func() bool {
			var n int64
			db.Raw(`SELECT count(*) FROM process_heartbeats WHERE id = ?`, owner).Scan(&n)
			return n == 0
		})
		if err := db.Exec(`INSERT INTO process_heartbeats (id, seen_at) VALUES (?, ?)`, owner, clock.Now()).Error; err != nil {
			t.Fatal(err)
		}
		clock.Advance(5 * time.Second)
		busy("a repeat 5 s after the claimant's last beat", claim(b, "k-crash"))
		clock.Advance(6 * time.Second)
		if err := claim(b, "k-crash"); err != nil {
			t.Fatalf("a repeat 11 s after the claimant's last beat: %v, want the key taken over", err)
		}

		// A process that does not beat (the CLI) claims with no owner: 5 minutes, as before.
		if err := claim(a, "k-cli"); err != nil {
			t.Fatal(err)
		}
		if o := ownerOf("k-cli"); o != "" {
			t.Fatalf("a claim by a process that does not beat names owner %q", o)
		}
		clock.Advance(time.Minute)
		busy("a repeat a minute after an ownerless claim", claim(b, "k-cli"))
		clock.Advance(5 * time.Minute)
		if err := claim(b, "k-cli"); err != nil {
			t.Fatalf("a repeat 6 minutes after an ownerless claim: %v", err)
		}
	})
}
