package main

// What the tests of several replicas on one PostgreSQL database (fleet_test.go, fleetfaults_test.go,
// replicas_test.go) set up and count alike.

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"entitled/mailer/mailtest"
	"entitled/models/store"
	"entitled/models/storetest"
)

// slowTest runs t in parallel with the others, or skips it under -short, saying why: the tests
// that start several processes or wait out a timeout take tens of seconds each.
func slowTest(t *testing.T, why string) {
	t.Helper()
	if testing.Short() {
		t.Skip(why)
	}
	t.Parallel()
}

// postgresURL is a fresh PostgreSQL database for the test; without PostgreSQL the test is skipped.
func postgresURL(t *testing.T) string {
	t.Helper()
	if !slices.Contains(storetest.Dialects(t), store.Postgres) {
		t.Skip("PostgreSQL does not answer")
	}
	return storetest.URL(t, store.Postgres)
}

// fleetSetups starts a mail sink and returns it with the setups of n replicas of one deployment:
// each its own data directory, all the same database, mail sink and secret.
func fleetSetups(t *testing.T, n int, dbURL string) (*mailtest.Sink, []setup) {
	sink := mailtest.Start(t)
	setups := make([]setup, n)
	for i := range setups {
		setups[i] = setup{DataDir: t.TempDir(), DatabaseURL: dbURL, SMTPURL: sink.URL(), Secret: testSecret}
	}
	return sink, setups
}

// prepareFleetDB migrates the database of s and adds the root staff user (superadmin and ops,
// replicaPassword) and the order system's API key, which it returns.
func prepareFleetDB(t *testing.T, s setup) (ordersKey string) {
	t.Helper()
	replicaCLI(t, s, "", "migrate", "up")
	replicaCLI(t, s, replicaPassword+"\n", "staff", "add", "--email", "root@vendor.test", "--roles", "superadmin,ops", "--name", "Root")
	return strings.TrimSpace(replicaCLI(t, s, "", "apikey", "create", "--name", "order system", "--scopes", "orders:write"))
}

// orderLicense places through p an order (ref) of 20 perpetual seats of sku, with standard
// support from 30 days ago to a year from now, and returns the one license it made.
func orderLicense(t *testing.T, p *process, ordersKey, ref, account, contact, sku string) string {
	t.Helper()
	today := time.Now().UTC()
	body := map[string]any{
		"order_ref":       ref,
		"account":         map[string]any{"name": account},
		"primary_contact": map[string]any{"name": "Pat Contact", "email": contact},
		"items": []map[string]any{{"sku": sku, "quantity": 20, "kind": "perpetual",
			"support": map[string]any{"program": "standard", "starts_on": today.AddDate(0, 0, -30).Format(time.DateOnly), "ends_on": today.AddDate(1, 0, 0).Format(time.DateOnly)}}},
	}
	var res struct {
		Licenses []struct {
			LicenseNumber string `json:"license_number"`
		} `json:"licenses"`
	}
	replicaAPI(t, p, "POST", "/v1/orders", ordersKey, body, &res, http.StatusCreated)
	if len(res.Licenses) != 1 {
		t.Fatalf("order %s made %d licenses, want 1", ref, len(res.Licenses))
	}
	return res.Licenses[0].LicenseNumber
}

// licenseWithAdmin makes through the proxy a product (root's token), an order of it (ordersKey)
// and a customer, signed up on a and verified on b, who registers the order's license and so is
// its admin: the license number and the admin. name and domain keep a test's data apart
// ("Fleet", "fleet.test").
func (p *fleetProxy) licenseWithAdmin(t *testing.T, sink *mailtest.Sink, a, b *process, root, ordersKey, name, domain string) (string, replicaUser) {
	t.Helper()
	sku := strings.ToUpper(name) + "-1"
	p.api(t, "POST", "/v1/products", root, map[string]any{"sku": sku, "name": name + " Product"}, nil, http.StatusCreated)
	p.api(t, "POST", "/v1/products/"+sku+"/versions", root, map[string]any{"version": "1.0", "released_on": "2025-01-15", "phase": "full"}, nil, http.StatusCreated)
	ln := orderLicense(t, p.front(t), ordersKey, sku, name+" Account", "buyer@"+domain, sku)
	admin := replicaSignUp(t, sink, a, b, "admin@"+domain, name+" Admin")
	p.api(t, "POST", "/v1/registrations", admin.session, map[string]any{"license_number": ln}, nil, http.StatusCreated)
	return ln, admin
}

// noticeLetters counts the contracts due a notice whose letter never reached the sink, and
// those whose letter reached it more than once.
func noticeLetters(sink *mailtest.Sink, due []storetest.Seeded) (missing, doubled int) {
	for _, c := range due {
		switch got := lettersWith(sink, c.ContactEmail, c.LicenseNumber); len(got) {
		case 1:
		case 0:
			missing++
		default:
			doubled++
		}
	}
	return missing, doubled
}

// checkNoticeLetters fails the test unless each contract due a notice has its letter at the sink
// exactly once.
func checkNoticeLetters(t *testing.T, sink *mailtest.Sink, due []storetest.Seeded) {
	t.Helper()
	if missing, doubled := noticeLetters(sink, due); missing+doubled > 0 {
		t.Errorf("of %d notices, %d never reached the sink and %d reached it more than once", len(due), missing, doubled)
	}
}
