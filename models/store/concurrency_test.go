package store_test

import (
	"context"
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
