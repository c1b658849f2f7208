package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// Changes made by other processes (other replicas, the CLI) reach this one's caches here.
//
// PostgreSQL: every write through the store also sends NOTIFY on changesChannel inside the same
// transaction (PostgreSQL delivers it only at commit, and folds the duplicates of one
// transaction into one); a write outside a transaction sends its own. ListenForChanges runs one
// goroutine on a dedicated pgx connection (not from the pool) that LISTENs on the channel and,
// on each notice, empties the hot-path cache and wakes the key ring. When the connection is lost
// it reconnects with backoff and empties the cache again (it may have missed notices); while it
// is down, the caches' TTLs (cacheTTL, grantTTL) and the key ring's re-read interval are the bound.
//
// SQLite: ListenForChanges keeps one connection of the pool aside and asks it for PRAGMA
// data_version, which changes when any other connection (another process's included) commits.
// A cache hit and the key ring check it before they answer (checks that overlap share one query,
// but never one that started before the caller arrived), so another process's change is seen by
// the next request.
const changesChannel = "entitled_changes"

// notifySQL sends the change notice. The payload is empty: every notice means "something changed".
const notifySQL = "SELECT pg_notify('" + changesChannel + "', '')"

// txChangesKey marks the context of a withTx transaction: its writes set the flag, and withTx
// sends one notice before it commits.
type txChangesKey struct{}

// changeFeed is the store's side of the change notices.
type changeFeed struct {
	count atomic.Uint64 // changes made elsewhere seen so far (notices, reconnects, data_version moves)

	subMu sync.Mutex
	subs  []chan struct{}

	// The PostgreSQL listener, or the SQLite data_version connection; both started by
	// ListenForChanges and ended by stop.
	runMu     sync.Mutex
	cancel    context.CancelFunc
	done      chan struct{}
	connected atomic.Bool

	dvMu   sync.Mutex // guards dvConn, dvStmt, dvRow, dv
	dvDB   *sql.DB    // a one-connection pool of its own, so that the store's pool stats show only its work
	dvConn *sql.Conn
	// dvStmt is PRAGMA data_version prepared on dvConn's driver connection and run there
	// directly (inside dvConn.Raw): every request runs it, and database/sql's rows, scanning
	// and context handling cost more than SQLite's answer does.
	dvStmt    dataVersionStmt
	dvRow     []driver.Value
	dv        int64
	dvTicket  atomic.Uint64 // arrivals at checkDataVersion
	dvStarted atomic.Int64  // when the latest check started (Unix ns)
	dvCovered atomic.Uint64 // every arrival up to this one is covered by a finished check
}

// subscribe returns a channel that receives (coalesced) a value after each change seen, and
// the function that ends the subscription.
func (f *changeFeed) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.subMu.Lock()
	f.subs = append(f.subs, ch)
	f.subMu.Unlock()
	return ch, func() {
		f.subMu.Lock()
		f.subs = slices.DeleteFunc(f.subs, func(c chan struct{}) bool { return c == ch })
		f.subMu.Unlock()
	}
}

// changed records a change made elsewhere: the cache is emptied and the subscribers woken.
func (s *Store) changed() {
	s.cache.invalidate()
	s.changes.count.Add(1)
	s.changes.subMu.Lock()
	for _, ch := range s.changes.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	s.changes.subMu.Unlock()
}

// ChangeCount is how many changes made elsewhere this store has seen: a notice, a reconnection
// of the listener, or (SQLite) a new data_version.
func (s *Store) ChangeCount() uint64 { return s.changes.count.Load() }

// ChangesConnected reports whether the PostgreSQL listener is connected and listening (SQLite:
// whether the data_version connection is held).
func (s *Store) ChangesConnected() bool { return s.changes.connected.Load() }

