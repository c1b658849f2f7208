package pages

// Help for people who cannot register: the "trouble registering" form, the "I don't know my
// License Number" recovery form, and staff support's queue with resolve and "make admin".

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

func (p *Portal) helpForm(c *gin.Context) {
	data := map[string]any{"Title": "Trouble registering?", "Nav": "help",
		"Form": map[string]string{"license_number": c.Query("license_number"), "account_id": c.Query("account_id")}}
	if pr := p.principal(c); pr.IsUser() {
		data["Form"].(map[string]string)["name"] = pr.Name
		data["Form"].(map[string]string)["email"] = pr.Email
	}
	p.render(c, http.StatusOK, "help", data)
}

func (p *Portal) askHelp(c *gin.Context) {
	form := map[string]string{}
	for _, f := range []string{"name", "email", "company", "license_number", "account_id", "message"} {
		form[f] = strings.TrimSpace(c.PostForm(f))
	}
	r, err := p.Help.Ask(c.Request.Context(), models.HelpInput{Name: form["name"], Email: form["email"], Company: form["company"],
		LicenseNumber: form["license_number"], AccountID: form["account_id"], Message: form["message"]}, p.actor(c))
	if p.formFailed(c, err, "Trouble registering?", p.templatePage("help", map[string]any{"Title": "Trouble registering?", "Nav": "help", "Form": form})) {
		return
	}
	p.message(c, http.StatusAccepted, "We have your request",
		"Thank you. Your request number is "+itoa(r.ID)+". A confirmation is on its way to "+r.Email+", and our staff will write to you there once they have looked into it.",
		false, "/", "Back to the start")
}

func (p *Portal) recoverForm(c *gin.Context) {
	p.render(c, http.StatusOK, "recover", map[string]any{"Title": "I don't know my License Number"})
}

func (p *Portal) recoverAccount(c *gin.Context) {
	email := strings.TrimSpace(c.PostForm("email"))
	err := p.Accounts.Recover(c.Request.Context(), email)
	if p.formFailed(c, err, "I don't know my License Number", p.templatePage("recover", map[string]any{"Title": "I don't know my License Number", "Email": email})) {
		return
	}
	// The same answer whatever the address: it tells no one whose address it is.
	p.message(c, http.StatusAccepted, "Check your inbox",
		"If "+email+" is the contact of an account that bought from us, we have sent it the account's License Numbers and its Account ID.",
		false, "/registration-help", "Still stuck? Ask us for help")
}

// helpQueue is staff support's list of help requests, open ones first.
func (p *Portal) helpQueue(c *gin.Context) {
	status := c.DefaultQuery("status", models.HelpOpen)
	if status == "all" {
		status = ""
	}
	pg, err := cursorPage(c, models.PageDefault)
	if err != nil {
		p.pageError(c, "Help queue", err)
		return
	}
	reqs, next, err := p.Help.Queue(c.Request.Context(), status, pg)
	if err != nil {
		p.pageError(c, "Help queue", err)
		return
	}
	if status == "" {
		status = "all"
	}
	p.render(c, http.StatusOK, "help_queue", map[string]any{"Title": "Registration help queue", "Nav": "helpqueue", "Wide": true,
		"Requests": reqs, "Next": next, "Status": status})
}

func (p *Portal) resolveHelp(c *gin.Context) {
	r, err := p.Help.Resolve(c.Request.Context(), p.principal(c), c.Param("id"), c.PostForm("note"), p.actor(c))
	if err != nil {
		p.pageError(c, "Help queue", err)
		return
	}
	redirect(c, "/staff/help", "Request "+itoa(r.ID)+" from "+r.Email+" is resolved.")
}

// makeAdmin makes a person the administrator of a license (all three roles), naming the help
// request in the audit log; an address with no verified account (none, or one whose address is
// not confirmed yet) gets an invitation. It asks first.
func (p *Portal) makeAdmin(c *gin.Context) {
	id := c.Param("id")
	ln, email := strings.TrimSpace(c.PostForm("license_number")), strings.TrimSpace(c.PostForm("email"))
	if c.PostForm("confirm") != "yes" {
		p.render(c, http.StatusOK, "confirm", map[string]any{"Title": "Please confirm",
			"Question": "Make " + email + " an administrator of license " + ln + "? They get the Administrator, Support User and License User roles, and can then manage who else uses it.",
			"Action":   c.Request.URL.Path, "Fields": map[string]string{"email": email, "license_number": ln},
			"Button": "Yes, make administrator", "Cancel": "/staff/help"})
		return
	}
	res, err := p.Registrations.PutMember(c.Request.Context(), p.principal(c), ln, email,
		[]string{models.MemberAdmin, models.MemberSupport, models.MemberLicense}, id, p.actor(c))
	if err != nil {
		p.pageError(c, "Make administrator", err)
		return
	}
	msg := email + " is now an administrator of " + ln + ". Resolve the request when you have written to them."
	if res.Invited {
		msg = email + " has no verified account yet: an invitation is sent, and they become administrator of " + ln + " only once they confirm the address (signing up first if they have no account)."
	}
	redirect(c, "/staff/help#req-"+url.QueryEscape(id), msg)
}
