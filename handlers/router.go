// Package handlers is the HTTP face of entitled: it decodes requests, calls one store service
// method, and encodes the answer or the problem. No business rule lives here.
package handlers

import (
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"entitled/handlers/pages"
	"entitled/handlers/sso"
	"entitled/models"
	"entitled/models/store"
)

// Deps is everything the HTTP layer needs, passed in by the server's wiring.
type Deps struct {
	Store          *store.Store
	Identity       *store.Identity
	Catalogue      *store.Catalogue
	Orders         *store.Orders
	Accounts       *store.Accounts
	Licenses       *store.Licenses
	Registrations  *store.Registrations
	Help           *store.Help
	Contracts      *store.Contracts
	RateAnonPerMin int // anonymous letter-sending requests a minute per client address
	Log            *slog.Logger
	Registry       *prometheus.Registry // metrics are registered here and served at /metrics
	TrustedProxies []string             // CIDRs whose X-Forwarded-For is believed
	Keys           *store.Keyring       // signing keys: the JWKS, token signatures
	Tokens         *store.Tokens        // entitlement tokens: issue and introspection
	LicenseKeys    *store.LicenseKeys   // machine-bound license keys
	Webhooks       *store.Webhooks      // webhook endpoints and their deliveries
	BaseURL        string               // ENTITLED_BASE_URL: the OpenAPI document's server; "" keeps the document's own
	DownloadsURL   string               // ENTITLED_DOWNLOADS_URL: the download site a license page links to ("" none)
	CasesURL       string               // ENTITLED_CASES_URL: the case portal a license page links to ("" none)
	SSO            *sso.Client          // staff single sign-on (ENTITLED_OIDC_*); nil when off
}

