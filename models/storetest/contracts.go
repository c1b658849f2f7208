package storetest

// Contracts written straight into the database, for the renewal desk's tests and benchmarks:
// any dates at all (a contract that lapsed last year, a grace period ending today) without
// replaying orders, registrations and staff actions through the services, and 100,000 of them in
// seconds.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"entitled/models"
	"entitled/models/store"
)

// Contract is one contract to seed, with its license, account and product. Zero dates are NULL.
type Contract struct {
	Program      string // default standard
	Premier      bool
	Trial        bool
	StartsOn     models.Date
	EndsOn       models.Date
	GraceUntil   models.Date
	TerminatedOn models.Date
	AccountName  string // default "Account N"
	ContactName  string // default "Contact N"
	ContactEmail string // default contactN@example.test
	ProductName  string // default "Product"
}

// Seeded is what SeedContracts made for one Contract.
type Seeded struct {
	ContractID    int64
	LicenseID     int64
	LicenseNumber string
	AccountID     string // the 7-digit Account ID
	ContactEmail  string
}

// SeedContracts inserts n contracts, spec(i) giving the i-th, with multi-row INSERTs in one
// transaction per table chunk: each contract gets its own account, order and license (of one
// product per distinct ProductName) and an initial term. It is fast enough for 100,000.
func SeedContracts(tb testing.TB, s *store.Store, n int, spec func(i int) Contract) []Seeded {
	tb.Helper()
	ctx := context.Background()
	var base int64
	if err := s.SQLDB().QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM contracts").Scan(&base); err != nil {
		tb.Fatalf("seed: %v", err)
	}
	var acctBase, licBase, ordBase, termBase, prodBase int64
	for table, dst := range map[string]*int64{"accounts": &acctBase, "licenses": &licBase, "orders": &ordBase, "contract_terms": &termBase, "products": &prodBase} {
		if err := s.SQLDB().QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM "+table).Scan(dst); err != nil {
			tb.Fatalf("seed: %v", err)
		}
	}
	now := time.Now().UTC()
	specs := make([]Contract, n)
	products := map[string]int64{}
	var productRows [][]any
	for i := range n {
		c := spec(i)
		if c.Program == "" {
			c.Program = models.ProgramStandard
		}
		if c.AccountName == "" {
			c.AccountName = fmt.Sprintf("Account %d", base+int64(i)+1)
		}
		if c.ContactName == "" {
			c.ContactName = fmt.Sprintf("Contact %d", base+int64(i)+1)
		}
		if c.ContactEmail == "" {
			c.ContactEmail = fmt.Sprintf("contact%d@example.test", base+int64(i)+1)
		}
		if c.ProductName == "" {
			c.ProductName = "Product"
		}
		if _, ok := products[c.ProductName]; !ok {
			id := prodBase + int64(len(products)) + 1
			products[c.ProductName] = id
			productRows = append(productRows, []any{id, fmt.Sprintf("SEED-%d", id), c.ProductName, now, now})
		}
		specs[i] = c
	}
	out := make([]Seeded, n)
	var accounts, orders, licenses, contracts, terms [][]any
	for i, c := range specs {
		k := int64(i) + 1
		acctID := fmt.Sprintf("%07d", 1000000+(acctBase+k)%9000000)
		ln := store.NewLicenseNumber()
		accounts = append(accounts, []any{acctBase + k, acctID, c.AccountName, c.ContactName, c.ContactEmail, now, now})
		orders = append(orders, []any{ordBase + k, fmt.Sprintf("SEED-%d", ordBase+k), acctBase + k, "system", now})
		kind := models.KindPerpetual
		if c.Trial {
			kind = models.KindTrial
		}
		var registered any
		if c.Trial && !c.StartsOn.IsZero() {
			registered = c.StartsOn
		}
		licenses = append(licenses, []any{licBase + k, ln, acctBase + k, products[c.ProductName], ordBase + k, 1, kind, models.DateOf(now), registered, now, now})
		contracts = append(contracts, []any{base + k, licBase + k, c.Program, c.Premier, c.Trial, c.StartsOn, c.EndsOn, c.GraceUntil, c.TerminatedOn, now, now})
		termKind := models.TermInitial
		if c.Trial {
			termKind = models.TermTrial
		}
		terms = append(terms, []any{termBase + k, base + k, 1, termKind, c.StartsOn, c.EndsOn, c.Program, c.Premier, "system", now})
		out[i] = Seeded{ContractID: base + k, LicenseID: licBase + k, LicenseNumber: ln, AccountID: acctID, ContactEmail: c.ContactEmail}
	}
	tx, err := s.SQLDB().BeginTx(ctx, nil)
	if err != nil {
		tb.Fatalf("seed: %v", err)
	}
	defer tx.Rollback()
	insert := func(table, columns string, rows [][]any) {
		if len(rows) == 0 {
			return
		}
		width := len(rows[0])
		chunk := 30000 / width
		for start := 0; start < len(rows); start += chunk {
			part := rows[start:min(start+chunk, len(rows))]
			var b strings.Builder
			args := make([]any, 0, len(part)*width)
			b.WriteString("INSERT INTO " + table + " (" + columns + ") VALUES ")
			p := 0
			for r, row := range part {
				if r > 0 {
					b.WriteString(",")
				}
				b.WriteString("(")
				for j := range row {
					if j > 0 {
						b.WriteString(",")
					}
					p++
					if s.Dialect == store.Postgres {
						fmt.Fprintf(&b, "$%d", p)
					} else {
						b.WriteString("?")
					}
				}
				b.WriteString(")")
				args = append(args, row...)
			}
			if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
				tb.Fatalf("seed %s: %v", table, err)
			}
		}
	}
	insert("products", "id, sku, name, created_at, updated_at", productRows)
	insert("accounts", "id, account_id, name, contact_name, contact_email, created_at, updated_at", accounts)
	insert("orders", "id, order_ref, account_id, actor_kind, created_at", orders)
	insert("licenses", "id, license_number, account_id, product_id, order_id, quantity, kind, ordered_on, registered_on, created_at, updated_at", licenses)
	insert("contracts", "id, license_id, program, premier, trial, starts_on, ends_on, grace_until, terminated_on, created_at, updated_at", contracts)
	insert("contract_terms", "id, contract_id, seq, kind, starts_on, ends_on, program, premier, actor_kind, created_at", terms)
	if s.Dialect == store.Postgres {
		// Explicit ids leave the identity sequences behind; later inserts by the services would collide.
		for _, table := range []string{"products", "accounts", "orders", "licenses", "contracts", "contract_terms"} {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT MAX(id) FROM %s))", table, table)); err != nil {
				tb.Fatalf("seed: %v", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatalf("seed: %v", err)
	}
	return out
}

// SeedContract inserts one contract (see SeedContracts).
func SeedContract(tb testing.TB, s *store.Store, c Contract) Seeded {
	tb.Helper()
	return SeedContracts(tb, s, 1, func(int) Contract { return c })[0]
}
