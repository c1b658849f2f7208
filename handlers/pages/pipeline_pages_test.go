package pages_test

// The renewal pipeline in the portal (contract: "Renewal pipeline"), on both dialects: the
// dashboard's forecast chart and its numbers (those of GET /v1/renewals/forecast), the renewal
// rate, "my renewals", the bulk change (all or nothing), the "all contracts" search, the CSV
// link that follows every filter on screen; the contract page's renewal record and notes; the
// account page and its co-term.

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"entitled/models"
)

// numbersTable reads a table of numbers (id) from a page: each row's month, then its cells.
func numbersTable(t *testing.T, body, id string) [][]string {
	t.Helper()
	start := strings.Index(body, `id="`+id+`"`)
	if start < 0 {
		t.Fatalf("no table %s on the page", id)
	}
	end := strings.Index(body[start:], "</table>")
	rowRE := regexp.MustCompile(`(?s)<tr data-month="[^"]*">(.*?)</tr>`)
	cellRE := regexp.MustCompile(`(?s)<t[hd][^>]*>(.*?)</t[hd]>`)
	var out [][]string
	for _, r := range rowRE.FindAllStringSubmatch(body[start:start+end], -1) {
		var cells []string
		for _, c := range cellRE.FindAllStringSubmatch(r[1], -1) {
			cells = append(cells, html.UnescapeString(c[1]))
		}
		out = append(out, cells)
	}
	return out
}

// forecastTables is what GET /v1/renewals/forecast answers, laid out as the dashboard's tables:
// chart-count-table (month, due, a count per stage) and chart-value-<currency>-table (month,
// total, an amount per stage).
func forecastTables(t *testing.T, a *testApp, token string) map[string][][]string {
	t.Helper()
	r := a.Do(t, "GET", "/v1/renewals/forecast", token, nil)
	want(t, r, http.StatusOK)
	out := map[string][][]string{}
	currencies := map[string]bool{}
	for _, m := range r.Objects("months") {
		for _, v := range m["value"].([]any) {
			currencies[v.(map[string]any)["currency"].(string)] = true
		}
	}
	for _, m := range r.Objects("months") {
		month := m["month"].(string)
		row := []string{month, fmt.Sprint(m["due"])}
		for _, s := range models.RenewalStages() {
			row = append(row, fmt.Sprint(m["by_stage"].(map[string]any)[s]))
		}
		out["chart-count-table"] = append(out["chart-count-table"], row)
		for cur := range currencies {
			row := []string{month, "0.00"}
			byStage := map[string]any{}
			for _, v := range m["value"].([]any) {
				if v := v.(map[string]any); v["currency"] == cur {
					row[1], byStage = v["amount"].(string), v["by_stage"].(map[string]any)
				}
			}
			for _, s := range models.RenewalStages() {
				amount := "0.00"
				if v, ok := byStage[s]; ok {
					amount = v.(string)
				}
				row = append(row, amount)
			}
			out["chart-value-"+cur+"-table"] = append(out["chart-value-"+cur+"-table"], row)
		}
	}
	return out
}

// wantForecastOnPage fails unless every table of numbers under the charts says what the API says.
func wantForecastOnPage(t *testing.T, a *testApp, token, body string) {
	t.Helper()
	api := forecastTables(t, a, token)
	if len(api) < 2 {
		t.Fatalf("the forecast has no value in any currency: %v", api)
	}
	for id, rows := range api {
		if got := numbersTable(t, body, id); fmt.Sprint(got) != fmt.Sprint(rows) {
			t.Errorf("%s on the page:\n%v\nthe API:\n%v", id, got, rows)
		}
	}
	if n := strings.Count(body, `<figure class="chart" id="chart-value-`); n != len(api)-1 {
		t.Errorf("%d value charts, want one per currency (%d)", n, len(api)-1)
	}
}

