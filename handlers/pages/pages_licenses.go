package pages

// The customer's pages: register a product, my licenses, one license (support, response targets,
// entitlements, versions), its members and join requests, and its audit trail.

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

func (p *Portal) registerForm(c *gin.Context) {
	p.render(c, http.StatusOK, "register", map[string]any{"Title": "Register a product", "Nav": "register",
		"LicenseNumber": c.Query("license_number")})
}

// register registers by one of License Number, service tag or Account ID (whichever form was
// sent) and explains the outcome: administrator, already a member, or a request that waits.
func (p *Portal) register(c *gin.Context) {
	in := models.RegistrationInput{}
	by := c.PostForm("by")
	switch by {
	case "service_tag":
		in.ServiceTag = strings.TrimSpace(c.PostForm("service_tag"))
	case "account_id":
		in.AccountID = strings.TrimSpace(c.PostForm("account_id"))
	default:
		by = "license_number"
		in.LicenseNumber = strings.TrimSpace(c.PostForm("license_number"))
	}
	data := map[string]any{"Title": "Register a product", "Nav": "register", "By": by,
		"LicenseNumber": in.LicenseNumber, "ServiceTag": in.ServiceTag, "AccountID": in.AccountID}
	res, err := p.Registrations.Register(c.Request.Context(), p.principal(c), in, p.actor(c))
	if err != nil {
		status, msg := p.errorText(err)
		switch store.ErrorCode(err) {
		case models.CodeValidation:
			msg = "Fill in the " + fieldWord(by) + "."
			if f := fieldMessages(err); f[by] != "" && in.LicenseNumber+in.ServiceTag+in.AccountID != "" {
				msg = f[by]
			}
		case models.CodeInvalidLicenseNumber:
			msg = "This is not a valid License Number: its last character does not match the others, so there is probably a typo. Check it against your welcome letter."
		case models.CodeLicenseNotFound:
			msg = "No license has this " + fieldWord(by) + ". Check it against your welcome letter, or ask us for help."
		case models.CodeAccountNotFound:
			msg = "There is no account with this Account ID. Check it against your welcome letter, or ask us for help."
		}
		data["Error"], data["ErrorCode"] = msg, store.ErrorCode(err)
		p.render(c, status, "register", data)
		return
	}
	// Post/Redirect/Get: the answer is a page of its own, so that a reload shows it again rather
	// than sending the registration a second time.
	q := url.Values{"outcome": {res.Outcome}}
	if res.LicenseNumber != "" {
		q.Set("ln", res.LicenseNumber)
	}
	if res.RequestID != 0 {
		q.Set("request", strconv.FormatInt(res.RequestID, 10))
	}
	if in.AccountID != "" {
		q.Set("account", in.AccountID)
	}
	redirect(c, "/register/done?"+q.Encode(), "")
}

// registered is the answer to a registration (after its redirect). A license's outcome is read
// again from the store (the caller's roles on it), so that the page shows what is true now; a
// waiting request only names what was asked, and withdrawing it checks that it is the caller's.
func (p *Portal) registered(c *gin.Context) {
	res := models.RegistrationResult{Outcome: c.Query("outcome"), LicenseNumber: c.Query("ln")}
	res.RequestID, _ = strconv.ParseInt(c.Query("request"), 10, 64)
	out := map[string]any{"Title": "Your request waits for an administrator", "Nav": "register", "AccountID": c.Query("account")}
	switch res.Outcome {
	case models.Registered, models.AlreadyMember:
		d, roles, err := p.Registrations.LicenseFor(c.Request.Context(), p.principal(c), res.LicenseNumber)
		if err != nil {
			p.pageError(c, "Registration", err)
			return
		}
		res.LicenseNumber, res.Roles = d.License.LicenseNumber, roles
		out["Title"] = "You are already a member"
		if res.Outcome == models.Registered {
			out["Title"] = "You are the administrator"
		}
	case models.RegistrationWaits:
		if res.RequestID == 0 {
			redirect(c, "/register", "")
			return
		}
	default:
		redirect(c, "/register", "")
		return
	}
	out["Result"] = &res
	p.render(c, http.StatusOK, "registered", out)
}

// withdraw takes back the caller's pending join request.
func (p *Portal) withdraw(c *gin.Context) {
	if err := p.Registrations.Withdraw(c.Request.Context(), p.principal(c), c.Param("id"), p.actor(c)); err != nil {
		p.pageError(c, "Withdraw the request", err)
		return
	}
	redirect(c, "/licenses", "Your request is withdrawn.")
}

