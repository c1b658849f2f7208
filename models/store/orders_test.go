package store_test

// Orders on both dialects: an order makes the account, its licenses (with valid License Numbers)
// and their contracts, and queues one welcome letter, all in one transaction; an order_ref is
// placed once; a renewal item appends a term from the day after ends_on; add_quantity adds seats.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"entitled/mailer"
	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// shopDay is the day the order, registration, contract and license-key specifications start on.
var shopDay = models.NewDate(2026, 3, 2)

const (
	shopSKU     = "ENT-SRV"
	shopProduct = "Entitled Server"
	shopVersion = "4.2.0"
)

// orderSystem is who places orders in these tests.
var orderSystem = models.Actor{Kind: models.ActorSystem, IP: "192.0.2.10", RequestID: "spec"}

// shop is the order, registration and contract services on a fresh database, with one product
// (shopSKU, version shopVersion released a month before shopDay) and the clock at shopDay 09:00.
type shop struct {
	store         *dbstore.Store
	clock         *models.FixedClock
	jobs          *river.Client[*sql.Tx]
	catalogue     *dbstore.Catalogue
	orders        *dbstore.Orders
	registrations *dbstore.Registrations
	contracts     *dbstore.Contracts
}

func newShop(tb testing.TB, d dbstore.Dialect) *shop {
	tb.Helper()
	clock := models.NewFixedClock(shopDay.Time().Add(9 * time.Hour))
	store := storetest.Open(tb, d, clock)
	outbox, jobs := newOutbox(tb, store, nil)
	s := &shop{store: store, clock: clock, jobs: jobs, catalogue: dbstore.NewCatalogue(store),
		orders: dbstore.NewOrders(store, outbox, baseURL), registrations: dbstore.NewRegistrations(store, outbox, baseURL),
		contracts: dbstore.NewContracts(store, outbox, 90)}
	ctx := context.Background()
	if _, err := s.catalogue.CreateProduct(ctx, shopSKU, shopProduct, orderSystem); err != nil {
		tb.Fatalf("product: %v", err)
	}
	if _, err := s.catalogue.AddVersion(ctx, shopSKU, models.VersionInput{Version: shopVersion, ReleasedOn: shopDay.AddDays(-30).String()}, orderSystem); err != nil {
		tb.Fatalf("version: %v", err)
	}
	return s
}

// on moves the clock to a day (at 09:00 UTC).
func (s *shop) on(d models.Date) { s.clock.Set(d.Time().Add(9 * time.Hour)) }

// letters are the queued letters of a kind, oldest first.
func (s *shop) letters(tb testing.TB, kind string) []mailer.Letter {
	tb.Helper()
	return storetest.Letters(tb, s.jobs, func(l mailer.Letter) bool { return kind == "" || l.Kind == kind })
}

// rows counts the rows of a table that match where.
func (s *shop) rows(tb testing.TB, table, where string, args ...any) int64 {
	tb.Helper()
	var n int64
	q := s.store.GormDB().Table(table)
	if where != "" {
		q = q.Where(where, args...)
	}
	if err := q.Count(&n).Error; err != nil {
		tb.Fatalf("count %s: %v", table, err)
	}
	return n
}

// wantRows fails the test unless the table has want rows that match where (all when where is
// ""); what says what they stand for.
func (s *shop) wantRows(tb testing.TB, want int64, what, table, where string, args ...any) {
	tb.Helper()
	if got := s.rows(tb, table, where, args...); got != want {
		tb.Errorf("%s: %d rows of %s, want %d", what, got, table, want)
	}
}

// place places an order and fails the test if it fails.
func (s *shop) place(tb testing.TB, in models.OrderInput) *models.OrderResult {
	tb.Helper()
	res, err := s.orders.Place(context.Background(), in, orderSystem)
	if err != nil {
		tb.Fatalf("order %s: %v", in.OrderRef, err)
	}
	return res
}

// terms are a contract's terms, in order.
func (s *shop) terms(tb testing.TB, contractID int64) []models.ContractTerm {
	tb.Helper()
	var out []models.ContractTerm
	if err := s.store.GormDB().Where("contract_id = ?", contractID).Order("seq").Find(&out).Error; err != nil {
		tb.Fatal(err)
	}
	return out
}

