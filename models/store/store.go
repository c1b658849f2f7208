// Package store is entitled's persistence: GORM on SQLite and PostgreSQL, the River job queue
// (a letter is queued in the transaction of the change that causes it), the signing-key ring,
// the hot paths' caches, and the services that handlers and the server call. The vocabulary and
// the pure rules it applies are in package models.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	sqlitelib "modernc.org/sqlite"

	"entitled/models"
)

// Dialect names the database engine behind a Store.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store is the one way into the database. It holds a GORM handle for the domain's queries and the
// *sql.DB under it, which River (the mail outbox and periodic jobs) and goose (migrations) share.
// Neither is exported: callers use the services; the few that need the *sql.DB itself get it
// from SQLDB.
type Store struct {
	db        *gorm.DB
	sqlDB     *sql.DB
	Dialect   Dialect
	Clock     models.Clock
	log       *slog.Logger
	cache     *hotCache     // the hot paths' short-lived caches, emptied by every write; see hotpath.go
	hot       hotStatements // the hot JOIN, prepared once; see hotpath.go
	url       string        // what the change feed connects to (PostgreSQL's listener, SQLite's data_version connection); see changes.go
	changes   changeFeed    // changes other processes make; see changes.go
	status    statusState   // token status lists: new lists' size, the index source, flips; see statuslists.go
	heartbeat heartbeat     // this process's heartbeat, for other replicas to see it alive; see heartbeat.go
}

// OpenOptions configure Open. Only URL is required.
type OpenOptions struct {
	URL      string // sqlite://path or postgres://…
	Clock    models.Clock
	Logger   *slog.Logger
	MaxConns int // 0: a default that suits the dialect
}

// openPool opens the connection pool of driver to dsn: at most max connections (def when max is
// 0), all of which may stay idle, since opening one is what is slow.
func openPool(d Dialect, driver, dsn string, max, def int) (*sql.DB, error) {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", d, err)
	}
	if max == 0 {
		max = def
	}
	db.SetMaxOpenConns(max)
	db.SetMaxIdleConns(max)
	return db, nil
}

// Open connects to the database that opts.URL names. For SQLite the file and its directory are
// created on first use. Open does not migrate; call Migrate.
func Open(ctx context.Context, opts OpenOptions) (*Store, error) {
	if opts.Clock == nil {
		opts.Clock = models.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{Clock: opts.Clock, log: opts.Logger, heartbeat: heartbeat{id: newProcessID()}}
	var dialector gorm.Dialector
	var sqlitePath string // for messages about the file
	switch {
	case strings.HasPrefix(opts.URL, "sqlite://"):
		s.Dialect = SQLite
		s.url = opts.URL
		dsn, err := sqliteDSN(strings.TrimPrefix(opts.URL, "sqlite://"))
		if err != nil {
			return nil, err
		}
		sqlitePath, _, _ = strings.Cut(dsn, "?")
		// WAL lets readers run beside the one writer; writers queue on the busy timeout.
		db, err := openPool(s.Dialect, "sqlite", dsn, opts.MaxConns, 16)
		if err != nil {
			return nil, err
		}
		db.SetConnMaxIdleTime(5 * time.Minute)
		s.sqlDB = db
		dialector = sqlite.New(sqlite.Config{Conn: db})
	case strings.HasPrefix(opts.URL, "postgres://"), strings.HasPrefix(opts.URL, "postgresql://"):
		s.Dialect = Postgres
		s.url = opts.URL
		db, err := openPool(s.Dialect, "pgx", postgresDSN(opts.URL), opts.MaxConns, 20)
		if err != nil {
			return nil, err
		}
		db.SetConnMaxLifetime(30 * time.Minute)
		s.sqlDB = db
		dialector = postgres.New(postgres.Config{Conn: db})
	default:
		return nil, models.Errorf(models.CodeValidation, "ENTITLED_DATABASE_URL must start with sqlite:// or postgres://")
	}
	g, err := gorm.Open(dialector, &gorm.Config{
		// SQLite spends a fifth of a hot-path request preparing statements: keep them prepared.
		// (PostgreSQL's pgx caches prepared statements per connection on its own.)
		PrepareStmt:            s.Dialect == SQLite,
		PrepareStmtMaxSize:     512,
		PrepareStmtTTL:         time.Hour,
		TranslateError:         true,
		SkipDefaultTransaction: true, // every write that must be atomic runs in an explicit transaction
		Logger:                 sqlLog{log: opts.Logger},
		NowFunc:                func() time.Time { return opts.Clock.Now().UTC() },
	})
	if err != nil {
		s.sqlDB.Close()
		if ro := readOnlyError(sqlitePath, err); ro != nil {
			return nil, ro
		}
		return nil, fmt.Errorf("open %s: %w", s.Dialect, err)
	}
	s.db = g
	s.cache = newHotCache(opts.Clock.Now)
	if err := s.cache.registerInvalidation(g); err != nil {
		s.sqlDB.Close()
		return nil, fmt.Errorf("open %s: %w", s.Dialect, err)
	}
	if s.Dialect == Postgres {
		// Every write tells the other replicas' listeners (changes.go).
		if err := registerNotify(g); err != nil {
			s.sqlDB.Close()
			return nil, fmt.Errorf("open %s: %w", s.Dialect, err)
		}
	} else {
		// A cache hit first checks whether another process committed (changes.go).
		s.cache.sync = s.checkDataVersion
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.sqlDB.PingContext(pingCtx); err != nil {
		s.sqlDB.Close()
		if ro := readOnlyError(sqlitePath, err); ro != nil {
			return nil, ro
		}
		return nil, &models.Error{Code: models.CodeUnavailable, Message: "the database cannot be reached", Err: err}
	}
	if s.Dialect == SQLite {
		// A file this process may read but not write (another owner, a read-only mount) opens
		// fine and fails only at the first write, deep in start-up or on a client's request:
		// try one now, so that start-up says so, naming the file.
		if ro := readOnlyError(sqlitePath, probeWrite(pingCtx, s.sqlDB)); ro != nil {
			s.sqlDB.Close()
			return nil, ro
		}
	}
	return s, nil
}

// defaultConnectTimeout is the connect_timeout (seconds) of a PostgreSQL URL that sets none:
// without one, a host that drops packets (a firewall, a wrong address) leaves start-up hanging
// on the TCP connect instead of failing with a line that names the host.
const defaultConnectTimeout = "10"

// postgresDSN is the PostgreSQL URL pgx connects with: the configured one, plus the defaults it
// leaves out (connect_timeout). A URL that does not parse is passed on for pgx to report.
func postgresDSN(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.Query().Has("connect_timeout") {
		return raw
	}
	// Appended rather than re-encoded, so that the rest of the URL reaches pgx exactly as written.
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
		if strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "&") {
			sep = ""
		}
	}
	return raw + sep + "connect_timeout=" + defaultConnectTimeout
}

