package handlers

// The renewal window (ENTITLED_RENEWAL_WINDOW_DAYS) is the default of the portal's renewals
// dashboard and spreadsheet as of the API's: set to 45 days, GET /renewals.csv and
// GET /v1/renewals?format=csv answer the same rows, and neither the 90 days they used to.

import (
	"net/http"
	"strings"
	"testing"

	"entitled/handlers/handlerstest"
	"entitled/models"
)

// withRenewalWindow sets ENTITLED_RENEWAL_WINDOW_DAYS (the services' window, as server/serve.go
// wires it).
func withRenewalWindow(days int) appOption {
	return func(c *handlerstest.Options) { c.RenewalWindow = days }
}

func TestRenewalWindow_PortalCSVAgreesWithAPI(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		ops := a.newStaff(t, models.RoleOps).token
		rs := a.newStaff(t, models.RoleRenewals)
		// Today is 2026-03-02.
		a.contractFor(t, ops, "Twenty Days GmbH", "standard", "2025-03-23", "2026-03-22")
		a.contractFor(t, ops, "Forty Days Ltd", "standard", "2025-04-12", "2026-04-11")
		a.contractFor(t, ops, "Fifty Days Inc", "standard", "2025-04-22", "2026-04-21")
		a.contractFor(t, ops, "Eighty SA", "standard", "2025-05-22", "2026-05-21")

		api := a.do(t, "GET", "/v1/renewals?format=csv", rs.token, nil)
		if api.status != http.StatusOK {
			t.Fatalf("API CSV: %s", api)
		}
		b := a.signedIn(t, rs)
		portal := b.Get(t, "/renewals.csv")
		if portal.Status != http.StatusOK || !strings.HasPrefix(portal.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("portal CSV: %s", portal)
		}
		if got, want := portal.Body, string(api.raw); got != want {
			t.Errorf("the portal's CSV is not the API's:\nportal:\n%s\nAPI:\n%s", got, want)
		}
		if got, want := portal.Header.Get("Content-Disposition"), api.header.Get("Content-Disposition"); got != want || !strings.Contains(got, "within-45-days") {
			t.Errorf("Content-Disposition: portal %q, API %q; want the 45-day window's", got, want)
		}
		for _, name := range []string{"Twenty Days GmbH", "Forty Days Ltd"} {
			if !strings.Contains(portal.Body, name) {
				t.Errorf("the 45-day CSV lacks %s:\n%s", name, portal.Body)
			}
		}
		for _, name := range []string{"Fifty Days Inc", "Eighty SA"} {
			if strings.Contains(portal.Body, name) {
				t.Errorf("the 45-day CSV lists %s, due later:\n%s", name, portal.Body)
			}
		}
		// The dashboard opens on the same window and offers that spreadsheet.
		handlerstest.WantPage(t, b.Get(t, "/renewals"), http.StatusOK, "Expiring within 45 days", `href="/renewals.csv?within=45"`)
	}, withRenewalWindow(45))
}
