package handlers

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"entitled/handlers/handlerstest"
	"entitled/models"
	"entitled/models/store"
)

// contractOrder orders a license with support for a new account, the account and contact named
// as given, and returns the contract id, the License Number and the account id.
func (a *testApp) contractOrder(t testing.TB, ops, sku, account, contact string, support map[string]any) (id, ln, acct string) {
	t.Helper()
	body := map[string]any{
		"order_ref":       fmt.Sprintf("ORD-%d", a.seq.Add(1)),
		"account":         map[string]any{"name": account},
		"primary_contact": map[string]any{"name": contact, "email": a.email("contact")},
		"items":           []map[string]any{{"sku": sku, "quantity": 1, "kind": "perpetual", "support": support}},
	}
	r := a.do(t, "POST", "/v1/orders", ops, body)
	want(t, r, http.StatusCreated)
	l := licensesOf(r)[0]
	return l["contract_id"].(string), l["license_number"].(string), r.str("account_id")
}

// ids are the "id" of a list answer's items, in order.
func ids(r *resp) []string {
	var out []string
	for _, it := range r.items() {
		out = append(out, it["id"].(string))
	}
	return out
}

// The contracts list filters on the computed status exactly (active is not expiring), on
// program, account, free text and "expiring within" (grace first, then soonest ends_on), answers
// every contract in the contract shape, and pages by cursor.
func TestContracts_ListFiltersStatusesAndPages(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		rs := a.newStaff(t, models.RoleRenewals).token
		sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
		// Today is 2026-03-02.
		active, _, _ := a.contractOrder(t, ops, sku, "Active Ltd", "Al Active", map[string]any{"program": "standard", "starts_on": "2025-06-01", "ends_on": "2027-01-31"})
		expiring, expLN, expAcct := a.contractOrder(t, ops, sku, "Expiring GmbH", "Ed Expiring", map[string]any{"program": "24x7", "premier": true, "starts_on": "2025-04-01", "ends_on": "2026-03-31"})
		soon, _, _ := a.contractOrder(t, ops, sku, "Soon SA", "Sue Soon", map[string]any{"program": "standard", "starts_on": "2025-03-20", "ends_on": "2026-03-10"})
		graced, _, _ := a.contractOrder(t, ops, sku, "Grace Inc", "Gil Grace", map[string]any{"program": "standard", "starts_on": "2025-02-01", "ends_on": "2026-02-20"})
		want(t, a.do(t, "POST", "/v1/contracts/"+graced+"/grace", rs, map[string]any{"until": "2026-04-15", "reason": "PO pending"}), http.StatusOK)
		lapsed, _, _ := a.contractOrder(t, ops, sku, "Lapsed BV", "Lu Lapsed", map[string]any{"program": "24x7", "starts_on": "2025-01-01", "ends_on": "2026-01-31"})
		future, _, _ := a.contractOrder(t, ops, sku, "Future Oy", "Fi Future", map[string]any{"program": "standard", "starts_on": "2026-05-01", "ends_on": "2027-04-30"})
		terminated, _, _ := a.contractOrder(t, ops, sku, "Ended plc", "En Ended", map[string]any{"program": "standard", "starts_on": "2025-01-01", "ends_on": "2026-12-31"})
		want(t, a.do(t, "POST", "/v1/contracts/"+terminated+"/terminate", rs, map[string]any{"reason": "non-payment"}), http.StatusOK)

		for status, wantIDs := range map[string][]string{
			"active": {active}, "expiring": {expiring, soon}, "grace": {graced}, "lapsed": {lapsed}, "future": {future}, "terminated": {terminated},
		} {
			r := a.do(t, "GET", "/v1/contracts?status="+status, rs, nil)
			want(t, r, http.StatusOK)
			if got := ids(r); !slices.Equal(got, wantIDs) {
				t.Errorf("status=%s: %v, want %v", status, got, wantIDs)
			}
			for _, it := range r.items() {
				if it["status"] != status {
					t.Errorf("status=%s lists a contract that says %v", status, it["status"])
				}
			}
		}
		r := a.do(t, "GET", "/v1/contracts?status=expiring&program=24x7", rs, nil)
		want(t, r, http.StatusOK)
		if got := ids(r); !slices.Equal(got, []string{expiring}) {
			t.Errorf("expiring 24x7: %v", got)
		}
		it := r.items()[0]
		for _, k := range []string{"id", "license_number", "account_id", "account_name", "contact", "product", "program", "premier", "starts_on", "ends_on", "status", "days_left", "notices_sent", "terms"} {
			if _, ok := it[k]; !ok {
				t.Errorf("a contract lacks %q: %v", k, it)
			}
		}
		if it["license_number"] != expLN || it["account_id"] != expAcct || it["account_name"] != "Expiring GmbH" || it["days_left"] != float64(29) ||
			it["contact"].(map[string]any)["name"] != "Ed Expiring" || it["premier"] != true || len(it["terms"].([]any)) != 1 {
			t.Errorf("the expiring contract: %v", it)
		}

		// Expiring within 30 days: grace first, then soonest ends_on.
		r = a.do(t, "GET", "/v1/contracts?expiring_within_days=30", rs, nil)
		want(t, r, http.StatusOK)
		if got := ids(r); !slices.Equal(got, []string{graced, soon, expiring}) {
			t.Errorf("expiring_within_days=30: %v, want grace, then 2026-03-10, then 2026-03-31", got)
		}
		r = a.do(t, "GET", "/v1/contracts?expiring_within_days=30&status=expiring", rs, nil)
		if got := ids(r); !slices.Equal(got, []string{soon, expiring}) {
			t.Errorf("within 30 and expiring: %v", got)
		}

		r = a.do(t, "GET", "/v1/contracts?account_id="+expAcct, rs, nil)
		if got := ids(r); !slices.Equal(got, []string{expiring}) {
			t.Errorf("account_id: %v", got)
		}
		for _, q := range []string{"gmbh", "ED EXPIRING", strings.ToLower(expLN)} {
			r = a.do(t, "GET", "/v1/contracts?q="+strings.ReplaceAll(q, " ", "+"), rs, nil)
			if got := ids(r); !slices.Equal(got, []string{expiring}) {
				t.Errorf("q=%s: %v", q, got)
			}
		}

		// Pages of 3, by cursor, without gaps or repeats.
		var paged []string
		path := "/v1/contracts?limit=3"
		for path != "" {
			r = a.do(t, "GET", path, rs, nil)
			want(t, r, http.StatusOK)
			paged = append(paged, ids(r)...)
			path = ""
			if next, _ := r.body["next_cursor"].(string); next != "" {
				path = "/v1/contracts?limit=3&cursor=" + next
			}
		}
		if !slices.Equal(paged, []string{active, expiring, soon, graced, lapsed, future, terminated}) {
			t.Errorf("paged: %v", paged)
		}

		r = a.do(t, "GET", "/v1/contracts?status=soon&program=gold&expiring_within_days=-1&account_id=12&limit=0&cursor=x", rs, nil)
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		f := r.fields()
		for _, k := range []string{"status", "program", "expiring_within_days", "account_id", "limit", "cursor"} {
			if f[k] == "" {
				t.Errorf("no error on %s: %v", k, f)
			}
		}
	})
}

