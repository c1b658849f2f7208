package main

// seed-contracts: a million contracts written straight into a database (no server, no API), for
// measuring the renewal desk at scale (issue 24, item 5):
//
//	go run ./cmd/loadgen seed-contracts --database-url sqlite:///tmp/million.db --contracts 1000000 --due-share 0.025
//	go run ./cmd/loadgen seed-contracts --database-url 'postgres://postgres@127.0.0.1:5432/million?sslmode=disable' --contracts 1000000
//
// The database is migrated first, as the server does (store.Migrate). Every contract gets what
// the store would have written for it: an account, an order, a license (of one of a few
// products), the contract, its terms (initial, and a renewal for half of them), its open renewal
// record (a stage, a value in EUR or USD for most) and, for the renewed half, the previous term's
// closed record (renewed in time, or late); and the renewal_notices rows a daily pass would have
// written already — except for --due-share of all contracts, which are owed a notice today, so
// that the next pass queues exactly those. ends_on is spread evenly over --spread-days around
// today (the seed's day, UTC); one contract in 100 is a trial, one in 50 terminated.
//
// SQLite: multi-row INSERTs, one transaction per chunk. PostgreSQL: COPY (pgx), one transaction
// per chunk. Ids are explicit, after the tables' largest; PostgreSQL's identity sequences are
// moved past them at the end, and the database is analyzed (and vacuumed, on PostgreSQL).

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"entitled/models"
	"entitled/models/store"
)

type seedContractsOptions struct {
	databaseURL string
	contracts   int
	dueShare    float64
	spreadDays  int
	chunk       int
	offsets     []int
	today       models.Date
}

func parseSeedContracts(args []string, stderr io.Writer) (seedContractsOptions, error) {
	o := seedContractsOptions{offsets: []int{90, 60, 30, 7}}
	fs := flag.NewFlagSet("loadgen seed-contracts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.databaseURL, "database-url", "", "sqlite:///path or postgres://… (required; migrated first)")
	fs.IntVar(&o.contracts, "contracts", 1_000_000, "contracts to write")
	fs.Float64Var(&o.dueShare, "due-share", 0.025, "share of all contracts owed a notice today (no notice row yet)")
	fs.IntVar(&o.spreadDays, "spread-days", 730, "ends_on spread evenly over this many days centred on today")
	fs.IntVar(&o.chunk, "chunk", 20_000, "contracts per transaction")
	today := fs.String("today", "", "the day the data is laid out around, YYYY-MM-DD (default: today, UTC)")
	days := fs.String("notice-days", "90,60,30,7", "the server's ENTITLED_RENEWAL_NOTICE_DAYS")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var ds []int
	for _, f := range strings.Split(*days, ",") {
		var d int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &d); err != nil {
			return o, fmt.Errorf("--notice-days: %q is not a number", f)
		}
		ds = append(ds, d)
	}
	offsets, err := models.NoticeOffsets(ds)
	if err != nil {
		return o, fmt.Errorf("--notice-days: %w", err)
	}
	o.offsets = offsets
	o.today = models.DateOf(time.Now())
	if *today != "" {
		d, err := models.ParseDate(*today)
		if err != nil {
			return o, fmt.Errorf("--today: %w", err)
		}
		o.today = d
	}
	switch {
	case o.databaseURL == "":
		return o, errors.New("--database-url is required (sqlite:///path or postgres://…)")
	case o.contracts < 1:
		return o, errors.New("--contracts must be at least 1")
	case o.dueShare < 0 || o.dueShare > 1:
		return o, errors.New("--due-share must be between 0 and 1")
	case o.spreadDays < 2:
		return o, errors.New("--spread-days must be at least 2")
	case o.chunk < 1:
		return o, errors.New("--chunk must be at least 1")
	}
	return o, nil
}

// seedContractsReport is what a seeding wrote.
type seedContractsReport struct {
	Contracts, Due, Notices, Records int
	Took                             time.Duration
}

func runSeedContracts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseSeedContracts(args, stderr)
	if err != nil {
		return err
	}
	rep, err := seedContracts(ctx, o, func(format string, a ...any) { fmt.Fprintf(stderr, "loadgen: "+format+"\n", a...) })
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d contracts (%d owed a notice today, %d notice rows already sent, %d renewal records) in %s\n",
		rep.Contracts, rep.Due, rep.Notices, rep.Records, rep.Took.Round(time.Millisecond))
	return nil
}

