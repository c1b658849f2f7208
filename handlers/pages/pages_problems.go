package pages

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

// problemPage is one error code as its page shows it.
type problemPage struct {
	Code   string
	Status int
	models.ProblemDoc
}

// problemPageFor is the page of code, and false when the error map has no such code.
func (p *Portal) problemPageFor(code string) (problemPage, bool) {
	status, ok := p.ProblemStatus(code)
	if !ok {
		return problemPage{}, false
	}
	doc, _ := models.ProblemDocFor(code)
	return problemPage{Code: code, Status: status, ProblemDoc: doc}, true
}

// problem is the page a problem's type links to: what the code means and what to do about it.
func (p *Portal) problem(c *gin.Context) {
	pg, ok := p.problemPageFor(c.Param("code"))
	if !ok {
		p.render(c, http.StatusNotFound, "message", map[string]any{"Title": "Unknown problem type", "Error": true,
			"Message": "There is no problem type of this name.", "Next": "/problems", "NextLabel": "Every problem type"})
		return
	}
	p.render(c, http.StatusOK, "problem", map[string]any{"Title": pg.Title, "Problem": pg})
}

// problems lists every problem type.
func (p *Portal) problems(c *gin.Context) {
	var all []problemPage
	for _, code := range models.ProblemCodes() {
		if pg, ok := p.problemPageFor(code); ok {
			all = append(all, pg)
		}
	}
	p.render(c, http.StatusOK, "problems", map[string]any{"Title": "Problem types", "Problems": all})
}

// NotFound answers a browser that asked for a page the portal does not have with an HTML 404,
// in the portal's layout (signed in or not), rather than the API's problem+json.
func (p *Portal) NotFound(c *gin.Context) {
	p.session(c)
	if c.IsAborted() {
		return
	}
	p.render(c, http.StatusNotFound, "message", map[string]any{"Title": "Page not found", "Error": true,
		"Message": "There is no page at this address. It may have moved, or the link may be mistyped.", "Next": "/", "NextLabel": "Go to the start page"})
}

// WantsPage says whether a request the router has no route for came from a browser after a page:
// not the API's paths, and HTML preferred to JSON.
func WantsPage(c *gin.Context) bool {
	path := c.Request.URL.Path
	if strings.HasPrefix(path, "/v1/") || path == "/v1" || strings.HasPrefix(path, "/.well-known/") {
		return false
	}
	return c.NegotiateFormat(gin.MIMEJSON, gin.MIMEHTML) == gin.MIMEHTML
}