// /renewals lists what is current and ends within N days (default the renewal window), grace
// first; a key with renewals:read may read it as staff renewals do.
func TestRenewals_ListForStaffAndKey(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		rs := a.newStaff(t, models.RoleRenewals).token
		key := a.newAPIKey(t, models.ScopeRenewalsRead)
		sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
		late, _, _ := a.contractOrder(t, ops, sku, "Late", "L", map[string]any{"program": "standard", "starts_on": "2025-06-01", "ends_on": "2026-05-20"})
		early, _, _ := a.contractOrder(t, ops, sku, "Early", "E", map[string]any{"program": "standard", "starts_on": "2025-06-01", "ends_on": "2026-03-05"})
		far, _, _ := a.contractOrder(t, ops, sku, "Far", "F", map[string]any{"program": "standard", "starts_on": "2025-06-01", "ends_on": "2026-12-31"})
		graced, _, _ := a.contractOrder(t, ops, sku, "Grace", "G", map[string]any{"program": "standard", "starts_on": "2025-01-01", "ends_on": "2026-02-27"})
		want(t, a.do(t, "POST", "/v1/contracts/"+graced+"/grace", rs, map[string]any{"until": "2026-03-20", "reason": "PO pending"}), http.StatusOK)

		for _, tok := range []string{rs, key} {
			r := a.do(t, "GET", "/v1/renewals", tok, nil)
			want(t, r, http.StatusOK)
			if got := ids(r); !slices.Equal(got, []string{graced, early, late}) {
				t.Errorf("renewals (default 90 days): %v", got)
			}
		}
		r := a.do(t, "GET", "/v1/renewals?within_days=365&limit=2", key, nil)
		want(t, r, http.StatusOK)
		next, _ := r.body["next_cursor"].(string)
		r2 := a.do(t, "GET", "/v1/renewals?within_days=365&limit=2&cursor="+next, key, nil)
		if got := append(ids(r), ids(r2)...); !slices.Equal(got, []string{graced, early, late, far}) || r2.body["next_cursor"] != nil {
			t.Errorf("within 365, two pages: %v (%v)", got, r2.body["next_cursor"])
		}
		r = a.do(t, "GET", "/v1/renewals?within_days=3", rs, nil)
		if got := ids(r); !slices.Equal(got, []string{graced, early}) {
			t.Errorf("within 3: %v", got)
		}
		want(t, a.do(t, "GET", "/v1/renewals?within_days=soon&format=xml", rs, nil), http.StatusBadRequest, models.CodeValidation)
		// The key reads renewals only.
		want(t, a.do(t, "GET", "/v1/contracts", key, nil), http.StatusForbidden, models.CodeForbidden)
	})
}

