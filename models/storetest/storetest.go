// Package storetest gives tests a fresh, migrated database of each dialect: SQLite always, and
// PostgreSQL when it answers (required when CI is set). Every test gets its own database, created
// for it and dropped when it ends, so tests never see each other's rows.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"entitled/models"
	"entitled/models/store"
)

// AdminURL is the PostgreSQL server the tests create their databases on.
func AdminURL() string {
	if u := os.Getenv("ENTITLED_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

var (
	pgOnce   sync.Once
	pgErr    error
	pgAdmin  *sql.DB
	skipOnce sync.Once
)

func postgresAdmin() (*sql.DB, error) {
	pgOnce.Do(func() {
		db, err := sql.Open("pgx", AdminURL())
		if err != nil {
			pgErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			pgErr = err
			return
		}
		db.SetMaxOpenConns(4)
		pgAdmin = db
	})
	return pgAdmin, pgErr
}

// Dialects are the dialects this run tests: SQLite, and PostgreSQL when it answers. With CI set,
// an unreachable PostgreSQL fails the test instead of being skipped.
func Dialects(tb testing.TB) []store.Dialect {
	tb.Helper()
	if _, err := postgresAdmin(); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("PostgreSQL is required when CI is set, but %s does not answer: %v", AdminURL(), err)
		}
		skipOnce.Do(func() {
			fmt.Fprintf(os.Stderr, "storetest: PostgreSQL at %s does not answer (%v): testing SQLite only\n", AdminURL(), err)
		})
		return []store.Dialect{store.SQLite}
	}
	return []store.Dialect{store.SQLite, store.Postgres}
}

// Each runs fn as a subtest once per dialect.
func Each(t *testing.T, fn func(t *testing.T, d store.Dialect)) {
	t.Helper()
	for _, d := range Dialects(t) {
		t.Run(string(d), func(t *testing.T) { fn(t, d) })
	}
}

// URL makes an empty database of the dialect for this test and returns its URL. The database is
// removed when the test ends.
func URL(tb testing.TB, d store.Dialect) string {
	tb.Helper()
	switch d {
	case store.SQLite:
		return "sqlite://" + filepath.Join(tb.TempDir(), "entitled.db")
	case store.Postgres:
		admin, err := postgresAdmin()
		if err != nil {
			tb.Fatalf("PostgreSQL: %v", err)
		}
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		name := "entitled_test_" + hex.EncodeToString(b)
		if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
			tb.Fatalf("create database: %v", err)
		}
		tb.Cleanup(func() {
			if _, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
				tb.Logf("drop database %s: %v", name, err)
			}
		})
		u, err := url.Parse(AdminURL())
		if err != nil {
			tb.Fatalf("ENTITLED_TEST_POSTGRES_URL: %v", err)
		}
		u.Path = "/" + name
		return u.String()
	}
	tb.Fatalf("unknown dialect %q", d)
	return ""
}

// Open makes a fresh database of the dialect, migrates it and returns the store on it, closed
// when the test ends. clock may be nil for the system clock.
func Open(tb testing.TB, d store.Dialect, clock models.Clock) *store.Store {
	tb.Helper()
	return OpenWith(tb, d, store.OpenOptions{Clock: clock})
}

// OpenWith is Open with options (a clock, a logger); their URL is the fresh database's.
func OpenWith(tb testing.TB, d store.Dialect, opts store.OpenOptions) *store.Store {
	tb.Helper()
	ctx := context.Background()
	opts.URL = URL(tb, d)
	s, err := store.Open(ctx, opts)
	if err != nil {
		tb.Fatalf("open %s: %v", d, err)
	}
	tb.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("migrate %s: %v", d, err)
	}
	return s
}

var gormHandles sync.Map // *store.Store → *gorm.DB

// Gorm is a GORM handle on s's database (the same *sql.DB), for tests that arrange or inspect
// rows that no service call makes or shows. It is not the store's own handle: what it writes
// does not empty s's hot-path caches, as another replica's write would not (a test that needs
// the change seen at once makes it before the store caches the rows, or waits out the caches'
// bounds). Do not close it; the store closes the database.
func Gorm(tb testing.TB, s *store.Store) *gorm.DB {
	tb.Helper()
	if db, ok := gormHandles.Load(s); ok {
		return db.(*gorm.DB)
	}
	var dialector gorm.Dialector
	switch s.Dialect {
	case store.SQLite:
		dialector = sqlite.New(sqlite.Config{Conn: s.SQLDB()})
	case store.Postgres:
		dialector = postgres.New(postgres.Config{Conn: s.SQLDB()})
	default:
		tb.Fatalf("unknown dialect %q", s.Dialect)
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true,
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return s.Clock.Now().UTC() },
	})
	if err != nil {
		tb.Fatalf("gorm on the %s store: %v", s.Dialect, err)
	}
	actual, loaded := gormHandles.LoadOrStore(s, db)
	if !loaded {
		tb.Cleanup(func() { gormHandles.Delete(s) })
	}
	return actual.(*gorm.DB)
}

// Rows runs the query on the store's database and answers its rows, each read by scan; an error
// fails the test.
func Rows[T any](tb testing.TB, s *store.Store, query string, scan func(*sql.Rows) (T, error), args ...any) []T {
	tb.Helper()
	rows, err := s.SQLDB().Query(query, args...)
	if err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}
