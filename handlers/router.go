// Package handlers is the HTTP face of entitled: it decodes requests, calls one models service
// method, and encodes the answer or the problem. No business rule lives here.
package handlers

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"entitled/models"
)

// Deps is everything the HTTP layer needs, passed in by the server's wiring.
type Deps struct {
	Store          *models.Store
	Identity       *models.Identity
	Catalogue      *models.Catalogue
	Orders         *models.Orders
	Accounts       *models.Accounts
	Licenses       *models.Licenses
	Registrations  *models.Registrations
	Help           *models.Help
	Contracts      *models.Contracts
	RateAnonPerMin int // anonymous letter-sending requests a minute per client address
	Log            *slog.Logger
	Registry       *prometheus.Registry // metrics are registered here and served at /metrics
	TrustedProxies []string             // CIDRs whose X-Forwarded-For is believed
}

// api holds the services the /v1 handlers call.
type api struct {
	store         *models.Store
	identity      *models.Identity
	catalogue     *models.Catalogue
	orders        *models.Orders
	accounts      *models.Accounts
	licenses      *models.Licenses
	registrations *models.Registrations
	help          *models.Help
	contracts     *models.Contracts
}

// New builds the router. Every route is declared here, one line each with its guard, so that this
// file is the authorization map of the API at a glance.
func New(d Deps) (http.Handler, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.RemoveExtraSlash = true
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		return nil, err
	}
	metrics := newHTTPMetrics(d.Registry)
	r.Use(withRequestID(d.Log), recovery(), accessLog(), metrics.middleware(), securityHeaders(), limitBody())
	r.NoRoute(func(c *gin.Context) {
		fail(c, models.Errorf(models.CodeNotFound, "there is nothing at %s", c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		fail(c, models.Errorf(models.CodeMethodNotAllowed, "%s is not allowed here", c.Request.Method))
	})

	probes := &opsHandlers{store: d.Store, registry: d.Registry}
	r.GET("/healthz", probes.health)
	r.GET("/readyz", probes.ready)
	r.GET("/metrics", probes.metrics())
	r.GET("/openapi.json", probes.openAPI)

	h := &api{store: d.Store, identity: d.Identity, catalogue: d.Catalogue, orders: d.Orders, accounts: d.Accounts, licenses: d.Licenses,
		registrations: d.Registrations, help: d.Help, contracts: d.Contracts}
	anon := newAnonLimiter(d.RateAnonPerMin).middleware
	superadmin := staff(models.RoleSuperadmin)

	v1 := r.Group("/v1")
	v1.POST("/auth/signup", public, anon, h.signup)
	v1.POST("/auth/verify", public, h.verify)
	v1.POST("/auth/login", public, h.login)
	v1.POST("/auth/logout", h.allow(anyUser), h.logout)
	v1.POST("/auth/password/forgot", public, anon, h.forgotPassword)
	v1.POST("/auth/password/reset", public, h.resetPassword)
	v1.POST("/me/password", h.allow(anyUser), h.changePassword)
	v1.GET("/me", h.allow(anyUser), h.me)

	v1.GET("/users", h.allow(staff(models.RoleSupport)), h.findUsers)
	v1.GET("/staff", h.allow(superadmin), h.listStaff)
	v1.POST("/staff", h.allow(superadmin), h.idempotent, h.putStaff)
	v1.GET("/api-keys", h.allow(superadmin), h.listAPIKeys)
	// No Idempotency-Key here: a replay would have to keep the new key's secret to show it again.
	v1.POST("/api-keys", h.allow(superadmin), h.createAPIKey)
	v1.DELETE("/api-keys/:id", h.allow(superadmin), h.revokeAPIKey)
	v1.GET("/audit", h.allow(superadmin), h.listAudit)

	ops := staff(models.RoleOps)
	renewals := staff(models.RoleRenewals)
	v1.POST("/products", h.allow(ops), h.idempotent, h.createProduct)
	v1.GET("/products", h.allow(anyUser), h.listProducts)
	v1.GET("/products/:sku", h.allow(anyUser), h.getProduct)
	v1.POST("/products/:sku/versions", h.allow(ops), h.idempotent, h.addVersion)
	v1.PATCH("/products/:sku/versions/:version", h.allow(ops), h.setPhase)
	v1.POST("/orders", h.allow(ops, scope(models.ScopeOrdersWrite)), h.idempotent, h.placeOrder)
	v1.PATCH("/accounts/:account_id", h.allow(ops, renewals), h.updateAccount)
	v1.POST("/accounts/recover", public, anon, h.recoverAccount)
	// License routes admit any user; membership and roles on the license are the service's to
	// check (403 not_a_member, role_missing), with staff support acting as admin anywhere.
	v1.POST("/registrations", h.allow(anyUser), h.idempotent, h.register)
	v1.GET("/licenses", h.allow(anyUser), h.myLicenses)
	v1.GET("/licenses/:ln", h.allow(anyUser), h.getLicense)
	v1.GET("/licenses/:ln/members", h.allow(anyUser), h.listMembers)
	v1.PUT("/licenses/:ln/members/:email", h.allow(anyUser), h.putMember)
	v1.DELETE("/licenses/:ln/members/:email", h.allow(anyUser), h.removeMember)
	v1.GET("/licenses/:ln/requests", h.allow(anyUser), h.listRequests)
	v1.POST("/licenses/:ln/requests/:id/approve", h.allow(anyUser), h.idempotent, h.approveRequest)
	v1.POST("/licenses/:ln/requests/:id/reject", h.allow(anyUser), h.idempotent, h.rejectRequest)
	v1.DELETE("/requests/:id", h.allow(anyUser), h.withdrawRequest)
	v1.GET("/licenses/:ln/audit", h.allow(anyUser), h.licenseAudit)
	v1.GET("/licenses/:ln/support", h.allow(anyUser), h.licenseSupport)
	v1.GET("/entitlements/check", h.allow(anyUser, scope(models.ScopeEntitlementsIntrospect)), h.checkEntitlement)
	v1.POST("/registration-help", public, anon, h.askHelp)
	v1.POST("/contracts/:id/renewals", h.allow(renewals), h.idempotent, h.renewContract)
	v1.POST("/contracts/:id/upgrade", h.allow(renewals), h.idempotent, h.upgradeContract)
	v1.POST("/contracts/:id/terminate", h.allow(renewals), h.idempotent, h.terminateContract)
	v1.POST("/contracts/:id/grace", h.allow(renewals), h.idempotent, h.graceContract)
	v1.GET("/registration-help", h.allow(staff(models.RoleSupport)), h.helpQueue)
	v1.POST("/registration-help/:id/resolve", h.allow(staff(models.RoleSupport)), h.idempotent, h.resolveHelp)

	// Pages: the links of letters land here. Each form's POST carries the letter's token, which
	// is itself the secret, so these need no session or CSRF token.
	set, err := loadPages()
	if err != nil {
		return nil, err
	}
	static, err := staticFiles()
	if err != nil {
		return nil, err
	}
	pg := &pages{set: set, identity: d.Identity}
	r.GET("/static/*file", static)
	r.GET("/verify", pg.verifyForm)
	r.POST("/verify", pg.verify)
	r.GET("/reset-password", pg.resetForm)
	r.POST("/reset-password", pg.reset)
	r.GET("/invitations", pg.invitation)

	return r, nil
}