// The spreadsheet: a header of the contract's names flattened, one RFC 4180 record per contract
// that parses back to what the JSON says — commas and quotes in names included —
// as an attachment with a file name; formulas are defused.
func TestRenewals_CSVParsesBack(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		rs := a.newStaff(t, models.RoleRenewals).token
		sku := a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
		tricky := `Acme, Inc. "East"`
		contact := "O'Brien, \"Bob\" Jr."
		id1, ln1, acct1 := a.contractOrder(t, ops, sku, tricky, contact, map[string]any{"program": "24x7", "premier": true, "starts_on": "2025-04-01", "ends_on": "2026-03-31"})
		id2, _, _ := a.contractOrder(t, ops, sku, "=HYPERLINK(\"http://evil\")", "Plain Name", map[string]any{"program": "standard", "starts_on": "2025-04-01", "ends_on": "2026-04-30"})
		a.contractOrder(t, ops, sku, "Not Soon", "N", map[string]any{"program": "standard", "starts_on": "2025-04-01", "ends_on": "2027-04-30"})

		for _, how := range [][]string{{"/v1/renewals?format=csv"}, {"/v1/renewals", "Accept", "text/csv"}} {
			r := a.do(t, "GET", how[0], rs, nil, how[1:]...)
			want(t, r, http.StatusOK)
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
				t.Errorf("Content-Type %q", ct)
			}
			if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="renewals-2026-03-02-within-90-days.csv"` {
				t.Errorf("Content-Disposition %q", cd)
			}
			if !bytes.Contains(r.raw, []byte("\r\n")) {
				t.Errorf("records do not end in CRLF")
			}
			records, err := csv.NewReader(bytes.NewReader(r.raw)).ReadAll()
			if err != nil {
				t.Fatalf("the CSV does not parse: %v\n%s", err, r.raw)
			}
			if !slices.Equal(records[0], csvHeader) || records[0][5] != "contact_email" || records[0][6] != "product_sku" {
				t.Fatalf("header %v", records[0])
			}
			if len(records) != 3 {
				t.Fatalf("%d records, want a header and 2 rows: %v", len(records), records)
			}
			row := map[string]string{}
			for i, name := range records[0] {
				row[name] = records[1][i]
			}
			wantRow := map[string]string{"id": id1, "license_number": ln1, "account_id": acct1, "account_name": tricky, "contact_name": contact,
				"product_sku": sku, "product_name": "Product " + sku, "program": "24x7", "premier": "true", "trial": "false",
				"starts_on": "2025-04-01", "ends_on": "2026-03-31", "status": "expiring", "days_left": "29", "grace_until": "", "terminated_on": "",
				"notices_sent": "", "terms": "initial 2025-04-01..2026-03-31 24x7+premier"}
			for k, v := range wantRow {
				if row[k] != v {
					t.Errorf("%s = %q, want %q", k, row[k], v)
				}
			}
			if records[2][0] != id2 || records[2][3] != `'=HYPERLINK("http://evil")` {
				t.Errorf("the formula is not defused: %v", records[2])
			}
		}

		// No rows: still a header.
		r := a.do(t, "GET", "/v1/renewals?format=csv&within_days=0", a.newAPIKey(t, models.ScopeRenewalsRead), nil)
		want(t, r, http.StatusOK)
		if string(r.raw) != strings.Join(csvHeader, ",")+"\r\n" {
			t.Errorf("an empty export: %q", r.raw)
		}
	})
}

