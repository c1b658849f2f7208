package pages

// The second step of signing in, and the Security page: the authenticator app (TOTP) with its
// recovery codes, and the sessions the user can end one by one. The same Identity calls as the
// API's /v1/auth/login/mfa, /v1/me/mfa/totp and /v1/me/sessions.

import (
	"bytes"
	"encoding/base64"
	"html/template"
	"image/png"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/pquerna/otp"

	"entitled/models"
	"entitled/models/store"
)

// securityPath is the Security page; ENTITLED_STAFF_MFA=required leads staff there.
const securityPath = "/account/security"

// mfaGate sends a staff user whom ENTITLED_STAFF_MFA=required holds back to the Security page
// from every page but that one's and logging out (the API answers them 403
// mfa_enrolment_required likewise).
func (p *Portal) mfaGate(c *gin.Context) {
	pr := p.principal(c)
	path := c.Request.URL.Path
	if !pr.IsUser() || !pr.MFAEnrolmentRequired || path == securityPath || strings.HasPrefix(path, securityPath+"/totp") || strings.HasPrefix(path, securityPath+"/passkeys") || path == "/logout" {
		c.Next()
		return
	}
	redirect(c, securityPath, "Before anything else, set up a second factor: this server requires one for staff.")
}

// loginMFAPage is the second sign-in page: the code of the authenticator app, or a recovery code.
func (p *Portal) loginMFAPage(c *gin.Context, status int, mfaToken, next, msg string, methods []string) {
	c.Header("Cache-Control", "no-store")
	p.render(c, status, "login_mfa", map[string]any{"Title": "Enter your code", "MFAToken": mfaToken, "Next": next, "Error": msg,
		"TOTP": slices.Contains(methods, models.MFAMethodTOTP), "Passkey": slices.Contains(methods, models.MFAMethodPasskey) && p.Identity.PasskeysAvailable()})
}

// loginMFA finishes a sign-in with Identity.LoginMFA and keeps the session in the cookie.
func (p *Portal) loginMFA(c *gin.Context) {
	next, tok := SafeNext(c.PostForm("next")), c.PostForm("mfa_token")
	res, err := p.Identity.LoginMFA(c.Request.Context(), tok, c.PostForm("code"), c.ClientIP(), c.GetHeader("User-Agent"))
	if err != nil {
		status, msg := p.errorText(err)
		switch store.ErrorCode(err) {
		case models.CodeMFATokenInvalid:
			// Nothing more to try here: back to the password.
			redirect(c, "/login?next="+url.QueryEscape(next), "That sign-in has expired or took too many wrong codes. Sign in again.")
			return
		case models.CodeValidation:
			msg = "Enter the code from your authenticator app, or a recovery code."
		case models.CodeInvalidMFACode:
			msg = "That code is wrong or was used already. Wait for the next code of your app, or use a recovery code."
		}
		p.loginMFAPage(c, status, tok, next, msg, strings.Split(c.PostForm("methods"), ","))
		return
	}
	setCookie(c, sessionCookie, res.Token, int(res.ExpiresIn.Seconds()))
	redirect(c, next, "")
}

// security shows the second factor and the sessions.
func (p *Portal) security(c *gin.Context) {
	p.securityPage(c, http.StatusOK, nil)
}

func (p *Portal) securityPage(c *gin.Context, status int, extra map[string]any) {
	ctx, pr := c.Request.Context(), p.principal(c)
	st, err := p.Identity.MFAStatus(ctx, pr.UserID)
	if err != nil {
		p.pageError(c, "Security", err)
		return
	}
	sessions, err := p.Identity.Sessions(ctx, pr)
	if err != nil {
		p.pageError(c, "Security", err)
		return
	}
	passkeys, err := p.Identity.Passkeys(ctx, pr)
	if err != nil {
		p.pageError(c, "Security", err)
		return
	}
	data := map[string]any{"Title": "Security", "Nav": "account", "MFA": st, "Sessions": sessions, "Passkeys": passkeys,
		"PasskeysOn": p.Identity.PasskeysAvailable()}
	if st.TOTPPending {
		pending, err := p.Identity.PendingTOTP(ctx, pr)
		if err != nil {
			p.pageError(c, "Security", err)
			return
		}
		if pending != nil {
			data["Pending"] = pending
			data["QR"] = qrDataURL(pending.URI)
		}
	}
	maps.Copy(data, extra)
	c.Header("Cache-Control", "no-store")
	p.render(c, status, "security", data)
}

// qrDataURL is the QR code of an otpauth:// URI as a data: PNG ("" when it cannot be drawn: the
// secret is shown as text too).
func qrDataURL(uri string) template.URL {
	key, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return ""
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return ""
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return ""
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(b.Bytes()))
}

func (p *Portal) enrolTOTP(c *gin.Context) {
	if _, err := p.Identity.EnrolTOTP(c.Request.Context(), p.principal(c)); err != nil {
		p.pageError(c, "Security", err)
		return
	}
	redirect(c, securityPath+"#totp", "")
}

func (p *Portal) confirmTOTP(c *gin.Context) {
	codes, err := p.Identity.ConfirmTOTP(c.Request.Context(), p.principal(c), c.PostForm("code"), p.actor(c))
	if fields := fieldMessages(err); fields != nil {
		if store.ErrorCode(err) == models.CodeValidation && c.PostForm("code") != "" {
			fields["code"] = "That is not the current code of the app you just set up. Check the app's clock, or wait for the next code."
		}
		p.securityPage(c, http.StatusBadRequest, map[string]any{"Fields": fields})
		return
	}
	if err != nil {
		p.pageError(c, "Security", err)
		return
	}
	// The recovery codes are shown on this answer only: no redirect, nothing kept.
	p.securityPage(c, http.StatusOK, map[string]any{"RecoveryCodes": codes, "Flash": "Your authenticator app is set up. From now on, signing in asks for its code."})
}

func (p *Portal) disableTOTP(c *gin.Context) {
	err := p.Identity.DisableTOTP(c.Request.Context(), p.principal(c), c.PostForm("password"), p.actor(c))
	if p.formFailed(c, err, "Security", p.securityPage) {
		return
	}
	redirect(c, securityPath, "The authenticator app is removed: signing in needs only your password now.")
}

func (p *Portal) revokeSession(c *gin.Context) {
	pr := p.principal(c)
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		p.pageError(c, "Security", models.Errorf(models.CodeNotFound, "you have no such session"))
		return
	}
	if err := p.Identity.RevokeSession(c.Request.Context(), pr, id, p.actor(c)); err != nil {
		p.pageError(c, "Security", err)
		return
	}
	if id == pr.SessionID {
		setCookie(c, sessionCookie, "", -1)
		redirect(c, "/login", "You are logged out.")
		return
	}
	redirect(c, securityPath, "That session is signed out.")
}
