package store

// The renewal desk's lists: contracts filtered on their computed status, what expires soon, and
// the same streamed as rows for a spreadsheet. Status is never stored; every status filter is a
// predicate over the dates (starts_on, ends_on, grace_until, terminated_on, trial) and a day
// passed as a parameter — never the database's clock — so that the SQL and ContractStatus agree
// (TestStatusFilterAgreesWithContractStatus proves it on every boundary day).

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"gorm.io/gorm"

	"entitled/models"
)

// ContractPage is one page request of a contract list: at most Limit contracts after the cursor.
// The cursor carries the sort key of the previous page's last contract: its id, or, in the
// grace-first order of the renewal lists, its ends_on and id.
type ContractPage struct {
	Limit  int
	after  int64
	afterE models.Date
	byEnd  bool // the cursor came from an ends_on-ordered list
	cursor bool // there is a cursor
}

// ParseContractPage reads ?limit= and ?cursor= of a contract list. Errors: validation_failed.
func ParseContractPage(limit, cursor string) (ContractPage, error) {
	p, err := models.ParsePage(limit, "")
	out := ContractPage{Limit: p.Limit}
	var v models.Validation
	if e, ok := err.(*models.Error); ok {
		v.Fields = append(v.Fields, e.Fields...)
	}
	if cursor != "" {
		if !out.decode(cursor) {
			v.Add("cursor", models.FieldInvalid, "is not a cursor this server gave out")
		}
	}
	return out, v.Err()
}

func (p *ContractPage) decode(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return false
	}
	s := string(b)
	switch {
	case strings.HasPrefix(s, "id:"):
		id, err := strconv.ParseInt(s[3:], 10, 64)
		if err != nil || id <= 0 {
			return false
		}
		p.after, p.cursor = id, true
		return true
	case strings.HasPrefix(s, "end:"):
		day, idText, ok := strings.Cut(s[4:], ":")
		d, err := models.ParseDay(day) // a stored ends_on, which may predate the range check
		id, err2 := strconv.ParseInt(idText, 10, 64)
		if !ok || err != nil || err2 != nil || id <= 0 {
			return false
		}
		p.afterE, p.after, p.byEnd, p.cursor = d, id, true, true
		return true
	}
	return false
}

func contractCursor(byEnd bool, c *models.Contract) string {
	if byEnd {
		return base64.RawURLEncoding.EncodeToString([]byte("end:" + c.EndsOn.String() + ":" + itoa64(c.ID)))
	}
	return encodeCursor(c.ID)
}

// contractQuery is a SELECT of contracts with their license, account and product, built from
// predicates. Dates are always parameters.
type contractQuery struct {
	where []string
	args  []any
}

func (q *contractQuery) add(cond string, args ...any) {
	q.where = append(q.where, "("+cond+")")
	q.args = append(q.args, args...)
}

func (q *contractQuery) clone() contractQuery {
	return contractQuery{where: slices.Clone(q.where), args: slices.Clone(q.args)}
}

func (q *contractQuery) whereSQL() string {
	if len(q.where) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(q.where, " AND ")
}

// contractColumns and contractFrom are what contract lists select; scanContract reads them.
const contractColumns = `c.id, c.license_id, c.program, c.premier, c.trial, c.starts_on, c.ends_on, c.grace_until, c.terminated_on,
	l.license_number, l.account_id, l.product_id, l.kind, l.quantity,
	a.account_id, a.name, a.contact_name, a.contact_email, p.sku, p.name`

const contractFrom = ` FROM contracts c
	JOIN licenses l ON l.id = c.license_id
	JOIN accounts a ON a.id = l.account_id
	JOIN products p ON p.id = l.product_id`

