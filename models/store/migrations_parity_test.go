package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"entitled/models/store"
	"entitled/models/storetest"
)

// The two migration folders (migrations/sqlite and migrations/postgres) build the same schema:
// after migrating a fresh database of each dialect, the project's tables, their columns and their
// indexes (name, columns in order, uniqueness, partial or not) are the same. Types and defaults
// are not compared (they differ by dialect on purpose); River's and goose's tables are skipped.
func TestMigrationFoldersProduceTheSameSchema(t *testing.T) {
	dialects := storetest.Dialects(t)
	if len(dialects) < 2 {
		t.Skip("needs both dialects; PostgreSQL does not answer")
	}
	schemas := map[store.Dialect]paritySchema{}
	for _, d := range dialects {
		s := storetest.Open(t, d, nil)
		sc, err := readSchema(context.Background(), s.SQLDB(), d)
		if err != nil {
			t.Fatalf("%s: read catalogue: %v", d, err)
		}
		if len(sc.tables) == 0 {
			t.Fatalf("%s: no tables found after migrating", d)
		}
		t.Logf("%s: %d tables, %d indexes", d, len(sc.tables), len(sc.indexes))
		schemas[d] = sc
	}
	lite, pg := schemas[store.SQLite], schemas[store.Postgres]

	parityEach(t, "table", lite.tables, pg.tables, func(name string, lc, pc []string) {
		if !slices.Equal(lc, pc) {
			t.Errorf("table %s columns differ:\n  sqlite:   %v\n  postgres: %v\n  only sqlite: %v\n  only postgres: %v",
				name, lc, pc, parityMinus(lc, pc), parityMinus(pc, lc))
		}
	})
	parityEach(t, "index", lite.indexes, pg.indexes, func(name, li, pi string) {
		if li != pi {
			t.Errorf("index %s differs:\n  sqlite:   %s\n  postgres: %s", name, li, pi)
		}
	})
}

// paritySchema is one database's catalogue, normalised: table → sorted column names, and index key →
// a description of the index. Named indexes (CREATE INDEX) are keyed by their name; the indexes
// behind UNIQUE constraints, whose names each database makes up, by their table and columns.
// Primary keys are left out (every table's is its id, and the columns already show it).
type paritySchema struct {
	tables  map[string][]string
	indexes map[string]string
}

type parityIndex struct {
	table   string
	name    string
	origin  string // "c" for CREATE INDEX, "u" for a UNIQUE constraint
	unique  bool
	partial bool
	columns []string // an expression column is "<expr>"
}

func (ix parityIndex) key() string {
	if ix.origin == "u" {
		return fmt.Sprintf("%s UNIQUE(%s)", ix.table, strings.Join(ix.columns, ","))
	}
	return ix.table + "." + ix.name
}

func (ix parityIndex) String() string {
	var b strings.Builder
	if ix.origin == "u" {
		b.WriteString("constraint ")
	} else {
		b.WriteString(ix.name + " ")
	}
	if ix.unique {
		b.WriteString("UNIQUE ")
	}
	fmt.Fprintf(&b, "ON %s(%s)", ix.table, strings.Join(ix.columns, ", "))
	if ix.partial {
		b.WriteString(" WHERE …")
	}
	return b.String()
}

func parityProjectTable(name string) bool {
	return !strings.HasPrefix(name, "river_") && !strings.HasPrefix(name, "goose_") && !strings.HasPrefix(name, "sqlite_")
}

func readSchema(ctx context.Context, db *sql.DB, d store.Dialect) (paritySchema, error) {
	sc := paritySchema{tables: map[string][]string{}, indexes: map[string]string{}}
	var (
		tableQuery string
		names      []string
	)
	if d == store.SQLite {
		tableQuery = "SELECT name FROM sqlite_master WHERE type = 'table'"
	} else {
		tableQuery = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
	}
	if err := parityStrings(ctx, db, &names, tableQuery); err != nil {
		return sc, err
	}
	for _, name := range names {
		if !parityProjectTable(name) {
			continue
		}
		var cols []string
		var err error
		if d == store.SQLite {
			err = parityStrings(ctx, db, &cols, "SELECT name FROM pragma_table_info(?)", name)
		} else {
			err = parityStrings(ctx, db, &cols, "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1", name)
		}
		if err != nil {
			return sc, fmt.Errorf("columns of %s: %w", name, err)
		}
		slices.Sort(cols)
		sc.tables[name] = cols

		var ixs []parityIndex
		if d == store.SQLite {
			ixs, err = sqliteIndexes(ctx, db, name)
		} else {
			ixs, err = postgresIndexes(ctx, db, name)
		}
		if err != nil {
			return sc, fmt.Errorf("indexes of %s: %w", name, err)
		}
		for _, ix := range ixs {
			sc.indexes[ix.key()] = ix.String()
		}
	}
	return sc, nil
}

