package pages

// Renewal staff's contract page: the contract with its history, its renewal record (owner, stage,
// next step, value) with the records of past terms, the notes timeline, and the actions renew,
// upgrade, grace and terminate, each shown for confirmation before it is done. The renewal record
// and a note are changed at once (Contracts.PatchRenewal, Contracts.AddNote, as the API), and the
// page is shown again (POST, redirect, GET).

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

// contractBack is where the contract page's "back" link and its actions return to: the
// dashboard with the filters it was opened from.
func contractBack(c *gin.Context) string {
	back := c.Query("back")
	if back == "" {
		back = c.PostForm("back")
	}
	if back = SafeNext(back); !strings.HasPrefix(back, "/renewals") && !strings.HasPrefix(back, "/staff/accounts/") {
		return "/renewals"
	}
	return back
}

func (p *Portal) contract(c *gin.Context) {
	p.contractPage(c, http.StatusOK, nil)
}

func (p *Portal) contractPage(c *gin.Context, status int, extra map[string]any) {
	ctx := c.Request.Context()
	v, err := p.Contracts.Detail(ctx, c.Param("id"))
	if err != nil {
		p.pageError(c, "Contract", err)
		return
	}
	records, err := p.Contracts.RenewalHistory(ctx, c.Param("id"))
	if err != nil {
		p.pageError(c, "Contract", err)
		return
	}
	owners, err := p.Contracts.RenewalOwners(ctx)
	if err != nil {
		p.pageError(c, "Contract", err)
		return
	}
	today := p.Contracts.Today()
	st, days := v.Status(today, p.Contracts.RenewalWindowDays)
	end := v.Contract.EndsOn
	suggested := end.AddDays(models.DefaultRenewalTermDays)
	if end.IsZero() {
		suggested = today.AddDays(models.DefaultRenewalTermDays)
	}
	graceMax := end.AddDays(models.MaxGraceDays)
	renewal := p.renewalOf(v, today)
	// The renewal form starts from the record as it is.
	form := map[string]string{"owner": renewal.Owner, "stage": renewal.Stage, "next_step_on": "", "value_amount": "", "value_currency": ""}
	if !renewal.NextStepOn.IsZero() {
		form["next_step_on"] = renewal.NextStepOn.String()
	}
	if m := v.Renewal.Value(); m != nil {
		form["value_amount"], form["value_currency"] = m.Amount(), m.Currency
	}
	if _, ok := extra["Form"]; ok {
		maps.Copy(form, extra["Form"].(map[string]string))
	}
	// A past owner may have lost the role: keep them a choice, so that the form shows them.
	if renewal.Owner != "" && !slices.Contains(owners, renewal.Owner) {
		owners = append(owners, renewal.Owner)
	}
	data := map[string]any{"Title": v.Account.Name + " · " + v.Product.Name, "Nav": "renewals", "Wide": true,
		"V": v, "Status": st, "DaysLeft": days, "Back": contractBack(c), "SuggestedEnd": suggested,
		"GraceDefault": minDate(end.AddDays(models.DefaultGraceDays), graceMax), "GraceMax": graceMax, "Action": "",
		"Renewal": renewal, "Records": p.recordRows(v, records, today), "Owners": owners, "SettableStages": models.SettableStages(),
		"ETag": models.ContractETag(v, today), "Notes": notesNewestFirst(v.Notes)}
	maps.Copy(data, extra)
	data["Form"] = form
	p.render(c, status, "contract", data)
}

// recordRow is one term's renewal record on the contract page.
type recordRow struct {
	TermEndsOn models.Date
	Current    bool
	Renewal    renewalText
	RenewedOn  models.Date
	UpdatedAt  time.Time
}