// A pass of the sweep writes to the primary contact with the license's admin in copy, through
// the real outbox to the mailbox; the contract then shows the notice in notices_sent, in JSON and
// in the CSV.
func TestRenewalNotices_ReachTheMailboxAndShowOnTheContract(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		rs := a.newStaff(t, models.RoleRenewals).token
		ln, admin, contract := a.supportedLicense(t, ops, map[string]any{"program": "standard", "starts_on": "2025-04-01", "ends_on": "2026-03-25"})
		sweep := a.RenewalDesk(t)
		rep, err := sweep.Pass(context.Background(), models.PassOptions{})
		if err != nil || rep.RenewalNotices != 1 {
			t.Fatalf("pass: %+v, %v", rep, err)
		}
		r := a.do(t, "GET", "/v1/contracts?q="+ln, rs, nil)
		want(t, r, http.StatusOK)
		contact := r.items()[0]["contact"].(map[string]any)["email"].(string)
		m := a.sink.WaitFor(t, contact, 0, ln, "Days left       23", testBaseURL+"/licenses/"+ln)
		if !slices.Contains(m.To, admin.email) {
			t.Errorf("the admin %s is not among the recipients %v", admin.email, m.To)
		}
		if !strings.Contains(m.Text(), "Cc: "+admin.email) {
			t.Errorf("the admin is not in Cc:\n%s", m.Text())
		}
		notices := r.items()[0]["notices_sent"].([]any)
		if len(notices) != 1 {
			t.Fatalf("notices_sent %v", notices)
		}
		n := notices[0].(map[string]any)
		if n["offset_days"] != float64(30) || n["ends_on"] != "2026-03-25" || !strings.HasPrefix(n["sent_at"].(string), "2026-03-02T") {
			t.Errorf("notice %v", n)
		}
		r = a.do(t, "GET", "/v1/renewals?format=csv", rs, nil)
		records, err := csv.NewReader(bytes.NewReader(r.raw)).ReadAll()
		if err != nil || len(records) != 2 || records[1][0] != contract || records[1][17] != "30@2026-03-02" {
			t.Errorf("CSV after the pass: %v %v", records, err)
		}
		a.travel(t, 24*time.Hour, time.Time{})
		if rep, _ := sweep.Pass(context.Background(), models.PassOptions{}); rep.RenewalNotices != 0 {
			t.Errorf("the next day's pass: %+v", rep)
		}
	})
}