// ListenForChanges starts following the changes other processes make (see the top of this
// file) until StopChanges (or Close) is called; ctx bounds only the start. A server calls it
// once; the CLI does not need to (its writes notify all the same). Calling it again does nothing.
func (s *Store) ListenForChanges(ctx context.Context) error {
	f := &s.changes
	f.runMu.Lock()
	defer f.runMu.Unlock()
	if f.done != nil {
		return nil
	}
	if s.Dialect == SQLite {
		dsn, err := sqliteDSN(strings.TrimPrefix(s.url, "sqlite://"))
		if err != nil {
			return err
		}
		dvDB, err := sql.Open("sqlite", dsn)
		if err != nil {
			return fmt.Errorf("store: open the data_version connection: %w", err)
		}
		dvDB.SetMaxOpenConns(1)
		conn, err := dvDB.Conn(ctx)
		if err != nil {
			dvDB.Close()
			return translate(err)
		}
		var stmt dataVersionStmt
		err = conn.Raw(func(dc any) error {
			p, ok := dc.(driver.ConnPrepareContext)
			if !ok {
				return fmt.Errorf("store: the SQLite driver's connection (%T) cannot prepare with a context", dc)
			}
			st, err := p.PrepareContext(ctx, "PRAGMA data_version")
			if err != nil {
				return err
			}
			if stmt, ok = st.(dataVersionStmt); !ok {
				st.Close()
				return fmt.Errorf("store: the SQLite driver's statement (%T) cannot query with a context", st)
			}
			return nil
		})
		if err != nil {
			conn.Close()
			dvDB.Close()
			return translate(err)
		}
		f.dvMu.Lock()
		f.dvDB, f.dvConn, f.dvStmt, f.dvRow = dvDB, conn, stmt, make([]driver.Value, 1)
		v, err := f.queryDataVersion()
		if err != nil {
			f.closeDataVersion()
			f.dvMu.Unlock()
			return translate(err)
		}
		f.dv = v
		f.dvMu.Unlock()
		s.cache.invalidate() // what it holds may predate the baseline
		f.connected.Store(true)
		f.done = make(chan struct{})
		close(f.done)
		f.cancel = func() {}
		return nil
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.cancel, f.done = cancel, make(chan struct{})
	go func() {
		defer close(f.done)
		s.listen(ctx)
	}()
	return nil
}

// StopChanges ends what ListenForChanges started and waits for it. Close calls it.
func (s *Store) StopChanges() {
	f := &s.changes
	f.runMu.Lock()
	cancel, done := f.cancel, f.done
	f.runMu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	<-done
	f.dvMu.Lock()
	if f.dvConn != nil {
		f.closeDataVersion()
	}
	f.dvMu.Unlock()
	f.connected.Store(false)
}

// listen is the PostgreSQL listener's loop: connect, LISTEN, wait for notices; on any error
// reconnect with backoff (100 ms doubling to 1 s). The cap is short because while the listener
// is away a change made elsewhere waits for a cache's TTL: after an outage of PostgreSQL the
// listener is back within about a second of the database, as the pool is.
func (s *Store) listen(ctx context.Context) {
	const minBackoff, maxBackoff = 100 * time.Millisecond, time.Second
	backoff := minBackoff
	for ctx.Err() == nil {
		listened, err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = minBackoff // it was connected: the first retry comes soon
		}
		s.log.Warn("change notices: listener disconnected; caches fall back to their TTLs until it reconnects",
			"error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listenOnce connects, LISTENs and handles notices until the connection fails or ctx ends.
// listened says whether it got as far as listening.
func (s *Store) listenOnce(ctx context.Context) (listened bool, _ error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.Connect(cctx, s.url)
	cancel()
	if err != nil {
		return false, err
	}
	defer func() {
		s.changes.connected.Store(false)
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return false, err
	}
	s.changes.connected.Store(true)
	// Notices may have been missed while no listener was connected.
	s.changed()
	for {
		// A connection that went half-open (a failover, a NAT's idle timeout) would wait forever
		// while the listener says it is connected: after a quiet listenerProbe, ping it, and
		// reconnect (emptying the caches) when it does not answer.
		wctx, cancel := context.WithTimeout(ctx, listenerProbe)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			s.changed()
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			pctx, cancel := context.WithTimeout(ctx, listenerProbe)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("the listener's connection does not answer: %w", err)
			}
		default:
			return true, err
		}
	}
}

// listenerProbe is how long the listener waits for a notice before it pings its connection (a
// variable for tests).
var listenerProbe = 30 * time.Second

// dataVersionReuse is how recent a data_version check must have started for a non-strict
// caller to rely on it: a lookup later in the same request as the principal lookup that checked.
// (PRAGMA data_version opens a read transaction: about 2 µs with modernc.org/sqlite, run on its
// driver connection; BenchmarkCheckDataVersion.)
const dataVersionReuse = time.Millisecond

// checkDataVersion (SQLite) asks the data_version connection whether another connection
// committed since the last check, and if so records a change (emptying the cache). Checks that
// overlap share one query, but a strict caller never relies on a check that started before it
// arrived; a non-strict one relies on one that started within dataVersionReuse. Without
// ListenForChanges it does nothing.
func (s *Store) checkDataVersion(strict bool) {
	f := &s.changes
	if s.Dialect != SQLite || !f.connected.Load() {
		return
	}
	if !strict && time.Now().UnixNano()-f.dvStarted.Load() < int64(dataVersionReuse) {
		return
	}
	me := f.dvTicket.Add(1)
	f.dvMu.Lock()
	if f.dvCovered.Load() >= me || f.dvConn == nil {
		f.dvMu.Unlock()
		return
	}
	covers := f.dvTicket.Load() // every arrival so far comes before this check's query
	f.dvStarted.Store(time.Now().UnixNano())
	v, err := f.queryDataVersion()
	moved := err != nil || v != f.dv
	if err == nil {
		f.dv = v
	} else {
		s.log.Warn("change notices: PRAGMA data_version failed; emptying the caches", "error", err)
	}
	f.dvCovered.Store(covers)
	f.dvMu.Unlock()
	if moved {
		s.changed()
	}
}

// registerNotify (PostgreSQL) makes every write through db send a change notice: inside a
// withTx transaction the write only marks it (withTx sends one notice before committing);
// elsewhere, inside another transaction or none, it sends its own on the same connection.
func registerNotify(db *gorm.DB) error {
	after := func(db *gorm.DB) {
		if db.Error != nil || db.Statement == nil || db.Statement.ConnPool == nil {
			return
		}
		ctx := db.Statement.Context
		if ctx == nil {
			ctx = context.Background()
		}
		if flag, ok := ctx.Value(txChangesKey{}).(*atomic.Bool); ok {
			flag.Store(true)
			return
		}
		if _, err := db.Statement.ConnPool.ExecContext(ctx, notifySQL); err != nil {
			_ = db.AddError(err)
		}
	}
	return afterWrites(db, "entitled:notify", after)
}

// afterWrites registers fn to run after every create, update, delete and raw statement made
// through db, as the callbacks name_create, name_update, name_delete and name_raw.
func afterWrites(db *gorm.DB, name string, fn func(*gorm.DB)) error {
	cb := db.Callback()
	if err := cb.Create().After("gorm:create").Register(name+"_create", fn); err != nil {
		return err
	}
	if err := cb.Update().After("gorm:update").Register(name+"_update", fn); err != nil {
		return err
	}
	if err := cb.Delete().After("gorm:delete").Register(name+"_delete", fn); err != nil {
		return err
	}
	return cb.Raw().After("gorm:raw").Register(name+"_raw", fn)
}

// notifyInTx sends the change notice on tx (delivered when it commits) if flag says that the
// transaction wrote something.
func notifyInTx(tx *gorm.DB, flag *atomic.Bool) error {
	if !flag.Load() || tx.Dialector.Name() != "postgres" {
		return nil
	}
	_, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, notifySQL)
	if err != nil {
		return errors.Join(errors.New("send the change notice"), err)
	}
	return nil
}

