package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"

	"entitled/models"
)

// Moving a SQLite database to PostgreSQL (entitled migrate-data): every table's rows, the
// application's and River's (so that letters waiting in the outbox move with them), copied in one
// PostgreSQL transaction into a migrated, empty database, column by column as the target's column
// types want them.

// copySkipped are the tables that are not copied: each database keeps its own migration
// bookkeeping (goose's and River's, written when the target was migrated), River's leadership
// and notifications are about the processes of the moment, and sqlite_sequence is SQLite's.
var copySkipped = map[string]bool{
	"goose_db_version":   true,
	"river_migration":    true,
	"river_leader":       true,
	"river_notification": true,
	"sqlite_sequence":    true,
}

// copyBookkeeping are copied tables that a migrated, empty target may already hold rows of (a
// River client made its queue's row): they are emptied before the copy and do not make the
// target count as not empty.
var copyBookkeeping = map[string]bool{"river_queue": true}

// copyBatch is how many rows one INSERT carries.
const copyBatch = 200

// ErrTargetNotEmpty is the error CopyInto returns for a target that holds application rows.
var ErrTargetNotEmpty = models.Errorf(models.CodeConflict, "the target database is not empty")

// CopyResult is what CopyInto copied: rows per table, in the order copied.
type CopyResult struct {
	Tables []CopiedTable
}

// CopiedTable is one table's row count (the same in source and target).
type CopiedTable struct {
	Name string
	Rows int64
}

// Rows is the number of rows copied in all tables.
func (r CopyResult) Rows() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Rows
	}
	return n
}

// targetColumn is a column of a PostgreSQL table and how a value from SQLite is put into it.
type targetColumn struct {
	name     string
	dataType string // information_schema's data_type
	udt      string // information_schema's udt_name (_text for text[], …)
	sqlType  string // format_type: the type as it is written in a cast
	serial   bool   // an identity column or one that takes a sequence's nextval
}

// sourceExpr is what the SELECT on SQLite reads for the column: text for everything that
// PostgreSQL parses (numbers, 0/1 booleans, dates, times as SQLite keeps them), JSON text for
// River's JSONB blobs, and the bytes themselves for binary columns.
func (c targetColumn) sourceExpr() string {
	q := quoteIdent(c.name)
	switch {
	case c.dataType == "bytea":
		return q
	case c.dataType == "json", c.dataType == "jsonb", c.dataType == "ARRAY":
		// River's SQLite driver keeps JSON (args, metadata, errors, tags, attempted_by) as
		// binary JSONB; json() gives text for JSONB and JSON text alike.
		return "json(" + q + ")"
	}
	return "CAST(" + q + " AS TEXT)"
}

