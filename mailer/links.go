package mailer

import (
	"net/url"
	"strings"
)

// Links builds every URL a letter carries, in one place: the portal pages the letters point to.
// Base is ENTITLED_BASE_URL (a trailing slash is ignored). Each method is named for the page it
// links to; path segments are escaped with url.PathEscape and query values with url.QueryEscape.
//
// handlers/letterlinks_test.go calls every method (by reflection, so a new one is covered too) and
// checks that the router serves the link with GET: renaming a page's route breaks that test
// instead of the letters.
type Links struct {
	Base string
}

// NewLinks returns the links of the portal at base.
func NewLinks(base string) Links { return Links{Base: strings.TrimRight(base, "/")} }

// page is the absolute URL of path (which starts with "/", its segments already escaped).
func (l Links) page(path string) string { return strings.TrimRight(l.Base, "/") + path }

// withToken is the page at path carrying a letter's single-use token in its query.
func (l Links) withToken(path, token string) string {
	return l.page(path) + "?" + url.Values{"token": {token}}.Encode()
}

// Verify is the page that confirms a new user's email address with the letter's token.
func (l Links) Verify(token string) string { return l.withToken("/verify", token) }

// ResetPassword is the page that sets a new password with the letter's token.
func (l Links) ResetPassword(token string) string { return l.withToken("/reset-password", token) }

// Invitation is the page that accepts an invitation to a license with the letter's token.
func (l Links) Invitation(token string) string { return l.withToken("/invitations", token) }

// Register is the page where a user registers a License Number.
func (l Links) Register() string { return l.page("/register") }

// Licenses is the signed-in user's list of licenses.
func (l Links) Licenses() string { return l.page("/licenses") }

// License is the page of the license numbered ln.
func (l Links) License(ln string) string { return l.page("/licenses/" + url.PathEscape(ln)) }

// LicenseRequests is where a license's admins review the requests to join license ln.
func (l Links) LicenseRequests(ln string) string {
	return l.page("/licenses/" + url.PathEscape(ln) + "/requests")
}

// RegistrationHelp is the form that asks support for help with a registration.
func (l Links) RegistrationHelp() string { return l.page("/registration-help") }

// Webhook is the superadmins' page of the webhook endpoint with the id.
func (l Links) Webhook(id string) string { return l.page("/staff/webhooks/" + url.PathEscape(id)) }

// Renewals is the renewal desk's list of contracts coming up for renewal.
func (l Links) Renewals() string { return l.page("/renewals") }

// Login is the sign-in page. Templates that need no per-letter link take theirs from the
// Renderer's Links: {{.Links.Login}}, {{.Links.ForgotPassword}}.
func (l Links) Login() string { return l.page("/login") }

// ForgotPassword is the page that sends a password-reset letter.
func (l Links) ForgotPassword() string { return l.page("/forgot-password") }

// Security is the signed-in user's page of second factors and sessions.
func (l Links) Security() string { return l.page("/account/security") }