// licenseRow is a license as the list shows it.
type licenseRow struct {
	Detail  models.LicenseDetail
	Roles   []string
	Support models.SupportSummary
}

func (p *Portal) myLicenses(c *gin.Context) {
	pg, err := cursorPage(c, models.PortalPageSize)
	if err != nil {
		pg = models.Page{Limit: models.PortalPageSize}
	}
	mine, next, err := p.Registrations.MyLicenses(c.Request.Context(), p.principal(c), pg)
	if err != nil {
		p.pageError(c, "My licenses", err)
		return
	}
	today := p.Licenses.Today()
	rows := make([]licenseRow, 0, len(mine))
	for i := range mine {
		rows = append(rows, licenseRow{Detail: mine[i].Detail, Roles: mine[i].Roles, Support: mine[i].Detail.Summary(today, p.Licenses.RenewalWindowDays)})
	}
	p.render(c, http.StatusOK, "licenses", map[string]any{"Title": "My licenses", "Nav": "licenses", "Wide": true, "Rows": rows, "Next": next})
}

// targetRow is one severity of the response targets table.
type targetRow struct {
	Severity       string
	Target         string
	AroundTheClock bool
}

// versionRow is one product version with what this member may do with it.
type versionRow struct {
	Version   models.ProductVersion
	Download  models.Entitlement
	Keys      models.Entitlement
	IsDefault bool
}

func findEntitlement(ents []models.Entitlement, name string) models.Entitlement {
	for _, e := range ents {
		if e.Name == name {
			return e
		}
	}
	return models.Entitlement{Name: name}
}

// license shows one license: what it is, its support, response targets, entitlements and the
// product's versions, each with whether it may be downloaded and keyed.
func (p *Portal) license(c *gin.Context) {
	ctx, pr, ln := c.Request.Context(), p.principal(c), c.Param("ln")
	d, roles, err := p.Registrations.LicenseFor(ctx, pr, ln)
	if err != nil {
		p.pageError(c, "License", err)
		return
	}
	ln = d.License.LicenseNumber
	sup, err := p.Licenses.Support(ctx, pr, ln, "")
	if err != nil {
		p.pageError(c, "License", err)
		return
	}
	all, err := p.Licenses.SupportByVersion(ctx, pr, ln)
	if err != nil {
		p.pageError(c, "License", err)
		return
	}
	var versions []versionRow
	for i := len(all) - 1; i >= 0; i-- {
		v := all[i].Version
		versions = append(versions, versionRow{Version: v, Download: findEntitlement(all[i].Entitlements, models.EntitlementDownloadsRead),
			Keys: findEntitlement(all[i].Entitlements, models.EntitlementLicenseKeys), IsDefault: sup.Version != nil && sup.Version.ID == v.ID})
	}
	var targets []targetRow
	for _, s := range models.Severities() {
		if t, ok := sup.Targets.BySeverity[s]; ok {
			targets = append(targets, targetRow{Severity: s, Target: t, AroundTheClock: hasRole(sup.Targets.AroundTheClock, s)})
		}
	}
	trial := d.Contract != nil && d.Contract.Trial
	if !models.IsCurrent(sup.Summary.Status) {
		targets = nil // response targets come with current support only
	}
	p.render(c, http.StatusOK, "license", map[string]any{
		"Title": d.Product.Name, "Nav": "licenses", "Wide": true, "Tab": "overview",
		"D": d, "Roles": roles, "Support": sup, "S": sup.Summary, "Trial": trial,
		"Targets": targets, "Versions": versions, "IsAdmin": models.MayActAs(pr, roles, models.MemberAdmin),
		"IsMember": len(roles) > 0, "CanKeys": models.MayManageKeys(pr, roles),
		"EntLinks": map[string]string{models.EntitlementDownloadsRead: p.DownloadsURL, models.EntitlementSupportCases: p.CasesURL},
	})
}

// members shows an admin the members, the pending join requests and the form to add someone.
func (p *Portal) members(c *gin.Context) {
	p.membersPage(c, http.StatusOK, nil)
}

