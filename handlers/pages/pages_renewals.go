package pages

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

func (p *Portal) renewals(c *gin.Context) {
	ctx := c.Request.Context()
	view := readView(c, p.Contracts.RenewalWindowDays)
	pg, err := store.ParseContractPage(strconv.Itoa(models.PortalPageSize), c.Query("cursor"))
	if err != nil {
		pg, _ = store.ParseContractPage(strconv.Itoa(models.PortalPageSize), "")
	}
	list, err := p.Contracts.List(ctx, view.filter(), pg)
	if err != nil {
		p.pageError(c, "Renewals", err)
		return
	}
	window := p.Contracts.RenewalWindowDays
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
			Href: "/contracts/" + itoa(v.Contract.ID) + "?back=" + url.QueryEscape(self)})
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
		"View": view, "Tiles": tiles, "Rows": rows, "Next": next, "Heading": heading, "CSV": csvLink, "Windows": models.DashboardWindows(),
		"AsOf": list.Today})
}

// tiles shows the dashboard's counts (Contracts.RenewalTiles) under the view's filters, each
// linking to its list.
func (p *Portal) tiles(c *gin.Context, view dashboardView) ([]tile, error) {
	counts, err := p.Contracts.RenewalTiles(c.Request.Context(), view.Program, view.Q)
	if err != nil {
		return nil, err
	}
	count := func(n store.TileCount) string {
		if n.More {
			return strconv.Itoa(n.Count) + "+"
		}
		return strconv.Itoa(n.Count)
	}
	link := func(v dashboardView) string { return "/renewals?" + v.query().Encode() }
	var out []tile
	for _, w := range counts.Within {
		t := tile{Label: fmt.Sprintf("within %d days", w.Days), Count: count(w),
			Href: link(dashboardView{Within: w.Days, Program: view.Program, Q: view.Q}), Current: view.Status == "" && view.Within == w.Days}
		if w.Days <= models.DashboardWarnDays && w.Count > 0 {
			t.Class = "warn"
		}
		out = append(out, t)
	}
	out = append(out,
		tile{Label: "in grace", Count: count(counts.Grace), Href: link(dashboardView{Status: models.StatusGrace, Program: view.Program, Q: view.Q}),
			Current: view.Status == models.StatusGrace, Class: "warn"},
		tile{Label: "lapsed", Count: count(counts.Lapsed), Href: link(dashboardView{Status: models.StatusLapsed, Program: view.Program, Q: view.Q}),
			Current: view.Status == models.StatusLapsed, Class: "bad"})
	return out, nil
}

// renewalsCSV is the list's spreadsheet: what expires within the window (by default the renewal
// window, ENTITLED_RENEWAL_WINDOW_DAYS, as the API's), exactly as
// GET /v1/renewals?format=csv streams it (the same writer), for a browser's download link.
func (p *Portal) renewalsCSV(c *gin.Context) {
	within, err := models.ParseWithinDays(c.Query("within"), p.Contracts.RenewalWindowDays)
	if err != nil {
		p.pageError(c, "Renewals", err)
		return
	}
	p.RenewalsCSV(c, within)
}