func TestPipelinePages_Dashboard(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.NewStaff(t, models.RoleOps).Token
		rs, rs2 := a.NewStaff(t, models.RoleRenewals), a.NewStaff(t, models.RoleRenewals)
		// Today is 2026-03-02.
		alpha := a.ContractFor(t, ops, "Alpha Ltd", "standard", "2025-03-21", "2026-03-20")
		bravo := a.ContractFor(t, ops, "Bravo GmbH", "24x7", "2025-04-16", "2026-04-15")
		charlie := a.ContractFor(t, ops, "Charlie SA", "standard", "2025-05-11", "2026-05-10")
		a.ContractFor(t, ops, "Far Future BV", "standard", "2026-08-02", "2027-08-01")
		gone := a.ContractFor(t, ops, "Terminated Oy", "standard", "2025-07-01", "2026-06-30")
		want(t, a.Do(t, "POST", "/v1/contracts/"+gone+"/terminate", rs.Token, map[string]any{"reason": "went away"}), http.StatusOK)
		patch := func(id string, body map[string]any) {
			t.Helper()
			want(t, a.Do(t, "PATCH", "/v1/contracts/"+id+"/renewal", rs.Token, body), http.StatusOK)
		}
		patch(alpha, map[string]any{"owner": rs.Email, "stage": "quoted", "next_step_on": "2026-03-10", "value": map[string]any{"amount": "12000.00", "currency": "EUR"}})
		patch(bravo, map[string]any{"owner": rs.Email, "next_step_on": "2026-03-05", "value": map[string]any{"amount": "5000.50", "currency": "USD"}})
		patch(charlie, map[string]any{"owner": rs2.Email, "value": map[string]any{"amount": "8000.00", "currency": "EUR"}})

		b := a.SignedIn(t, rs)
		p := b.Get(t, "/renewals")
		wantPage(t, p, http.StatusOK, `id="chart-count"`, `<svg viewBox="0 0 720.0 250.0" class="chart-svg" role="img"`, `<ul class="legend"`,
			`id="chart-value-EUR"`, `id="chart-value-USD"`, "Contracts due per month, by stage", "Renewal rate of past months", `id="renewal-rate"`)
		if strings.Contains(p.Body, "<script") {
			t.Error("the dashboard has a script: the chart must be readable without one")
		}
		wantForecastOnPage(t, a, rs.Token, p.Body)
		if rate := numbersTable(t, p.Body, "renewal-rate"); len(rate) != 12 || rate[11][0] != "2026-02" {
			t.Errorf("renewal rate rows: %v, want the 12 past months up to 2026-02", rate)
		}

		// My renewals: mine only, soonest next step first.
		mine := p.Body[strings.Index(p.Body, `id="my-renewals"`):]
		mine = mine[:strings.Index(mine, "</table>")]
		if bi, ai := strings.Index(mine, "Bravo GmbH"), strings.Index(mine, "Alpha Ltd"); bi < 0 || ai < 0 || bi > ai || strings.Contains(mine, "Charlie SA") {
			t.Errorf("my renewals: want Bravo (next step 2026-03-05), then Alpha (2026-03-10), not Charlie (not mine):\n%s", mine)
		}

		// Bulk: set the owner and the stage of two contracts at once.
		back := "/renewals?within=90"
		p = b.Submit(t, "/renewals/bulk", url.Values{"ids": {alpha, charlie}, "owner": {rs2.Email}, "stage": {"contacted"}, "back": {back}})
		if p.Status != http.StatusSeeOther || p.Location != back {
			t.Fatalf("bulk: %s", p)
		}
		wantPage(t, b.Follow(t, p), http.StatusOK, "2 contracts updated.")
		for _, id := range []string{alpha, charlie} {
			r := a.Do(t, "GET", "/v1/contracts/"+id, rs.Token, nil)
			if ren := r.Body["renewal"].(map[string]any); ren["owner"] != rs2.Email || ren["stage"] != "contacted" {
				t.Errorf("contract %s after the bulk change: %v", id, ren)
			}
		}
		// All or nothing: one unknown contract, and nothing changes; the page says why and keeps
		// the selection.
		p = b.Submit(t, "/renewals/bulk", url.Values{"ids": {alpha, "999999"}, "stage": {"committed"}, "back": {back}})
		wantPage(t, p, http.StatusBadRequest, "Nothing was changed. There is no contract 999999.", `id="sel-`+alpha+`" checked`, `<option value="committed" selected>`)
		if r := a.Do(t, "GET", "/v1/contracts/"+alpha, rs.Token, nil); r.Body["renewal"].(map[string]any)["stage"] != "contacted" {
			t.Errorf("a refused bulk change changed a contract: %v", r.Body["renewal"])
		}
		wantPage(t, b.Submit(t, "/renewals/bulk", url.Values{"stage": {"committed"}, "back": {back}}), http.StatusBadRequest, "Select at least one contract")
		wantPage(t, b.Submit(t, "/renewals/bulk", url.Values{"ids": {alpha}, "back": {back}}), http.StatusBadRequest, "Choose an owner, a stage or a next step")
		wantPage(t, b.Submit(t, "/renewals/bulk", url.Values{"ids": {alpha}, "owner": {"nobody-here@example.test"}, "back": {back}}),
			http.StatusBadRequest, "The owner must be a staff user with the renewals role.")
		wantPage(t, b.Submit(t, "/renewals/bulk", url.Values{"ids": {alpha}, "stage": {"won"}, "back": {back}}), http.StatusBadRequest, "Won is set by recording the renewal")

		// All contracts: any status, found by account, contact or License Number.
		wantPage(t, b.Get(t, "/renewals?view=all&q=terminated"), http.StatusOK, "All contracts, any status", "Terminated Oy", `class="badge bad">Terminated<`)
		wantPage(t, b.Get(t, "/renewals?view=all&q=far+future"), http.StatusOK, "Far Future BV")
		wantPage(t, b.Get(t, "/renewals?within=90&q=far+future"), http.StatusOK, "Nothing here matching")
		// A search longer than the 200 bytes kept, cut inside a character: still a search (PostgreSQL
		// refused the broken UTF-8 once), in every view and in the CSV.
		long := url.QueryEscape(strings.Repeat("x", 199) + "é")
		wantPage(t, b.Get(t, "/renewals?view=all&q="+long), http.StatusOK, "Nothing here matching")
		wantPage(t, b.Get(t, "/renewals?within=90&q="+long), http.StatusOK, "Nothing here matching")
		wantPage(t, b.Get(t, "/renewals.csv?within=90&q="+long), http.StatusOK)
		r := a.Do(t, "GET", "/v1/contracts/"+gone, rs.Token, nil)
		wantPage(t, b.Get(t, "/renewals?view=all&q="+url.QueryEscape(r.Str("license_number"))), http.StatusOK, "Terminated Oy")

		// The CSV link carries every filter on screen, for every view, and the CSV follows them.
		filters := url.Values{"program": {"standard"}, "q": {"ltd"}, "owner": {"me"}, "stage": {"quoted"}}
		for _, view := range []url.Values{{"within": {"30"}}, {"status": {"grace"}}, {"status": {"lapsed"}}, {"status": {"all"}}} {
			q := url.Values{}
			for k, v := range filters {
				q[k] = v
			}
			for k, v := range view {
				q[k] = v
			}
			wantPage(t, b.Get(t, "/renewals?"+q.Encode()), http.StatusOK, `href="`+html.EscapeString("/renewals.csv?"+q.Encode())+`" download`)
		}
		csvRows := func(path string) []string {
			t.Helper()
			p := b.Get(t, path)
			if p.Status != http.StatusOK || !strings.HasPrefix(p.Header.Get("Content-Type"), "text/csv") {
				t.Fatalf("%s: %s", path, p)
			}
			lines := strings.Split(strings.TrimSpace(p.Body), "\n")
			if !strings.Contains(lines[0], "renewal_owner") {
				t.Fatalf("%s: header %s", path, lines[0])
			}
			return lines[1:]
		}
		if rows := csvRows("/renewals.csv?within=90&owner=me"); len(rows) != 1 || !strings.Contains(rows[0], "Bravo GmbH") {
			t.Errorf("CSV of my renewals: %v, want Bravo only", rows)
		}
		if rows := csvRows("/renewals.csv?within=90&stage=contacted&program=standard"); len(rows) != 2 || !strings.Contains(strings.Join(rows, "\n"), "Charlie SA") {
			t.Errorf("CSV of contacted standard contracts: %v, want Alpha and Charlie", rows)
		}
		if rows := csvRows("/renewals.csv?status=all&q=terminated"); len(rows) != 1 || !strings.Contains(rows[0], "Terminated Oy") {
			t.Errorf("CSV of all contracts matching terminated: %v", rows)
		}
		if rows := csvRows("/renewals.csv?status=lapsed"); len(rows) != 0 {
			t.Errorf("CSV of the lapsed: %v, want none", rows)
		}
	})
}

