package handlers

import (
	"bytes"
	"encoding/base64"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
	"github.com/entitled-dev/entitled/verify"
)

// keyHandlers serve the public keys: anyone may fetch them, and every verifier does.
type keyHandlers struct {
	keys *store.Keyring
}

// jwks answers the JWK Set of the published keys, cacheable for ENTITLED_JWKS_MAX_AGE, with an
// ETag so that a verifier revalidates with one 304.
func (h *keyHandlers) jwks(c *gin.Context) {
	body, etag, err := h.keys.JWKS(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	secs := int((h.keys.MaxAge() + time.Second - 1) / time.Second)
	c.Header("Cache-Control", "public, max-age="+strconv.Itoa(secs))
	c.Header("ETag", etag)
	if etagMatches(c.GetHeader("If-None-Match"), etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/json", body)
}

// etagMatches applies If-None-Match (a list of entity tags, or *) with the weak comparison that
// RFC 9110 asks for on GET.
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

type entitlementTokenRequest struct {
	LicenseNumber string `json:"license_number"`
	Audience      string `json:"audience"`
}

type tokenJSON struct {
	Token     string    `json:"token"`
	TokenType string    `json:"token_type"`
	ExpiresAt time.Time `json:"expires_at"`
	ExpiresIn int       `json:"expires_in"`
}

func (h *api) issueToken(c *gin.Context, req entitlementTokenRequest) {
	t, err := h.tokens.Issue(c.Request.Context(), principal(c), req.LicenseNumber, req.Audience)
	if err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, http.StatusCreated, tokenJSON{Token: t.Token, TokenType: verify.TypEntitlement, ExpiresAt: t.ExpiresAt.UTC(),
		ExpiresIn: int(t.Claims.ExpiresAt.Sub(t.Claims.IssuedAt.Time).Seconds())})
}

// introspectJSON is RFC 7662's answer: active, and the token's claims when it is.
type introspectJSON struct {
	Active bool `json:"active"`
	*verify.Claims
	TokenType string `json:"token_type,omitempty"`
}

// introspect answers RFC 7662: the form field token, {active:false} for anything that is not an
// active token of ours (an empty one too), never an error for the token itself.
func (h *api) introspect(c *gin.Context) {
	mt, _, _ := mime.ParseMediaType(c.ContentType())
	if mt != "application/x-www-form-urlencoded" {
		fail(c, models.Errorf(models.CodeUnsupportedMedia, "send the token as an application/x-www-form-urlencoded form: token=…"))
		return
	}
	if err := c.Request.ParseForm(); err != nil {
		fail(c, readError(err, models.Errorf(models.CodeValidation, "the form is malformed")))
		return
	}
	// RFC 6749 §3.1: a parameter is sent once. With two tokens, a proxy that checks one and this
	// server, which would read the other, disagree: neither is taken.
	token := ""
	if t := c.Request.PostForm["token"]; len(t) == 1 {
		token = t[0]
	}
	res, err := h.tokens.Introspect(c.Request.Context(), token)
	if err != nil {
		fail(c, err)
		return
	}
	if !res.Active {
		writeJSON(c, http.StatusOK, introspectJSON{})
		return
	}
	if body, ok := introspectionAnswer(token); ok {
		c.Data(http.StatusOK, "application/json; charset=utf-8", body)
		return
	}
	writeJSON(c, http.StatusOK, introspectJSON{Active: true, Claims: res.Claims, TokenType: verify.TypEntitlement})
}

// introspectionAnswer is the answer for an active token written from the token itself: its
// payload, the claims exactly as this server signed and Introspect has just verified them,
// between "active" and "token_type" — what introspectJSON encodes, without encoding the claims
// again on every introspection. ok is false for a payload that is not a JSON object with members
// (never one of ours), which is then encoded from the claims.
func introspectionAnswer(token string) (body []byte, ok bool) {
	_, rest, _ := strings.Cut(token, ".")
	seg, _, _ := strings.Cut(rest, ".")
	enc := base64.RawURLEncoding
	payload := make([]byte, enc.DecodedLen(len(seg)))
	n, err := enc.Decode(payload, []byte(seg))
	payload = bytes.TrimSpace(payload[:n])
	if err != nil || len(payload) < 2 || payload[0] != '{' || payload[len(payload)-1] != '}' {
		return nil, false
	}
	members := bytes.TrimSpace(payload[1 : len(payload)-1])
	if len(members) == 0 {
		return nil, false
	}
	const head, tail = `{"active":true,`, `,"token_type":"` + verify.TypEntitlement + `"}` + "\n"
	body = make([]byte, 0, len(head)+len(members)+len(tail))
	body = append(body, head...)
	body = append(body, members...)
	return append(body, tail...), true
}
