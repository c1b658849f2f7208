package pages

// Renewal staff's dashboard: what expires within 7, 30, 60 or 90 days, what is in grace and what
// lapsed, with filters, links to each contract and a spreadsheet of the list. It calls the
// renewal desk's list (Contracts.List) and export (Contracts.ExportRenewals), as /v1 does.

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

// dashboardView is what the dashboard shows: a window of days, a status, or every contract;
// narrowed by program, search, owner and stage.
type dashboardView struct {
	Within  int    // with Status "": current contracts with days_left <= Within
	Status  string // grace | lapsed | all | "": the window
	Program string
	Q       string
	Owner   string // "", me, none or an email, as the URL has it
	Stage   string
}

// viewAll is the "All contracts" view: every contract whatever its status, found by the search.
const viewAll = "all"

// filter is the list filter of the view; me is the signed-in user's email (what owner=me names).
func (v dashboardView) filter(me string) models.ContractFilter {
	f := models.ContractFilter{Program: v.Program, Q: v.Q}
	switch v.Status {
	case "":
		f.Within, f.HasWithin = v.Within, true
	case viewAll:
	default:
		f.Status = v.Status
	}
	// readView kept only values that parse.
	_ = models.ParsePipelineFilter(&f, v.Owner, v.Stage, me)
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
	for k, val := range map[string]string{"program": v.Program, "q": v.Q, "owner": v.Owner, "stage": v.Stage} {
		if val != "" {
			q.Set(k, val)
		}
	}
	return q
}

