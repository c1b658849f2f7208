package pages

// Renewal staff's account page: an account, its primary contact, and every license with its
// contract (Contracts.Account, as GET /v1/accounts/{id}); and co-terming, which aligns the
// account's contracts on one end date (Contracts.Coterm, as POST /v1/accounts/{id}/coterm), shown
// for confirmation before it is done.

import (
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

// accountLicenseRow is one license of the account page, with its contract (Row nil without one).
type accountLicenseRow struct {
	L   models.AccountLicense
	Row *contractRow
}

func accountPath(id string) string { return "/staff/accounts/" + url.PathEscape(id) }

func (p *Portal) staffAccount(c *gin.Context) {
	p.staffAccountPage(c, http.StatusOK, nil)
}

func (p *Portal) staffAccountPage(c *gin.Context, status int, extra map[string]any) {
	v, err := p.Contracts.Account(c.Request.Context(), c.Param("account_id"))
	if err != nil {
		p.pageError(c, "Account", err)
		return
	}
	today := p.Contracts.Today()
	self := accountPath(v.Account.AccountID)
	rows := make([]accountLicenseRow, 0, len(v.Licenses))
	for _, l := range v.Licenses {
		r := accountLicenseRow{L: l}
		if l.Contract != nil {
			row := p.row(*l.Contract, today, self)
			r.Row = &row
		}
		rows = append(rows, r)
	}
	data := map[string]any{"Title": v.Account.Name, "Nav": "renewals", "Wide": true, "A": v, "Rows": rows, "Self": self,
		"CotermDefault": today.AddDays(models.DefaultRenewalTermDays), "Form": map[string]string{}}
	maps.Copy(data, extra)
	p.render(c, status, "staff_account", data)
}

// cotermAccount asks to confirm a co-term, then does it and shows the account again, saying which
// contracts it extended.
func (p *Portal) cotermAccount(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("account_id")
	endsOn := strings.TrimSpace(c.PostForm("ends_on"))
	if c.PostForm("confirm") != "yes" {
		v, err := p.Contracts.Account(ctx, id)
		if err != nil {
			p.pageError(c, "Account", err)
			return
		}
		summary := []detailPair{
			{"Account", v.Account.Name + " (" + v.Account.AccountID + ")"},
			{"Primary contact", v.Account.ContactName + " <" + v.Account.ContactEmail + ">"},
			{"Common end date", endsOn},
		}
		for _, l := range v.Licenses {
			if l.Contract == nil {
				continue
			}
			st, _ := l.Contract.Status(p.Contracts.Today(), p.Contracts.RenewalWindowDays)
			summary = append(summary, detailPair{l.License.LicenseNumber + " · " + l.Product.Name,
				"ends on " + dateText(l.Contract.Contract.EndsOn) + " (" + strings.ToLower(statusBadges.word(st)) + ")"})
		}
		p.render(c, http.StatusOK, "confirm", map[string]any{"Title": "Please confirm", "Nav": "renewals",
			"Question": "Align this account's support contracts to end on " + endsOn + "?",
			"Summary":  summary, "Action": c.Request.URL.Path, "Fields": map[string]string{"ends_on": endsOn},
			"Button": "Yes, co-term", "Cancel": accountPath(id)})
		return
	}
	views, err := p.Contracts.Coterm(ctx, id, endsOn, p.actor(c))
	if err != nil {
		status, _ := p.errorText(err)
		if status >= 500 || store.ErrorCode(err) == models.CodeNotFound {
			p.pageError(c, "Account", err)
			return
		}
		p.staffAccountPage(c, status, map[string]any{"CotermError": p.formError(err), "Form": map[string]string{"ends_on": endsOn}})
		return
	}
	if len(views) == 0 {
		redirect(c, accountPath(id), "Nothing to align: no current contract of this account ends before "+endsOn+".")
		return
	}
	var lns []string
	for _, v := range views {
		lns = append(lns, v.License.LicenseNumber)
	}
	redirect(c, accountPath(id), "Co-termed to "+endsOn+": "+plural(itoa(int64(len(views))), "contract")+" extended ("+strings.Join(lns, ", ")+
		"). The primary contact has been sent a confirmation.")
}
