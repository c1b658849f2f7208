package store_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

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