// api holds the services the /v1 handlers call.
type api struct {
	store         *store.Store
	identity      *store.Identity
	catalogue     *store.Catalogue
	orders        *store.Orders
	accounts      *store.Accounts
	licenses      *store.Licenses
	registrations *store.Registrations
	help          *store.Help
	contracts     *store.Contracts
	tokens        *store.Tokens
	licenseKeys   *store.LicenseKeys
	webhooks      *store.Webhooks
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
	r.Use(withRequestID(d.Log), withBaseURL(d.BaseURL), recovery(), accessLog(), metrics.middleware(), securityHeaders(), limitBody())
	var portal *pages.Portal // declared below with the pages' routes
	r.NoRoute(func(c *gin.Context) {
		if pages.WantsPage(c) {
			portal.NotFound(c)
			return
		}
		fail(c, models.Errorf(models.CodeNotFound, "there is nothing at %s", c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		fail(c, models.Errorf(models.CodeMethodNotAllowed, "%s is not allowed here", c.Request.Method))
	})

	openAPIDoc, err := openAPIFor(d.BaseURL)
	if err != nil {
		return nil, err
	}
	probes := &opsHandlers{store: d.Store, registry: d.Registry, openAPIDoc: openAPIDoc}
	r.GET("/healthz", probes.health)
	r.GET("/readyz", probes.ready)
	r.GET("/metrics", probes.metrics())
	r.GET("/openapi.json", probes.openAPI)
	r.GET("/.well-known/jwks.json", (&keyHandlers{keys: d.Keys}).jwks)
	r.GET("/.well-known/entitled-configuration", configurationHandler(d.Tokens, d.BaseURL))

	h := &api{store: d.Store, identity: d.Identity, catalogue: d.Catalogue, orders: d.Orders, accounts: d.Accounts, licenses: d.Licenses,
		registrations: d.Registrations, help: d.Help, contracts: d.Contracts, tokens: d.Tokens, licenseKeys: d.LicenseKeys, webhooks: d.Webhooks}
	limiter := newAnonLimiter(d.RateAnonPerMin) // one budget per address, shared by the API and the pages
	anon := limiter.middleware
	superadmin := staff(models.RoleSuperadmin)

	// A handler in withBody takes the request's JSON body, decoded before it runs.
	v1 := r.Group("/v1")
	v1.POST("/auth/signup", public, anon, withBody(h.signup))
	v1.POST("/auth/verify", public, withBody(h.verify))
	v1.POST("/auth/login", public, withBody(h.login))
	v1.POST("/auth/logout", h.allow(anyUser), h.logout)
	v1.POST("/auth/password/forgot", public, anon, withBody(h.forgotPassword))
	v1.POST("/auth/password/reset", public, withBody(h.resetPassword))
	v1.POST("/me/password", h.allow(anyUser), withBody(h.changePassword))
	v1.GET("/me", h.allow(anyUser), h.me)
	v1.POST("/auth/login/mfa", public, withBody(h.loginMFA))
	v1.POST("/me/mfa/totp", h.allow(anyUser), h.enrolTOTP)
	v1.POST("/me/mfa/totp/confirm", h.allow(anyUser), withBody(h.confirmTOTP))
	v1.DELETE("/me/mfa/totp", h.allow(anyUser), withBody(h.disableTOTP))
	v1.GET("/me/sessions", h.allow(anyUser), h.listSessions)
	v1.DELETE("/me/sessions/:id", h.allow(anyUser), h.revokeSession)

	v1.GET("/users", h.allow(staff(models.RoleSupport)), h.findUsers)
	v1.GET("/staff", h.allow(superadmin), h.listStaff)
	v1.POST("/staff", h.allow(superadmin), h.idempotent, withBody(h.putStaff))
	v1.GET("/api-keys", h.allow(superadmin), h.listAPIKeys)
	// No Idempotency-Key here: a replay would have to keep the new key's secret to show it again.
	v1.POST("/api-keys", h.allow(superadmin), withBody(h.createAPIKey))
	v1.DELETE("/api-keys/:id", h.allow(superadmin), h.revokeAPIKey)
	v1.GET("/audit", h.allow(superadmin), h.listAudit)
	// No Idempotency-Key on registering a webhook: a replay would have to keep its secret.
	v1.POST("/webhooks", h.allow(superadmin), withBody(h.createWebhook))
	v1.GET("/webhooks", h.allow(superadmin), h.listWebhooks)
	v1.GET("/webhooks/:id", h.allow(superadmin), h.getWebhook)
	v1.PATCH("/webhooks/:id", h.allow(superadmin), withBody(h.updateWebhook))
	v1.DELETE("/webhooks/:id", h.allow(superadmin), h.deleteWebhook)
	v1.POST("/webhooks/:id/rotate-secret", h.allow(superadmin), h.rotateWebhookSecret)
	v1.POST("/webhooks/:id/ping", h.allow(superadmin), h.pingWebhook)
	v1.GET("/webhooks/:id/deliveries", h.allow(superadmin), h.listWebhookDeliveries)
	v1.POST("/webhooks/:id/deliveries/:delivery_id/retry", h.allow(superadmin), h.retryWebhookDelivery)

	ops := staff(models.RoleOps)
	renewals := staff(models.RoleRenewals)
	v1.POST("/products", h.allow(ops), h.idempotent, withBody(h.createProduct))
	v1.GET("/products", h.allow(anyUser), h.listProducts)
	v1.GET("/products/:sku", h.allow(anyUser), h.getProduct)
	v1.POST("/products/:sku/versions", h.allow(ops), h.idempotent, withBody(h.addVersion))
	v1.PATCH("/products/:sku/versions/:version", h.allow(ops), withBody(h.setPhase))
	v1.POST("/orders", h.allow(ops, scope(models.ScopeOrdersWrite)), h.idempotent, withBody(h.placeOrder))
	v1.PATCH("/accounts/:account_id", h.allow(ops, renewals), withBody(h.updateAccount))
	v1.POST("/accounts/recover", public, anon, withBody(h.recoverAccount))
	// License routes admit any user; membership and roles on the license are the service's to
	// check (403 not_a_member, role_missing), with staff support acting as admin anywhere.
	v1.POST("/registrations", h.allow(anyUser), h.idempotent, withBody(h.register))
	v1.GET("/licenses", h.allow(anyUser), h.myLicenses)
	v1.GET("/licenses/:ln", h.allow(anyUser), h.getLicense)
	v1.GET("/licenses/:ln/members", h.allow(anyUser), h.listMembers)
	v1.PUT("/licenses/:ln/members/:email", h.allow(anyUser), withBody(h.putMember))
	v1.DELETE("/licenses/:ln/members/:email", h.allow(anyUser), h.removeMember)
	v1.GET("/licenses/:ln/requests", h.allow(anyUser), h.listRequests)
	v1.POST("/licenses/:ln/requests/:id/approve", h.allow(anyUser), h.idempotent, withBody(h.approveRequest))
	v1.POST("/licenses/:ln/requests/:id/reject", h.allow(anyUser), h.idempotent, h.rejectRequest)
	v1.DELETE("/requests/:id", h.allow(anyUser), h.withdrawRequest)
	v1.GET("/licenses/:ln/audit", h.allow(anyUser), h.licenseAudit)
	v1.GET("/licenses/:ln/support", h.allow(anyUser), h.licenseSupport)
	v1.GET("/entitlements/check", h.allow(anyUser, scope(models.ScopeEntitlementsIntrospect)), h.checkEntitlement)
	v1.POST("/entitlements/token", h.allow(anyUser), withBody(h.issueToken))
	v1.POST("/entitlements/introspect", h.allow(scope(models.ScopeEntitlementsIntrospect)), h.introspect)
	v1.GET("/status-lists/:id", public, (&statusListHandlers{lists: d.Tokens.StatusLists()}).get)
	v1.POST("/licenses/:ln/keys", h.allow(anyUser), h.idempotent, withBody(h.issueLicenseKey))
	v1.GET("/licenses/:ln/keys", h.allow(anyUser), h.listLicenseKeys)
	v1.DELETE("/licenses/:ln/keys/:id", h.allow(anyUser), h.releaseLicenseKey)
	v1.POST("/registration-help", public, anon, withBody(h.askHelp))
	v1.GET("/contracts", h.allow(renewals), h.listContracts)
	v1.GET("/renewals", h.allow(renewals, scope(models.ScopeRenewalsRead)), h.listRenewals)
	v1.POST("/contracts/:id/renewals", h.allow(renewals), h.idempotent, withBody(h.renewContract))
	v1.POST("/contracts/:id/upgrade", h.allow(renewals), h.idempotent, withBody(h.upgradeContract))
	v1.POST("/contracts/:id/terminate", h.allow(renewals), h.idempotent, withBody(h.terminateContract))
	v1.POST("/contracts/:id/grace", h.allow(renewals), h.idempotent, withBody(h.graceContract))
	v1.GET("/contracts/:id", h.allow(renewals), h.getContract)
	v1.PATCH("/contracts/:id/renewal", h.allow(renewals), withBody(h.patchRenewal))
	v1.POST("/contracts/:id/notes", h.allow(renewals), h.idempotent, withBody(h.addNote))
	v1.POST("/contracts/bulk", h.allow(renewals), h.idempotent, withBody(h.bulkRenewal))
	v1.GET("/renewals/forecast", h.allow(renewals, scope(models.ScopeRenewalsRead)), h.renewalForecast)
	v1.GET("/accounts/:account_id", h.allow(ops, renewals), h.getAccount)
	v1.POST("/accounts/:account_id/coterm", h.allow(renewals), h.idempotent, withBody(h.cotermAccount))
	v1.GET("/registration-help", h.allow(staff(models.RoleSupport)), h.helpQueue)
	v1.POST("/registration-help/:id/resolve", h.allow(staff(models.RoleSupport)), h.idempotent, withBody(h.resolveHelp))

	// Pages: the portal, on the same services and the same sessions as the API; its routes, each
	// with its guard, are declared in pages.Register (handlers/pages/routes.go). It shares the
	// anonymous budget with the API and answers a failure with the same problem mapping.
	portal, err = pages.New(pages.Deps{
		Identity: d.Identity, Catalogue: d.Catalogue, Accounts: d.Accounts, Licenses: d.Licenses, Registrations: d.Registrations,
		Help: d.Help, Contracts: d.Contracts, LicenseKeys: d.LicenseKeys, Webhooks: d.Webhooks,
		SetPrincipal: func(c *gin.Context, p *models.Principal) { c.Set(ctxPrincipal, p) },
		Principal:    principal, Actor: actor, RequestID: requestID, Logger: logger, Fail: fail,
		Problem:       func(err error) (int, string) { status, p := problemFor(err); return status, p.Detail },
		Throttle:      limiter.take,
		ContractsCSV:  func(c *gin.Context, f models.ContractFilter) { (&api{contracts: d.Contracts}).exportContracts(c, f) },
		ProblemStatus: func(code string) (int, bool) { s, ok := statusByCode[code]; return s, ok },
		ListAudit:     d.Store.ListAudit,
		DownloadsURL:  d.DownloadsURL, CasesURL: d.CasesURL, SSO: d.SSO,
	})
	if err != nil {
		return nil, err
	}
	portal.Register(r)

	return r, nil
}