// readView reads the dashboard's filters; anything it does not know falls back to the renewal
// window (ENTITLED_RENEWAL_WINDOW_DAYS, the API's default too) or to no filter.
func readView(q url.Values, windowDays int) dashboardView {
	v := dashboardView{Within: windowDays, Program: q.Get("program"), Q: strings.TrimSpace(q.Get("q"))}
	status, within := q.Get("status"), q.Get("within")
	if view := q.Get("view"); view != "" { // the filter form's one "Show" choice
		status, within = view, view
	}
	switch status {
	case models.StatusGrace, models.StatusLapsed, viewAll:
		v.Status = status
	}
	if n, err := strconv.Atoi(within); err == nil && n >= 0 && n <= models.MaxWithinDays {
		v.Within = n
	}
	if v.Program != models.ProgramStandard && v.Program != models.Program24x7 {
		v.Program = ""
	}
	if len(v.Q) > 200 { // cut at a character, so that a long search stays valid UTF-8
		v.Q = strings.ToValidUTF8(v.Q[:200], "")
	}
	// owner and stage as the API reads them; one that does not parse is dropped.
	owner, stage := strings.ToLower(strings.TrimSpace(q.Get("owner"))), strings.ToLower(strings.TrimSpace(q.Get("stage")))
	if models.ParsePipelineFilter(&models.ContractFilter{}, owner, "", "me@example.invalid") == nil {
		v.Owner = owner
	}
	if models.ParsePipelineFilter(&models.ContractFilter{}, "", stage, "") == nil {
		v.Stage = stage
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

// contractRow is a contract in the dashboard's tables.
type contractRow struct {
	V        models.ContractView
	Status   string
	DaysLeft int
	Notices  string
	Href     string
	Renewal  renewalText
	Selected bool
}

// renewalText is a renewal record in words: the stage it reads as today, its owner, next step and
// value.
type renewalText struct {
	Stage      string // the stage, as EffectiveStage reads it
	StageWord  string
	StageClass string
	Owner      string // email, "" for nobody
	NextStepOn models.Date
	Value      string // "12000.00 EUR", "" for none
}

func (p *Portal) renewalOf(v *models.ContractView, today models.Date) renewalText {
	st := models.EffectiveStage(v.Renewal, &v.Contract, today, p.Contracts.RenewalWindowDays)
	out := renewalText{Stage: st, StageWord: stageWord(st), StageClass: stageClass(st)}
	if r := v.Renewal; r != nil {
		out.Owner, out.NextStepOn = r.OwnerEmail, r.NextStepOn
		if m := r.Value(); m != nil {
			out.Value = m.Amount() + " " + m.Currency
		}
	}
	return out
}

// stageWord is a renewal stage as the pages write it.
func stageWord(stage string) string {
	if stage == "" {
		return ""
	}
	return strings.ToUpper(stage[:1]) + stage[1:]
}

// stageClass is the badge colour of a stage (the word is always shown too).
func stageClass(stage string) string {
	switch stage {
	case models.StageWon:
		return "ok"
	case models.StageLost:
		return "bad"
	case models.StageCommitted, models.StageQuoted:
		return "info"
	case models.StageContacted:
		return "warn"
	}
	return "muted"
}

// row formats a contract for the dashboard's tables; back is where its page returns to.
func (p *Portal) row(v models.ContractView, today models.Date, back string) contractRow {
	st, days := v.Status(today, p.Contracts.RenewalWindowDays)
	var notices []string
	for _, n := range v.Notices {
		if n.OffsetDays < 0 {
			notices = append(notices, "lapse notice")
		} else {
			notices = append(notices, strconv.Itoa(n.OffsetDays)+" d")
		}
	}
	return contractRow{V: v, Status: st, DaysLeft: days, Notices: strings.Join(notices, ", "),
		Href: "/contracts/" + itoa(v.Contract.ID) + "?back=" + url.QueryEscape(back), Renewal: p.renewalOf(&v, today)}
}

// forecastMonths is how many months ahead (and back) the dashboard shows: the API's default.
const forecastMonths = models.DefaultForecastMonths

func (p *Portal) renewals(c *gin.Context) {
	p.renewalsPage(c, c.Request.URL.Query(), http.StatusOK, nil)
}

// renewalsPage shows the dashboard for the query q (the page's own, or the one a refused bulk
// change came from, with extra saying why).
func (p *Portal) renewalsPage(c *gin.Context, q url.Values, status int, extra map[string]any) {
	ctx := c.Request.Context()
	me := p.principal(c).Email
	view := readView(q, p.Contracts.RenewalWindowDays)
	pg, err := store.ParseContractPage(strconv.Itoa(models.PortalPageSize), q.Get("cursor"))
	if err != nil {
		pg, _ = store.ParseContractPage(strconv.Itoa(models.PortalPageSize), "")
	}
	list, err := p.Contracts.List(ctx, view.filter(me), pg)
	if err != nil {
		p.pageError(c, "Renewals", err)
		return
	}
	self := "/renewals?" + view.query().Encode()
	if cur := q.Get("cursor"); cur != "" {
		self += "&cursor=" + url.QueryEscape(cur)
	}
	selected := map[string]bool{}
	if ids, ok := extra["Selected"].([]string); ok {
		for _, id := range ids {
			selected[id] = true
		}
	}
	rows := make([]contractRow, 0, len(list.Items))
	for _, v := range list.Items {
		r := p.row(v, list.Today, self)
		r.Selected = selected[itoa(v.Contract.ID)]
		rows = append(rows, r)
	}
	tiles, err := p.tiles(c, view)
	if err != nil {
		p.pageError(c, "Renewals", err)
		return
	}
	mine, err := p.Contracts.OwnedBy(ctx, me, models.PageDefault)
	if err != nil {
		p.pageError(c, "Renewals", err)
		return
	}
	mineRows := make([]contractRow, 0, len(mine.Items))
	for _, v := range mine.Items {
		mineRows = append(mineRows, p.row(v, mine.Today, self))
	}
	forecast, err := p.Contracts.Forecast(ctx, forecastMonths)
	if err != nil {
		p.pageError(c, "Renewals", err)
		return
	}
	owners, err := p.Contracts.RenewalOwners(ctx)
	if err != nil {
		p.pageError(c, "Renewals", err)
		return
	}
	next := ""
	if list.Next != "" {
		nq := view.query()
		nq.Set("cursor", list.Next)
		next = "/renewals?" + nq.Encode()
	}
	heading := fmt.Sprintf("Expiring within %d days", view.Within)
	switch view.Status {
	case models.StatusGrace:
		heading = "In grace: past their end, support kept on"
	case models.StatusLapsed:
		heading = "Lapsed: support ended, not renewed"
	case viewAll:
		heading = "All contracts, any status"
	}
	stages := models.RenewalStages()
	data := map[string]any{"Title": "Renewals", "Nav": "renewals", "Wide": true,
		"View": view, "Tiles": tiles, "Rows": rows, "Next": next, "Heading": heading, "Windows": models.DashboardWindows(),
		"CSV": "/renewals.csv?" + view.query().Encode(), "Self": self, "AsOf": list.Today,
		"Mine": mineRows, "MineMore": mine.Next != "", "Owners": owners, "Stages": stages, "SettableStages": models.SettableStages(),
		"Charts": forecastCharts(forecast), "History": historyRows(forecast.History), "Bulk": map[string]string{}}
	maps.Copy(data, extra)
	p.render(c, status, "renewals", data)
}

// renewalsBack is where a form of the dashboard returns to: the dashboard with its filters.
func renewalsBack(c *gin.Context) string {
	back := SafeNext(c.PostForm("back"))
	if back != "/renewals" && !strings.HasPrefix(back, "/renewals?") {
		return "/renewals"
	}
	return back
}

// bulkRenewal sets the owner, the stage or the next step of the selected contracts at once
// (Contracts.BulkRenewal, as POST /v1/contracts/bulk): all of them or, when one cannot be
// changed, none, the dashboard saying why with the selection kept.
func (p *Portal) bulkRenewal(c *gin.Context) {
	ids := c.PostFormArray("ids")
	back := renewalsBack(c)
	owner, stage, nextStep := strings.TrimSpace(c.PostForm("owner")), strings.TrimSpace(c.PostForm("stage")), strings.TrimSpace(c.PostForm("next_step_on"))
	var problem string
	status := http.StatusBadRequest
	var patch models.RenewalPatch
	switch {
	case len(ids) == 0:
		problem = "Select at least one contract in the list."
	case owner == "" && stage == "" && nextStep == "":
		problem = "Choose an owner, a stage or a next step to set."
	default:
		body := map[string]json.RawMessage{}
		switch owner {
		case "":
		case models.OwnerNone:
			body["owner"] = json.RawMessage("null")
		case "me":
			body["owner"] = jsonString(p.principal(c).Email)
		default:
			body["owner"] = jsonString(owner)
		}
		if stage != "" {
			body["stage"] = jsonString(stage)
		}
		if nextStep != "" {
			body["next_step_on"] = jsonString(nextStep)
		}
		var err error
		if patch, err = models.ParseRenewalPatch(body, "set.", true); err != nil {
			problem = p.formError(err)
		}
	}
	if problem == "" {
		n, err := p.Contracts.BulkRenewal(c.Request.Context(), ids, patch, p.actor(c))
		if err == nil {
			redirect(c, back, plural(strconv.Itoa(n), "contract")+" updated.")
			return
		}
		if status, _ = p.Problem(err); status >= 500 {
			p.pageError(c, "Renewals", err)
			return
		}
		problem = p.formError(err)
	}
	q, _ := url.ParseQuery(strings.TrimPrefix(strings.TrimPrefix(back, "/renewals"), "?"))
	p.renewalsPage(c, q, status, map[string]any{"BulkError": "Nothing was changed. " + problem, "Selected": ids,
		"Bulk": map[string]string{"owner": owner, "stage": stage, "next_step_on": nextStep}})
}

// formError is an error as a sentence for a form: one sentence per field it names (the bulk
// change's "set." prefix dropped), or its detail.
func (p *Portal) formError(err error) string {
	var e *models.Error
	if errors.As(err, &e) && e.Code == models.CodeValidation && len(e.Fields) > 0 {
		var out []string
		for _, f := range e.Fields {
			name := strings.TrimPrefix(f.Field, "set.")
			if i := strings.IndexAny(name, ".["); i > 0 {
				name = name[:i]
			}
			if s := fieldSentence(name, f.Detail); !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
		return strings.Join(out, " ")
	}
	_, msg := p.errorText(err)
	return msg
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
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

// renewalsCSV is the list's spreadsheet with every filter of the view on screen (window or
// status, program, search, owner, stage), exactly as GET /v1/contracts?format=csv streams it
// (the same writer), for a browser's download link.
func (p *Portal) renewalsCSV(c *gin.Context) {
	if _, err := models.ParseWithinDays(c.Query("within"), p.Contracts.RenewalWindowDays); err != nil {
		p.pageError(c, "Renewals", err)
		return
	}
	view := readView(c.Request.URL.Query(), p.Contracts.RenewalWindowDays)
	p.ContractsCSV(c, view.filter(p.principal(c).Email))
}