// recordRows formats a contract's renewal records (RenewalHistory's order: the open one first).
func (p *Portal) recordRows(v *models.ContractView, recs []models.RenewalRecord, today models.Date) []recordRow {
	out := make([]recordRow, 0, len(recs))
	for i := range recs {
		r := &recs[i]
		one := *v
		one.Renewal = r
		out = append(out, recordRow{TermEndsOn: r.TermEndsOn, Current: r.ClosedAt == nil, Renewal: p.renewalOf(&one, today),
			RenewedOn: r.RenewedOn, UpdatedAt: r.UpdatedAt})
	}
	return out
}

// notesNewestFirst is the notes timeline, the latest on top.
func notesNewestFirst(notes []models.ContractNote) []models.ContractNote {
	out := slices.Clone(notes)
	slices.Reverse(out)
	return out
}

// contractURL is the contract page that a form on it returns to, keeping its way back.
func contractURL(c *gin.Context, id string) string {
	return "/contracts/" + url.PathEscape(id) + "?back=" + url.QueryEscape(contractBack(c))
}

// editRenewal saves the renewal form: only what it changes is sent (a stage left as it reads
// keeps the day it was chosen), with the ETag the page was shown with, so that a change made
// meanwhile by someone else is not overwritten.
func (p *Portal) editRenewal(c *gin.Context, id string) {
	ctx := c.Request.Context()
	form := map[string]string{}
	for _, f := range []string{"owner", "stage", "next_step_on", "value_amount", "value_currency"} {
		form[f] = strings.TrimSpace(c.PostForm(f))
	}
	form["value_currency"] = strings.ToUpper(form["value_currency"])
	if a := form["value_amount"]; a != "" && strings.Trim(a, "0123456789") == "" {
		form["value_amount"] = a + ".00" // "12000" means 12000.00
	}
	v, err := p.Contracts.Detail(ctx, id)
	if err != nil {
		p.pageError(c, "Contract", err)
		return
	}
	today := p.Contracts.Today()
	cur := p.renewalOf(v, today)
	body := map[string]json.RawMessage{}
	if form["owner"] != cur.Owner {
		body["owner"] = json.RawMessage("null")
		if form["owner"] != "" {
			body["owner"] = jsonString(form["owner"])
		}
	}
	if form["stage"] != "" && form["stage"] != cur.Stage {
		body["stage"] = jsonString(form["stage"])
	}
	if curNext := dateOrEmpty(cur.NextStepOn); form["next_step_on"] != curNext {
		body["next_step_on"] = json.RawMessage("null")
		if form["next_step_on"] != "" {
			body["next_step_on"] = jsonString(form["next_step_on"])
		}
	}
	curValue := ""
	if m := v.Renewal.Value(); m != nil {
		curValue = m.Amount() + " " + m.Currency
	}
	if newValue := strings.TrimSpace(form["value_amount"] + " " + form["value_currency"]); newValue != curValue {
		body["value"] = json.RawMessage("null")
		if newValue != "" {
			b, _ := json.Marshal(models.MoneyInput{Amount: form["value_amount"], Currency: form["value_currency"]})
			body["value"] = b
		}
	}
	if len(body) == 0 {
		redirect(c, contractURL(c, id), "Nothing to save: the renewal record is as the form says.")
		return
	}
	patch, err := models.ParseRenewalPatch(body, "", false)
	if err == nil {
		_, err = p.Contracts.PatchRenewal(ctx, id, patch, c.PostForm("etag"), p.actor(c))
	}
	if err != nil {
		status, _ := p.errorText(err)
		if status >= 500 || store.ErrorCode(err) == models.CodeNotFound {
			p.pageError(c, "Contract", err)
			return
		}
		msg := p.formError(err)
		if store.ErrorCode(err) == models.CodePreconditionFailed {
			msg = "Someone changed this contract after you opened the page, so nothing was saved. The page now shows it as it is: make your change again."
			form = map[string]string{}
		}
		p.contractPage(c, status, map[string]any{"Action": "renewal", "ActionError": msg, "Form": form})
		return
	}
	redirect(c, contractURL(c, id), "Renewal record saved.")
}

func dateOrEmpty(d models.Date) string {
	if d.IsZero() {
		return ""
	}
	return d.String()
}