// contract reads a contract row back.
func (s *shop) contract(tb testing.TB, id int64) models.Contract {
	tb.Helper()
	var c models.Contract
	if err := s.store.GormDB().Take(&c, id).Error; err != nil {
		tb.Fatal(err)
	}
	return c
}

func intp(n int) *int    { return &n }
func boolp(b bool) *bool { return &b }

// newServerOrder is an order of one perpetual shopSKU license of qty seats with a year of
// standard support from shopDay, for a new account.
func newServerOrder(ref string, qty int) models.OrderInput {
	return models.OrderInput{OrderRef: ref, AccountName: "Acme Ltd", ContactName: "Pat Buyer", ContactEmail: "pat@acme.example",
		Items: []models.OrderItem{{SKU: shopSKU, Quantity: intp(qty), Kind: models.KindPerpetual,
			Support: &models.SupportInput{Program: models.ProgramStandard, EndsOn: shopDay.AddDays(364).String()}}}}
}

// An order for a new account makes the account, a license per item with a valid License Number,
// a contract per item with the terms ordered (and its initial term), an audit row per license,
// and exactly one welcome letter to the primary contact naming every new License Number.
func TestOrderCreatesAccountLicensesContractsAndOneWelcomeLetter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		in := models.OrderInput{OrderRef: "PO-1001", AccountName: "Acme Ltd", ContactName: "Pat Buyer", ContactEmail: "Pat@Acme.example",
			Items: []models.OrderItem{
				{SKU: strings.ToLower(shopSKU), Quantity: intp(5), Kind: models.KindPerpetual,
					Support: &models.SupportInput{Program: models.ProgramStandard, EndsOn: shopDay.AddDays(364).String()}},
				{SKU: shopSKU, Quantity: intp(2), Kind: models.KindSubscription,
					Support: &models.SupportInput{Program: models.Program24x7, Premier: boolp(true), StartsOn: shopDay.AddDays(7).String(), EndsOn: shopDay.AddDays(371).String()}},
			}}
		res := s.place(t, in)

		if _, ok := models.ParseAccountID(res.Account.AccountID); !ok {
			t.Errorf("Account ID %q is not a 7-digit Account ID", res.Account.AccountID)
		}
		s.wantRows(t, 1, "accounts with the new Account ID and the normalised contact", "accounts", "account_id = ? AND contact_email = ?", res.Account.AccountID, "pat@acme.example")
		if len(res.Licenses) != 2 {
			t.Fatalf("licenses in the result = %d, want 2", len(res.Licenses))
		}
		want := []struct {
			qty              int
			kind, program    string
			premier          bool
			startsOn, endsOn models.Date
		}{
			{5, models.KindPerpetual, models.ProgramStandard, false, shopDay, shopDay.AddDays(364)},
			{2, models.KindSubscription, models.Program24x7, true, shopDay.AddDays(7), shopDay.AddDays(371)},
		}
		seen := map[string]bool{}
		for i, ld := range res.Licenses {
			ln := ld.License.LicenseNumber
			if canon, err := models.ParseLicenseNumber(ln); err != nil || canon != ln {
				t.Errorf("license %d: License Number %q is not a valid canonical License Number (%q, %v)", i, ln, canon, err)
			}
			if seen[ln] {
				t.Errorf("License Number %s given twice", ln)
			}
			seen[ln] = true
			var lic models.License
			if err := s.store.GormDB().Where("license_number = ?", ln).Take(&lic).Error; err != nil {
				t.Fatalf("license %s not stored: %v", ln, err)
			}
			if lic.Quantity != want[i].qty || lic.Kind != want[i].kind || lic.AccountID != res.Account.ID || !lic.OrderedOn.Equal(shopDay) {
				t.Errorf("license %d stored as quantity %d, kind %s, account %d, ordered %s; want %d, %s, %d, %s",
					i, lic.Quantity, lic.Kind, lic.AccountID, lic.OrderedOn, want[i].qty, want[i].kind, res.Account.ID, shopDay)
			}
			if ld.Contract == nil {
				t.Fatalf("license %d has no contract", i)
			}
			c := s.contract(t, ld.Contract.ID)
			if c.LicenseID != lic.ID || c.Program != want[i].program || c.Premier != want[i].premier || !c.StartsOn.Equal(want[i].startsOn) || !c.EndsOn.Equal(want[i].endsOn) {
				t.Errorf("contract %d = %s premier=%v %s..%s, want %s premier=%v %s..%s", i, c.Program, c.Premier, c.StartsOn, c.EndsOn,
					want[i].program, want[i].premier, want[i].startsOn, want[i].endsOn)
			}
			terms := s.terms(t, c.ID)
			if len(terms) != 1 || terms[0].Kind != models.TermInitial || terms[0].Seq != 1 || !terms[0].StartsOn.Equal(want[i].startsOn) || !terms[0].EndsOn.Equal(want[i].endsOn) {
				t.Errorf("contract %d terms = %+v, want one initial term %s..%s", i, terms, want[i].startsOn, want[i].endsOn)
			}
		}
		s.wantRows(t, 1, "orders stored", "orders", "order_ref = ?", "PO-1001")
		s.wantRows(t, 2, "license.created audit rows", "audit_log", "action = ?", "license.created")
		letters := s.letters(t, "")
		if len(letters) != 1 || letters[0].Kind != "order_confirmation" {
			t.Fatalf("letters = %d (%v), want one order_confirmation", len(letters), letters)
		}
		if l := letters[0]; len(l.To) != 1 || l.To[0] != "pat@acme.example" {
			t.Errorf("welcome letter to %v, want [pat@acme.example]", l.To)
		}
		for ln := range seen {
			if !strings.Contains(letters[0].Text, ln) {
				t.Errorf("welcome letter does not name License Number %s", ln)
			}
		}
	})
}

