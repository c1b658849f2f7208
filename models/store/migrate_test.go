package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"entitled/models"
	"entitled/models/store"
	"entitled/models/storetest"
)

// Migrations apply on an empty database of each dialect, and then every one shows as applied.
func TestMigrateUpOnEmptyDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		s, err := store.Open(ctx, store.OpenOptions{URL: storetest.URL(t, d)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var behind *models.Error
		if err := s.SchemaReady(ctx); !errors.As(err, &behind) || behind.Code != models.CodeSchemaBehind {
			t.Fatalf("before migrating, SchemaReady = %v, want %s", err, models.CodeSchemaBehind)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		if err := s.SchemaReady(ctx); err != nil {
			t.Fatalf("after migrating, SchemaReady = %v", err)
		}
		status, err := s.MigrationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sources := map[string]int{}
		for _, m := range status {
			sources[m.Source]++
			if !m.Applied {
				t.Errorf("%s migration %d (%s) not applied", m.Source, m.Version, m.Name)
			}
		}
		if sources["entitled"] == 0 || sources["river"] == 0 {
			t.Errorf("status lists %v migrations, want both entitled and river ones", sources)
		}
		// Migrating again is a no-op.
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("second migrate: %v", err)
		}
	})
}

// Replicas that start at once on one PostgreSQL both succeed, and each migration is applied once.
func TestConcurrentMigrationsApplyOnce(t *testing.T) {
	for _, d := range storetest.Dialects(t) {
		if d != store.Postgres {
			continue
		}
		ctx := context.Background()
		url := storetest.URL(t, d)
		const replicas = 4
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := store.Open(ctx, store.OpenOptions{URL: url})
				if err != nil {
					errs[i] = err
					return
				}
				defer s.Close()
				errs[i] = s.Migrate(ctx)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
		}
		s, err := store.Open(ctx, store.OpenOptions{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var dup int64
		if err := s.SQLDB().QueryRow(`SELECT count(*) FROM (SELECT version_id FROM goose_db_version GROUP BY version_id HAVING count(*) > 1) d`).Scan(&dup); err != nil {
			t.Fatal(err)
		}
		if dup != 0 {
			t.Errorf("%d migrations were recorded more than once", dup)
		}
	}
}

// A database migrated by a newer replica (a version this build does not know) is still ready:
// migrations are additive, so an older replica keeps serving during a rolling deploy.
func TestSchemaAheadOfTheBuildIsReady(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		s := storetest.Open(t, d, nil)
		ctx := context.Background()
		if err := s.GormDB().Exec("INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, true)").Error; err != nil {
			t.Fatal(err)
		}
		if err := s.SchemaReady(ctx); err != nil {
			t.Fatalf("a schema ahead of the build is not ready: %v", err)
		}
	})
}