// addNote adds a note to the contract's timeline.
func (p *Portal) addNote(c *gin.Context, id string) {
	text := c.PostForm("text")
	if _, err := p.Contracts.AddNote(c.Request.Context(), id, text, p.actor(c)); err != nil {
		status, _ := p.errorText(err)
		if status >= 500 || store.ErrorCode(err) == models.CodeNotFound {
			p.pageError(c, "Contract", err)
			return
		}
		p.contractPage(c, status, map[string]any{"Action": "note", "ActionError": p.formError(err), "NoteText": text})
		return
	}
	redirect(c, contractURL(c, id)+"#notes", "Note added.")
}

func minDate(a, b models.Date) models.Date {
	if b.Before(a) {
		return b
	}
	return a
}

// contractAction shows what an action will do and asks to confirm it; the confirmed form does it
// and goes back to the dashboard, where a renewed contract has left the list.
func (p *Portal) contractAction(c *gin.Context) {
	id, action := c.Param("id"), c.Param("action")
	switch action {
	case "renewal":
		p.editRenewal(c, id)
		return
	case "note":
		p.addNote(c, id)
		return
	}
	form := map[string]string{}
	for _, f := range []string{"ends_on", "program", "premier", "until", "reason"} {
		form[f] = strings.TrimSpace(c.PostForm(f))
	}
	var verb, question string
	switch action {
	case "renew":
		verb, question = "Yes, renew", "Renew this contract until "+form["ends_on"]+"?"
	case "upgrade":
		verb, question = "Yes, change it", "Change this contract's support from today?"
	case "grace":
		verb, question = "Yes, grant grace", "Keep support on until "+form["until"]+" while the renewal is agreed?"
	case "terminate":
		verb, question = "Yes, terminate", "End this contract today? Support stops at once for every member of the license."
	default:
		p.message(c, http.StatusNotFound, "Not found", "There is no such action.", true, "", "")
		return
	}
	ctx := c.Request.Context()
	if c.PostForm("confirm") != "yes" {
		v, err := p.Contracts.Get(ctx, id)
		if err != nil {
			p.pageError(c, "Contract", err)
			return
		}
		// A grace the service would refuse is refused here, before anything is confirmed.
		if action == "grace" {
			if problem := graceProblem(v, form["until"]); problem != "" {
				p.message(c, http.StatusUnprocessableEntity, "Grace cannot be granted", problem, true,
					"/contracts/"+url.PathEscape(id)+"?back="+url.QueryEscape(contractBack(c)), "Back to the contract")
				return
			}
		}
		fields := map[string]string{"back": contractBack(c)}
		for k, val := range form {
			if val != "" {
				fields[k] = val
			}
		}
		p.render(c, http.StatusOK, "confirm", map[string]any{"Title": "Please confirm", "Nav": "renewals",
			"Question": question, "Summary": actionSummary(v, action, form), "Action": c.Request.URL.Path,
			"Fields": fields, "Button": verb, "Danger": action == "terminate", "Cancel": "/contracts/" + url.PathEscape(id) + "?back=" + url.QueryEscape(contractBack(c))})
		return
	}
	var v *models.ContractView
	var err error
	a := p.actor(c)
	switch action {
	case "renew":
		v, err = p.Contracts.Renew(ctx, id, models.RenewalInput{EndsOn: form["ends_on"], Program: form["program"], Premier: premierChoice(form["premier"])}, a)
	case "upgrade":
		v, err = p.Contracts.Upgrade(ctx, id, models.UpgradeInput{Program: form["program"], Premier: premierChoice(form["premier"])}, a)
	case "grace":
		v, err = p.Contracts.Grace(ctx, id, form["until"], form["reason"], a)
	case "terminate":
		v, err = p.Contracts.Terminate(ctx, id, form["reason"], a)
	}
	if err != nil {
		status, msg := p.errorText(err)
		if f := fieldMessages(err); f != nil {
			msg = strings.Join(sortedValues(f), " ")
		}
		if status >= 500 || store.ErrorCode(err) == models.CodeNotFound {
			p.pageError(c, "Contract", err)
			return
		}
		p.contractPage(c, status, map[string]any{"Action": action, "ActionError": msg, "Form": form})
		return
	}
	st, _ := v.Status(p.Contracts.Today(), p.Contracts.RenewalWindowDays)
	var msg string
	switch action {
	case "renew":
		msg = "Renewed: " + v.Account.Name + ", " + v.Product.Name + ": support now ends on " + v.Contract.EndsOn.String() + "."
	case "upgrade":
		msg = "Changed: " + v.Account.Name + ", " + v.Product.Name + ": support is now " + programWord(v.Contract.Program, v.Contract.Premier) + "."
	case "grace":
		msg = "Grace granted: " + v.Account.Name + ", " + v.Product.Name + ": support goes on until " + v.Contract.GraceUntil.String() + "."
	case "terminate":
		msg = "Terminated: " + v.Account.Name + ", " + v.Product.Name + ": support ended today."
	}
	msg += " The customer's contact has been told. Status: " + strings.ToLower(statusBadges.word(st)) + "."
	redirect(c, contractBack(c), msg)
}

