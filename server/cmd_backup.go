package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const backupUsage = `usage: entitled backup --to FILE
  writes a consistent copy of the SQLite database to FILE (which must not exist) while the server
  keeps serving; on PostgreSQL use pg_dump`

// cmdBackup: "backup --to FILE" copies the embedded SQLite database, online and consistent (VACUUM
// INTO), to a new file. PostgreSQL is backed up with pg_dump: the command says how and fails.
func cmdBackup(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	to := fs.String("to", "", "the file to write; it must not exist")
	cfgArgs, err := parseOwnFlags(fs, args)
	if err != nil {
		return err
	}
	if *to == "" {
		return usageError{"backup: name the file with --to\n" + backupUsage}
	}
	cfg, log, err := loadCommandConfig("backup", cfgArgs, env, stderr, "backup: unexpected arguments")
	if err != nil {
		return err
	}
	if !cfg.isSQLite() {
		return fmt.Errorf("backup copies the embedded SQLite database; this one is PostgreSQL: back it up with pg_dump, e.g.\n"+
			"  pg_dump --format=custom --no-owner --file=%s '%s'\n"+
			"and restore it into a new, empty database with\n"+
			"  pg_restore --no-owner --dbname='postgres://…/new_database' %s", *to, Secret(cfg.DatabaseURL), *to)
	}
	if _, err := os.Lstat(*to); err == nil {
		return fmt.Errorf("backup: %s exists already; the backup overwrites nothing: name a new file", *to)
	}
	// Opening a SQLite database that is not there creates an empty one: a wrong --data-dir or
	// URL would "back up" that and say all is well.
	if path := sqlitePathOf(cfg.DatabaseURL); path != "" {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("backup: the database %s: %w (check --data-dir or ENTITLED_DATABASE_URL)", path, err)
		}
	}
	store, err := openStore(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer store.Close()
	start := time.Now()
	if err := store.Backup(ctx, *to); err != nil {
		return describe(err)
	}
	info, err := os.Stat(*to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes, %s; integrity_check ok)\n", showDB(cfg.DatabaseURL), *to, info.Size(), time.Since(start).Round(time.Millisecond))
	if cfg.Secret == "" {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "secret")); err == nil {
			fmt.Fprintf(stderr, "note: the signing keys in the copy are encrypted with ENTITLED_SECRET, here %s: keep it with the backup\n",
				filepath.Join(cfg.DataDir, "secret"))
		}
	} else {
		fmt.Fprintln(stderr, "note: the signing keys in the copy are encrypted with ENTITLED_SECRET: a server started on it needs the same one")
	}
	return nil
}

// showDB is a database URL for the console: a sqlite:// path as it is, a PostgreSQL URL with
// its password masked.
func showDB(u string) string {
	if strings.HasPrefix(u, "sqlite://") {
		return u
	}
	return Secret(u).String()
}