// seedTable is one table's rows of a chunk.
type seedTable struct {
	name    string
	columns []string
	rows    [][]any
}

// seedContractDates lays out the i-th contract (0-based): its dates and flags.
func seedContractDates(o *seedContractsOptions, i int) models.Contract {
	// Evenly spread, but with a stride so that neighbouring ids do not end on neighbouring days.
	k := (i * 7919) % o.spreadDays
	ends := o.today.AddDays(k - o.spreadDays/2)
	c := models.Contract{Program: models.ProgramStandard, StartsOn: ends.AddDays(-364), EndsOn: ends}
	if i%3 == 1 {
		c.Program = models.Program24x7
	}
	c.Premier = i%10 == 3
	c.Trial = i%100 == 99
	if c.Trial {
		c.StartsOn = ends.AddDays(-29)
	}
	if i%50 == 7 {
		c.TerminatedOn = ends.AddDays(-35)
	}
	return c
}

func seedContracts(ctx context.Context, o seedContractsOptions, logf func(string, ...any)) (seedContractsReport, error) {
	var rep seedContractsReport
	start := time.Now()
	s, err := store.Open(ctx, store.OpenOptions{URL: o.databaseURL, MaxConns: 2})
	if err != nil {
		return rep, err
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return rep, fmt.Errorf("migrate: %w", err)
	}
	db := s.SQLDB()

	// Which contracts are owed a notice today (by the rule the pass applies), and which of them
	// are left owed: the due share of all contracts, spread evenly over the owed ones.
	owed := make([]int, o.contracts) // offset+2 when owed (0: not owed)
	nOwed := 0
	for i := range o.contracts {
		c := seedContractDates(&o, i)
		if off, ok := models.NoticeDue(c.Facts(), o.today, o.offsets); ok {
			owed[i] = off + 2
			nOwed++
		}
	}
	wantDue := min(int(o.dueShare*float64(o.contracts)+0.5), nOwed)
	due := make([]bool, o.contracts)
	j := 0
	for i := range o.contracts {
		if owed[i] == 0 {
			continue
		}
		if nOwed > 0 && (j+1)*wantDue/nOwed > j*wantDue/nOwed {
			due[i] = true
			rep.Due++
		}
		j++
	}

	base := map[string]int64{}
	for _, t := range []string{"products", "accounts", "orders", "licenses", "contracts", "contract_terms", "renewal_records", "renewal_notices"} {
		var n int64
		if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM "+t).Scan(&n); err != nil {
			return rep, err
		}
		base[t] = n
	}
	var acctMax sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT MAX(account_id) FROM accounts").Scan(&acctMax); err != nil {
		return rep, err
	}
	acctFrom := int64(1_000_000)
	if acctMax.Valid {
		fmt.Sscan(acctMax.String, &acctFrom)
	}
	if acctFrom+int64(o.contracts) > 9_999_999 {
		return rep, fmt.Errorf("%d more accounts do not fit the 7-digit Account IDs after %d", o.contracts, acctFrom)
	}
	now := time.Now().UTC()
	// A day as the drivers take it: NULL for none, time.Time for pgx's COPY, YYYY-MM-DD for SQLite.
	date := func(d models.Date) any {
		switch {
		case d.IsZero():
			return nil
		case s.Dialect == store.Postgres:
			return d.Time()
		}
		return d.String()
	}

	products := seedTable{name: "products", columns: []string{"id", "sku", "name", "created_at", "updated_at"}}
	names := []string{"Gateway", "Analyzer", "Vault", "Relay", "Console"}
	for p, name := range names {
		id := base["products"] + int64(p) + 1
		products.rows = append(products.rows, []any{id, fmt.Sprintf("MILLION-%d-%d", base["products"], id), name, now, now})
	}
	w, err := newSeedWriter(ctx, s, o.databaseURL)
	if err != nil {
		return rep, err
	}
	defer w.close()
	if err := w.write(ctx, []*seedTable{&products}); err != nil {
		return rep, err
	}
	stages := []string{models.StageUntouched, models.StageContacted, models.StageQuoted, models.StageCommitted}
	currencies := []string{"EUR", "USD"}
	for from := 0; from < o.contracts; from += o.chunk {
		to := min(from+o.chunk, o.contracts)
		accounts := seedTable{name: "accounts", columns: []string{"id", "account_id", "name", "contact_name", "contact_email", "created_at", "updated_at"}}
		orders := seedTable{name: "orders", columns: []string{"id", "order_ref", "account_id", "actor_kind", "created_at"}}
		licenses := seedTable{name: "licenses", columns: []string{"id", "license_number", "account_id", "product_id", "order_id", "quantity", "kind", "ordered_on", "registered_on", "created_at", "updated_at"}}
		contracts := seedTable{name: "contracts", columns: []string{"id", "license_id", "program", "premier", "trial", "starts_on", "ends_on", "grace_until", "terminated_on", "created_at", "updated_at"}}
		terms := seedTable{name: "contract_terms", columns: []string{"id", "contract_id", "seq", "kind", "starts_on", "ends_on", "program", "premier", "actor_kind", "created_at"}}
		records := seedTable{name: "renewal_records", columns: []string{"id", "contract_id", "term_ends_on", "stage", "stage_set_on", "value_minor", "currency", "renewed_on", "covered_until", "closed_at", "created_at", "updated_at"}}
		notices := seedTable{name: "renewal_notices", columns: []string{"id", "contract_id", "ends_on", "offset_days", "sent_at"}}
		for i := from; i < to; i++ {
			k := int64(i) + 1
			c := seedContractDates(&o, i)
			acct, lic, ord, con := base["accounts"]+k, base["licenses"]+k, base["orders"]+k, base["contracts"]+k
			accounts.rows = append(accounts.rows, []any{acct, fmt.Sprintf("%07d", acctFrom+k), fmt.Sprintf("Account %d", acct),
				fmt.Sprintf("Contact %d", acct), fmt.Sprintf("contact%d@example.test", acct), now, now})
			orders.rows = append(orders.rows, []any{ord, fmt.Sprintf("MILLION-%d", ord), acct, "system", now})
			kind, termKind, registered := models.KindPerpetual, models.TermInitial, any(nil)
			if c.Trial {
				kind, termKind, registered = models.KindTrial, models.TermTrial, date(c.StartsOn)
			}
			product := base["products"] + int64(i%len(names)) + 1
			licenses.rows = append(licenses.rows, []any{lic, store.NewLicenseNumber(), acct, product, ord, 1 + i%5, kind, date(c.StartsOn.AddDays(-1)), registered, now, now})
			contracts.rows = append(contracts.rows, []any{con, lic, c.Program, c.Premier, c.Trial, date(c.StartsOn), date(c.EndsOn), nil, date(c.TerminatedOn), now, now})
			// Half of them (not trials) were renewed once: an initial term a year earlier, then the renewal.
			renewed := !c.Trial && i%2 == 0
			termID := base["contract_terms"] + 2*k - 1
			if renewed {
				prev := c.StartsOn.AddDays(-1)
				terms.rows = append(terms.rows, []any{termID, con, 1, termKind, date(prev.AddDays(-364)), date(prev), c.Program, c.Premier, "system", now})
				terms.rows = append(terms.rows, []any{termID + 1, con, 2, models.TermRenewal, date(c.StartsOn), date(c.EndsOn), c.Program, c.Premier, "system", now})
			} else {
				terms.rows = append(terms.rows, []any{termID, con, 1, termKind, date(c.StartsOn), date(c.EndsOn), c.Program, c.Premier, "system", now})
			}
			recID := base["renewal_records"] + 2*k - 1
			var minor, currency any
			if i%5 != 4 {
				minor, currency = int64(50_000+i%97*1000), currencies[i%2]
			}
			stage := stages[i%len(stages)]
			var stageSet any
			if stage != models.StageUntouched {
				stageSet = date(o.today.AddDays(-(i % 20)))
			}
			records.rows = append(records.rows, []any{recID, con, date(c.EndsOn), stage, stageSet, minor, currency, nil, nil, nil, now, now})
			rep.Records++
			if renewed {
				prev := c.StartsOn.AddDays(-1)
				on := prev.AddDays(-10)
				if i%6 == 0 {
					on = prev.AddDays(20) // late: counts lapsed
				}
				closed := on.Time().Add(12 * time.Hour)
				records.rows = append(records.rows, []any{recID + 1, con, date(prev), models.StageWon, date(on), minor, currency, date(on), date(prev), closed, now, now})
				rep.Records++
			}
			// The notice an earlier pass already sent, unless this contract is left owed.
			if owed[i] != 0 && !due[i] {
				notices.rows = append(notices.rows, []any{base["renewal_notices"] + k, con, date(c.EndsOn), owed[i] - 2, now.Add(-24 * time.Hour)})
				rep.Notices++
			}
		}
		if err := w.write(ctx, []*seedTable{&accounts, &orders, &licenses, &contracts, &terms, &records, &notices}); err != nil {
			return rep, err
		}
		rep.Contracts = to
		if to%200_000 == 0 || to == o.contracts {
			logf("seed-contracts: %d of %d contracts written (%s)", to, o.contracts, time.Since(start).Round(time.Second))
		}
	}
	if s.Dialect == store.Postgres {
		for _, t := range []string{"products", "accounts", "orders", "licenses", "contracts", "contract_terms", "renewal_records", "renewal_notices"} {
			if _, err := db.ExecContext(ctx, fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT MAX(id) FROM %s))", t, t)); err != nil {
				return rep, err
			}
		}
	}
	// Statistics for the planner, and on PostgreSQL the visibility map that index-only scans
	// need (autovacuum would get there in its own time).
	analyze := "ANALYZE"
	if s.Dialect == store.Postgres {
		analyze = "VACUUM ANALYZE"
	}
	if _, err := db.ExecContext(ctx, analyze); err != nil {
		return rep, err
	}
	rep.Took = time.Since(start)
	return rep, nil
}