// premierChoice reads the premier select: "yes", "no", or "" to keep it as it is.
func premierChoice(s string) *bool {
	switch s {
	case "yes", "true", "on":
		t := true
		return &t
	case "no", "false":
		f := false
		return &f
	}
	return nil
}

// actionSummary lists what an action changes, before and after, for the confirmation page.
func actionSummary(v *models.ContractView, action string, form map[string]string) []detailPair {
	c := v.Contract
	out := []detailPair{
		{"Account", v.Account.Name + " (" + v.Account.AccountID + ")"},
		{"License", v.License.LicenseNumber + " · " + v.Product.Name},
		{"Contact", v.Account.ContactName + " <" + v.Account.ContactEmail + ">"},
	}
	program := func() string {
		p, prem := c.Program, c.Premier
		if form["program"] != "" {
			p = form["program"]
		}
		if b := premierChoice(form["premier"]); b != nil {
			prem = *b
		}
		before, after := programWord(c.Program, c.Premier), programWord(p, prem)
		if before == after {
			return after + " (unchanged)"
		}
		return before + " → " + after
	}
	switch action {
	case "renew":
		out = append(out, detailPair{"Ends on", c.EndsOn.String() + " → " + form["ends_on"]},
			detailPair{"New term", c.EndsOn.AddDays(1).String() + " to " + form["ends_on"]},
			detailPair{"Program", program()})
	case "upgrade":
		out = append(out, detailPair{"Program", program()})
	case "grace":
		out = append(out, detailPair{"Ends on", c.EndsOn.String()}, detailPair{"Support continues until", form["until"]},
			detailPair{"Reason", form["reason"]})
	case "terminate":
		out = append(out, detailPair{"Ends on", c.EndsOn.String() + " → today"}, detailPair{"Reason", form["reason"]})
	}
	return out
}

// graceProblem is why grace until the date in until cannot be granted on the contract, in words,
// or "" when it can (the service checks again when it is confirmed).
func graceProblem(v *models.ContractView, until string) string {
	var val models.Validation
	day := models.CheckDate(&val, "until", until, true)
	end := v.Contract.EndsOn
	switch {
	case val.Err() != nil:
		return "Choose the last day of grace as a date (YYYY-MM-DD)."
	case !v.Contract.TerminatedOn.IsZero() || end.IsZero():
		return "" // the service says why: terminated, or no end yet
	}
	switch models.GraceRefusal(end, day) {
	case models.FieldInvalid:
		return "Grace keeps support on after the contract ends on " + end.String() + ": choose a day after it."
	case models.CodeGraceTooLong:
		return fmt.Sprintf("Grace can keep support on for at most %d days after the contract ends on %s: choose a day on or before %s.",
			models.MaxGraceDays, end, end.AddDays(models.MaxGraceDays))
	}
	return ""
}
