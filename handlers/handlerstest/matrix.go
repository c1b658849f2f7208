package handlerstest

// What the authorization matrices of handlers (the API) and handlers/pages (the portal) share.

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// PublicPages are the pages anyone may open, whatever the session: the letters' links and the
// stylesheet.
var PublicPages = map[string]bool{
	"GET /static/*file":    true,
	"GET /verify":          true,
	"POST /verify":         true,
	"GET /reset-password":  true,
	"POST /reset-password": true,
	"GET /invitations":     true,
	"GET /problems":        true,
	"GET /problems/:code":  true,
}

// IsPageRoute tells the portal's HTML pages from the API: the API is /v1, the operations' root
// paths and the well-known documents.
func IsPageRoute(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/metrics", "/openapi.json":
		return false
	}
	return !strings.HasPrefix(path, "/v1/") && !strings.HasPrefix(path, "/.well-known/")
}

var pathParamRE = regexp.MustCompile(`[:*]([^/]+)`)

// DummyPath fills the route's path parameters with their values in params; anything not named
// there is "999999".
func DummyPath(route string, params map[string]string) string {
	return pathParamRE.ReplaceAllStringFunc(route, func(m string) string {
		if v, ok := params[m[1:]]; ok {
			return v
		}
		return "999999"
	})
}

// MatrixRoutes are the routes ("METHOD /path") of the router that a matrix test calls: every
// route that skip does not pass over. It fails the test for a route without a row in table and
// for a row of table the router does not serve; tableName says where the table is.
func MatrixRoutes[V any](t testing.TB, h http.Handler, table map[string]V, tableName string, skip func(key, path string) bool) []string {
	t.Helper()
	var routes []string
	for _, r := range h.(*gin.Engine).Routes() {
		key := r.Method + " " + r.Path
		if skip(key, r.Path) {
			continue
		}
		if _, ok := table[key]; !ok {
			t.Errorf("route %s has no row in %s: say who may call it", key, tableName)
			continue
		}
		routes = append(routes, key)
	}
	for key := range table {
		if !slices.Contains(routes, key) {
			t.Errorf("%s has a row for %s, which the router does not serve", tableName, key)
		}
	}
	return routes
}
