package pages

// Signing in and out: home, sign up, verify, log in, log out, forgot and reset password,
// invitations, and the account page.

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

// home sends a signed-in person to their main page, and shows everyone else what the site is for.
func (p *Portal) home(c *gin.Context) {
	pr := p.principal(c)
	switch {
	case pr.HasStaffRole(models.RoleRenewals):
		c.Redirect(http.StatusSeeOther, "/renewals")
	case pr.HasStaffRole(models.RoleSupport) && !pr.HasStaffRole(models.RoleSuperadmin):
		c.Redirect(http.StatusSeeOther, "/staff/help")
	case pr.IsUser():
		c.Redirect(http.StatusSeeOther, "/licenses")
	default:
		p.render(c, http.StatusOK, "home", map[string]any{"Title": "Your licenses and support, in one place"})
	}
}

func (p *Portal) signupForm(c *gin.Context) {
	if p.principal(c).IsUser() {
		c.Redirect(http.StatusSeeOther, "/")
		return
	}
	p.render(c, http.StatusOK, "signup", map[string]any{"Title": "Create your account", "Email": c.Query("email")})
}

func (p *Portal) signup(c *gin.Context) {
	name, email := strings.TrimSpace(c.PostForm("name")), strings.TrimSpace(c.PostForm("email"))
	data := map[string]any{"Title": "Create your account", "Name": name, "Email": email}
	pw := c.PostForm("password")
	if pw != c.PostForm("password_confirm") {
		data["Fields"] = map[string]string{"password_confirm": "The two passwords differ."}
		p.render(c, http.StatusBadRequest, "signup", data)
		return
	}
	err := p.Identity.Signup(c.Request.Context(), models.SignupInput{Email: email, Password: pw, Name: name})
	if p.formFailed(c, err, "Create your account", p.templatePage("signup", data)) {
		return
	}
	// The same answer whether or not the address had an account already (no enumeration); a
	// redirect, so that reloading the page sends no second letter.
	redirect(c, "/signup/check-mail", "We have sent a letter to "+models.NormaliseEmail(email)+".")
}

// checkMail is where a sign-up lands: what to do with the letter (the flash names the address).
func (p *Portal) checkMail(c *gin.Context) {
	p.render(c, http.StatusOK, "check_mail", map[string]any{"Title": "Check your inbox"})
}

// verifyForm is where the verification letter's link lands. It only shows a button: a mail
// scanner fetching the link must not verify anything.
func (p *Portal) verifyForm(c *gin.Context) {
	p.render(c, http.StatusOK, "verify", map[string]any{"Title": "Confirm your email address", "Token": c.Query("token")})
}

// verify needs no CSRF token: the letter's single-use token is the secret, and a forged POST
// could only confirm an address of the forger's own.
func (p *Portal) verify(c *gin.Context) {
	_, err := p.Identity.Verify(c.Request.Context(), c.PostForm("token"), models.Actor{IP: c.ClientIP(), RequestID: p.requestID(c)})
	if p.linkFailed(c, "verify", err) {
		return
	}
	// Confirming ends every session of the account (whoever signed up first with this address
	// gains nothing), this browser's included: the next step is always to log in.
	p.message(c, http.StatusOK, "Email address confirmed", "Thank you: your email address is confirmed. Log in with the password you chose when you signed up, then register the products you bought.",
		false, "/login?next=%2Fregister", "Log in and register a product")
}

func (p *Portal) loginForm(c *gin.Context) {
	if p.principal(c).IsUser() {
		c.Redirect(http.StatusSeeOther, SafeNext(c.Query("next")))
		return
	}
	p.render(c, http.StatusOK, "login", map[string]any{"Title": "Log in", "Next": SafeNext(c.Query("next")), "Email": c.Query("email")})
}

// login opens a session with Identity.Login, the API's own, and keeps its token in the session
// cookie: the cookie and a bearer token are the same session.
func (p *Portal) login(c *gin.Context) {
	email, next := strings.TrimSpace(c.PostForm("email")), SafeNext(c.PostForm("next"))
	res, err := p.Identity.Login(c.Request.Context(), email, c.PostForm("password"), c.ClientIP(), c.GetHeader("User-Agent"))
	if err != nil {
		status, msg := p.errorText(err)
		if store.ErrorCode(err) == models.CodeValidation {
			msg = "Enter your email address and password."
		}
		var e *models.Error
		if errors.As(err, &e) && e.RetryAfter > 0 {
			c.Header("Retry-After", itoa(int64(e.RetryAfter.Seconds()+0.999)))
		}
		p.render(c, status, "login", map[string]any{"Title": "Log in", "Next": next, "Email": email, "Error": msg})
		return
	}
	if res.MFA != nil { // a second factor: the code's page (pages_security.go)
		p.loginMFAPage(c, http.StatusOK, res.MFA.Token, next, "", res.MFA.Methods)
		return
	}
	setCookie(c, sessionCookie, res.Token, int(res.ExpiresIn.Seconds()))
	redirect(c, next, "")
}

func (p *Portal) logout(c *gin.Context) {
	if err := p.Identity.Logout(c.Request.Context(), p.principal(c)); err != nil {
		p.pageError(c, "Log out", err)
		return
	}
	setCookie(c, sessionCookie, "", -1)
	redirect(c, "/login", "You are logged out.")
}

