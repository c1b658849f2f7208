package handlers

// The renewal window (ENTITLED_RENEWAL_WINDOW_DAYS) is the default of the portal's renewals
// dashboard and spreadsheet as of the API's: set to 45 days, GET /renewals.csv and
// GET /v1/renewals?format=csv answer the same rows, and neither the 90 days they used to.

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"entitled/mailer"
	"entitled/models"
	dbstore "entitled/models/store"
)

// withRenewalWindow serves the test app again with the renewal window set to days, wired as
// server/serve.go wires ENTITLED_RENEWAL_WINDOW_DAYS (the services' window).
func (a *testApp) withRenewalWindow(t *testing.T, days int) {
	t.Helper()
	renderer, err := mailer.NewRenderer(testBaseURL)
	if err != nil {
		t.Fatal(err)
	}
	outbox := mailer.NewOutbox(a.jobs, renderer)
	h, err := New(Deps{
		Store: a.store, Identity: a.identity,
		Catalogue:      dbstore.NewCatalogue(a.store),
		Orders:         dbstore.NewOrders(a.store, outbox, testBaseURL),
		Accounts:       dbstore.NewAccounts(a.store, outbox, testBaseURL),
		Licenses:       dbstore.NewLicenses(a.store, days),
		Registrations:  dbstore.NewRegistrations(a.store, outbox, testBaseURL),
		Help:           dbstore.NewHelp(a.store, outbox),
		Contracts:      dbstore.NewContracts(a.store, outbox, days),
		RateAnonPerMin: 100000,
		Keys:           a.keys, Tokens: a.tokens, LicenseKeys: dbstore.NewLicenseKeys(a.store, a.keys, testBaseURL, days),
	})
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	a.handler, a.srv = h, srv
}

func TestRenewalWindow_PortalCSVAgreesWithAPI(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		a.withRenewalWindow(t, 45)
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
		portal := b.get(t, "/renewals.csv")
		if portal.status != http.StatusOK || !strings.HasPrefix(portal.header.Get("Content-Type"), "text/csv") {
			t.Fatalf("portal CSV: %s", portal)
		}
		if got, want := portal.body, string(api.raw); got != want {
			t.Errorf("the portal's CSV is not the API's:\nportal:\n%s\nAPI:\n%s", got, want)
		}
		if got, want := portal.header.Get("Content-Disposition"), api.header.Get("Content-Disposition"); got != want || !strings.Contains(got, "within-45-days") {
			t.Errorf("Content-Disposition: portal %q, API %q; want the 45-day window's", got, want)
		}
		for _, name := range []string{"Twenty Days GmbH", "Forty Days Ltd"} {
			if !strings.Contains(portal.body, name) {
				t.Errorf("the 45-day CSV lacks %s:\n%s", name, portal.body)
			}
		}
		for _, name := range []string{"Fifty Days Inc", "Eighty SA"} {
			if strings.Contains(portal.body, name) {
				t.Errorf("the 45-day CSV lists %s, due later:\n%s", name, portal.body)
			}
		}
		// The dashboard opens on the same window and offers that spreadsheet.
		wantPage(t, b.get(t, "/renewals"), http.StatusOK, "Expiring within 45 days", `href="/renewals.csv?within=45"`)
	})
}