func (p *Portal) membersPage(c *gin.Context, status int, extra map[string]any) {
	ctx, pr, ln := c.Request.Context(), p.principal(c), c.Param("ln")
	// The admin-only call first: who may not manage members learns nothing more of the license.
	members, err := p.Registrations.Members(ctx, pr, ln)
	if err != nil {
		p.pageError(c, "Members", err)
		return
	}
	d, roles, err := p.Registrations.LicenseFor(ctx, pr, ln)
	if err != nil {
		p.pageError(c, "Members", err)
		return
	}
	ln = d.License.LicenseNumber
	reqs, err := p.Registrations.Requests(ctx, pr, ln)
	if err != nil {
		p.pageError(c, "Members", err)
		return
	}
	invs, err := p.Registrations.Invitations(ctx, pr, ln)
	if err != nil {
		p.pageError(c, "Members", err)
		return
	}
	data := map[string]any{"Title": d.Product.Name, "Nav": "licenses", "Wide": true, "Tab": "members", "D": d, "Roles": roles,
		"IsAdmin": true, "CanKeys": true, "Members": members, "Requests": reqs, "Invitations": invs, "AllRoles": models.MemberRoles(), "Me": pr}
	maps.Copy(data, extra)
	p.render(c, status, "members", data)
}

// putMember grants roles to a member, or invites an address that has no verified account yet.
func (p *Portal) putMember(c *gin.Context) {
	ln, email := c.Param("ln"), strings.TrimSpace(c.PostForm("email"))
	roles := c.PostFormArray("roles")
	res, err := p.Registrations.PutMember(c.Request.Context(), p.principal(c), ln, email, roles, "", p.actor(c))
	if err != nil {
		if store.ErrorCode(err) == models.CodeValidation || store.ErrorCode(err) == models.CodeLastAdmin {
			status, msg := p.errorText(err)
			if f := fieldMessages(err); f != nil {
				msg = strings.Join(sortedValues(f), " ")
				if f["roles"] != "" {
					msg = "Choose at least one role."
				}
			}
			p.membersPage(c, status, map[string]any{"FormError": msg, "FormEmail": email, "FormRoles": roles, "FormFor": c.PostForm("form")})
			return
		}
		p.pageError(c, "Members", err)
		return
	}
	msg := ""
	if res.Member != nil {
		msg = "Saved: " + res.Member.Email + " is now " + roleWords(res.Member.Roles) + "."
	}
	if res.Invited {
		msg = "Invitation sent to " + email + ". The roles take effect once they confirm that address (signing up first if they have no account)."
	}
	redirect(c, "/licenses/"+url.PathEscape(ln)+"/members", msg)
}

// removeMember asks for confirmation, then takes every role of a member away.
func (p *Portal) removeMember(c *gin.Context) {
	ln, email := c.Param("ln"), strings.TrimSpace(c.PostForm("email"))
	self := strings.EqualFold(email, p.principal(c).Email)
	if c.PostForm("confirm") != "yes" {
		// Ask only someone who may do it: an admin (or staff support), or the member themself.
		var err error
		var members []models.MemberView
		if self {
			_, _, err = p.Registrations.LicenseFor(c.Request.Context(), p.principal(c), ln)
			if err == nil {
				members, _ = p.Registrations.Members(c.Request.Context(), p.principal(c), ln) // only an admin sees them
			}
		} else {
			members, err = p.Registrations.Members(c.Request.Context(), p.principal(c), ln)
		}
		if err != nil {
			p.pageError(c, "Remove a member", err)
			return
		}
		// Removing the only admin is refused: say so now rather than after "Yes, remove".
		if models.OnlyAdmin(members, email) {
			who := email + " is"
			if self {
				who = "You are"
			}
			p.render(c, http.StatusConflict, "message", map[string]any{"Title": "Not possible yet", "Error": true,
				"Message": who + " the only administrator of license " + ln + ", and a license always keeps one: make someone else an administrator first.",
				"Next":    "/licenses/" + url.PathEscape(ln) + "/members", "NextLabel": "Back to the members"})
			return
		}
		what := "Remove " + email + " from license " + ln + "? They lose every role on it at once."
		if self {
			what = "Leave license " + ln + "? You lose every role on it at once."
		}
		p.render(c, http.StatusOK, "confirm", map[string]any{"Title": "Please confirm", "Question": what,
			"Action": c.Request.URL.Path, "Fields": map[string]string{"email": email}, "Button": "Yes, remove", "Danger": true,
			"Cancel": "/licenses/" + url.PathEscape(ln) + "/members"})
		return
	}
	if err := p.Registrations.RemoveMember(c.Request.Context(), p.principal(c), ln, email, p.actor(c)); err != nil {
		p.pageError(c, "Remove a member", err)
		return
	}
	if self {
		redirect(c, "/licenses", "You have left license "+ln+".")
		return
	}
	redirect(c, "/licenses/"+url.PathEscape(ln)+"/members", email+" is no longer a member.")
}

