package verify

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

type claimsKey struct{}

// WithClaims returns a context that carries the claims (Require puts them there).
func WithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the claims that Require verified for this request.
func ClaimsFrom(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok
}

// Authorize verifies the request's bearer token and checks that it grants the entitlement (""
// checks only the token). It is what Require does, for adapters to other routers.
func (v *Verifier) Authorize(r *http.Request, entitlement string) (*Claims, *Error) {
	h := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if h == "" || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, &Error{Status: http.StatusUnauthorized, Code: CodeUnauthenticated, Detail: "send Authorization: Bearer with an entitlement token"}
	}
	c, err := v.Verify(r.Context(), token)
	if err != nil {
		return nil, err.(*Error)
	}
	if entitlement != "" && !c.Has(entitlement) {
		return c, &Error{Status: http.StatusForbidden, Code: Reason(c, entitlement),
			Detail: "this token does not grant " + entitlement + " on license " + c.License}
	}
	return c, nil
}

// Require is net/http middleware that lets a request through only with a valid entitlement token
// that grants the entitlement; the handler finds the claims with ClaimsFrom. Otherwise it answers
// problem+json: 401 unauthenticated, invalid_token or revoked (with a WWW-Authenticate
// challenge), 403 with the denial reason (role_missing, support_lapsed, …), or 503 unavailable
// when the token's status list cannot be had (Options.StatusListFailure).
func (v *Verifier) Require(entitlement string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := v.Authorize(r, entitlement)
			if err != nil {
				WriteProblem(w, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
		})
	}
}

// Problem is the RFC 9457 answer Require writes, in entitled's shape.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// WriteProblem answers with the error as application/problem+json; a 401 carries a Bearer
// challenge (RFC 6750), with error="invalid_token" for a bad or revoked token.
func WriteProblem(w http.ResponseWriter, e *Error) {
	h := w.Header()
	if e.Status == http.StatusUnauthorized {
		challenge := `Bearer realm="entitled"`
		if e.Code == CodeInvalidToken || e.Code == ReasonRevoked {
			challenge += `, error="invalid_token", error_description=` + strconv.Quote(e.Detail)
		}
		h.Set("WWW-Authenticate", challenge)
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(ProblemOf(e))
}

// ProblemOf is the problem+json body for the error.
func ProblemOf(e *Error) Problem {
	return Problem{Type: "urn:entitled:problem:" + e.Code, Title: http.StatusText(e.Status), Status: e.Status, Detail: e.Detail, Code: e.Code}
}
