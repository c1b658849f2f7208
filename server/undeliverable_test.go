package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// "renewals notify" goes on past a contract whose contact cannot take mail (stored before
// addresses were checked as they are now): the customer 26 days from lapse beside it gets the
// notice, the skipped one is printed with what to do, and the summary counts it. Issue 16, item 4.
func TestRenewalsNotify_SkipsAnUndeliverableContactAndNotifiesEveryoneElse(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		t.Parallel()
		s := setup{DataDir: t.TempDir(), DatabaseURL: storetest.URL(t, d)}
		mustCLI(t, s, "", "migrate", "up")
		store := openDB(t, s.DatabaseURL)
		today := models.DateOf(time.Now())
		bad := storetest.SeedContract(t, store, storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(20)})
		if err := storetest.Gorm(t, store).Exec("UPDATE accounts SET contact_email = ? WHERE account_id = ?", "x@[10.0.0.1]", bad.AccountID).Error; err != nil {
			t.Fatal(err)
		}
		good := storetest.SeedContract(t, store, storetest.Contract{StartsOn: today.AddDays(-300), EndsOn: today.AddDays(26), ContactEmail: "pat@acme.test"})

		out := mustCLI(t, s, "", "renewals", "notify")
		for _, want := range []string{
			fmt.Sprintf("renewal notice (30 days)  contract %d  %s  ends %s, 26 day(s) left  to pat@acme.test", good.ContractID, good.LicenseNumber, today.AddDays(26)),
			fmt.Sprintf("NOT SENT: renewal notice (30 days)  contract %d  %s  account %s: the primary contact's address \"x@[10.0.0.1]\" cannot take mail", bad.ContractID, bad.LicenseNumber, bad.AccountID),
			today.String() + ": queued 1 renewal notice(s), 0 lapse notice(s), 0 digest letter(s); 2 contract(s) examined; 1 not sent: the primary contact's address cannot take mail",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("renewals notify printed:\n%s\nwant a line %q", out, want)
			}
		}
	})
}
