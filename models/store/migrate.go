package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/rivermigrate"

	"entitled/migrations"
	"entitled/models"
)

// migrateLockKey is the PostgreSQL advisory lock that serialises migrations across replicas:
// the first replica to start migrates, the others wait and then find nothing to do.
const migrateLockKey int64 = 0x656e746974_6c6564 // "entitled"

// MigrationState is one migration and whether the database has it.
type MigrationState struct {
	Source    string // "entitled" for ours, "river" for the job queue's
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time
}

func (s *Store) gooseProvider() (*goose.Provider, error) {
	fsys, err := migrations.For(string(s.Dialect))
	if err != nil {
		return nil, err
	}
	dialect := goose.DialectPostgres
	if s.Dialect == SQLite {
		dialect = goose.DialectSQLite3
	}
	// Out of order: migrations are additive and written in parallel branches, so one numbered
	// lower may land after a higher one was applied; goose then applies it rather than refusing.
	return goose.NewProvider(dialect, s.sqlDB, fsys, goose.WithDisableGlobalRegistry(true), goose.WithAllowOutofOrder(true))
}

func (s *Store) riverMigrator() (*rivermigrate.Migrator[*sql.Tx], error) {
	return rivermigrate.New(s.RiverDriver(), &rivermigrate.Config{Logger: s.log})
}

// Migrate brings the schema up to date: River's tables first (the outbox lives there), then ours.
// On PostgreSQL both run under one advisory lock, so replicas starting at once migrate once.
func (s *Store) Migrate(ctx context.Context) (err error) {
	defer wrapErr(&err, "migrate")
	if s.Dialect == Postgres {
		conn, err := s.sqlDB.Conn(ctx)
		if err != nil {
			return translate(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
			return translate(err)
		}
		defer func() {
			// A fresh context: the unlock must happen even when ctx was cancelled meanwhile.
			unlockCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = conn.ExecContext(unlockCtx, "SELECT pg_advisory_unlock($1)", migrateLockKey)
		}()
	}
	rm, err := s.riverMigrator()
	if err != nil {
		return err
	}
	if _, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	p, err := s.gooseProvider()
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	for _, r := range results {
		s.log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return nil
}

// MigrationStatus lists every migration this binary knows and whether it is applied.
func (s *Store) MigrationStatus(ctx context.Context) (_ []MigrationState, err error) {
	defer wrapErr(&err, "read the migration status")
	var out []MigrationState
	rm, err := s.riverMigrator()
	if err != nil {
		return nil, err
	}
	existing, err := rm.ExistingVersions(ctx)
	if err != nil {
		existing = nil // no River table yet: nothing applied
	}
	applied := map[int]time.Time{}
	for _, m := range existing {
		applied[m.Version] = time.Time{}
	}
	for _, m := range rm.AllVersions() {
		_, ok := applied[m.Version]
		out = append(out, MigrationState{Source: "river", Version: int64(m.Version), Name: m.Name, Applied: ok})
	}
	p, err := s.gooseProvider()
	if err != nil {
		return nil, err
	}
	status, err := p.Status(ctx)
	if err != nil {
		return nil, translate(err)
	}
	for _, st := range status {
		out = append(out, MigrationState{
			Source: "entitled", Version: st.Source.Version, Name: st.Source.Path,
			Applied: st.State == goose.StateApplied, AppliedAt: st.AppliedAt,
		})
	}
	return out, nil
}

// SchemaReady reports whether the database's schema is at or ahead of what this binary needs.
// Ahead is fine: migrations are additive, so during a rolling deploy an older replica stays ready
// after a newer one has migrated.
func (s *Store) SchemaReady(ctx context.Context) (err error) {
	defer wrapErr(&err, "check the schema")
	p, err := s.gooseProvider()
	if err != nil {
		return err
	}
	// Pending means a migration this build knows is not applied. Versions the database has that
	// this build does not know (a newer replica migrated) are fine.
	pending, err := p.HasPending(ctx)
	if err != nil {
		if IsUnavailable(err) {
			return translate(err)
		}
		return &models.Error{Code: models.CodeSchemaBehind, Message: "the database has not been migrated", Err: err}
	}
	if pending {
		return &models.Error{Code: models.CodeSchemaBehind, Message: "the database schema lacks migrations this build needs: run entitled migrate up"}
	}
	return nil
}