// An order is one transaction: when its last item fails (an unknown SKU) nothing of the order is
// written — no account, license, contract, order or audit row — and no letter is queued.
func TestOrderThatFailsWritesNothingAndQueuesNoLetter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		in := newServerOrder("PO-2001", 3)
		in.Items = append(in.Items, models.OrderItem{SKU: "NO-SUCH-SKU", Quantity: intp(1), Kind: models.KindPerpetual})
		_, err := s.orders.Place(context.Background(), in, orderSystem)
		wantCode(t, err, models.CodeValidation, "order with an unknown SKU")
		for _, table := range []string{"accounts", "licenses", "contracts", "contract_terms", "orders"} {
			if got := s.rows(t, table, ""); got != 0 {
				t.Errorf("%s rows after a failed order = %d, want 0", table, got)
			}
		}
		s.wantRows(t, 0, "license audit rows after a failed order", "audit_log", "action LIKE ?", "license.%")
		if got := s.letters(t, ""); len(got) != 0 {
			t.Errorf("letters after a failed order = %d, want 0", len(got))
		}
	})
}

// An order_ref is placed once: the same order_ref again is order_ref_taken, whatever else the
// order says, and writes nothing — no account, license or letter.
func TestOrderRepeatedOrderRefIsTakenAndWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		s.place(t, newServerOrder("PO-3001", 1))
		again := newServerOrder(" PO-3001 ", 10)
		again.AccountName, again.ContactEmail = "Other Corp", "other@corp.example"
		_, err := s.orders.Place(context.Background(), again, orderSystem)
		wantCode(t, err, models.CodeOrderRefTaken, "repeated order_ref")
		for table, want := range map[string]int64{"accounts": 1, "licenses": 1, "contracts": 1, "orders": 1} {
			if got := s.rows(t, table, ""); got != want {
				t.Errorf("%s rows after the repeat = %d, want %d", table, got, want)
			}
		}
		if got := s.letters(t, "order_confirmation"); len(got) != 1 {
			t.Errorf("welcome letters after the repeat = %d, want 1", len(got))
		}
	})
}

