package handlers

// Renewal staff's dashboard: what expires within 7, 30, 60 or 90 days, what is in grace and what
// lapsed, with filters, links to each contract and a spreadsheet of the list. It calls the
// renewal desk's list (Contracts.List) and export (Contracts.ExportRenewals), as /v1 does.

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

// dashboardWindows are the dashboard's windows, in days.
var dashboardWindows = []int{7, 30, 60, 90}

// dashboardCountCap is how many contracts a tile counts before it says "500+".
const dashboardCountCap = models.PageMax

// dashboardView is what the dashboard shows: a window of days, or a status.
type dashboardView struct {
	Within  int    // with Status "": current contracts with days_left <= Within
	Status  string // grace | lapsed | "": the window
	Program string
	Q       string
}

func (v dashboardView) filter() models.ContractFilter {
	f := models.ContractFilter{Program: v.Program, Q: v.Q, Status: v.Status}
	if v.Status == "" {
		f.Within, f.HasWithin = v.Within, true
	}
	return f
}

// query is the dashboard URL's query for the view (and extra parameters).
func (v dashboardView) query() url.Values {
	q := url.Values{}
	if v.Status != "" {
		q.Set("status", v.Status)
	} else {
		q.Set("within", strconv.Itoa(v.Within))
	}
	if v.Program != "" {
		q.Set("program", v.Program)
	}
	if v.Q != "" {
		q.Set("q", v.Q)
	}
	return q
}

// readView reads the dashboard's filters; anything it does not know falls back to the renewal
// window (ENTITLED_RENEWAL_WINDOW_DAYS, the API's default too).
func readView(c *gin.Context, windowDays int) dashboardView {
	v := dashboardView{Within: windowDays, Program: c.Query("program"), Q: strings.TrimSpace(c.Query("q"))}
	status, within := c.Query("status"), c.Query("within")
	if view := c.Query("view"); view != "" { // the filter form's one "Show" choice
		status, within = view, view
	}
	switch status {
	case models.StatusGrace, models.StatusLapsed:
		v.Status = status
	}
	if n, err := strconv.Atoi(within); err == nil && n >= 0 && n <= models.MaxWithinDays {
		v.Within = n
	}
	if v.Program != models.ProgramStandard && v.Program != models.Program24x7 {
		v.Program = ""
	}
	if len(v.Q) > 200 {
		v.Q = v.Q[:200]
	}
	return v
}

// tile is one count at the top of the dashboard.
type tile struct {
	Label   string
	Count   string
	Href    string
	Class   string
	Current bool
}

// contractRow is a contract in the dashboard's table.
type contractRow struct {
	V        models.ContractView
	Status   string
	DaysLeft int
	Notices  string
	Href     string
}

func (p *pages) renewals(c *gin.Context) {
	ctx := c.Request.Context()
	view := readView(c, p.contracts.RenewalWindowDays)
	pg, err := store.ParseContractPage("100", c.Query("cursor"))
	if err != nil {
		pg, _ = store.ParseContractPage("100", "")
	}
	list, err := p.contracts.List(ctx, view.filter(), pg)
	if err != nil {
		p.pageError(c, "Renewals", err)
		return
	}
	window := p.contracts.RenewalWindowDays
	self := "/renewals?" + view.query().Encode()
	if cur := c.Query("cursor"); cur != "" {
		self += "&cursor=" + url.QueryEscape(cur)
	}
	rows := make([]contractRow, 0, len(list.Items))
	for _, v := range list.Items {
		st, days := v.Status(list.Today, window)
		var notices []string
		for _, n := range v.Notices {
			if n.OffsetDays < 0 {
				notices = append(notices, "lapse notice")
			} else {
				notices = append(notices, strconv.Itoa(n.OffsetDays)+" d")
			}
		}
		rows = append(rows, contractRow{V: v, Status: st, DaysLeft: days, Notices: strings.Join(notices, ", "),
			Href: "/contracts/" + itoa64(v.Contract.ID) + "?back=" + url.QueryEscape(self)})
	}
	tiles, err := p.tiles(c, view)
	if err != nil {
		p.pageError(c, "Renewals", err)
		return
	}
	next := ""
	if list.Next != "" {
		q := view.query()
		q.Set("cursor", list.Next)
		next = "/renewals?" + q.Encode()
	}
	heading := fmt.Sprintf("Expiring within %d days", view.Within)
	switch view.Status {
	case models.StatusGrace:
		heading = "In grace: past their end, support kept on"
	case models.StatusLapsed:
		heading = "Lapsed: support ended, not renewed"
	}
	csvLink := ""
	if view.Status == "" {
		csvLink = "/renewals.csv?within=" + strconv.Itoa(view.Within)
	}
	p.render(c, http.StatusOK, "renewals", map[string]any{"Title": "Renewals", "Nav": "renewals", "Wide": true,
		"View": view, "Tiles": tiles, "Rows": rows, "Next": next, "Heading": heading, "CSV": csvLink, "Windows": dashboardWindows,
		"AsOf": list.Today})
}