func TestPipelinePages_ContractRenewalRecordAndNotes(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.NewStaff(t, models.RoleOps).Token
		rs := a.NewStaff(t, models.RoleRenewals)
		id := a.ContractFor(t, ops, "Fabrikam Logistics", "24x7", "2025-03-23", "2026-03-22")
		b := a.SignedIn(t, rs)
		path := "/contracts/" + id
		p := b.Get(t, path)
		wantPage(t, p, http.StatusOK, `id="renewal-stage">Untouched<`, "Change the renewal", `<label for="renewal-owner-in">Owner</label>`,
			"No notes yet.", `id="renewal-records"`, "2026-03-22 <span class=\"muted\">(current)</span>")
		etag := regexp.MustCompile(`name="etag" value="([^"]+)"`).FindStringSubmatch(p.Body)
		if etag == nil {
			t.Fatal("no ETag in the renewal form")
		}
		form := url.Values{"owner": {rs.Email}, "stage": {"quoted"}, "next_step_on": {"2026-03-09"}, "value_amount": {"12000"}, "value_currency": {"eur"},
			"etag": {html.UnescapeString(etag[1])}, "back": {"/renewals?within=30"}}
		p = b.Submit(t, path+"/renewal", form)
		if p.Status != http.StatusSeeOther || p.Location != path+"?back=%2Frenewals%3Fwithin%3D30" {
			t.Fatalf("save the renewal: %s", p)
		}
		wantPage(t, b.Follow(t, p), http.StatusOK, "Renewal record saved.", `id="renewal-stage">Quoted<`, "12000.00 EUR", rs.Email, "2026-03-09")
		r := a.Do(t, "GET", "/v1/contracts/"+id, rs.Token, nil)
		ren := r.Body["renewal"].(map[string]any)
		if ren["owner"] != rs.Email || ren["stage"] != "quoted" || ren["next_step_on"] != "2026-03-09" || fmt.Sprint(ren["value"]) != "map[amount:12000.00 currency:EUR]" {
			t.Errorf("the API after the page's change: %v", ren)
		}
		// The form sent again unchanged changes nothing (and is not refused as stale).
		p = b.Submit(t, path+"/renewal", url.Values{"owner": {rs.Email}, "stage": {"quoted"}, "next_step_on": {"2026-03-09"}, "value_amount": {"12000.00"}, "value_currency": {"EUR"}})
		wantPage(t, b.Follow(t, p), http.StatusOK, "Nothing to save")
		// The page of before the change is stale: refused, nothing saved, said in words.
		form.Set("stage", "committed")
		p = b.Submit(t, path+"/renewal", form)
		wantPage(t, p, http.StatusPreconditionFailed, "Someone changed this contract after you opened the page", `id="renewal-stage">Quoted<`)
		// A value that is not one, said next to the form.
		p = b.Submit(t, path+"/renewal", url.Values{"owner": {rs.Email}, "stage": {"quoted"}, "value_amount": {"12,5"}, "value_currency": {"EUR"}})
		wantPage(t, p, http.StatusBadRequest, `<p class="notice error" role="alert">`, "two decimals", `value="12,5"`)
		// Clearing: no owner, no next step, no value.
		p = b.Submit(t, path+"/renewal", url.Values{"owner": {""}, "stage": {"quoted"}, "next_step_on": {""}, "value_amount": {""}, "value_currency": {""}})
		wantPage(t, b.Follow(t, p), http.StatusOK, "Renewal record saved.", `id="renewal-owner"><span class="muted">nobody</span>`)
		if ren := a.Do(t, "GET", "/v1/contracts/"+id, rs.Token, nil).Body["renewal"].(map[string]any); ren["owner"] != nil || ren["value"] != nil || ren["next_step_on"] != nil {
			t.Errorf("after clearing: %v", ren)
		}

		// Notes: added at once, newest on top, the API sees them.
		p = b.Submit(t, path+"/note", url.Values{"text": {"Called Jonas: PO expected next week."}})
		if p.Status != http.StatusSeeOther || !strings.HasSuffix(p.Location, "#notes") {
			t.Fatalf("add a note: %s", p)
		}
		b.Submit(t, path+"/note", url.Values{"text": {"PO received <b>today</b>."}})
		p = b.Get(t, path)
		wantPage(t, p, http.StatusOK, "Called Jonas: PO expected next week.", "PO received &lt;b&gt;today&lt;/b&gt;.", `<h2 id="h-notes">Notes <span class="count">2</span>`)
		if strings.Index(p.Body, "PO received") > strings.Index(p.Body, "Called Jonas") {
			t.Error("the notes timeline is not newest first")
		}
		if notes := a.Do(t, "GET", "/v1/contracts/"+id, rs.Token, nil).List("notes"); len(notes) != 2 {
			t.Errorf("the API sees %d notes", len(notes))
		}
		wantPage(t, b.Submit(t, path+"/note", url.Values{"text": {"   "}}), http.StatusBadRequest, `<p class="notice error" role="alert">`)

		// Without the form's CSRF token nothing is accepted.
		p = b.Do(t, "POST", path+"/note", url.Values{"text": {"forged"}})
		wantPage(t, p, http.StatusForbidden, "security token")
		wantPage(t, b.Get(t, "/contracts/999999"), http.StatusNotFound)
		wantPage(t, b.Submit(t, "/contracts/999999/note", url.Values{"text": {"x"}}), http.StatusNotFound)
	})
}