// The export streams: the response starts before the last row is read, and a client that
// reads slowly holds nothing back on the server (see BenchmarkRenewalsCSVExport for memory).
func TestRenewals_CSVStreamsInChunks(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		rs := a.newStaff(t, models.RoleRenewals).token
		seedRenewals(t, a.store, 3*csvFlushRows+17, testStart)
		req, _ := http.NewRequest("GET", a.srv.URL+"/v1/renewals?format=csv&within_days=3650", nil)
		req.Header.Set("Authorization", "Bearer "+rs)
		res, err := a.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.ContentLength != -1 || res.TransferEncoding == nil {
			t.Errorf("not streamed: Content-Length %d, Transfer-Encoding %v", res.ContentLength, res.TransferEncoding)
		}
		records, err := csv.NewReader(res.Body).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(records) != 3*csvFlushRows+17+1 {
			t.Errorf("%d records", len(records))
		}
		_, _ = io.Copy(io.Discard, res.Body)
	})
}

// The renewal window (ENTITLED_RENEWAL_WINDOW_DAYS) is the default of the portal's renewals
// dashboard and spreadsheet as of the API's: set to 45 days, GET /renewals.csv and
// GET /v1/renewals?format=csv answer the same rows, and neither the 90 days they used to.

// withRenewalWindow sets ENTITLED_RENEWAL_WINDOW_DAYS (the services' window, as server/serve.go
// wires it).
func withRenewalWindow(days int) appOption {
	return func(c *handlerstest.Options) { c.RenewalWindow = days }
}

func TestRenewalWindow_PortalCSVAgreesWithAPI(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		rs := a.newStaff(t, models.RoleRenewals)
		// Today is 2026-03-02.
		a.contractFor(t, ops, "Twenty Days GmbH", "standard", "2025-03-23", "2026-03-22")
		a.contractFor(t, ops, "Forty Days Ltd", "standard", "2025-04-12", "2026-04-11")
		a.contractFor(t, ops, "Fifty Days Inc", "standard", "2025-04-22", "2026-04-21")
		a.contractFor(t, ops, "Eighty SA", "standard", "2025-05-22", "2026-05-21")

		api := a.do(t, "GET", "/v1/renewals?format=csv", rs.token, nil)
		if api.status != http.StatusOK {
			t.Fatalf("API CSV: %s", api)
		}
		b := a.signedIn(t, rs)
		portal := b.Get(t, "/renewals.csv")
		if portal.Status != http.StatusOK || !strings.HasPrefix(portal.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("portal CSV: %s", portal)
		}
		if got, want := portal.Body, string(api.raw); got != want {
			t.Errorf("the portal's CSV is not the API's:\nportal:\n%s\nAPI:\n%s", got, want)
		}
		if got, want := portal.Header.Get("Content-Disposition"), api.header.Get("Content-Disposition"); got != want || !strings.Contains(got, "within-45-days") {
			t.Errorf("Content-Disposition: portal %q, API %q; want the 45-day window's", got, want)
		}
		for _, name := range []string{"Twenty Days GmbH", "Forty Days Ltd"} {
			if !strings.Contains(portal.Body, name) {
				t.Errorf("the 45-day CSV lacks %s:\n%s", name, portal.Body)
			}
		}
		for _, name := range []string{"Fifty Days Inc", "Eighty SA"} {
			if strings.Contains(portal.Body, name) {
				t.Errorf("the 45-day CSV lists %s, due later:\n%s", name, portal.Body)
			}
		}
		// The dashboard opens on the same window and offers that spreadsheet.
		handlerstest.WantPage(t, b.Get(t, "/renewals"), http.StatusOK, "Expiring within 45 days", `href="/renewals.csv?within=45"`)
	}, withRenewalWindow(45))
}

// Formula injection in the renewals spreadsheet: account names, contacts and product names come
// from orders, and a spreadsheet runs a text cell that starts with = + - @ (or a tab or carriage
// return, which some strip first) as a formula. cell() neutralises such text with a leading
// apostrophe; numbers (days_left is negative in grace) and dates are written as they are.

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