// probeWrite writes page 1 of the database (user_version, to the value it has) in a transaction
// that it rolls back: nothing changes, but SQLite must be able to write the file. Taking the
// write lock alone is not enough: in WAL mode it lives in the -shm file, which may be writable
// when the database is not.
func probeWrite(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var v int64
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
	return err
}

// readOnlyError is the error Open returns when SQLite says the database cannot be written, and
// nil for any other error. The message names the file: it goes to the operator, not a client.
func readOnlyError(path string, err error) error {
	var se *sqlitelib.Error
	if path == "" || !errors.As(err, &se) || se.Code()&0xff != sqliteReadOnly {
		return nil
	}
	return &models.Error{Code: models.CodeUnavailable, Err: err, Message: fmt.Sprintf(
		"the SQLite database %s is read-only for this process: the file, its directory and its -wal and -shm files must be writable", path)}
}

// sqliteDSN turns the path part of a sqlite:// URL into a modernc.org/sqlite DSN. Every
// connection gets WAL, a busy timeout, foreign keys, and BEGIN IMMEDIATE for transactions, so
// that concurrent writers wait for the write lock at BEGIN instead of failing with "database is
// locked" when a read transaction tries to upgrade.
func sqliteDSN(rest string) (string, error) {
	path, query, _ := strings.Cut(rest, "?")
	if path == "" {
		return "", models.Errorf(models.CodeValidation, "sqlite:// URL names no file")
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return "", fmt.Errorf("create database directory: %w", err)
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", models.Errorf(models.CodeValidation, "sqlite:// URL has a malformed query")
	}
	defaults := map[string]string{
		"_busy_timeout": "10000",
		"_journal_mode": "WAL",
		"_foreign_keys": "1",
		"_synchronous":  "NORMAL",
		"_txlock":       "immediate",
		"_time_format":  "sqlite",
	}
	for k, v := range defaults {
		if q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	return path + "?" + q.Encode(), nil
}

// Close closes the database.
func (s *Store) Close() (err error) {
	defer wrapErr(&err, "close the database")
	s.StopChanges()
	s.closeHot()
	return s.sqlDB.Close()
}

// SQLDB is the *sql.DB under the store, shared, not to be closed (Close does that). It is for
// what works on database/sql rather than through the store's services: River's driver (see
// RiverDriver) and the mailer's sent log (mailer.NewSentLog) and outbox gauge
// (mailer.QueueDepth), which must share the store's pool so that a letter's job commits with the
// change that queued it; the connection-pool statistics collector of /metrics; and tests that
// arrange or inspect rows with SQL of their own.
func (s *Store) SQLDB() *sql.DB { return s.sqlDB }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.sqlDB.PingContext(ctx); err != nil {
		return &models.Error{Code: models.CodeUnavailable, Message: "the database cannot be reached", Err: err}
	}
	return nil
}

