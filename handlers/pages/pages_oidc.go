package pages

// Staff single sign-on: "Sign in with <ENTITLED_OIDC_NAME>" on the sign-in page leads to
// /auth/oidc/start, which sends the browser to the company identity provider; the provider sends
// it back to /auth/oidc/callback, which opens a portal session as the password login does. The
// protocol is package sso's, the user and the session the store's (Identity.SignInOIDC); this
// file only carries the state cookie and says what went wrong. The routes exist only when
// ENTITLED_OIDC_ISSUER is set (routes.go); without it they answer 404.

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"entitled/handlers/sso"
	"entitled/models"
	"entitled/models/store"
)

// ssoCookie keeps a sign-in's sealed state (sso.Client.Begin) for the callback: HttpOnly,
// SameSite=Lax (sent on the IdP's top-level redirect back to us), Secure when the server is
// reached over https, and only sent to the callback's path.
func (p *Portal) ssoCookie(c *gin.Context, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{Name: sso.CookieName, Value: value, Path: "/auth/oidc", MaxAge: maxAge,
		Secure: p.SSO.SecureCookie(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// ssoStart sends the browser to the identity provider with a fresh state, nonce and PKCE
// challenge. Someone signed in already goes where they were going.
func (p *Portal) ssoStart(c *gin.Context) {
	next := SafeNext(c.Query("next"))
	if p.principal(c).IsUser() {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	authURL, cookie, err := p.SSO.Begin(c.Request.Context(), next)
	if err != nil {
		p.ssoFailed(c, err)
		return
	}
	p.ssoCookie(c, cookie, int(sso.StateTTL.Seconds()))
	c.Redirect(http.StatusSeeOther, authURL)
}

// ssoCallback finishes the sign-in the IdP sends back, whatever the outcome with the state
// cookie gone (a state is good for one try), and opens the session.
func (p *Portal) ssoCallback(c *gin.Context) {
	cookie, _ := c.Cookie(sso.CookieName)
	p.ssoCookie(c, "", -1)
	res, err := p.SSO.Finish(c.Request.Context(), cookie, c.Request.URL.Query())
	if err != nil {
		p.ssoFailed(c, err)
		return
	}
	login, err := p.Identity.SignInOIDC(c.Request.Context(), res.Identity, c.ClientIP(), c.GetHeader("User-Agent"))
	if err != nil {
		p.ssoFailed(c, err)
		return
	}
	setCookie(c, sessionCookie, login.Token, int(login.ExpiresIn.Seconds()))
	redirect(c, res.Next, "")
}

// ssoFailed says why a sign-in with the identity provider did not happen, in words, with a
// way back to the sign-in page: never a 500 for what the IdP or the browser sent.
func (p *Portal) ssoFailed(c *gin.Context, err error) {
	name := p.SSO.Name()
	status, msg := http.StatusBadRequest, ""
	var e *sso.Error
	switch {
	case errors.As(err, &e) && e.Kind == sso.KindState:
		msg = "This sign-in could not be matched to one this browser started: it may have taken more than 10 minutes, come from another browser or tab, or been tampered with. Nothing was signed in. Start again."
	case errors.As(err, &e) && e.Kind == sso.KindDenied:
		status, msg = http.StatusForbidden, name+" did not sign you in (it may have been cancelled, or you may not be allowed to use this application). Nothing was signed in."
	case errors.As(err, &e) && e.Kind == sso.KindUnreachable:
		status, msg = http.StatusBadGateway, name+" cannot be reached just now, so you cannot sign in with it. Try again in a few minutes; staff with a password can sign in with it meanwhile."
	case errors.As(err, &e) && e.Kind == sso.KindRefused:
		msg = name + " refused this sign-in's code: it may have been used already or have expired. Nothing was signed in. Start again."
	case errors.As(err, &e) && e.Kind == sso.KindToken:
		status, msg = http.StatusUnauthorized, "The answer from "+name+" could not be verified (its signature, issuer, audience, expiry or nonce is not right). Nothing was signed in."
	case errors.As(err, &e) && e.Kind == sso.KindClaims:
		msg = "The answer from " + name + " lacks what a sign-in needs (a verified email address, or roles in a form we can read). Nothing was signed in. Ask the administrator of " + name + "."
	case store.ErrorCode(err) == models.CodeValidation:
		msg = "The answer from " + name + " lacks what a sign-in needs (an identifier and a valid email address). Nothing was signed in."
	case store.ErrorCode(err) == models.CodeForbidden || store.ErrorCode(err) == models.CodeConflict:
		status, msg = p.errorText(err)
	default:
		p.pageError(c, "Sign in with "+name, err)
		return
	}
	p.Logger(c).Warn("single sign-on refused", "request_id", p.requestID(c), "status", status, "error", err)
	p.message(c, status, "Sign in with "+name, msg, true, "/login", "Back to sign in")
}