func (p *Portal) forgotForm(c *gin.Context) {
	p.render(c, http.StatusOK, "forgot", map[string]any{"Title": "Forgot your password?", "Email": c.Query("email")})
}

func (p *Portal) forgot(c *gin.Context) {
	email := strings.TrimSpace(c.PostForm("email"))
	err := p.Identity.ForgotPassword(c.Request.Context(), email)
	if p.formFailed(c, err, "Forgot your password?", p.templatePage("forgot", map[string]any{"Title": "Forgot your password?", "Email": email})) {
		return
	}
	p.message(c, http.StatusOK, "Check your inbox",
		"If an account uses "+email+", we have sent it a link to choose a new password. The link works for one hour.", false, "/login", "Back to log in")
}

func (p *Portal) resetForm(c *gin.Context) {
	p.render(c, http.StatusOK, "reset_password", map[string]any{"Title": "Choose a new password", "Token": c.Query("token")})
}

// reset needs no CSRF token, for the same reason as verify.
func (p *Portal) reset(c *gin.Context) {
	token, pw := c.PostForm("token"), c.PostForm("password")
	if pw != c.PostForm("password_confirm") {
		p.render(c, http.StatusBadRequest, "reset_password", map[string]any{"Title": "Choose a new password", "Token": token, "Error": "The two passwords differ."})
		return
	}
	_, err := p.Identity.ResetPassword(c.Request.Context(), token, pw, models.Actor{IP: c.ClientIP(), RequestID: p.requestID(c)})
	var e *models.Error
	if errors.As(err, &e) && e.Code == models.CodeValidation && len(e.Fields) > 0 {
		p.render(c, http.StatusBadRequest, "reset_password", map[string]any{"Title": "Choose a new password", "Token": token, "Error": "The password " + e.Fields[0].Detail + "."})
		return
	}
	if p.linkFailed(c, "reset", err) {
		return
	}
	// Every session ended, this browser's too.
	setCookie(c, sessionCookie, "", -1)
	p.message(c, http.StatusOK, "Password changed", "Your password is changed and every session of your account has ended. Log in with the new password.", false, "/login", "Log in")
}

// invalidLink is the page of a letter's link that is unknown, expired or used: it says so and
// offers the way to a new one, a fresh verification letter (signing up again) for kind "verify",
// or a new reset letter (forgot password) for kind "reset".
func (p *Portal) invalidLink(c *gin.Context, kind string) {
	p.render(c, http.StatusBadRequest, "invalid_link", map[string]any{"Title": linkTitle(kind), "Kind": kind})
}

// linkFailed answers a letter's link whose call failed with err, and reports whether it did: a
// token that is unknown, expired or used is the invalid-link page, any other error the error page.
func (p *Portal) linkFailed(c *gin.Context, kind string, err error) bool {
	switch {
	case store.ErrorCode(err) == models.CodeInvalidToken:
		p.invalidLink(c, kind)
	case err != nil:
		p.pageError(c, linkTitle(kind), err)
	default:
		return false
	}
	return true
}

// linkTitle is the title of the page a letter's link of kind "verify" or "reset" opens.
func linkTitle(kind string) string {
	if kind == "verify" {
		return "Confirm your email address"
	}
	return "Choose a new password"
}

// invitation is the page an invitation letter's link opens: whom it is from, for which license
// and roles, and sign-up with the invited address filled in. An invitation that was accepted,
// cancelled or replaced says so.
func (p *Portal) invitation(c *gin.Context) {
	inv, err := p.Registrations.InvitationByToken(c.Request.Context(), c.Query("token"))
	if store.ErrorCode(err) == models.CodeInvitationNotFound {
		// Gone rather than not found: the link was real, and is used up.
		p.render(c, http.StatusGone, "invitation", map[string]any{"Title": "This invitation is no longer open"})
		return
	}
	if err != nil {
		p.pageError(c, "Invitation", err)
		return
	}
	p.render(c, http.StatusOK, "invitation", map[string]any{"Title": "You are invited", "Invitation": inv,
		"SignupURL": "/signup?" + url.Values{"email": {inv.Email}}.Encode()})
}

// account shows who is signed in, and changes the password.
func (p *Portal) account(c *gin.Context) {
	p.accountPage(c, http.StatusOK, nil)
}

func (p *Portal) accountPage(c *gin.Context, status int, extra map[string]any) {
	u, err := p.Identity.User(c.Request.Context(), p.principal(c).UserID)
	if err != nil {
		p.pageError(c, "Your account", err)
		return
	}
	data := map[string]any{"Title": "Your account", "Nav": "account", "User": u}
	maps.Copy(data, extra)
	p.render(c, status, "account", data)
}

func (p *Portal) changePassword(c *gin.Context) {
	next := c.PostForm("new_password")
	if next != c.PostForm("password_confirm") {
		p.accountPage(c, http.StatusBadRequest, map[string]any{"Fields": map[string]string{"password_confirm": "The two new passwords differ."}})
		return
	}
	_, err := p.Identity.ChangePassword(c.Request.Context(), p.principal(c), c.PostForm("current_password"), next, p.actor(c))
	if p.formFailed(c, err, "Your account", p.accountPage) {
		return
	}
	redirect(c, "/account", "Your password is changed. Your other sessions have ended; this one goes on.")
}
