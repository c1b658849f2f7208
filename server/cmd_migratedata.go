package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	dbstore "entitled/models/store"
)

const migrateDataUsage = `usage: entitled migrate-data --from sqlite://PATH --to postgres://…
  copies every table of a SQLite database into a new, empty PostgreSQL database (migrated first),
  in one transaction; stop the server on the SQLite database first`

// cmdMigrateData: "migrate-data --from sqlite://… --to postgres://…" moves an installation from
// the embedded database to PostgreSQL: it migrates the target, checks that both are at the same
// schema version and that the target holds no application row, and copies every table (River's
// job queue too, so letters still waiting go out from PostgreSQL) in one transaction, counting
// the rows of each table on both sides.
func cmdMigrateData(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate-data", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "the SQLite database: sqlite://PATH")
	to := fs.String("to", "", "the PostgreSQL database: postgres://…")
	cfgArgs, err := parseOwnFlags(fs, args)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(*from, "sqlite://") {
		return usageError{"migrate-data: --from must be a sqlite:// URL\n" + migrateDataUsage}
	}
	if !strings.HasPrefix(*to, "postgres://") && !strings.HasPrefix(*to, "postgresql://") {
		return usageError{"migrate-data: --to must be a postgres:// URL\n" + migrateDataUsage}
	}
	cfg, log, err := loadCommandConfig("migrate-data", cfgArgs, env, stderr, "migrate-data: unexpected arguments")
	if err != nil {
		return err
	}
	// Open would make an empty database where none is: a mistyped path must not copy nothing.
	if p := sqlitePathOf(*from); p != "" {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("migrate-data: the source database: %w", err)
		}
	}
	srcCfg, dstCfg := cfg, cfg
	srcCfg.DatabaseURL, dstCfg.DatabaseURL = *from, *to
	src, err := openStore(ctx, srcCfg, log, false)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openStore(ctx, dstCfg, log, true)
	if err != nil {
		return err
	}
	defer dst.Close()

	start := time.Now()
	// One line per table as it is copied (a terminal shows the copy advancing; a log keeps it).
	progress := func(table string, rows int64) { fmt.Fprintf(stderr, "%s: %d rows\n", table, rows) }
	fmt.Fprintf(stderr, "copying %s to %s in one transaction\n", showDB(*from), showDB(*to))
	res, err := dbstore.CopyInto(ctx, src, dst, progress)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(stdout, "copied %d rows in %d tables from %s to %s in %s\n", res.Rows(), len(res.Tables),
		showDB(*from), showDB(*to), time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, "start the server with ENTITLED_DATABASE_URL set to the PostgreSQL URL and the same ENTITLED_SECRET as before"+
		" (generated into <data dir>/secret when it was not set): the signing keys are encrypted with it")
	return nil
}
