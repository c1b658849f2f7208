package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"entitled/models"
)

// Backup writes a consistent copy of the SQLite database to path while the server keeps
// serving: VACUUM INTO reads the database in one read transaction (WAL lets writers go on
// meanwhile), so the copy holds exactly what was committed when it began, and nothing of what
// commits after. It refuses a path that exists; the copy is a complete database of its own (no
// -wal file) that a server can be started on. PostgreSQL is backed up with pg_dump instead.
func (s *Store) Backup(ctx context.Context, path string) (err error) {
	defer wrapErr(&err, "back up the database")
	if s.Dialect != SQLite {
		return models.Errorf(models.CodeValidation, "backup copies the embedded SQLite database; back up PostgreSQL with pg_dump")
	}
	if path == "" {
		return models.Errorf(models.CodeValidation, "name the backup file")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	// O_EXCL: an existing file, or one that appears meanwhile, is never overwritten. SQLite
	// writes VACUUM INTO's output only into a file that is absent or empty, so the empty file
	// made here is the one it fills.
	f, err := os.OpenFile(abs, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return models.Errorf(models.CodeConflict, "%s exists already: the backup overwrites nothing; name a new file", path)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	f.Close()
	done := false
	defer func() {
		if !done {
			_ = os.Remove(abs)
		}
	}()
	if _, err := s.sqlDB.ExecContext(ctx, "VACUUM INTO ?", abs); err != nil {
		return translate(err)
	}
	if err := checkCopy(ctx, abs); err != nil {
		return err
	}
	// VACUUM INTO does not sync its output: make the copy durable before saying it is done.
	f, err = os.OpenFile(abs, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(abs)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	done = true
	return nil
}

// checkCopy opens the copy read-only and runs PRAGMA integrity_check on it.
func checkCopy(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return fmt.Errorf("check the copy: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("the copy fails PRAGMA integrity_check: %s", res)
	}
	return nil
}

// IntegrityCheck runs SQLite's PRAGMA integrity_check and returns its findings: nil when the
// database is sound. On PostgreSQL it does nothing.
func (s *Store) IntegrityCheck(ctx context.Context) (problems []string, err error) {
	defer wrapErr(&err, "check the database's integrity")
	if s.Dialect != SQLite {
		return nil, nil
	}
	rows, err := s.sqlDB.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		if r != "ok" {
			problems = append(problems, r)
		}
	}
	return problems, rows.Err()
}