// RiverDriver is the River driver for this store's dialect. Both work on the *sql.DB the store
// already has, so that a job inserted with InsertTx commits with the GORM transaction around it.
func (s *Store) RiverDriver() riverdriver.Driver[*sql.Tx] {
	if s.Dialect == SQLite {
		return riversqlite.New(s.sqlDB)
	}
	return riverdatabasesql.New(s.sqlDB)
}

// withTx runs fn in one transaction: it commits when fn returns nil and rolls back otherwise.
// Database errors come back translated (see translate).
func (s *Store) withTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	// The cache forgets what it learnt inside the transaction (it may have rolled back), and
	// anything read while it ran.
	defer s.cache.invalidate()
	// Its writes mark the flag, and one change notice goes out when it commits (changes.go).
	wrote := new(atomic.Bool)
	ctx = context.WithValue(ctx, txChangesKey{}, wrote)
	// A status-list bit it sets counts once it has committed (statuslists.go).
	st := &statusTx{state: &s.status}
	ctx = context.WithValue(ctx, statusTxKey{}, st)
	defer func() {
		if st.flipped.Load() {
			s.status.flips.Add(1)
		}
	}()
	return translate(s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := fn(tx); err != nil {
			return err
		}
		return notifyInTx(tx, wrote)
	}))
}

// read runs fn on the database without a transaction: for reads that need no consistent
// snapshot across statements, which on SQLite would otherwise take the write lock.
func (s *Store) read(ctx context.Context, fn func(db *gorm.DB) error) error {
	return translate(fn(s.db.WithContext(ctx)))
}

// Sentinel errors for the constraint violations that services turn into their own codes
// (order_ref_taken, seats_exhausted, …). They are wrapped in an *Error with CodeConflict.
var (
	ErrUniqueViolation     = errors.New("unique constraint violated")
	ErrForeignKeyViolation = errors.New("foreign key constraint violated")
)

// SQLite extended result codes (modernc.org/sqlite reports these; gorm.io/driver/sqlite only
// translates mattn's errors, so the store maps them itself).
const (
	sqliteConstraintForeignKey = 787
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
	sqliteFull                 = 13
	sqliteReadOnly             = 8
	sqliteCantOpen             = 14
	sqliteIOErr                = 10
)

// translate turns database errors into coded errors: not found, unique and foreign-key
// violations, and an unreachable database. Coded errors and nil pass through unchanged; any
// other error is wrapped as internal (its message is for logs only).
func translate(err error) error {
	if err == nil {
		return nil
	}
	var coded *models.Error
	if errors.As(err, &coded) {
		return err
	}
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, sql.ErrNoRows):
		return &models.Error{Code: models.CodeNotFound, Message: "not found", Err: err}
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return &models.Error{Code: models.CodeConflict, Message: "it exists already", Err: errors.Join(ErrUniqueViolation, err)}
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return &models.Error{Code: models.CodeConflict, Message: "it refers to something that does not exist", Err: errors.Join(ErrForeignKeyViolation, err)}
	}
	var se *sqlitelib.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqliteConstraintUnique, sqliteConstraintPrimaryKey:
			return &models.Error{Code: models.CodeConflict, Message: "it exists already", Err: errors.Join(ErrUniqueViolation, err)}
		case sqliteConstraintForeignKey:
			return &models.Error{Code: models.CodeConflict, Message: "it refers to something that does not exist", Err: errors.Join(ErrForeignKeyViolation, err)}
		}
		// The client can do nothing about these but retry later, and an operator must act: the
		// message says what is wrong (it names no path), the cause goes to the log.
		switch se.Code() & 0xff { // primary result code
		case sqliteFull:
			return &models.Error{Code: models.CodeUnavailable, Message: "the database is full: changes cannot be stored until space is freed", Err: err}
		case sqliteReadOnly:
			return &models.Error{Code: models.CodeUnavailable, Message: "the database is read-only: changes cannot be stored", Err: err}
		case sqliteCantOpen, sqliteIOErr:
			return &models.Error{Code: models.CodeUnavailable, Message: "the database cannot take writes", Err: err}
		}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505":
			return &models.Error{Code: models.CodeConflict, Message: "it exists already", Err: errors.Join(ErrUniqueViolation, err)}
		case "23503":
			return &models.Error{Code: models.CodeConflict, Message: "it refers to something that does not exist", Err: errors.Join(ErrForeignKeyViolation, err)}
		}
	}
	if IsUnavailable(err) {
		return &models.Error{Code: models.CodeUnavailable, Message: "the database cannot be reached", Err: err}
	}
	if isUnstorableValue(err) {
		return &models.Error{Code: models.CodeValidation, Message: "a value of the request contains a NUL character or invalid UTF-8", Err: err}
	}
	return err
}

// IsUniqueViolation reports whether err comes from a unique or primary-key constraint.
func IsUniqueViolation(err error) bool { return errors.Is(translate(err), ErrUniqueViolation) }
