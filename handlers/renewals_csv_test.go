package handlers

// Formula injection in the renewals spreadsheet: account names, contacts and product names come
// from orders, and a spreadsheet runs a text cell that starts with = + - @ (or a tab or carriage
// return, which some strip first) as a formula. cell() neutralises such text with a leading
// apostrophe; numbers (days_left is negative in grace) and dates are written as they are.

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"entitled/models"
	"entitled/models/store"
)

// formulaStart are the first characters that make a spreadsheet cell a formula.
const formulaStart = "=+-@\t\r"

// guarded is what cell must make of s.
func guarded(s string) string {
	if s != "" && strings.IndexByte(formulaStart, s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// csvRoundTrip writes one record as the export does and reads it back.
func csvRoundTrip(t *testing.T, record []string) []string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	if err := w.Write(record); err != nil {
		t.Fatalf("write %q: %v", record, err)
	}
	w.Flush()
	rows, err := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
	if err != nil || len(rows) != 1 {
		t.Fatalf("%q written as %q reads back as %d rows %q (%v)", record, b.Bytes(), len(rows), rows, err)
	}
	return rows[0]
}

// csvText is how a text cell reads back: with UseCRLF, encoding/csv's writer drops a carriage
// return inside a field and writes a line feed as CRLF, which its reader reads as LF. (The guard
// comes first, so a dropped leading CR leaves the apostrophe in front.)
func csvText(s string) string { return strings.ReplaceAll(s, "\r", "") }

// FuzzCSVCell: cell neutralises exactly the text that starts a formula and leaves the rest
// alone, and a guarded cell between a number and a date survives a CSV round trip in place: its
// quotes, commas and line breaks never split or shift the row.
func FuzzCSVCell(f *testing.F) {
	for _, s := range []string{"Acme Corp", "=HYPERLINK(\"http://evil.example\",\"x\")", "+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR",
		"a,b\"c\r\nd", "\r\n=1", "", " =1", "'=1", "\xff\xfe", "\"=1\"", "－1", "=\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := cell(s)
		if got != guarded(s) {
			t.Fatalf("cell(%q) = %q, want %q", s, got, guarded(s))
		}
		if got != "" && strings.IndexByte(formulaStart, got[0]) >= 0 {
			t.Fatalf("cell(%q) = %q still starts a formula", s, got)
		}
		back := csvRoundTrip(t, []string{"-17", got, "2026-03-02"})
		if len(back) != 3 || back[0] != "-17" || back[2] != "2026-03-02" || back[1] != csvText(got) {
			t.Fatalf("cell(%q) = %q reads back as %q", s, got, back)
		}
	})
}

