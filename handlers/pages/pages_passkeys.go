package pages

// Passkeys in the portal: the JSON halves of the WebAuthn ceremonies that templates/static/
// passkeys.js drives (options out, the browser's answer in), as form posts that carry the page's
// CSRF token; and removing a passkey with the password.

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

// passkeyJSON answers a ceremony's step: the options, or where to go next, or what went wrong.
func (p *Portal) passkeyJSON(c *gin.Context, body []byte, next string, err error) {
	c.Header("Cache-Control", "no-store")
	if err != nil {
		status, msg := p.errorText(err)
		if status >= 500 {
			p.Logger(c).Error("passkey step failed", "request_id", p.requestID(c), "route", c.FullPath(), "error", err)
		}
		c.JSON(status, gin.H{"error": msg, "code": store.ErrorCode(err)})
		return
	}
	if body != nil {
		c.Data(http.StatusOK, "application/json", body)
		return
	}
	c.JSON(http.StatusOK, gin.H{"location": next})
}

func (p *Portal) passkeyOptions(c *gin.Context) {
	opts, err := p.Identity.BeginPasskeyRegistration(c.Request.Context(), p.principal(c))
	p.passkeyJSON(c, opts, "", err)
}

func (p *Portal) addPasskey(c *gin.Context) {
	err := p.Identity.FinishPasskeyRegistration(c.Request.Context(), p.principal(c), c.PostForm("name"), []byte(c.PostForm("credential")), p.actor(c))
	if err == nil {
		flash(c, "Your passkey is added. Signing in can now ask for it after your password.")
	}
	p.passkeyJSON(c, nil, securityPath, err)
}

func (p *Portal) removePasskey(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		p.pageError(c, "Security", models.Errorf(models.CodeNotFound, "you have no such passkey"))
		return
	}
	err = p.Identity.RemovePasskey(c.Request.Context(), p.principal(c), id, c.PostForm("password"), p.actor(c))
	if fields := fieldMessages(err); fields != nil {
		p.securityPage(c, http.StatusBadRequest, map[string]any{"Fields": map[string]string{"passkey_password": fields["password"]}})
		return
	}
	if err != nil {
		p.pageError(c, "Security", err)
		return
	}
	redirect(c, securityPath, "The passkey is removed.")
}

func (p *Portal) passkeyLoginOptions(c *gin.Context) {
	opts, err := p.Identity.BeginPasskeyLogin(c.Request.Context(), c.PostForm("mfa_token"))
	p.passkeyJSON(c, opts, "", err)
}

func (p *Portal) passkeyLogin(c *gin.Context) {
	next := SafeNext(c.PostForm("next"))
	res, err := p.Identity.LoginPasskey(c.Request.Context(), c.PostForm("mfa_token"), []byte(c.PostForm("credential")), c.ClientIP(), c.GetHeader("User-Agent"))
	if err == nil {
		setCookie(c, sessionCookie, res.Token, int(res.ExpiresIn.Seconds()))
	}
	if store.ErrorCode(err) == models.CodeInvalidMFACode {
		err = models.Errorf(models.CodeInvalidMFACode, "that passkey was not accepted; try again, or use a code")
	}
	p.passkeyJSON(c, nil, next, err)
}