// A renewal item appends a renewal term from the day after the current ends_on to the new
// ends_on — even when the order comes after support lapsed (backdated: no gap, no day paid twice)
// — moves the contract's ends_on, and says so in the order's letter.
func TestOrderRenewalAppendsTermFromDayAfterEndsOn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		first := s.place(t, newServerOrder("PO-4001", 2))
		ln, contractID := first.Licenses[0].License.LicenseNumber, first.Licenses[0].Contract.ID
		oldEnd := shopDay.AddDays(364)
		s.on(oldEnd.AddDays(10)) // support lapsed ten days ago
		newEnd := oldEnd.AddDays(365)
		renewal := models.OrderInput{OrderRef: "PO-4002", AccountID: first.Account.AccountID,
			Items: []models.OrderItem{{LicenseNumber: ln, Support: &models.SupportInput{EndsOn: newEnd.String()}}}}
		res := s.place(t, renewal)
		if len(res.Licenses) != 1 || res.Licenses[0].Contract == nil || !res.Licenses[0].Contract.EndsOn.Equal(newEnd) {
			t.Fatalf("renewal result = %+v, want the license with its contract ending %s", res.Licenses, newEnd)
		}
		c := s.contract(t, contractID)
		if !c.EndsOn.Equal(newEnd) || !c.StartsOn.Equal(shopDay) || c.Program != models.ProgramStandard {
			t.Errorf("contract after renewal = %s %s..%s, want standard %s..%s", c.Program, c.StartsOn, c.EndsOn, shopDay, newEnd)
		}
		terms := s.terms(t, contractID)
		if len(terms) != 2 {
			t.Fatalf("terms = %d, want the initial term and one renewal", len(terms))
		}
		r := terms[1]
		if r.Kind != models.TermRenewal || r.Seq != 2 || !r.StartsOn.Equal(oldEnd.AddDays(1)) || !r.EndsOn.Equal(newEnd) || r.OrderID == nil {
			t.Errorf("renewal term = %s #%d %s..%s order %v, want renewal #2 %s..%s from the order", r.Kind, r.Seq, r.StartsOn, r.EndsOn, r.OrderID, oldEnd.AddDays(1), newEnd)
		}
		if got := s.letters(t, "order_confirmation"); len(got) != 2 || !strings.Contains(got[1].Text, ln) {
			t.Errorf("letters = %d, want a second order_confirmation naming %s", len(got), ln)
		}

		// A renewal ending before the day after the current ends_on is refused, and adds no term.
		_, err := s.orders.Place(context.Background(), models.OrderInput{OrderRef: "PO-4003", AccountID: first.Account.AccountID,
			Items: []models.OrderItem{{LicenseNumber: ln, Support: &models.SupportInput{EndsOn: newEnd.String()}}}}, orderSystem)
		wantCode(t, err, models.CodeValidation, "renewal ending on the current ends_on")
		s.wantTermCount(t, contractID, 2, "terms after the refused renewal")
	})
}

// add_quantity raises a license's seats by that many, on the license's own account only.
func TestOrderAddQuantityRaisesSeats(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		first := s.place(t, newServerOrder("PO-5001", 5))
		ln := first.Licenses[0].License.LicenseNumber
		res := s.place(t, models.OrderInput{OrderRef: "PO-5002", AccountID: first.Account.AccountID,
			Items: []models.OrderItem{{LicenseNumber: ln, AddQuantity: intp(3)}}})
		if got := res.Licenses[0].License.Quantity; got != 8 {
			t.Errorf("quantity in the result = %d, want 8", got)
		}
		if got := s.rows(t, "licenses", "license_number = ? AND quantity = ?", ln, 8); got != 1 {
			t.Errorf("license %s does not have 8 seats stored", ln)
		}
		s.wantRows(t, 1, "license.seats_added audit rows", "audit_log", "action = ? AND subject_id = ?", "license.seats_added", ln)

		// Another account cannot add seats to it.
		other := s.place(t, newServerOrder("PO-5003", 1))
		_, err := s.orders.Place(context.Background(), models.OrderInput{OrderRef: "PO-5004", AccountID: other.Account.AccountID,
			Items: []models.OrderItem{{LicenseNumber: ln, AddQuantity: intp(100)}}}, orderSystem)
		wantCode(t, err, models.CodeValidation, "seats for another account's license")
		if got := s.rows(t, "licenses", "license_number = ? AND quantity = ?", ln, 8); got != 1 {
			t.Errorf("license %s no longer has 8 seats after the refused order", ln)
		}
	})
}

// fieldErr is the field error of a validation error for field, or nil.
func fieldErr(err error, field string) *models.FieldError {
	var e *models.Error
	if !errors.As(err, &e) {
		return nil
	}
	for i := range e.Fields {
		if e.Fields[i].Field == field {
			return &e.Fields[i]
		}
	}
	return nil
}

// A quantity beyond the largest an order takes says so: 1 to 1,000,000, not "at least 1".
func TestOrderQuantityOutOfRangeSaysTheRange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		_, err := s.orders.Place(context.Background(), newServerOrder("PO-7001", 1_000_001), orderSystem)
		wantCode(t, err, models.CodeValidation, "quantity 1,000,001")
		if f := fieldErr(err, "items[0].quantity"); f == nil || !strings.Contains(f.Detail, "1 to 1000000") {
			t.Errorf("field error = %+v, want items[0].quantity saying 1 to 1000000 (%v)", f, err)
		}
	})
}