// seedWriter writes a chunk's tables in one transaction: COPY on PostgreSQL, multi-row INSERTs
// on SQLite.
type seedWriter struct {
	s    *store.Store
	conn *pgx.Conn // PostgreSQL only
}

func newSeedWriter(ctx context.Context, s *store.Store, url string) (*seedWriter, error) {
	w := &seedWriter{s: s}
	if s.Dialect == store.Postgres {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return nil, err
		}
		w.conn = conn
	}
	return w, nil
}

func (w *seedWriter) close() {
	if w.conn != nil {
		w.conn.Close(context.Background())
	}
}

func (w *seedWriter) write(ctx context.Context, tables []*seedTable) error {
	if w.conn != nil {
		tx, err := w.conn.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		for _, t := range tables {
			if len(t.rows) == 0 {
				continue
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, pgx.CopyFromRows(t.rows)); err != nil {
				return fmt.Errorf("copy %s: %w", t.name, err)
			}
		}
		return tx.Commit(ctx)
	}
	tx, err := w.s.SQLDB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range tables {
		if len(t.rows) == 0 {
			continue
		}
		width := len(t.columns)
		per := 30_000 / width // SQLite allows 32,766 parameters a statement
		var stmt *sql.Stmt
		for start := 0; start < len(t.rows); start += per {
			part := t.rows[start:min(start+per, len(t.rows))]
			var b strings.Builder
			b.WriteString("INSERT INTO " + t.name + " (" + strings.Join(t.columns, ", ") + ") VALUES ")
			row := "(" + strings.TrimSuffix(strings.Repeat("?,", width), ",") + ")"
			for r := range part {
				if r > 0 {
					b.WriteByte(',')
				}
				b.WriteString(row)
			}
			args := make([]any, 0, len(part)*width)
			for _, r := range part {
				args = append(args, r...)
			}
			if len(part) == per && stmt == nil {
				if stmt, err = tx.PrepareContext(ctx, b.String()); err != nil {
					return fmt.Errorf("insert %s: %w", t.name, err)
				}
				defer stmt.Close()
			}
			if len(part) == per {
				_, err = stmt.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, b.String(), args...)
			}
			if err != nil {
				return fmt.Errorf("insert %s: %w", t.name, err)
			}
		}
	}
	return tx.Commit()
}
