package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

// mfaEnrolmentRoutes are the routes a staff user whom ENTITLED_STAFF_MFA=required holds back
// (models.CodeMFAEnrolmentRequired) may still call: to see who they are, to enrol, to leave.
var mfaEnrolmentRoutes = map[string]bool{
	"/v1/me":                  true,
	"/v1/me/mfa/totp":         true,
	"/v1/me/mfa/totp/confirm": true,
	"/v1/auth/logout":         true,
}

// mfaGate refuses a principal who must enrol a second factor first everywhere but on the
// enrolment routes; it reports whether the request may go on.
func mfaGate(c *gin.Context, p *models.Principal) bool {
	if p.MFAEnrolmentRequired && !mfaEnrolmentRoutes[c.FullPath()] {
		fail(c, models.Errorf(models.CodeMFAEnrolmentRequired,
			"this server requires staff to use a second factor: add one (POST /v1/me/mfa/totp, then /v1/me/mfa/totp/confirm) before anything else"))
		return false
	}
	return true
}

// mfaRequired answers a right password of an account with a second factor: 401 mfa_required
// with the token of the second step.
func mfaRequired(c *gin.Context, ch *models.MFAChallenge) {
	status, p := problemFor(models.Errorf(models.CodeMFARequired,
		"the password is right; now send a code of your second factor with this mfa_token to /v1/auth/login/mfa"))
	p.RequestID, p.MFAToken, p.Methods = requestID(c), ch.Token, ch.Methods
	c.Header("WWW-Authenticate", `Bearer realm="entitled"`)
	writeProblem(c, status, p)
}

type loginMFARequest struct {
	MFAToken string `json:"mfa_token"`
	Code     string `json:"code"`
}

func (h *api) loginMFA(c *gin.Context, req loginMFARequest) {
	res, err := h.identity.LoginMFA(c.Request.Context(), req.MFAToken, req.Code, c.ClientIP(), c.GetHeader("User-Agent"))
	respond(c, http.StatusOK, res, err, toLoginResponse)
}

type totpEnrolmentJSON struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
}

func (h *api) enrolTOTP(c *gin.Context) {
	e, err := h.identity.EnrolTOTP(c.Request.Context(), principal(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c, http.StatusCreated, totpEnrolmentJSON{Secret: e.Secret, OTPAuthURI: e.URI})
}

type confirmTOTPRequest struct {
	Code string `json:"code"`
}

type recoveryCodesJSON struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

func (h *api) confirmTOTP(c *gin.Context, req confirmTOTPRequest) {
	codes, err := h.identity.ConfirmTOTP(c.Request.Context(), principal(c), req.Code, actor(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	writeJSON(c, http.StatusOK, recoveryCodesJSON{RecoveryCodes: codes})
}

type passwordRequest struct {
	Password string `json:"password"`
}

func (h *api) disableTOTP(c *gin.Context, req passwordRequest) {
	noContent(c, h.identity.DisableTOTP(c.Request.Context(), principal(c), req.Password, actor(c)))
}

// sessionJSON is one of the caller's sessions.
type sessionJSON struct {
	ID         string     `json:"id"`
	UserAgent  string     `json:"user_agent"`
	IP         string     `json:"ip"`
	CreatedAt  time.Time  `json:"created_at"`
	LastSeenAt *time.Time `json:"last_seen_at"`
	Current    bool       `json:"current"`
}

func toSessionJSON(s *models.Session) sessionJSON {
	out := sessionJSON{ID: strconv.FormatInt(s.ID, 10), UserAgent: s.UserAgent, IP: s.IP, CreatedAt: s.CreatedAt.UTC(), Current: s.Current}
	if s.LastSeenAt != nil {
		t := s.LastSeenAt.UTC()
		out.LastSeenAt = &t
	}
	return out
}