// decide approves (with the roles ticked) or rejects a join request.
func (p *Portal) decide(approve bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		ln := c.Param("ln")
		roles := c.PostFormArray("roles")
		r, err := p.Registrations.Decide(c.Request.Context(), p.principal(c), ln, c.Param("id"), approve, roles, p.actor(c))
		if store.ErrorCode(err) == models.CodeValidation {
			p.membersPage(c, http.StatusBadRequest, map[string]any{"RequestError": "Choose at least one role to grant.", "RequestErrorID": c.Param("id")})
			return
		}
		if err != nil {
			p.pageError(c, "Join requests", err)
			return
		}
		msg := "Approved: " + r.Email + " is now a member with " + roleWords(roles) + "."
		if !approve {
			msg = "Rejected the request of " + r.Email + "."
		}
		redirect(c, "/licenses/"+url.PathEscape(ln)+"/members#requests", msg)
	}
}

// auditRow is an audit entry with its details as name/value pairs.
type auditRow struct {
	Entry   models.AuditEntry
	Details []detailPair
}

type detailPair struct{ Name, Value string }

// auditRows are the rows of an audit trail's entries.
func auditRows(entries []models.AuditEntry) []auditRow {
	rows := make([]auditRow, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, auditRow{Entry: e, Details: auditDetails(e.Details)})
	}
	return rows
}

func auditDetails(raw string) []detailPair {
	var m map[string]any
	if json.Unmarshal([]byte(raw), &m) != nil {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]detailPair, 0, len(keys))
	for _, k := range keys {
		var v string
		switch x := m[k].(type) {
		case []any:
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = fmt.Sprint(e)
			}
			v = strings.Join(parts, ", ")
		case nil:
			v = "—"
		case map[string]any:
			b, _ := json.Marshal(x)
			v = string(b)
		default:
			v = fmt.Sprint(x)
		}
		out = append(out, detailPair{Name: strings.ReplaceAll(k, "_", " "), Value: v})
	}
	return out
}

// audit shows an admin the license's audit trail, newest first.
func (p *Portal) audit(c *gin.Context) {
	ctx, pr, ln := c.Request.Context(), p.principal(c), c.Param("ln")
	pg, err := cursorPage(c, models.PageDefault)
	if err != nil {
		p.pageError(c, "Audit trail", err)
		return
	}
	// The admin-only call first, as for the members page.
	entries, next, err := p.Registrations.LicenseAudit(ctx, pr, ln, pg)
	if err != nil {
		p.pageError(c, "Audit trail", err)
		return
	}
	d, roles, err := p.Registrations.LicenseFor(ctx, pr, ln)
	if err != nil {
		p.pageError(c, "Audit trail", err)
		return
	}
	rows := auditRows(entries)
	p.render(c, http.StatusOK, "audit", map[string]any{"Title": d.Product.Name, "Nav": "licenses", "Wide": true, "Tab": "audit",
		"D": d, "Roles": roles, "IsAdmin": true, "CanKeys": true, "Rows": rows, "Next": next})
}

func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// requestsLink is where the join-request letter points: the members page, at its requests.
func (p *Portal) requestsLink(c *gin.Context) {
	c.Redirect(http.StatusSeeOther, "/licenses/"+url.PathEscape(c.Param("ln"))+"/members#requests")
}

// cancelInvitation withdraws a pending invitation: its link stops working.
func (p *Portal) cancelInvitation(c *gin.Context) {
	ln, email := c.Param("ln"), strings.TrimSpace(c.PostForm("email"))
	if err := p.Registrations.CancelInvitation(c.Request.Context(), p.principal(c), ln, email, p.actor(c)); err != nil {
		p.pageError(c, "Cancel an invitation", err)
		return
	}
	redirect(c, "/licenses/"+url.PathEscape(ln)+"/members", "The invitation to "+email+" is cancelled: its link no longer works.")
}
