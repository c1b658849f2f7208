package pages_test

// The renewal pipeline in a real browser (see browser_test.go for the harness): a renewal staff
// user takes a contract, quotes it, records its renewal and sees the ended term won and a fresh
// record for the new term; the dashboard's chart is there and its numbers are the forecast API's.
// Each page is also checked as a phone shows it.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"entitled/models"
	"entitled/models/store"
)

// pageTable reads a table's body rows as the browser renders them: each row's cells' text.
func (b *tab) pageTable(css string) [][]string {
	b.t.Helper()
	rows, err := chromedp.Run(b.ctx, chromedp.Evaluate[[][]string](fmt.Sprintf(
		`[...document.querySelectorAll(%q)].map(tr => [...tr.children].map(c => c.textContent.trim()))`, css+" tbody tr")))
	if err != nil {
		b.t.Fatalf("read %s: %v", css, err)
	}
	return rows
}

// wantChartMatchesForecast fails unless the dashboard shows the charts (an SVG each) and their
// tables say what GET /v1/renewals/forecast says.
func (b *tab) wantChartMatchesForecast(a *testApp, token string) {
	b.t.Helper()
	api := forecastTables(b.t, a, token)
	svgs, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll('figure.chart svg rect').length`))
	if err != nil || svgs == 0 {
		b.t.Fatalf("no bars in the charts (%v)", err)
	}
	for id, rows := range api {
		if got := b.pageTable("#" + id); fmt.Sprint(got) != fmt.Sprint(rows) {
			b.t.Errorf("%s in the browser:\n%v\nthe API:\n%v", id, got, rows)
		}
	}
}

func TestBrowser_RenewalPipeline(t *testing.T) {
	browser := startBrowser(t)
	shots := screenshotDir(t)
	t.Logf("screenshots in %s", shots)
	pipelineJourney(t, browser, shots)
}

func pipelineJourney(t *testing.T, browser context.Context, shots string) {
	a := newTestApp(t, store.SQLite)
	ops := a.NewStaff(t, models.RoleOps).Token
	a.product(t, ops, "EDGE-GW", "Edge Gateway", [3]string{"4.1", "2025-09-15", "full"})
	a.product(t, ops, "FLEET", "Fleet Manager", [3]string{"2.3", "2025-04-01", "full"})
	// Today is 2026-03-02.
	_, target := a.sale(t, ops, "EDGE-GW", "Fabrikam Logistics", "Jonas Berg", "jonas.berg@fabrikam.example", "24x7", "2025-03-23", "2026-03-22")
	_, usd := a.sale(t, ops, "FLEET", "Tailspin Toys", "Ana Souza", "ana@tailspin.example", "standard", "2025-04-17", "2026-04-16")
	a.sale(t, ops, "FLEET", "Wide World Importers", "Kenji Mori", "k.mori@wideworld.example", "24x7", "2025-05-22", "2026-05-21")
	a.sale(t, ops, "EDGE-GW", "Litware Inc", "Omar Haddad", "omar@litware.example", "standard", "2025-02-02", "2026-02-01")
	lead := a.NewStaff(t, models.RoleRenewals)
	want(t, a.Do(t, "PATCH", "/v1/contracts/"+target+"/renewal", lead.Token, map[string]any{"value": map[string]any{"amount": "12000.00", "currency": "EUR"}}), http.StatusOK)
	want(t, a.Do(t, "PATCH", "/v1/contracts/"+usd+"/renewal", lead.Token, map[string]any{"stage": "contacted", "value": map[string]any{"amount": "4500.00", "currency": "USD"}}), http.StatusOK)
	acct := a.Do(t, "GET", "/v1/contracts/"+target, lead.Token, nil).Str("account_id")
	rs := a.NewStaff(t, models.RoleRenewals)

	b := newTab(t, browser, a, shots, "pipeline")
	b.signIn(rs.Email, rs.Password)
	b.at("/renewals")
	b.see("My renewals", "You own no renewal yet.", "Due in the next 12 months", "Contracts due per month, by stage", "Value due per month in EUR, by stage",
		"Value due per month in USD, by stage", "Renewal rate of past months")
	b.wantChartMatchesForecast(a, rs.Token)
	b.shot("dashboard")
	b.phoneShot("dashboard")

	// Take the contract: select it in the list and set the owner to me.
	b.do("select Fabrikam", chromedp.Click(chromedp.ID("sel-"+target)))
	b.set("bulk-owner", "me")
	b.shot("bulk-selected")
	b.click(`#bulk-form button[type=submit]`)
	b.see("1 contract updated.")
	mine := b.pageTable("#my-renewals")
	if len(mine) != 1 || !strings.Contains(mine[0][1], "Fabrikam Logistics") {
		t.Fatalf("my renewals after taking the contract: %v", mine)
	}
	b.shot("mine")

	// Quote it from its page.
	b.click(`#my-renewals a[href^="/contracts/` + target + `?"]`)
	b.see("Renewal", "Untouched", rs.Email, "12000.00 EUR", "No notes yet.")
	b.set("renewal-stage-in", "quoted")
	b.set("renewal-next-in", "2026-03-09")
	b.click(`form[action="/contracts/` + target + `/renewal"] button[type=submit]`)
	b.see("Renewal record saved.", "Quoted", "2026-03-09")
	b.do("write a note", chromedp.SendKeys(chromedp.ID("note-text"), "Quote sent to Jonas: 12,000 EUR for another year."))
	b.click(`form[action="/contracts/` + target + `/note"] button[type=submit]`)
	b.see("Note added.", "Quote sent to Jonas", rs.Email)
	b.shot("contract-quoted")
	b.phoneShot("contract")
	if r := a.Do(t, "GET", "/v1/contracts/"+target, rs.Token, nil); r.Body["renewal"].(map[string]any)["stage"] != "quoted" {
		t.Fatalf("the API after quoting: %v", r.Body["renewal"])
	}

	// Record the renewal; the ended term's record is won, the new term's starts untouched, mine,
	// worth the same.
	b.set("renew-ends", "2027-03-22")
	b.click(`form[action="/contracts/` + target + `/renew"] button[type=submit]`)
	b.see("Renew this contract until 2027-03-22?")
	b.click(`.confirm form button[type=submit]`)
	b.see("Renewed: Fabrikam Logistics", "2027-03-22")
	b.open("/contracts/" + target)
	records := b.pageTable("#renewal-records")
	if len(records) != 2 {
		t.Fatalf("renewal records: %v, want the new term's and the ended one's", records)
	}
	if cur := records[0]; !strings.HasPrefix(cur[0], "2027-03-22") || !strings.Contains(cur[0], "current") || cur[1] != "Untouched" || cur[2] != rs.Email || cur[3] != "12000.00 EUR" {
		t.Errorf("the new term's record: %v, want 2027-03-22 (current), Untouched, %s, 12000.00 EUR", cur, rs.Email)
	}
	if won := records[1]; won[0] != "2026-03-22" || won[1] != "Won" || won[4] != "2026-03-02" {
		t.Errorf("the ended term's record: %v, want 2026-03-22, Won, renewed on 2026-03-02", won)
	}
	b.see("Untouched", "Quote sent to Jonas")
	b.shot("contract-renewed")
	ren := a.Do(t, "GET", "/v1/contracts/"+target, rs.Token, nil).Body["renewal"].(map[string]any)
	if ren["stage"] != "untouched" || ren["owner"] != rs.Email {
		t.Errorf("the API's renewal of the new term: %v", ren)
	}

	// The chart follows: the contract left this month's column for next year's.
	b.open("/renewals")
	b.wantChartMatchesForecast(a, rs.Token)

	// The account page, with its co-term form.
	b.open("/staff/accounts/" + acct)
	b.see("Fabrikam Logistics", "Jonas Berg", "jonas.berg@fabrikam.example", "Edge Gateway", "2027-03-22", "Co-term")
	b.shot("account")
	b.phoneShot("account")
}