func scanContract(rows *sql.Rows, v *models.ContractView, extra ...any) error {
	c, l, a, p := &v.Contract, &v.License, &v.Account, &v.Product
	dest := []any{&c.ID, &c.LicenseID, &c.Program, &c.Premier, &c.Trial, &c.StartsOn, &c.EndsOn, &c.GraceUntil, &c.TerminatedOn,
		&l.LicenseNumber, &l.AccountID, &l.ProductID, &l.Kind, &l.Quantity,
		&a.AccountID, &a.Name, &a.ContactName, &a.ContactEmail, &p.SKU, &p.Name}
	if err := rows.Scan(append(dest, extra...)...); err != nil {
		return err
	}
	l.ID, a.ID, p.ID = c.LicenseID, l.AccountID, l.ProductID
	return nil
}

// withinPredicates hold, together, for the contracts that are active, expiring or grace on today
// with days_left <= within: started, and covered today (ends_on, or else grace_until, on or after
// today). They split that set in two disjoint halves, each one index range: grace ones (ends_on
// before today, grace_until on or after it: a range of contracts_grace_until) and the others
// (ends_on from today to today+within: a range of the (ends_on, id) index, read in the list's
// order). One predicate over both would have to start the ends_on range MaxGraceDays back and
// step over every contract that lapsed since, before the first row of the page (80,000 of them
// at a million contracts). Grace runs at most MaxGraceDays past ends_on, which bounds the grace
// half's ends_on from below too.
func withinPredicates(today models.Date, within int) (grace string, graceArgs []any, current string, currentArgs []any) {
	grace = "c.terminated_on IS NULL AND c.ends_on >= ? AND c.ends_on < ? AND c.ends_on <= ? AND c.starts_on <= ? AND c.grace_until >= ?"
	graceArgs = []any{today.AddDays(-models.MaxGraceDays), today, today.AddDays(within), today, today}
	current = "c.terminated_on IS NULL AND c.ends_on >= ? AND c.ends_on <= ? AND c.starts_on <= ?"
	currentArgs = []any{today, today.AddDays(within), today}
	return grace, graceArgs, current, currentArgs
}

// likePattern escapes a LIKE pattern's wildcards and wraps it for a substring match.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// listSQL is one SELECT of a contract list and its arguments.
type listSQL struct {
	text string
	args []any
}

// listQueries build the SELECTs of a contract list (filters, keyset and order, each limited to
// p.Limit+1 rows when p.Limit is set): the list is their rows one after the other, in order.
func (s *Contracts) listQueries(f models.ContractFilter, p ContractPage, today models.Date, columns string) ([]listSQL, error) {
	var q contractQuery
	if f.Status != "" {
		cond, args := models.StatusPredicate(f.Status, today, s.RenewalWindowDays)
		q.add(cond, args...)
	}
	if f.Program != "" {
		q.add("c.program = ?", f.Program)
	}
	if f.AccountID != "" {
		q.add("a.account_id = ?", f.AccountID)
	}
	switch f.Owner {
	case "":
	case models.OwnerNone:
		q.add("r.owner_id IS NULL")
	default:
		q.add("r.owner_id IN (SELECT id FROM users WHERE email = ?)", f.Owner)
	}
	if f.Stage != "" {
		cond, args := models.EffectiveStagePredicate(f.Stage, today, s.RenewalWindowDays)
		q.add(cond, args...)
	}
	if f.Q != "" {
		if ln, err := models.ParseLicenseNumber(f.Q); err == nil {
			q.add("l.license_number = ?", ln)
		} else {
			pat := likePattern(f.Q)
			q.add(`LOWER(a.name) LIKE ? ESCAPE '\' OR LOWER(a.contact_name) LIKE ? ESCAPE '\' OR LOWER(a.contact_email) LIKE ? ESCAPE '\' OR LOWER(l.license_number) LIKE ? ESCAPE '\' OR a.account_id = ?`,
				pat, pat, pat, pat, f.Q)
		}
	}
	order := " ORDER BY c.id"
	if f.HasWithin {
		// Grace ones have ends_on before today and the others on or after it, so "grace first,
		// then soonest ends_on" is ends_on order; id breaks ties and makes the keyset exact.
		order = " ORDER BY c.ends_on, c.id"
	}
	if p.cursor {
		if p.byEnd != f.HasWithin {
			var v models.Validation
			v.Add("cursor", models.FieldInvalid, "belongs to a list with other filters")
			return nil, v.Err()
		}
		if p.byEnd {
			q.add("c.ends_on > ? OR (c.ends_on = ? AND c.id > ?)", p.afterE, p.afterE, p.after)
		} else {
			q.add("c.id > ?", p.after)
		}
	}
	from := contractFrom
	if f.Owner != "" || f.Stage != "" || strings.HasSuffix(columns, renewalExportColumns) {
		from += renewalJoin
	}
	limit := ""
	if p.Limit > 0 {
		limit = " LIMIT " + strconv.Itoa(p.Limit+1)
	}
	if !f.HasWithin {
		return []listSQL{{"SELECT " + columns + from + q.whereSQL() + order + limit, q.args}}, nil
	}
	// Grace first, then soonest ends_on: the grace half, then the current half, each one index
	// range read in ends_on order (see withinPredicates). One after the other, not a UNION ALL:
	// PostgreSQL sorts the union of the halves' joins rather than merging them, and reads every
	// current contract of the window to fill the first page. Each query reads its own
	// snapshot: a grace contract renewed between the two (milliseconds apart for a page) shows in
	// both, as a renewal between two pages does; ExportContracts skips its second row.
	grace, current := q.clone(), q.clone()
	gc, ga, cc, ca := withinPredicates(today, f.Within)
	grace.add(gc, ga...)
	current.add(cc, ca...)
	return []listSQL{
		{"SELECT " + columns + from + grace.whereSQL() + order + limit, grace.args},
		{"SELECT " + columns + from + current.whereSQL() + order + limit, current.args},
	}, nil
}