// targetExpr is the placeholder for the value in the INSERT, cast to the column's type.
func (c targetColumn) targetExpr(n int) string {
	p := fmt.Sprintf("$%d", n)
	text := "CAST(" + p + " AS text)"
	switch {
	case c.dataType == "bytea":
		return "CAST(" + p + " AS bytea)"
	case c.dataType == "bit", c.dataType == "bit varying":
		// SQLite keeps River's unique_states as an integer; bit(8)'s last bit is its lowest.
		return "CAST(CAST(" + text + " AS integer) AS " + c.sqlType + ")"
	case c.dataType == "ARRAY":
		// A JSON array from SQLite, element by element, in order.
		elems, elemType := "jsonb_array_elements_text", "text"
		if c.udt == "_jsonb" || c.udt == "_json" {
			elems, elemType = "jsonb_array_elements", "jsonb"
		}
		return fmt.Sprintf("CASE WHEN %[1]s IS NULL THEN NULL ELSE CAST(ARRAY(SELECT CAST(e.v AS %[3]s) FROM %[2]s(CAST(%[1]s AS jsonb)) WITH ORDINALITY AS e(v, i) ORDER BY e.i) AS %[4]s) END",
			text, elems, elemType, c.sqlType)
	}
	return "CAST(" + text + " AS " + c.sqlType + ")"
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// SchemaVersions are the migrations a database has applied: entitled's (goose) and River's.
type SchemaVersions struct {
	Entitled []int64
	River    []int64
}

func (v SchemaVersions) String() string {
	last := func(s []int64) int64 {
		if len(s) == 0 {
			return 0
		}
		return s[len(s)-1]
	}
	return fmt.Sprintf("entitled %d (%d migrations), river %d", last(v.Entitled), len(v.Entitled), last(v.River))
}

// Equal reports whether both lists hold the same migrations.
func (v SchemaVersions) Equal(o SchemaVersions) bool {
	return slices.Equal(v.Entitled, o.Entitled) && slices.Equal(v.River, o.River)
}

// SchemaVersions reads which migrations the database has applied.
func (s *Store) SchemaVersions(ctx context.Context) (v SchemaVersions, err error) {
	defer wrapErr(&err, "read the schema version")
	read := func(query string) ([]int64, error) {
		rows, err := s.sqlDB.QueryContext(ctx, query)
		if err != nil {
			return nil, translate(err)
		}
		defer rows.Close()
		var out []int64
		for rows.Next() {
			var n int64
			if err := rows.Scan(&n); err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		return out, rows.Err()
	}
	// goose keeps a row per step, up and down: a version is applied when its latest row says so.
	if v.Entitled, err = read(`SELECT g.version_id FROM goose_db_version g
		WHERE g.version_id > 0 AND g.id = (SELECT max(h.id) FROM goose_db_version h WHERE h.version_id = g.version_id)
		AND g.is_applied ORDER BY g.version_id`); err != nil {
		return v, err
	}
	if v.River, err = read(`SELECT version FROM river_migration ORDER BY version`); err != nil {
		return v, err
	}
	return v, nil
}

// CopyInto copies every table of src (SQLite) into dst (PostgreSQL, migrated to the same schema
// version and holding no application row) in one transaction of dst: a failure anywhere leaves
// dst as it was. src is read in one transaction too, so the copy is of one moment even if
// something writes to it meanwhile. Rows are counted on both sides per table, and dst's
// sequences are set past the largest ids copied. progress, if not nil, is called after each
// table.
func CopyInto(ctx context.Context, src, dst *Store, progress func(table string, rows int64)) (res CopyResult, err error) {
	defer wrapErr(&err, "copy the data")
	if src.Dialect != SQLite || dst.Dialect != Postgres {
		return res, models.Errorf(models.CodeValidation, "data is copied from SQLite to PostgreSQL, not from %s to %s", src.Dialect, dst.Dialect)
	}
	sv, err := src.SchemaVersions(ctx)
	if err != nil {
		return res, fmt.Errorf("source: %w", err)
	}
	dv, err := dst.SchemaVersions(ctx)
	if err != nil {
		return res, fmt.Errorf("target: %w", err)
	}
	if !sv.Equal(dv) {
		return res, models.Errorf(models.CodeSchemaBehind,
			"the databases are at different schema versions (source: %s; target, migrated by this binary: %s): migrate the source with this binary first (entitled migrate up --database-url sqlite://…), or use the binary that made it", sv, dv)
	}

	tables, columns, err := targetTables(ctx, dst)
	if err != nil {
		return res, err
	}
	srcTables, err := sourceTables(ctx, src)
	if err != nil {
		return res, err
	}
	for _, t := range tables {
		have, ok := srcTables[t]
		if !ok {
			return res, fmt.Errorf("table %s is in the target but not in the source", t)
		}
		for _, c := range columns[t] {
			if !have[c.name] {
				return res, fmt.Errorf("column %s.%s is in the target but not in the source", t, c.name)
			}
		}
		for c := range have {
			if !slices.ContainsFunc(columns[t], func(tc targetColumn) bool { return tc.name == c }) {
				return res, fmt.Errorf("column %s.%s is in the source but not in the target", t, c)
			}
		}
	}
	for t := range srcTables {
		// sqlite_sequence, sqlite_stat1 (after ANALYZE), …: SQLite's own.
		if _, ok := columns[t]; !ok && !copySkipped[t] && !strings.HasPrefix(t, "sqlite_") {
			return res, fmt.Errorf("table %s is in the source but not in the target", t)
		}
	}

	stx, err := src.sqlDB.BeginTx(ctx, nil) // BEGIN IMMEDIATE: writers wait until the copy is read
	if err != nil {
		return res, fmt.Errorf("source: %w", translate(err))
	}
	defer func() { _ = stx.Rollback() }()
	dtx, err := dst.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("target: %w", translate(err))
	}
	defer func() { _ = dtx.Rollback() }()
	// One copy at a time into a database, and times without a zone (River's, on SQLite) are UTC.
	if _, err := dtx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLockKey+1); err != nil {
		return res, translate(err)
	}
	if _, err := dtx.ExecContext(ctx, "SET LOCAL TimeZone = 'UTC'"); err != nil {
		return res, translate(err)
	}
	for _, t := range tables {
		if copyBookkeeping[t] {
			if _, err := dtx.ExecContext(ctx, "DELETE FROM "+quoteIdent(t)); err != nil {
				return res, translate(err)
			}
			continue
		}
		var has bool
		if err := dtx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+quoteIdent(t)+")").Scan(&has); err != nil {
			return res, translate(err)
		}
		if has {
			return res, &models.Error{Code: models.CodeConflict, Err: ErrTargetNotEmpty,
				Message: fmt.Sprintf("the target database is not empty (table %s has rows): data is copied only into a new, empty database", t)}
		}
	}

	for _, t := range tables {
		n, err := copyTable(ctx, stx, dtx, t, columns[t])
		if err != nil {
			return res, fmt.Errorf("table %s: %w", t, translate(err))
		}
		var want, got int64
		if err := stx.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(t)).Scan(&want); err != nil {
			return res, fmt.Errorf("count %s in the source: %w", t, err)
		}
		if err := dtx.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(t)).Scan(&got); err != nil {
			return res, fmt.Errorf("count %s in the target: %w", t, translate(err))
		}
		if n != want || got != want {
			return res, fmt.Errorf("table %s: the source has %d rows, %d were read and the target has %d", t, want, n, got)
		}
		res.Tables = append(res.Tables, CopiedTable{Name: t, Rows: got})
		if progress != nil {
			progress(t, got)
		}
	}

	// Identity columns and sequences go on after the largest id copied.
	for _, t := range tables {
		for _, c := range columns[t] {
			if !c.serial {
				continue
			}
			q := fmt.Sprintf("SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT max(%s) FROM %s), 0) + 1, false)", quoteIdent(c.name), quoteIdent(t))
			if _, err := dtx.ExecContext(ctx, q, quoteIdent(t), c.name); err != nil {
				return res, fmt.Errorf("reset the sequence of %s.%s: %w", t, c.name, translate(err))
			}
		}
	}
	if err := dtx.Commit(); err != nil {
		return res, fmt.Errorf("commit: %w", translate(err))
	}
	return res, nil
}

