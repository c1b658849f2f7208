package handlers

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
)

// statusByCode is the one place where an error code becomes an HTTP status. A code that is not
// here is answered 500 with nothing said: it is a bug, and it is logged.
var statusByCode = map[string]int{
	models.CodeValidation:             http.StatusBadRequest,
	models.CodeMalformedJSON:          http.StatusBadRequest,
	models.CodeUnauthenticated:        http.StatusUnauthorized,
	models.CodeInvalidCredentials:     http.StatusUnauthorized,
	models.CodeInvalidToken:           http.StatusBadRequest,
	models.CodeEmailUnverified:        http.StatusForbidden,
	models.CodeMFARequired:            http.StatusUnauthorized,
	models.CodeInvalidMFACode:         http.StatusUnauthorized,
	models.CodeMFATokenInvalid:        http.StatusUnauthorized,
	models.CodeMFAEnrolmentRequired:   http.StatusForbidden,
	models.CodeRoleMissing:            http.StatusForbidden,
	models.CodeLastAdmin:              http.StatusConflict,
	models.CodeLicenseNotFound:        http.StatusNotFound,
	models.CodeNoAdminForAccount:      http.StatusUnprocessableEntity,
	models.CodeRequestNotPending:      http.StatusConflict,
	models.CodeMemberNotFound:         http.StatusNotFound,
	models.CodeInvitationNotFound:     http.StatusNotFound,
	models.CodeGraceTooLong:           http.StatusUnprocessableEntity,
	models.CodeContractTerminated:     http.StatusConflict,
	models.CodeTrialNotRenewable:      http.StatusUnprocessableEntity,
	models.ReasonVersionDiscontinued:  http.StatusForbidden,
	models.ReasonNoSupportContract:    http.StatusForbidden,
	models.ReasonSupportNotStarted:    http.StatusForbidden,
	models.ReasonSupportTerminated:    http.StatusForbidden,
	models.ReasonTrialExpired:         http.StatusForbidden,
	models.ReasonSupportLapsed:        http.StatusForbidden,
	models.ReasonPremierNotPurchased:  http.StatusForbidden,
	models.CodeNotAMember:             http.StatusForbidden,
	models.CodeInvalidLicenseNumber:   http.StatusBadRequest,
	models.CodeVersionNotFound:        http.StatusNotFound,
	models.CodeAccountNotFound:        http.StatusNotFound,
	models.CodeOrderRefTaken:          http.StatusConflict,
	models.CodePremierRequiresProgram: http.StatusUnprocessableEntity,
	models.CodeAudienceNotAllowed:     http.StatusUnprocessableEntity,
	models.CodeWebhookURLRefused:      http.StatusUnprocessableEntity,
	models.CodeSeatsExhausted:         http.StatusConflict,
	models.CodeForbidden:              http.StatusForbidden,
	models.CodeNotFound:               http.StatusNotFound,
	models.CodeMethodNotAllowed:       http.StatusMethodNotAllowed,
	models.CodeNotAcceptable:          http.StatusNotAcceptable,
	models.CodeConflict:               http.StatusConflict,
	models.CodeIdempotencyBusy:        http.StatusConflict,
	models.CodePreconditionFailed:     http.StatusPreconditionFailed,
	models.CodeBodyTooLarge:           http.StatusRequestEntityTooLarge,
	models.CodeUnsupportedMedia:       http.StatusUnsupportedMediaType,
	models.CodeIdempotencyReused:      http.StatusUnprocessableEntity,
	models.CodeTooManyAttempts:        http.StatusTooManyRequests,
	models.CodeInternal:               http.StatusInternalServerError,
	models.CodeUnavailable:            http.StatusServiceUnavailable,
	models.CodeSchemaBehind:           http.StatusServiceUnavailable,
}

// Problem is an RFC 9457 problem details object. Every error answer has all five of type, title,
// status, detail and code; errors lists the failing fields of a validation error.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail"`
	Code      string              `json:"code"`
	Errors    []models.FieldError `json:"errors,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
	// MFAToken and Methods come with mfa_required: the token that finishes the sign-in, and the
	// kinds of code it takes.
	MFAToken string   `json:"mfa_token,omitempty"`
	Methods  []string `json:"methods,omitempty"`
}

const problemContentType = "application/problem+json"

// problemType is the URI that identifies a kind of problem, stable with the code: the page
// that explains it, <ENTITLED_BASE_URL>/problems/<code> (a path, resolved against the request's
// URL, when the base URL is not known).
func problemType(base, code string) string { return strings.TrimRight(base, "/") + "/problems/" + code }

// problemFor turns any error into the status and problem the client sees. Only a coded error's
// safe message is shown; anything else becomes a bare 500 or 503.
func problemFor(err error) (int, Problem) {
	code := store.ErrorCode(err)
	status, ok := statusByCode[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	var e *models.Error
	if errors.As(err, &e) && e.InBody && status == http.StatusNotFound {
		status = http.StatusUnprocessableEntity
	}
	p := Problem{Type: problemType("", code), Title: http.StatusText(status), Status: status, Code: code}
	switch {
	case code == models.CodeInternal:
		p.Detail = "Something went wrong on our side. It has been logged; please try again later."
	case code == models.CodeUnavailable && (!errors.As(err, &e) || e.Message == ""):
		p.Detail = "The service is temporarily unavailable. Please try again shortly."
	case errors.As(err, &e):
		p.Detail = e.Message
		p.Errors = e.Fields
	}
	if p.Detail == "" {
		p.Detail = p.Title
	}
	return status, p
}

// fail answers the request with the problem for err and stops the handler chain. Errors that are
// not the client's fault are logged here, once, with the request id.
func fail(c *gin.Context, err error) {
	status, p := problemFor(err)
	p.RequestID = requestID(c)
	log := logger(c)
	switch {
	case status >= 500 && p.Code == models.CodeInternal:
		log.Error("request failed", "request_id", p.RequestID, "route", c.FullPath(), "error", err)
	case status >= 500:
		log.Warn("request failed", "request_id", p.RequestID, "route", c.FullPath(), "code", p.Code, "error", err)
	}
	var e *models.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		secs := int(e.RetryAfter.Seconds() + 0.999)
		c.Header("Retry-After", strconv.Itoa(secs))
	}
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="entitled"`)
	}
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", "5")
	}
	writeProblem(c, status, p)
}

func writeProblem(c *gin.Context, status int, p Problem) {
	p.Type = problemType(baseURL(c), p.Code)
	c.Header("Cache-Control", "no-store")
	c.Render(status, problemRender{p})
	c.Abort()
}

// problemRender writes a Problem as application/problem+json.
type problemRender struct{ p Problem }

func (r problemRender) Render(w http.ResponseWriter) error {
	r.WriteContentType(w)
	return jsonEncode(w, r.p)
}

func (r problemRender) WriteContentType(w http.ResponseWriter) {
	w.Header().Set("Content-Type", problemContentType)
}

// logger is the request's logger (set by the access-log middleware), or the default.
func logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(ctxLogger); ok {
		return l.(*requestLogger).logger()
	}
	return slog.Default()
}

// loggerAt is the request's logger when it writes at level; ok is false, and nothing is made,
// when it does not.
func loggerAt(c *gin.Context, level slog.Level) (_ *slog.Logger, ok bool) {
	v, found := c.Get(ctxLogger)
	if !found {
		l := slog.Default()
		return l, l.Enabled(c.Request.Context(), level)
	}
	r := v.(*requestLogger)
	if !r.base.Enabled(c.Request.Context(), level) {
		return nil, false
	}
	return r.logger(), true
}
