package handlers

import (
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

const ctxPrincipal = "entitled.principal"

// authenticate resolves the request's bearer credential once and keeps the answer on the
// context. /v1 takes credentials only from the Authorization header: no cookie, so no CSRF.
func (h *api) authenticate(c *gin.Context) (*models.Principal, error) {
	if v, ok := c.Get(ctxPrincipal); ok {
		return v.(*models.Principal), nil
	}
	header := c.GetHeader("Authorization")
	scheme, cred, _ := strings.Cut(header, " ")
	if header == "" || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(cred) == "" {
		return nil, models.Errorf(models.CodeUnauthenticated, "send Authorization: Bearer with a session token or an API key")
	}
	p, err := h.identity.Authenticate(c.Request.Context(), strings.TrimSpace(cred))
	if err != nil {
		return nil, err
	}
	c.Set(ctxPrincipal, p)
	return p, nil
}

// principal is the authenticated caller of a guarded route.
func principal(c *gin.Context) *models.Principal {
	if v, ok := c.Get(ctxPrincipal); ok {
		return v.(*models.Principal)
	}
	return nil
}

// actor is the caller as the audit log records it.
func actor(c *gin.Context) models.Actor {
	return principal(c).Actor(c.ClientIP(), requestID(c))
}

// policy says whether a principal may call a route.
type policy func(p *models.Principal) bool

// anyUser admits every logged-in person (customer or staff, verified or not).
func anyUser(p *models.Principal) bool { return p.IsUser() }

// staff admits users with the staff role (or superadmin).
func staff(role string) policy { return func(p *models.Principal) bool { return p.HasStaffRole(role) } }

// scope admits API keys with the scope.
func scope(s string) policy { return func(p *models.Principal) bool { return p.HasScope(s) } }

// public marks a route anyone may call; it does nothing, but says so in the route table.
func public(c *gin.Context) { c.Next() }

// allow guards a route: no or bad credentials are 401, a principal that no policy admits is 403.
func (h *api) allow(policies ...policy) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := h.authenticate(c)
		if err != nil {
			fail(c, err) // 401, or 503 when the database cannot say
			return
		}
		if !mfaGate(c, p) {
			return
		}
		for _, ok := range policies {
			if ok(p) {
				c.Next()
				return
			}
		}
		fail(c, models.Errorf(models.CodeForbidden, "you are not allowed to do this"))
	}
}