// copyTable streams one table's rows from the source into the target in multi-row INSERTs and
// returns how many it read.
func copyTable(ctx context.Context, stx, dtx *sql.Tx, table string, cols []targetColumn) (int64, error) {
	exprs := make([]string, len(cols))
	names := make([]string, len(cols))
	order := ""
	for i, c := range cols {
		exprs[i] = c.sourceExpr()
		names[i] = quoteIdent(c.name)
		if c.name == "id" {
			order = " ORDER BY " + quoteIdent("id") // parents before the rows that name them
		}
	}
	rows, err := stx.QueryContext(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM "+quoteIdent(table)+order)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	overriding := ""
	if slices.ContainsFunc(cols, func(c targetColumn) bool { return c.serial }) {
		overriding = " OVERRIDING SYSTEM VALUE"
	}
	head := "INSERT INTO " + quoteIdent(table) + " (" + strings.Join(names, ", ") + ")" + overriding + " VALUES "
	var (
		n     int64
		batch []any
		tuple []string
	)
	flush := func() error {
		if len(tuple) == 0 {
			return nil
		}
		_, err := dtx.ExecContext(ctx, head+strings.Join(tuple, ", "), batch...)
		batch, tuple = batch[:0], tuple[:0]
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		ph := make([]string, len(cols))
		for i, c := range cols {
			v := vals[i]
			switch x := v.(type) {
			case string:
				if c.dataType == "bytea" {
					v = []byte(x)
				}
			case []byte:
				if c.dataType != "bytea" {
					v = string(x)
				} else {
					v = slices.Clone(x)
				}
			case nil:
			default:
				if c.dataType != "bytea" {
					v = fmt.Sprint(x)
				}
			}
			batch = append(batch, v)
			ph[i] = c.targetExpr(len(batch))
		}
		tuple = append(tuple, "("+strings.Join(ph, ", ")+")")
		n++
		if len(tuple) >= copyBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, err
	}
	return n, flush()
}

// targetTables lists the PostgreSQL tables to copy, parents before the tables whose foreign keys
// name them, with their columns.
func targetTables(ctx context.Context, dst *Store) ([]string, map[string][]targetColumn, error) {
	rows, err := dst.sqlDB.QueryContext(ctx, `
		SELECT c.table_name, c.column_name, c.data_type, c.udt_name, format_type(a.atttypid, a.atttypmod),
		       c.is_identity = 'YES' OR COALESCE(c.column_default, '') LIKE 'nextval(%'
		FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
		JOIN pg_attribute a ON a.attrelid = (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass
		                   AND a.attname = c.column_name AND NOT a.attisdropped
		WHERE c.table_schema = current_schema()
		ORDER BY c.table_name, c.ordinal_position`)
	if err != nil {
		return nil, nil, fmt.Errorf("target: read the columns: %w", translate(err))
	}
	defer rows.Close()
	columns := map[string][]targetColumn{}
	for rows.Next() {
		var t string
		var c targetColumn
		if err := rows.Scan(&t, &c.name, &c.dataType, &c.udt, &c.sqlType, &c.serial); err != nil {
			return nil, nil, err
		}
		if copySkipped[t] {
			continue
		}
		columns[t] = append(columns[t], c)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	deps := map[string][]string{}
	frows, err := dst.sqlDB.QueryContext(ctx, `
		SELECT DISTINCT c.conrelid::regclass::text, c.confrelid::regclass::text
		FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
		WHERE c.contype = 'f' AND n.nspname = current_schema() AND c.conrelid <> c.confrelid`)
	if err != nil {
		return nil, nil, fmt.Errorf("target: read the foreign keys: %w", translate(err))
	}
	defer frows.Close()
	for frows.Next() {
		var child, parent string
		if err := frows.Scan(&child, &parent); err != nil {
			return nil, nil, err
		}
		child, parent = strings.Trim(child, `"`), strings.Trim(parent, `"`)
		deps[child] = append(deps[child], parent)
	}
	if err := frows.Err(); err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(columns))
	for t := range columns {
		names = append(names, t)
	}
	sort.Strings(names)
	var ordered []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(t string) error
	visit = func(t string) error {
		switch state[t] {
		case 1:
			return fmt.Errorf("target: the foreign keys of %s make a cycle", t)
		case 2:
			return nil
		}
		state[t] = 1
		for _, p := range deps[t] {
			if _, ok := columns[p]; ok {
				if err := visit(p); err != nil {
					return err
				}
			}
		}
		state[t] = 2
		ordered = append(ordered, t)
		return nil
	}
	for _, t := range names {
		if err := visit(t); err != nil {
			return nil, nil, err
		}
	}
	return ordered, columns, nil
}

// sourceTables lists SQLite's tables with their columns.
func sourceTables(ctx context.Context, src *Store) (map[string]map[string]bool, error) {
	rows, err := src.sqlDB.QueryContext(ctx, `SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' ORDER BY m.name, p.cid`)
	if err != nil {
		return nil, fmt.Errorf("source: read the tables: %w", translate(err))
	}
	defer rows.Close()
	out := map[string]map[string]bool{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		if out[t] == nil {
			out[t] = map[string]bool{}
		}
		out[t][c] = true
	}
	return out, rows.Err()
}