// tiles counts what the dashboard's tiles show: the contracts due within each window (one list
// of the widest window, bucketed by days left) and the lapsed ones. The filters of the view apply.
func (p *pages) tiles(c *gin.Context, view dashboardView) ([]tile, error) {
	ctx := c.Request.Context()
	capPage, _ := store.ParseContractPage(strconv.Itoa(dashboardCountCap), "")
	widest := dashboardWindows[len(dashboardWindows)-1]
	due, err := p.contracts.List(ctx, dashboardView{Within: widest, Program: view.Program, Q: view.Q}.filter(), capPage)
	if err != nil {
		return nil, err
	}
	lapsed, err := p.contracts.List(ctx, dashboardView{Status: models.StatusLapsed, Program: view.Program, Q: view.Q}.filter(), capPage)
	if err != nil {
		return nil, err
	}
	counts := make([]int, len(dashboardWindows))
	grace := 0
	for _, v := range due.Items {
		st, days := v.Status(due.Today, p.contracts.RenewalWindowDays)
		if st == models.StatusGrace {
			grace++
		}
		for i, w := range dashboardWindows {
			if days <= w {
				counts[i]++
			}
		}
	}
	count := func(n int, more bool) string {
		if more {
			return strconv.Itoa(n) + "+"
		}
		return strconv.Itoa(n)
	}
	link := func(v dashboardView) string { return "/renewals?" + v.query().Encode() }
	var out []tile
	for i, w := range dashboardWindows {
		t := tile{Label: fmt.Sprintf("within %d days", w), Count: count(counts[i], due.Next != "" && i == len(dashboardWindows)-1),
			Href: link(dashboardView{Within: w, Program: view.Program, Q: view.Q}), Current: view.Status == "" && view.Within == w}
		if w <= 30 && counts[i] > 0 {
			t.Class = "warn"
		}
		out = append(out, t)
	}
	out = append(out,
		tile{Label: "in grace", Count: count(grace, due.Next != ""), Href: link(dashboardView{Status: models.StatusGrace, Program: view.Program, Q: view.Q}),
			Current: view.Status == models.StatusGrace, Class: "warn"},
		tile{Label: "lapsed", Count: count(len(lapsed.Items), lapsed.Next != ""), Href: link(dashboardView{Status: models.StatusLapsed, Program: view.Program, Q: view.Q}),
			Current: view.Status == models.StatusLapsed, Class: "bad"})
	return out, nil
}

// renewalsCSV is the list's spreadsheet: what expires within the window (by default the renewal
// window, ENTITLED_RENEWAL_WINDOW_DAYS, as the API's), exactly as
// GET /v1/renewals?format=csv streams it (the same writer), for a browser's download link.
func (p *pages) renewalsCSV(c *gin.Context) {
	within, err := models.ParseWithinDays(c.Query("within"), p.contracts.RenewalWindowDays)
	if err != nil {
		p.pageError(c, "Renewals", err)
		return
	}
	(&api{contracts: p.contracts}).exportRenewals(c, within)
}