// queryDataVersion runs PRAGMA data_version on the held connection. The caller holds dvMu.
// (It opens a read transaction: in WAL mode a reader waits for no writer, and the connection's
// busy timeout bounds the rest, so it takes no context of its own.)
func (f *changeFeed) queryDataVersion() (v int64, err error) {
	err = f.dvConn.Raw(func(any) error {
		rows, err := f.dvStmt.QueryContext(context.Background(), nil)
		if err != nil {
			return err
		}
		defer rows.Close()
		if err := rows.Next(f.dvRow); err != nil {
			return fmt.Errorf("store: PRAGMA data_version answered no row: %w", err)
		}
		n, ok := f.dvRow[0].(int64)
		if !ok {
			return fmt.Errorf("store: PRAGMA data_version answered %T", f.dvRow[0])
		}
		v = n
		return nil
	})
	return v, err
}

// closeDataVersion closes the statement, the connection and its pool. The caller holds dvMu.
func (f *changeFeed) closeDataVersion() {
	_ = f.dvConn.Raw(func(any) error { return f.dvStmt.Close() })
	f.dvConn.Close()
	f.dvDB.Close()
	f.dvDB, f.dvConn, f.dvStmt, f.dvRow = nil, nil, nil, nil
}

// dataVersionStmt is what checkDataVersion needs of the driver's prepared statement.
type dataVersionStmt interface {
	driver.Stmt
	driver.StmtQueryContext
}
