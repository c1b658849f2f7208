package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
)

// cmdMigrate applies the migrations (up) or lists them (status).
func cmdMigrate(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"usage: entitled migrate up | status"}
	}
	sub, args := args[0], args[1:]
	cfg, log, err := loadCommandConfig("migrate "+sub, args, env, stderr, "migrate "+sub+" takes no arguments, got")
	if err != nil {
		return err
	}
	switch sub {
	case "up":
		store, err := openStore(ctx, cfg, log, true)
		if err != nil {
			return err
		}
		defer store.Close()
		fmt.Fprintln(stdout, "schema is up to date")
		return nil
	case "status":
		store, err := openStore(ctx, cfg, log, false)
		if err != nil {
			return err
		}
		defer store.Close()
		status, err := store.MigrationStatus(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SOURCE\tVERSION\tSTATE\tAPPLIED AT\tNAME")
		pending := 0
		for _, m := range status {
			state, at := "pending", ""
			if m.Applied {
				state = "applied"
				if !m.AppliedAt.IsZero() {
					at = m.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
				}
			} else {
				pending++
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", m.Source, m.Version, state, at, m.Name)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d pending\n", pending)
		return nil
	}
	return usageError{fmt.Sprintf("unknown migrate command %q: want up or status", sub)}
}
