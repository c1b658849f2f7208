package pages

// Renewal staff's contract page: the contract with its history, and the actions renew, upgrade,
// grace and terminate, each shown for confirmation before it is done.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

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
	if back = SafeNext(back); !strings.HasPrefix(back, "/renewals") {
		return "/renewals"
	}
	return back
}

func (p *Portal) contract(c *gin.Context) {
	p.contractPage(c, http.StatusOK, nil)
}

func (p *Portal) contractPage(c *gin.Context, status int, extra map[string]any) {
	v, err := p.Contracts.Get(c.Request.Context(), c.Param("id"))
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
	data := map[string]any{"Title": v.Account.Name + " · " + v.Product.Name, "Nav": "renewals", "Wide": true,
		"V": v, "Status": st, "DaysLeft": days, "Back": contractBack(c), "SuggestedEnd": suggested,
		"GraceDefault": minDate(end.AddDays(models.DefaultGraceDays), graceMax), "GraceMax": graceMax, "Form": map[string]string{}, "Action": ""}
	for k, val := range extra {
		data[k] = val
	}
	p.render(c, status, "contract", data)
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
	msg += " The customer's contact has been told. Status: " + strings.ToLower(statusWord(st)) + "."
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