// A trial's support is always standard: an upgrade to 24x7 or premier is refused as an order's
// trial item is (trial_is_standard), and changes nothing.
func TestContractUpgradeOfATrialIsRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		res := s.place(t, models.OrderInput{OrderRef: "PO-7101", AccountName: "Acme Ltd", ContactName: "Pat Buyer", ContactEmail: "pat@acme.example",
			Items: []models.OrderItem{{SKU: shopSKU, Quantity: intp(1), Kind: models.KindTrial}}})
		id := strconv.FormatInt(res.Licenses[0].Contract.ID, 10)
		ctx := context.Background()
		for _, in := range []models.UpgradeInput{{Program: models.Program24x7}, {Premier: boolp(true)}} {
			_, err := s.contracts.Upgrade(ctx, id, in, orderSystem)
			wantCode(t, err, models.CodeValidation, "upgrade of a trial to %+v", in)
			if f := fieldErr(err, "program"); in.Program != "" && (f == nil || f.Code != models.FieldTrialIsStandard) {
				t.Errorf("upgrade to %s: field error %+v, want program %s", in.Program, f, models.FieldTrialIsStandard)
			}
			if f := fieldErr(err, "premier"); in.Premier != nil && (f == nil || f.Code != models.FieldTrialIsStandard) {
				t.Errorf("upgrade to premier: field error %+v, want premier %s", f, models.FieldTrialIsStandard)
			}
		}
		if c := s.contract(t, res.Licenses[0].Contract.ID); c.Program != models.ProgramStandard || c.Premier {
			t.Errorf("trial's contract after refused upgrades: %s premier=%v", c.Program, c.Premier)
		}
	})
}

// Orders that add seats to one license at the same time each add theirs: none is lost to a
// read-modify-write race. Renewals of one contract from concurrent orders chain one after the
// other (each from the day after the ends_on the previous one left), never from the same stale
// ends_on.
func TestOrdersOnOneLicenseAtOnceLoseNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		s := newShop(t, d)
		first := s.place(t, newServerOrder("PO-7201", 1))
		lic := first.Licenses[0]
		ln, acct := lic.License.LicenseNumber, first.Account.AccountID
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, 2*n)
		for i := range n {
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, err := s.orders.Place(context.Background(), models.OrderInput{OrderRef: fmt.Sprintf("PO-73%02d", i), AccountID: acct,
					Items: []models.OrderItem{{LicenseNumber: ln, AddQuantity: intp(1)}}}, orderSystem)
				errs <- err
			}()
			go func() {
				defer wg.Done()
				// Each renewal asks for a year after the latest possible end of the others, so that
				// every one is valid whatever order they commit in.
				end := shopDay.AddDays(364 + 365*(i+1))
				_, err := s.orders.Place(context.Background(), models.OrderInput{OrderRef: fmt.Sprintf("PO-74%02d", i), AccountID: acct,
					Items: []models.OrderItem{{LicenseNumber: ln, Support: &models.SupportInput{EndsOn: end.String()}}}}, orderSystem)
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			if err != nil {
				failed++
				if dbstore.ErrorCode(err) != models.CodeValidation {
					t.Errorf("concurrent order: %v", err)
				}
			}
		}
		if got := s.rows(t, "licenses", "license_number = ? AND quantity = ?", ln, 1+n); got != 1 {
			t.Errorf("after %d concurrent orders adding a seat each, the license does not have %d seats", n, 1+n)
		}
		// Renewals that committed after a longer one are refused (their ends_on is before the day
		// after it); the terms that were written chain without a gap or an overlap.
		terms := s.terms(t, lic.Contract.ID)
		if len(terms)-1+failed != n {
			t.Errorf("%d renewal terms and %d refused renewals, want %d in all", len(terms)-1, failed, n)
		}
		for i := 1; i < len(terms); i++ {
			if want := terms[i-1].EndsOn.AddDays(1); !terms[i].StartsOn.Equal(want) {
				t.Errorf("term %d starts %s, want %s (the day after term %d's ends_on)", i+1, terms[i].StartsOn, want, i)
			}
		}
	})
}