// eachListRow runs queries one after the other and calls fn on each row, straight from the
// cursor, until fn answers false.
func eachListRow(db *gorm.DB, queries []listSQL, fn func(*sql.Rows) (bool, error)) error {
	for _, q := range queries {
		more, err := func() (bool, error) {
			rows, err := db.Raw(q.text, q.args...).Rows()
			if err != nil {
				return false, err
			}
			defer rows.Close()
			for rows.Next() {
				more, err := fn(rows)
				if err != nil || !more {
					return false, err
				}
			}
			return true, rows.Err()
		}()
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// List is the renewal desk's list of contracts, a page at a time, with account, contact,
// product, dates, terms and the notices sent. Errors: validation_failed (a cursor from a list
// with another order).
func (s *Contracts) List(ctx context.Context, f models.ContractFilter, p ContractPage) (_ *models.ContractList, err error) {
	defer wrapErr(&err, "list contracts")
	today := s.Today()
	if p.Limit <= 0 {
		p.Limit = models.PageDefault
	}
	queries, err := s.listQueries(f, p, today, contractColumns)
	if err != nil {
		return nil, err
	}
	out := &models.ContractList{Today: today}
	err = s.store.read(ctx, func(db *gorm.DB) error {
		err := eachListRow(db, queries, func(rows *sql.Rows) (bool, error) {
			var v models.ContractView
			if err := scanContract(rows, &v); err != nil {
				return false, err
			}
			out.Items = append(out.Items, v)
			return len(out.Items) <= p.Limit, nil
		})
		if err != nil {
			return err
		}
		if len(out.Items) > p.Limit {
			out.Items = out.Items[:p.Limit]
			out.Next = contractCursor(f.HasWithin, &out.Items[p.Limit-1].Contract)
		}
		return loadHistories(db, out.Items)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Renewals lists what expires soon: the contracts that are active, expiring or grace with
// days_left <= within, grace first, then soonest ends_on. Errors: validation_failed.
func (s *Contracts) Renewals(ctx context.Context, within int, p ContractPage) (_ *models.ContractList, err error) {
	defer wrapErr(&err, "list renewals")
	return s.List(ctx, models.ContractFilter{Within: within, HasWithin: true}, p)
}

// loadHistories fills the terms and notices of a page of contracts with one query each.
func loadHistories(db *gorm.DB, views []models.ContractView) error {
	if len(views) == 0 {
		return nil
	}
	ids := make([]int64, len(views))
	at := make(map[int64]*models.ContractView, len(views))
	for i := range views {
		ids[i] = views[i].Contract.ID
		at[ids[i]] = &views[i]
		views[i].Terms, views[i].Notices = []models.ContractTerm{}, []models.NoticeSent{}
	}
	var terms []models.ContractTerm
	if err := db.Where("contract_id IN ?", ids).Order("contract_id, seq").Find(&terms).Error; err != nil {
		return err
	}
	for _, t := range terms {
		at[t.ContractID].Terms = append(at[t.ContractID].Terms, t)
	}
	var notices []struct {
		ContractID int64
		models.NoticeSent
	}
	if err := db.Table("renewal_notices").Select("contract_id, ends_on, offset_days, sent_at").Where("contract_id IN ?", ids).
		Order("sent_at, id").Scan(&notices).Error; err != nil {
		return err
	}
	for _, n := range notices {
		at[n.ContractID].Notices = append(at[n.ContractID].Notices, n.NoticeSent)
	}
	page := make([]*models.ContractView, len(views))
	for i := range views {
		page[i] = &views[i]
	}
	return attachRenewals(db, page)
}

// exportAggregates are the correlated subqueries that flatten a contract's notices and terms, per
// dialect: one row per contract straight from the cursor, never a query per row.
func (s *Contracts) exportAggregates() string {
	if s.store.Dialect == Postgres {
		return `,
	COALESCE((SELECT string_agg(CASE WHEN n.offset_days < 0 THEN 'lapse' ELSE n.offset_days::text END || '@' || to_char(n.sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), ';' ORDER BY n.sent_at, n.id)
		FROM renewal_notices n WHERE n.contract_id = c.id), ''),
	COALESCE((SELECT string_agg(t.kind || ' ' || COALESCE(to_char(t.starts_on, 'YYYY-MM-DD'), '') || '..' || COALESCE(to_char(t.ends_on, 'YYYY-MM-DD'), '') || ' ' || t.program || CASE WHEN t.premier THEN '+premier' ELSE '' END, ';' ORDER BY t.seq)
		FROM contract_terms t WHERE t.contract_id = c.id), '')`
	}
	return `,
	COALESCE((SELECT group_concat(CASE WHEN n.offset_days < 0 THEN 'lapse' ELSE CAST(n.offset_days AS TEXT) END || '@' || substr(n.sent_at, 1, 10), ';' ORDER BY n.sent_at, n.id)
		FROM renewal_notices n WHERE n.contract_id = c.id), ''),
	COALESCE((SELECT group_concat(t.kind || ' ' || COALESCE(t.starts_on, '') || '..' || COALESCE(t.ends_on, '') || ' ' || t.program || CASE WHEN t.premier THEN '+premier' ELSE '' END, ';' ORDER BY t.seq)
		FROM contract_terms t WHERE t.contract_id = c.id), '')`
}

// ExportRenewals streams what expires soon (the rows of Renewals, in its order, not paginated);
// see ExportContracts.
func (s *Contracts) ExportRenewals(ctx context.Context, within int, fn func(*models.ExportRow) error) (models.Date, error) {
	return s.ExportContracts(ctx, models.ContractFilter{Within: within, HasWithin: true}, fn)
}

// renewalJoin joins each contract's open renewal record (alias r; none reads as untouched) and
// its owner (alias ru). The unique index renewal_records_open serves it.
const renewalJoin = `
	LEFT JOIN renewal_records r ON r.contract_id = c.id AND r.closed_at IS NULL
	LEFT JOIN users ru ON ru.id = r.owner_id`

// renewalExportColumns are the renewal record's columns of an export row, after the aggregates.
const renewalExportColumns = `,
	COALESCE(ru.email, ''), COALESCE(r.stage, 'untouched'), r.stage_set_on, r.next_step_on, r.value_minor, r.currency`

// ExportContracts streams the contracts of a list filter (in the list's order, not paginated)
// to fn one contract at a time, straight from the database cursor: memory stays flat however
// many there are. Each row has its renewal record. It returns the day the rows were selected on.
// An error of fn stops the export and is returned as is. Errors: validation_failed.
func (s *Contracts) ExportContracts(ctx context.Context, f models.ContractFilter, fn func(*models.ExportRow) error) (_ models.Date, err error) {
	defer wrapErr(&err, "export contracts")
	today := s.Today()
	queries, err := s.listQueries(f, ContractPage{}, today, contractColumns+s.exportAggregates()+renewalExportColumns)
	if err != nil {
		return today, err
	}
	var fnErr error
	// A within export runs its grace half, then its current half, each on its own snapshot: a
	// grace contract renewed in between would come again in the current half. Its id is
	// remembered (grace rows end before today; there are few) and its second row skipped.
	var graceIDs map[int64]bool
	if len(queries) > 1 {
		graceIDs = map[int64]bool{}
	}
	err = s.store.read(ctx, func(db *gorm.DB) error {
		var r models.ExportRow
		return eachListRow(db, queries, func(rows *sql.Rows) (bool, error) {
			r = models.ExportRow{}
			rec := &models.RenewalRecord{}
			var minor sql.NullInt64
			var currency sql.NullString
			if err := scanContract(rows, &r.View, &r.Notices, &r.Terms,
				&rec.OwnerEmail, &rec.Stage, &rec.StageSetOn, &rec.NextStepOn, &minor, &currency); err != nil {
				return false, err
			}
			if minor.Valid && currency.Valid {
				rec.ValueMinor, rec.Currency = &minor.Int64, &currency.String
			}
			r.View.Renewal = rec
			if graceIDs != nil {
				if r.View.Contract.EndsOn.Before(today) {
					graceIDs[r.View.Contract.ID] = true
				} else if graceIDs[r.View.Contract.ID] {
					return true, nil
				}
			}
			r.Status, r.DaysLeft = r.View.Status(today, s.RenewalWindowDays)
			r.RenewalStage = models.EffectiveStage(rec, &r.View.Contract, today, s.RenewalWindowDays)
			fnErr = fn(&r)
			return fnErr == nil, nil
		})
	})
	if fnErr != nil {
		return today, fnErr
	}
	return today, err
}

// Explain is the database's plan for List with the filter (EXPLAIN on PostgreSQL, EXPLAIN QUERY
// PLAN on SQLite), for benchmarks and for operators checking that the indexes serve the lists.
// With analyze on PostgreSQL it runs the query (EXPLAIN ANALYZE).
func (s *Contracts) Explain(ctx context.Context, f models.ContractFilter, p ContractPage, analyze bool) (_ string, err error) {
	defer wrapErr(&err, "explain the renewal query")
	if p.Limit <= 0 {
		p.Limit = models.PageDefault
	}
	queries, err := s.listQueries(f, p, s.Today(), contractColumns)
	if err != nil {
		return "", err
	}
	prefix := "EXPLAIN QUERY PLAN "
	if s.store.Dialect == Postgres {
		prefix = "EXPLAIN "
		if analyze {
			prefix = "EXPLAIN (ANALYZE, BUFFERS) "
		}
	}
	var lines []string
	err = s.store.read(ctx, func(db *gorm.DB) error {
		for i, q := range queries {
			if len(queries) > 1 {
				lines = append(lines, fmt.Sprintf("-- query %d of %d", i+1, len(queries)))
			}
			explain := []listSQL{{prefix + q.text, q.args}}
			var cols []string
			err := eachListRow(db, explain, func(rows *sql.Rows) (bool, error) {
				if cols == nil {
					cols, _ = rows.Columns()
				}
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					return false, err
				}
				// PostgreSQL: one text column; SQLite: id, parent, notused, detail.
				lines = append(lines, fmt.Sprint(vals[len(vals)-1]))
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return strings.Join(lines, "\n"), err
}

// TileCount is one count of the renewal dashboard: Days is the window (0 for grace and lapsed);
// More says the count stopped at models.PageMax and there are more.
type TileCount struct {
	Days  int
	Count int
	More  bool
}

// RenewalTiles is what the renewal dashboard's tiles count under a program and a search: the
// current contracts due within each of models.DashboardWindows, those in grace, and the lapsed ones.
type RenewalTiles struct {
	Today  models.Date
	Within []TileCount // one per models.DashboardWindows(), in that order
	Grace  TileCount
	Lapsed TileCount
}

// RenewalTiles counts the dashboard's tiles: one list of the widest window, bucketed by days left
// (grace counted apart), and the lapsed contracts; each list stops at models.PageMax contracts.
// program and q filter as ContractFilter's do ("" for all).
func (s *Contracts) RenewalTiles(ctx context.Context, program, q string) (_ *RenewalTiles, err error) {
	defer wrapErr(&err, "count the renewal tiles")
	windows := models.DashboardWindows()
	capPage, err := ParseContractPage(strconv.Itoa(models.PageMax), "")
	if err != nil {
		return nil, err
	}
	widest := windows[len(windows)-1]
	due, err := s.List(ctx, models.ContractFilter{Program: program, Q: q, Within: widest, HasWithin: true}, capPage)
	if err != nil {
		return nil, err
	}
	lapsed, err := s.List(ctx, models.ContractFilter{Program: program, Q: q, Status: models.StatusLapsed}, capPage)
	if err != nil {
		return nil, err
	}
	out := &RenewalTiles{Today: due.Today, Within: make([]TileCount, len(windows)),
		Grace:  TileCount{More: due.Next != ""},
		Lapsed: TileCount{Count: len(lapsed.Items), More: lapsed.Next != ""}}
	for i, w := range windows {
		out.Within[i].Days = w
	}
	out.Within[len(windows)-1].More = due.Next != ""
	for _, v := range due.Items {
		st, days := v.Status(due.Today, s.RenewalWindowDays)
		if st == models.StatusGrace {
			out.Grace.Count++
		}
		for i, w := range windows {
			if days <= w {
				out.Within[i].Count++
			}
		}
	}
	return out, nil
}

// OwnedBy is "my renewals": the current (not terminated) contracts whose open renewal record the
// staff user with the email owns, soonest next step first (those without one last, by ends_on),
// at most limit of them (Next says there are more). The renewal_records_owner index (owner_id,
// next_step_on) of the open records serves it.
func (s *Contracts) OwnedBy(ctx context.Context, email string, limit int) (_ *models.ContractList, err error) {
	defer wrapErr(&err, "list the renewals a staff user owns")
	if limit <= 0 || limit > models.PageMax {
		limit = models.PageDefault
	}
	today := s.Today()
	out := &models.ContractList{Today: today}
	query := "SELECT " + contractColumns + contractFrom + `
	JOIN renewal_records r ON r.contract_id = c.id AND r.closed_at IS NULL
	WHERE r.owner_id IN (SELECT id FROM users WHERE email = ?) AND c.terminated_on IS NULL
	ORDER BY CASE WHEN r.next_step_on IS NULL THEN 1 ELSE 0 END, r.next_step_on, c.ends_on, c.id
	LIMIT ` + strconv.Itoa(limit+1)
	err = s.store.read(ctx, func(db *gorm.DB) error {
		rows, err := db.Raw(query, models.NormaliseEmail(email)).Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v models.ContractView
			if err := scanContract(rows, &v); err != nil {
				return err
			}
			out.Items = append(out.Items, v)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out.Items) > limit {
			out.Items, out.Next = out.Items[:limit], "more"
		}
		return loadHistories(db, out.Items)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
