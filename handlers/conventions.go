package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
)

// The conventions every answer follows (contract, "Conventions every client can rely on"), so
// that a generic HTTP client needs no entitled-specific code: problem types that link to a page
// explaining them, and RFC 8288 Link headers on lists.

const ctxBaseURL = "entitled.base_url"

// withBaseURL keeps ENTITLED_BASE_URL on the request for the answers that link back to the
// server: problem types and Link headers.
func withBaseURL(base string) gin.HandlerFunc {
	base = strings.TrimRight(base, "/")
	return func(c *gin.Context) {
		c.Set(ctxBaseURL, base)
		c.Next()
	}
}

// baseURL is ENTITLED_BASE_URL without a trailing slash, or "" when the router was not told it
// (links are then paths, which a client resolves against the request's URL).
func baseURL(c *gin.Context) string { return c.GetString(ctxBaseURL) }

// paged is a page of a list: next is the cursor of the next page, "" on the last.
type paged interface{ next() string }

// linkNext sends Link: <…?cursor=next>; rel="next" while there is a next page: the request's own
// URL with every other query parameter kept and the cursor replaced.
func linkNext(c *gin.Context, next string) {
	if next == "" {
		return
	}
	q := c.Request.URL.Query()
	q.Set("cursor", next)
	u := url.URL{Path: c.Request.URL.Path, RawQuery: q.Encode()}
	c.Header("Link", "<"+baseURL(c)+u.String()+`>; rel="next"`)
}

// ServeHEAD answers HEAD wherever GET is answered (RFC 9110 §9.3.2): the request is routed as a
// GET, and net/http, which keeps the original request, sends the status and headers and drops
// the body. Gin routes HEAD only where it is declared; this wraps the router instead of declaring
// every GET twice.
func ServeHEAD(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			get := r.Clone(r.Context())
			get.Method = http.MethodGet
			r = get
		}
		h.ServeHTTP(w, r)
	})
}
