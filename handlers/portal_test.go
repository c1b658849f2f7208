package handlers

// The portal's tests live in handlers/pages; the handlers tests that also open pages (cross-tenant
// attempts, the renewal window, safe redirects, unverified grants) drive them with
// handlerstest.Browser (testApp.signedIn, App.Browser).

import (
	"github.com/gin-gonic/gin"

	"entitled/handlers/pages"
)

// pageAuthz tells TestAuthorizationMatrix which routes are the portal's pages (their own matrix
// is TestPortal_AuthorizationMatrix in handlers/pages): every route pages.Register declares.
var pageAuthz = func() map[string]any {
	portal, err := pages.New(pages.Deps{})
	if err != nil {
		panic(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	portal.Register(r)
	out := map[string]any{}
	for _, rt := range r.Routes() {
		out[rt.Method+" "+rt.Path] = true
	}
	return out
}()

// safeNext is the portal's rule for where to go after signing in.
var safeNext = pages.SafeNext
