package store_test

// CopyInto (entitled migrate-data) on real databases: SQLite's 0/1 booleans, text dates and NULLs
// arrive as PostgreSQL booleans, dates and NULLs, over more rows than one INSERT carries; the
// sequences go on after the copied ids; a non-empty target and a target at another schema
// version are refused.

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

type copiedContract struct {
	ID                                         int64
	Premier, Trial                             bool
	StartsOn, EndsOn, GraceUntil, TerminatedOn models.Date
}

func readContracts(t *testing.T, s *dbstore.Store) []copiedContract {
	t.Helper()
	return storetest.Rows(t, s, `SELECT id, premier, trial, starts_on, ends_on, grace_until, terminated_on FROM contracts ORDER BY id`,
		func(r *sql.Rows) (c copiedContract, err error) {
			err = r.Scan(&c.ID, &c.Premier, &c.Trial, &c.StartsOn, &c.EndsOn, &c.GraceUntil, &c.TerminatedOn)
			return c, err
		})
}

func TestCopyIntoPostgreSQL(t *testing.T) {
	t.Parallel()
	if !slices.Contains(storetest.Dialects(t), dbstore.Postgres) {
		t.Skip("PostgreSQL does not answer")
	}
	ctx := context.Background()
	src := storetest.Open(t, dbstore.SQLite, nil)
	start := models.NewDate(2025, time.January, 1)
	storetest.SeedContracts(t, src, 450, func(i int) storetest.Contract {
		c := storetest.Contract{Premier: i%3 == 0, Trial: i%7 == 0, StartsOn: start.AddDays(i), EndsOn: start.AddDays(i + 365)}
		if i%5 == 0 {
			c.GraceUntil = start.AddDays(i + 395)
		}
		if i%11 == 0 {
			c.TerminatedOn = start.AddDays(i + 100)
		}
		return c
	})
	dst := storetest.Open(t, dbstore.Postgres, nil)

	var progress []string
	res, err := dbstore.CopyInto(ctx, src, dst, func(table string, rows int64) { progress = append(progress, table) })
	if err != nil {
		t.Fatal(err)
	}
	if len(progress) != len(res.Tables) || !slices.Contains(progress, "contracts") || !slices.Contains(progress, "river_job") {
		t.Errorf("progress reported %v", progress)
	}
	// Parents before the tables that name them.
	if slices.Index(progress, "accounts") > slices.Index(progress, "orders") || slices.Index(progress, "licenses") > slices.Index(progress, "contracts") {
		t.Errorf("tables copied in the order %v: a foreign key's table after the table naming it", progress)
	}
	want, got := readContracts(t, src), readContracts(t, dst)
	if len(want) != 450 || !reflect.DeepEqual(want, got) {
		t.Errorf("contracts differ after the copy: %d in SQLite, %d in PostgreSQL", len(want), len(got))
		for i := range min(len(want), len(got)) {
			if want[i] != got[i] {
				t.Fatalf("first difference: %+v became %+v", want[i], got[i])
			}
		}
	}
	var next int64
	if err := dst.SQLDB().QueryRow(`SELECT nextval(pg_get_serial_sequence('contracts', 'id'))`).Scan(&next); err != nil {
		t.Fatal(err)
	}
	if next != want[len(want)-1].ID+1 {
		t.Errorf("the next contract id is %d, want %d", next, want[len(want)-1].ID+1)
	}

	// Into the now non-empty target: refused, nothing added.
	if _, err := dbstore.CopyInto(ctx, src, dst, nil); !errors.Is(err, dbstore.ErrTargetNotEmpty) {
		t.Errorf("a second copy: %v, want ErrTargetNotEmpty", err)
	}
	if n := len(readContracts(t, dst)); n != 450 {
		t.Errorf("after the refused copy the target has %d contracts", n)
	}

	// A source at another schema version than the target: refused.
	other := storetest.Open(t, dbstore.Postgres, nil)
	if _, err := src.SQLDB().Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (99999, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := dbstore.CopyInto(ctx, src, other, nil); dbstore.ErrorCode(err) != models.CodeSchemaBehind {
		t.Errorf("a copy between schema versions: %v, want %s", err, models.CodeSchemaBehind)
	}
}