var (
	csvDate   = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})?$`)
	csvNumber = regexp.MustCompile(`^-?\d+$`)
)

// csvColumnKinds are the columns of the export that are not free text: numbers and dates are
// written as they are; every other column is text and may never start a formula.
var csvColumnKinds = map[string]*regexp.Regexp{
	"id": csvNumber, "days_left": regexp.MustCompile(`^(-?\d+)?$`), "starts_on": csvDate, "ends_on": csvDate,
	"grace_until": csvDate, "terminated_on": csvDate,
}

// FuzzRenewalsCSV stores hostile account names, contact names, contact emails and product names
// straight into the database (as an import or an older version could have) and downloads
// GET /v1/renewals?format=csv through the router: the CSV parses with one column count; every text
// cell that would start a formula starts with '; the hostile values come back exactly, guarded;
// the numbers (a negative days_left in grace) and dates are unchanged.
func FuzzRenewalsCSV(f *testing.F) {
	a := newTestApp(f, store.SQLite)
	ops := a.newStaff(f, models.RoleOps).token
	rs := a.newStaff(f, models.RoleRenewals)
	sku := a.newProduct(f, ops, [3]string{"1.0", "2025-01-01", "full"})
	// Today is 2026-03-02: one contract expiring in 29 days, one in grace 10 days past its end.
	expiring, _, acct := a.contractOrder(f, ops, sku, "Expiring GmbH", "Ed Expiring", map[string]any{"program": "24x7", "premier": true, "starts_on": "2025-04-01", "ends_on": "2026-03-31"})
	graced, _, _ := a.contractOrder(f, ops, sku, "Grace Inc", "Gil Grace", map[string]any{"program": "standard", "starts_on": "2025-02-01", "ends_on": "2026-02-20"})
	want(f, a.do(f, "POST", "/v1/contracts/"+graced+"/grace", rs.token, map[string]any{"until": "2026-04-15", "reason": "PO pending"}), http.StatusOK)
	wantRows := map[string]map[string]string{
		expiring: {"days_left": "29", "starts_on": "2025-04-01", "ends_on": "2026-03-31", "grace_until": "", "premier": "true", "status": "expiring"},
		graced:   {"days_left": "-10", "starts_on": "2025-02-01", "ends_on": "2026-02-20", "grace_until": "2026-04-15", "premier": "false", "status": "grace"},
	}
	fa := &fuzzApp{testApp: a}
	export := fuzzRoute{key: "GET /v1/renewals (csv)", method: "GET", path: "/v1/renewals", token: rs.token}

	for _, s := range [][4]string{
		{"Acme Corp", "Pat Contact", "pat@example.com", "Widget Pro"},
		{"=cmd|' /C calc'!A0", "+SUM(1,2)", "@evil.example", "-2+3"},
		{"\tTabbed", "\rCarriage", "=HYPERLINK(\"http://evil.example\")", "=1\r\n=2"},
		{"Comma, \"Quoted\"\nNew line", "a\r\nb", "x\"y@example.com", "\"=1\""},
		{"", "", "", ""},
		{"\xff\xfe=", "\x00=1", "Ünïcode ™", "'=already"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, name, contact, email, product string) {
		if _, err := a.store.SQLDB().ExecContext(ctx, "UPDATE accounts SET name = ?, contact_name = ?, contact_email = ? WHERE account_id = ?", name, contact, email, acct); err != nil {
			t.Fatalf("store hostile account: %v", err)
		}
		if _, err := a.store.SQLDB().ExecContext(ctx, "UPDATE products SET name = ? WHERE sku = ?", product, sku); err != nil {
			t.Fatalf("store hostile product: %v", err)
		}
		// What the database gives back is what the export may write (a driver may change a NUL).
		var stored [4]string
		if err := a.store.SQLDB().QueryRowContext(ctx, "SELECT a.name, a.contact_name, a.contact_email, p.name FROM accounts a, products p WHERE a.account_id = ? AND p.sku = ?", acct, sku).
			Scan(&stored[0], &stored[1], &stored[2], &stored[3]); err != nil {
			t.Fatalf("read back: %v", err)
		}

		r := fa.serve(t, export, "/v1/renewals", "format=csv&within_days=365", nil)
		if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
			t.Fatalf("export answered %s", r)
		}
		rows, err := csv.NewReader(bytes.NewReader(r.raw)).ReadAll() // also checks every row has the header's column count
		if err != nil {
			t.Fatalf("the CSV does not parse: %v\n%q", err, r.raw)
		}
		if len(rows) == 0 || !slices.Equal(rows[0], csvHeader) {
			t.Fatalf("the CSV's header is %q", rows[:min(1, len(rows))])
		}
		seen := 0
		for _, row := range rows[1:] {
			rec := map[string]string{}
			for i, name := range csvHeader {
				v := row[i]
				rec[name] = v
				if kind, ok := csvColumnKinds[name]; ok {
					if !kind.MatchString(v) {
						t.Fatalf("%s cell %q is not as the export writes it (row %q)", name, v, row)
					}
					continue
				}
				if v != "" && strings.IndexByte(formulaStart, v[0]) >= 0 {
					t.Fatalf("text cell %s = %q would run as a formula (row %q)", name, v, row)
				}
			}
			exp, ok := wantRows[rec["id"]]
			if !ok {
				continue
			}
			seen++
			for k, v := range exp {
				if rec[k] != v {
					t.Fatalf("contract %s: %s = %q, want %q unchanged", rec["id"], k, rec[k], v)
				}
			}
			for i, col := range []string{"account_name", "contact_name", "contact_email", "product_name"} {
				if rec["id"] == graced && i < 3 {
					continue // the grace contract is another account's
				}
				if want := csvText(guarded(stored[i])); rec[col] != want {
					t.Fatalf("contract %s: %s = %q, want %q (stored %q)", rec["id"], col, rec[col], want, stored[i])
				}
			}
		}
		if seen != len(wantRows) || len(rows) != 1+len(wantRows) {
			t.Fatalf("the export has %d rows (%d of the contracts), want %d: %q", len(rows)-1, seen, len(wantRows), rows)
		}
	})
}
