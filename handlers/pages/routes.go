package pages

import (
	"github.com/gin-gonic/gin"

	"entitled/models"
)

// Register declares the portal's routes on r, each with its guard on one line, on the same
// services and the same sessions as the API. The session lives in a Secure, HttpOnly, SameSite=Lax
// cookie (never accepted by /v1). p.session resolves it on every page; in `site`, every POST must
// carry the session's CSRF token (p.checkCSRF). The letters' links (/verify, /reset-password)
// POST the letter's single-use token, which is itself the secret, so they need no CSRF token.
func (p *Portal) Register(r gin.IRouter) {
	r.GET("/static/*file", p.static)
	r.GET("/verify", p.session, p.verifyForm)
	r.POST("/verify", p.session, p.verify)
	r.GET("/reset-password", p.session, p.resetForm)
	r.POST("/reset-password", p.session, p.reset)
	r.GET("/invitations", p.session, p.invitation)
	// What a problem's type links to: anyone may read what an error code means.
	r.GET("/problems", p.session, p.problems)
	r.GET("/problems/:code", p.session, p.problem)

	site := r.Group("", p.session, p.checkCSRF)
	site.GET("/", p.home)
	site.GET("/signup", p.signupForm)
	site.POST("/signup", p.anon, p.signup)
	site.GET("/signup/check-mail", p.checkMail)
	site.GET("/login", p.loginForm)
	site.POST("/login", p.login)
	site.POST("/logout", p.signedIn, p.logout)
	site.GET("/forgot-password", p.forgotForm)
	site.POST("/forgot-password", p.anon, p.forgot)
	site.GET("/account", p.signedIn, p.account)
	site.POST("/account/password", p.signedIn, p.changePassword)
	site.GET("/registration-help", p.helpForm)
	site.POST("/registration-help", p.anon, p.askHelp)
	site.GET("/recover", p.recoverForm)
	site.POST("/recover", p.anon, p.recoverAccount)
	// A license's pages admit any signed-in user; membership and roles are the services' to check.
	site.GET("/register", p.signedIn, p.registerForm)
	site.POST("/register", p.signedIn, p.register)
	site.GET("/register/done", p.signedIn, p.registered)
	site.POST("/requests/:id/withdraw", p.signedIn, p.withdraw)
	site.GET("/licenses", p.signedIn, p.myLicenses)
	site.GET("/licenses/:ln", p.signedIn, p.license)
	site.GET("/licenses/:ln/members", p.signedIn, p.members)
	site.POST("/licenses/:ln/members", p.signedIn, p.putMember)
	site.POST("/licenses/:ln/members/remove", p.signedIn, p.removeMember)
	site.POST("/licenses/:ln/invitations/cancel", p.signedIn, p.cancelInvitation)
	site.GET("/licenses/:ln/requests", p.signedIn, p.requestsLink)
	site.POST("/licenses/:ln/requests/:id/approve", p.signedIn, p.decide(true))
	site.POST("/licenses/:ln/requests/:id/reject", p.signedIn, p.decide(false))
	site.GET("/licenses/:ln/audit", p.signedIn, p.audit)
	site.GET("/licenses/:ln/keys", p.signedIn, p.licenseKeysPage)
	site.POST("/licenses/:ln/keys", p.signedIn, p.issueKey)
	site.GET("/licenses/:ln/keys/:id", p.signedIn, p.licenseKey)
	site.POST("/licenses/:ln/keys/:id/release", p.signedIn, p.releaseKey)
	site.GET("/staff/help", p.staffPage(models.RoleSupport), p.helpQueue)
	site.POST("/staff/help/:id/resolve", p.staffPage(models.RoleSupport), p.resolveHelp)
	site.POST("/staff/help/:id/make-admin", p.staffPage(models.RoleSupport), p.makeAdmin)
	site.GET("/staff/products", p.staffPage(models.RoleOps), p.products)
	site.POST("/staff/products", p.staffPage(models.RoleOps), p.createProduct)
	site.POST("/staff/products/:sku/versions", p.staffPage(models.RoleOps), p.addVersion)
	site.POST("/staff/products/:sku/versions/:version/phase", p.staffPage(models.RoleOps), p.setPhase)
	site.GET("/staff/users", p.staffPage(models.RoleSuperadmin), p.staffUsers)
	site.POST("/staff/users", p.staffPage(models.RoleSuperadmin), p.putStaff)
	site.GET("/staff/api-keys", p.staffPage(models.RoleSuperadmin), p.apiKeys)
	site.POST("/staff/api-keys", p.staffPage(models.RoleSuperadmin), p.createAPIKey)
	site.POST("/staff/api-keys/:id/revoke", p.staffPage(models.RoleSuperadmin), p.revokeAPIKey)
	site.GET("/staff/audit", p.staffPage(models.RoleSuperadmin), p.auditLog)
	site.GET("/renewals", p.staffPage(models.RoleRenewals), p.renewals)
	site.GET("/renewals.csv", p.staffPage(models.RoleRenewals), p.renewalsCSV)
	site.GET("/contracts/:id", p.staffPage(models.RoleRenewals), p.contract)
	site.POST("/contracts/:id/:action", p.staffPage(models.RoleRenewals), p.contractAction)
	site.GET("/staff/webhooks", p.staffPage(models.RoleSuperadmin), p.webhooks)
	site.POST("/staff/webhooks", p.staffPage(models.RoleSuperadmin), p.createWebhook)
	site.GET("/staff/webhooks/:id", p.staffPage(models.RoleSuperadmin), p.webhook)
	site.POST("/staff/webhooks/:id/:action", p.staffPage(models.RoleSuperadmin), p.webhookAction)
	site.POST("/staff/webhooks/:id/deliveries/:delivery/retry", p.staffPage(models.RoleSuperadmin), p.retryWebhookDelivery)
}