func sqliteIndexes(ctx context.Context, db *sql.DB, table string) ([]parityIndex, error) {
	rows, err := db.QueryContext(ctx, "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?)", table)
	if err != nil {
		return nil, err
	}
	var out []parityIndex
	for rows.Next() {
		ix := parityIndex{table: table}
		if err := rows.Scan(&ix.name, &ix.unique, &ix.origin, &ix.partial); err != nil {
			rows.Close()
			return nil, err
		}
		if ix.origin == "pk" {
			continue
		}
		out = append(out, ix)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		// index_xinfo lists the key columns (key = 1) in order; an expression has no name.
		crows, err := db.QueryContext(ctx, "SELECT name FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno", out[i].name)
		if err != nil {
			return nil, err
		}
		for crows.Next() {
			var col sql.NullString
			if err := crows.Scan(&col); err != nil {
				crows.Close()
				return nil, err
			}
			if col.Valid {
				out[i].columns = append(out[i].columns, col.String)
			} else {
				out[i].columns = append(out[i].columns, "<expr>")
			}
		}
		crows.Close()
		if err := crows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func postgresIndexes(ctx context.Context, db *sql.DB, table string) ([]parityIndex, error) {
	// pg_indexes names the indexes; pg_index tells uniqueness, primary key, partial and the key
	// columns (attnum 0 is an expression); pg_constraint tells which back a UNIQUE constraint.
	rows, err := db.QueryContext(ctx, `
SELECT pi.indexname, x.indisunique, x.indisprimary, x.indpred IS NOT NULL,
       EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.contype = 'u'),
       ARRAY(SELECT COALESCE(a.attname, '<expr>')
             FROM unnest(x.indkey[0:x.indnkeyatts-1]) WITH ORDINALITY AS k(attnum, ord)
             LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum AND k.attnum > 0
             ORDER BY k.ord)::text
FROM pg_indexes pi
JOIN pg_class ic ON ic.relname = pi.indexname
JOIN pg_namespace n ON n.oid = ic.relnamespace AND n.nspname = pi.schemaname
JOIN pg_index x ON x.indexrelid = ic.oid
WHERE pi.schemaname = current_schema() AND pi.tablename = $1`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []parityIndex
	for rows.Next() {
		ix := parityIndex{table: table, origin: "c"}
		var primary, constraint bool
		var cols string
		if err := rows.Scan(&ix.name, &ix.unique, &primary, &ix.partial, &constraint, &cols); err != nil {
			return nil, err
		}
		if primary {
			continue
		}
		if constraint {
			ix.origin = "u"
		}
		cols = strings.TrimSuffix(strings.TrimPrefix(cols, "{"), "}")
		for _, c := range strings.Split(cols, ",") {
			ix.columns = append(ix.columns, strings.Trim(c, `"`))
		}
		out = append(out, ix)
	}
	return out, rows.Err()
}

func parityStrings(ctx context.Context, db *sql.DB, dst *[]string, query string, args ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		*dst = append(*dst, s)
	}
	return rows.Err()
}

// parityEach walks the names of either dialect's schema (of kind, "table" or "index"): it reports
// one that only one dialect has, with what it is there, and hands one both have to same.
func parityEach[V any](t *testing.T, kind string, lite, pg map[string]V, same func(name string, l, p V)) {
	t.Helper()
	for _, name := range parityUnion(parityKeys(lite), parityKeys(pg)) {
		l, inLite := lite[name]
		p, inPG := pg[name]
		switch {
		case !inLite:
			t.Errorf("%s %s exists only on postgres: %v", kind, name, p)
		case !inPG:
			t.Errorf("%s %s exists only on sqlite: %v", kind, name, l)
		default:
			same(name, l, p)
		}
	}
}

func parityKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func parityUnion(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

func parityMinus(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}