func TestPipelinePages_AccountAndCoterm(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.NewStaff(t, models.RoleOps).Token
		rs := a.NewStaff(t, models.RoleRenewals)
		early, later := a.NewProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"}), a.NewProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})
		body, contact := a.Order(
			map[string]any{"sku": early, "quantity": 3, "kind": "perpetual", "support": map[string]any{"program": "standard", "starts_on": "2025-05-01", "ends_on": "2026-04-30"}},
			map[string]any{"sku": later, "quantity": 5, "kind": "perpetual", "support": map[string]any{"program": "24x7", "starts_on": "2026-01-01", "ends_on": "2026-12-31"}},
		)
		r := a.Do(t, "POST", "/v1/orders", ops, body)
		want(t, r, http.StatusCreated)
		acct := r.Str("account_id")
		lns := []string{r.Licenses()[0]["license_number"].(string), r.Licenses()[1]["license_number"].(string)}
		ids := []string{r.Licenses()[0]["contract_id"].(string), r.Licenses()[1]["contract_id"].(string)}

		b := a.SignedIn(t, rs)
		path := "/staff/accounts/" + acct
		p := b.Get(t, path)
		wantPage(t, p, http.StatusOK, "Acme Corp", "Account "+acct, contact, lns[0], lns[1], "2026-04-30", "2026-12-31", "Co-term…",
			`href="/contracts/`+ids[0]+`?back=%2Fstaff%2Faccounts%2F`+acct+`"`)
		// The contract page links back to its account, and its way back returns there.
		wantPage(t, b.Get(t, "/contracts/"+ids[0]+"?back=%2Fstaff%2Faccounts%2F"+acct), http.StatusOK,
			`href="/staff/accounts/`+acct+`">Acme Corp</a>`, `<a href="/staff/accounts/`+acct+`">Renewals</a>`)

		// Co-term asks first, then aligns the earlier contract and leaves the later one alone.
		p = b.Submit(t, path+"/coterm", url.Values{"ends_on": {"2026-09-30"}})
		wantPage(t, p, http.StatusOK, "Align this account&#39;s support contracts to end on 2026-09-30?", "Yes, co-term", lns[0]+" · ", "ends on 2026-04-30")
		if r := a.Do(t, "GET", "/v1/contracts/"+ids[0], rs.Token, nil); r.Str("ends_on") != "2026-04-30" {
			t.Fatalf("asked, not confirmed, yet the contract changed: %s", r)
		}
		p = b.Submit(t, path+"/coterm", url.Values{"ends_on": {"2026-09-30"}, "confirm": {"yes"}})
		if p.Status != http.StatusSeeOther || p.Location != path {
			t.Fatalf("co-term: %s", p)
		}
		wantPage(t, b.Follow(t, p), http.StatusOK, "Co-termed to 2026-09-30: 1 contract extended ("+lns[0]+").")
		if r := a.Do(t, "GET", "/v1/contracts/"+ids[0], rs.Token, nil); r.Str("ends_on") != "2026-09-30" {
			t.Errorf("the earlier contract after the co-term: %s", r)
		}
		if r := a.Do(t, "GET", "/v1/contracts/"+ids[1], rs.Token, nil); r.Str("ends_on") != "2026-12-31" {
			t.Errorf("the later contract after the co-term: %s", r)
		}
		a.Sink.WaitFor(t, contact, 0, "2026-09-30")

		// Nothing to align, a day in the past, an unknown account.
		p = b.Submit(t, path+"/coterm", url.Values{"ends_on": {"2026-06-30"}, "confirm": {"yes"}})
		wantPage(t, b.Follow(t, p), http.StatusOK, "Nothing to align")
		wantPage(t, b.Submit(t, path+"/coterm", url.Values{"ends_on": {"2020-01-01"}, "confirm": {"yes"}}), http.StatusBadRequest,
			`<p class="notice error" role="alert">`, "today or later", `value="2020-01-01"`)
		wantPage(t, b.Get(t, "/staff/accounts/0000000"), http.StatusNotFound)
		wantPage(t, a.SignedIn(t, a.NewStaff(t, models.RoleOps)).Get(t, path), http.StatusForbidden)
	})
}
