package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"gorm.io/gorm"

	"entitled/mailer"
	"entitled/models"
)

// Orders is the service that turns orders into accounts, licenses and contracts.
type Orders struct {
	store  *Store
	outbox Outbox
	links  mailer.Links
	// RenewalWindowDays is ENTITLED_RENEWAL_WINDOW_DAYS (default 90): order.created shows each
	// license's support status with it.
	RenewalWindowDays int
}

// NewOrders makes the orders service.
func NewOrders(store *Store, outbox Outbox, baseURL string) *Orders {
	return &Orders{store: store, outbox: outbox, links: mailer.NewLinks(baseURL), RenewalWindowDays: 90}
}

const (
	maxOrderItems = 100
	maxQuantity   = 1_000_000
)

var serviceTagRE = regexp.MustCompile(`^[A-Z0-9]{7}$`)

// itemPlan is one checked item, ready to apply.
type itemPlan struct {
	kind        string // new | renew | seats
	sku         string
	quantity    int
	licenseKind string
	serviceTag  string
	ln          string
	addQuantity int
	support     *supportPlan
}

type supportPlan struct {
	program  string
	premier  *bool
	startsOn models.Date
	endsOn   models.Date
	value    *models.Money // the term's value, the renewal record's default
}

// checkValue reads a support's value, nil when none is given.
func checkValue(v *models.Validation, field string, s *models.SupportInput) *models.Money {
	if s == nil || s.Value == nil {
		return nil
	}
	if m, ok := models.CheckMoney(v, field+".value", *s.Value); ok {
		return &m
	}
	return nil
}

// checkOrder validates everything that needs no database, collecting every field error.
func checkOrder(in models.OrderInput, today models.Date) ([]itemPlan, *models.Validation) {
	v := &models.Validation{}
	ref := strings.TrimSpace(in.OrderRef)
	switch {
	case ref == "":
		v.Add("order_ref", models.FieldRequired, "is required")
	case len(ref) > 100 || strings.IndexFunc(ref, unicode.IsControl) >= 0:
		v.Add("order_ref", models.FieldInvalid, "must be at most 100 printable characters")
	}
	if in.AccountID != "" {
		if _, ok := models.ParseAccountID(in.AccountID); !ok {
			v.Add("account.account_id", models.FieldInvalid, "must be a 7-digit Account ID")
		}
	} else {
		models.CheckName(v, "account.name", in.AccountName, true)
	}
	if in.AccountID == "" || in.ContactEmail != "" || in.ContactName != "" {
		models.CheckName(v, "primary_contact.name", in.ContactName, true)
		models.CheckEmail(v, "primary_contact.email", in.ContactEmail)
	}
	if len(in.Items) == 0 {
		v.Add("items", models.FieldRequired, "an order has at least one item")
	}
	if len(in.Items) > maxOrderItems {
		v.Add("items", models.FieldTooLong, fmt.Sprintf("an order has at most %d items", maxOrderItems))
		return nil, v
	}
	plans := make([]itemPlan, len(in.Items))
	tags := map[string]bool{}
	for i, it := range in.Items {
		f := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
		p := &plans[i]
		switch {
		case it.LicenseNumber != "" && it.SKU != "":
			v.Add(f("sku"), models.FieldInvalid, "an item is a new license (sku) or names an existing license (license_number), not both")
			continue
		case it.LicenseNumber != "":
			ln, err := models.ParseLicenseNumber(it.LicenseNumber)
			if err != nil {
				v.Add(f("license_number"), models.CodeInvalidLicenseNumber, "is not a valid License Number")
			}
			p.ln = ln
			switch {
			case it.AddQuantity != nil && it.Support != nil:
				v.Add(f("add_quantity"), models.FieldInvalid, "an item either renews support or adds seats, not both")
			case it.AddQuantity != nil:
				p.kind = "seats"
				if *it.AddQuantity < 1 || *it.AddQuantity > maxQuantity {
					v.Add(f("add_quantity"), models.FieldInvalid, fmt.Sprintf("must be 1 to %d", maxQuantity))
				}
				p.addQuantity = *it.AddQuantity
			case it.Support != nil:
				p.kind = "renew"
				p.support = checkRenewal(v, f("support"), it.Support)
			default:
				v.Add(f("support"), models.FieldRequired, "an item naming a license renews its support (support) or adds seats (add_quantity)")
			}
		default:
			p.kind = "new"
			p.sku = checkSKU(v, f("sku"), it.SKU)
			switch {
			case it.Quantity == nil:
				v.Add(f("quantity"), models.FieldRequired, "is required")
			case *it.Quantity < 1 || *it.Quantity > maxQuantity:
				v.Add(f("quantity"), models.FieldInvalid, fmt.Sprintf("must be 1 to %d", maxQuantity))
			default:
				p.quantity = *it.Quantity
			}
			p.licenseKind = strings.ToLower(strings.TrimSpace(it.Kind))
			switch p.licenseKind {
			case models.KindPerpetual, models.KindSubscription, models.KindTrial:
			case "":
				v.Add(f("kind"), models.FieldRequired, "is required: perpetual, subscription or trial")
			default:
				v.Add(f("kind"), models.FieldInvalid, "must be perpetual, subscription or trial")
			}
			if it.ServiceTag != "" {
				p.serviceTag = models.NormaliseServiceTag(it.ServiceTag)
				if !serviceTagRE.MatchString(p.serviceTag) {
					v.Add(f("service_tag"), models.FieldInvalid, "must be 7 letters or digits")
				} else if tags[p.serviceTag] {
					v.Add(f("service_tag"), "taken", "appears twice in this order")
				}
				tags[p.serviceTag] = true
			}
			p.support = checkNewSupport(v, f("support"), it.Support, p.licenseKind, today)
		}
	}
	return plans, v
}

// checkNewSupport checks the support of a new license. A trial's support is always standard and
// dated from registration; a subscription must have support, since it is its subscription.
func checkNewSupport(v *models.Validation, field string, s *models.SupportInput, kind string, today models.Date) *supportPlan {
	if kind == models.KindTrial {
		if s != nil {
			if p := strings.ToLower(strings.TrimSpace(s.Program)); p != "" && p != models.ProgramStandard {
				v.Add(field+".program", models.FieldTrialIsStandard, "a trial's support is always standard")
			}
			if s.Premier != nil && *s.Premier {
				v.Add(field+".premier", models.FieldTrialIsStandard, "a trial's support has no premier add-on")
			}
		}
		return &supportPlan{program: models.ProgramStandard, value: checkValue(v, field, s)}
	}
	if s == nil {
		if kind == models.KindSubscription {
			v.Add(field, models.FieldRequired, "a subscription needs its support dates: the subscription is its contract")
		}
		return nil
	}
	plan := &supportPlan{premier: s.Premier, value: checkValue(v, field, s)}
	if strings.TrimSpace(s.Program) == "" {
		if s.Premier != nil && *s.Premier {
			v.Add(field+".premier", models.CodePremierRequiresProgram, "premier is an add-on to a standard or 24x7 program: name the program")
		} else {
			v.Add(field+".program", models.FieldRequired, "is required: standard or 24x7")
		}
	} else {
		plan.program = models.CheckProgram(v, field+".program", s.Program)
	}
	plan.startsOn = models.CheckDate(v, field+".starts_on", s.StartsOn, false)
	if plan.startsOn.IsZero() && s.StartsOn == "" {
		plan.startsOn = today
	}
	plan.endsOn = models.CheckDate(v, field+".ends_on", s.EndsOn, true)
	if !plan.startsOn.IsZero() && !plan.endsOn.IsZero() && plan.endsOn.Before(plan.startsOn) {
		v.Add(field+".ends_on", models.FieldInvalid, "must not be before starts_on")
	}
	return plan
}

// checkRenewal checks the support of a renewal; its start is the day after the current end.
func checkRenewal(v *models.Validation, field string, s *models.SupportInput) *supportPlan {
	plan := &supportPlan{premier: s.Premier, value: checkValue(v, field, s)}
	if strings.TrimSpace(s.Program) != "" {
		plan.program = models.CheckProgram(v, field+".program", s.Program)
	}
	if s.StartsOn != "" {
		v.Add(field+".starts_on", models.FieldInvalid, "a renewal starts the day after the current ends_on; leave starts_on out")
	}
	plan.endsOn = models.CheckDate(v, field+".ends_on", s.EndsOn, true)
	return plan
}

// Place applies an order in one transaction: the account (created or reused), a license and
// contract per new item, a term per renewal, seats, the audit rows, and the welcome letter to
// the primary contact. Errors: validation_failed (every field error at once), order_ref_taken,
// account_not_found.
func (s *Orders) Place(ctx context.Context, in models.OrderInput, a models.Actor) (_ *models.OrderResult, err error) {
	defer wrapErr(&err, "place an order")
	now := s.store.Clock.Now()
	today := models.DateOf(now)
	plans, v := checkOrder(in, today)
	if err := v.Err(); err != nil {
		// Contract: a malformed License Number anywhere is invalid_license_number; the field
		// errors still say where, with every other problem of the order.
		for _, f := range v.Fields {
			if f.Code == models.CodeInvalidLicenseNumber {
				return nil, &models.Error{Code: models.CodeInvalidLicenseNumber, Message: "a License Number of the order is not valid; check for a mistyped character", Fields: v.Fields}
			}
		}
		return nil, err
	}
	ref := strings.TrimSpace(in.OrderRef)
	var res *models.OrderResult
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		var taken int64
		if err := tx.Model(&models.Order{}).Where("order_ref = ?", ref).Count(&taken).Error; err != nil {
			return err
		}
		if taken > 0 {
			return models.Errorf(models.CodeOrderRefTaken, "order %s was placed already", ref)
		}
		acct, err := s.resolveAccount(tx, in, now)
		if err != nil {
			return err
		}
		order := models.Order{OrderRef: ref, AccountID: acct.ID, ActorKind: a.Kind, CreatedAt: now}
		if a.ID != 0 {
			order.ActorID = &a.ID
		}
		if err := tx.Create(&order).Error; err != nil {
			return err
		}
		res = &models.OrderResult{OrderRef: ref, Account: *acct}
		letter := mailer.OrderConfirmation{AccountID: acct.AccountID, AccountName: acct.Name, OrderRef: ref, RegisterURL: s.links.Register()}
		v := &models.Validation{}
		var renewed []int64 // the contracts this order renews, for their contract.renewed events
		for i := range plans {
			d, line, err := s.applyItem(tx, v, i, &plans[i], acct, &order, today, a, now)
			if err != nil {
				return err
			}
			if d == nil {
				continue
			}
			res.Licenses = append(res.Licenses, *d)
			switch plans[i].kind {
			case "new":
				letter.NewLicenses = append(letter.NewLicenses, line)
			case "renew":
				letter.Renewed = append(letter.Renewed, line)
				if d.Contract != nil {
					renewed = append(renewed, d.Contract.ID)
				}
			case "seats":
				letter.SeatsAdded = append(letter.SeatsAdded, line)
			}
		}
		if err := v.Err(); err != nil {
			return err
		}
		to, name := acct.ContactEmail, acct.ContactName
		if in.ContactEmail != "" {
			to, name = models.NormaliseEmail(in.ContactEmail), strings.TrimSpace(in.ContactName)
		}
		letter.Name = name
		if to, ok := mailable(to); ok {
			if _, err := queueLetter(ctx, tx, s.outbox, letter, []string{to}, nil); err != nil {
				return err
			}
		} else {
			// An account's contact stored before addresses were checked as they are now (an
			// address literal such as x@[10.0.0.1]) cannot take mail: the order stands without
			// its letter; once the contact is corrected (PATCH /v1/accounts/{id}), accounts/recover
			// sends it the License Numbers. A new primary_contact was validated above and never
			// gets here.
			s.store.log.WarnContext(ctx, "order confirmation not queued: the account's primary contact address cannot take mail",
				"order_ref", ref, "account_id", acct.AccountID)
		}
		if err := emit(ctx, tx, s.outbox, now, models.EventOrderCreated, res.Account.AccountID, models.WebhookOrderData(res, today, s.RenewalWindowDays)); err != nil {
			return err
		}
		// A renewal by order is a contract.renewed like one by the renewal desk (Contracts.Renew):
		// consumers of contract events need not read orders.
		for _, id := range renewed {
			cv, err := loadContractView(tx, id)
			if err != nil {
				return err
			}
			if err := emit(ctx, tx, s.outbox, now, models.EventContractRenewed, cv.Account.AccountID, models.WebhookContractData(cv, today, s.RenewalWindowDays)); err != nil {
				return err
			}
		}
		failpoint("order.before_commit")
		return nil
	})
	if IsUniqueViolation(err) {
		// A concurrent order with the same order_ref may have committed first; another unique key
		// (a service tag another order took meanwhile) is a plain conflict, not order_ref_taken.
		var placed int64
		if cerr := s.store.db.WithContext(ctx).Model(&models.Order{}).Where("order_ref = ?", ref).Count(&placed).Error; cerr != nil {
			return nil, cerr
		}
		if placed > 0 {
			return nil, models.Errorf(models.CodeOrderRefTaken, "order %s was placed already", ref)
		}
	}
	if err != nil {
		return nil, err
	}
	failpoint("order.after_commit")
	return res, nil
}

func (s *Orders) resolveAccount(tx *gorm.DB, in models.OrderInput, now time.Time) (*models.Account, error) {
	if in.AccountID != "" {
		id, _ := models.ParseAccountID(in.AccountID)
		var acct models.Account
		err := tx.Where("account_id = ?", id).Take(&acct).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, &models.Error{Code: models.CodeAccountNotFound, InBody: true, Message: "there is no account " + id + "; leave account_id out to create a new account"}
		}
		return &acct, err
	}
	accountID, err := newAccountID(tx)
	if err != nil {
		return nil, err
	}
	acct := models.Account{AccountID: accountID, Name: strings.TrimSpace(in.AccountName), ContactName: strings.TrimSpace(in.ContactName),
		ContactEmail: models.NormaliseEmail(in.ContactEmail), CreatedAt: now, UpdatedAt: now}
	return &acct, tx.Create(&acct).Error
}

// applyItem carries out one item. Problems only the database can see (unknown SKU or license,
// a taken service tag) are added to v; the caller fails the order with all of them.
func (s *Orders) applyItem(tx *gorm.DB, v *models.Validation, i int, p *itemPlan, acct *models.Account, order *models.Order, today models.Date, a models.Actor, now time.Time) (*models.LicenseDetail, mailer.LicenseLine, error) {
	f := func(name string) string { return fmt.Sprintf("items[%d].%s", i, name) }
	switch p.kind {
	case "new":
		var prod models.Product
		if err := tx.Where("sku = ?", p.sku).Take(&prod).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				v.Add(f("sku"), models.CodeNotFound, "there is no product with this SKU")
				return nil, mailer.LicenseLine{}, nil
			}
			return nil, mailer.LicenseLine{}, err
		}
		if p.serviceTag != "" {
			var n int64
			if err := tx.Model(&models.License{}).Where("service_tag = ?", p.serviceTag).Count(&n).Error; err != nil {
				return nil, mailer.LicenseLine{}, err
			}
			if n > 0 {
				v.Add(f("service_tag"), "taken", "another license has this service tag")
				return nil, mailer.LicenseLine{}, nil
			}
		}
		ln, err := freshLicenseNumber(tx)
		if err != nil {
			return nil, mailer.LicenseLine{}, err
		}
		lic := models.License{LicenseNumber: ln, AccountID: acct.ID, ProductID: prod.ID, OrderID: order.ID, Quantity: p.quantity,
			Kind: p.licenseKind, OrderedOn: today, CreatedAt: now, UpdatedAt: now}
		if p.serviceTag != "" {
			lic.ServiceTag = &p.serviceTag
		}
		if err := tx.Create(&lic).Error; err != nil {
			return nil, mailer.LicenseLine{}, err
		}
		d := &models.LicenseDetail{License: lic, Product: prod, Account: *acct}
		if p.support != nil {
			c := models.Contract{LicenseID: lic.ID, Program: p.support.program, Trial: p.licenseKind == models.KindTrial, CreatedAt: now, UpdatedAt: now}
			termKind := models.TermTrial
			if !c.Trial {
				termKind = models.TermInitial
				c.Premier = p.support.premier != nil && *p.support.premier
				c.StartsOn, c.EndsOn = p.support.startsOn, p.support.endsOn
			}
			if err := tx.Create(&c).Error; err != nil {
				return nil, mailer.LicenseLine{}, err
			}
			if err := appendTerm(tx, newTerm(&c, termKind, a, "order "+order.OrderRef, &order.ID, now)); err != nil {
				return nil, mailer.LicenseLine{}, err
			}
			if err := startRenewalRecord(tx, &c, p.support.value, now); err != nil {
				return nil, mailer.LicenseLine{}, err
			}
			d.Contract = &c
		}
		if err := writeAudit(tx, now, a, models.AuditRecord{Action: "license.created", SubjectType: "license", SubjectID: ln, LicenseID: lic.ID,
			Details: map[string]any{"order_ref": order.OrderRef, "sku": prod.SKU, "quantity": lic.Quantity, "kind": lic.Kind}}); err != nil {
			return nil, mailer.LicenseLine{}, err
		}
		return d, letterLine(d), nil

	case "renew", "seats":
		d, err := loadLicenseDetail(tx, "licenses.license_number = ?", p.ln)
		if errors.Is(err, gorm.ErrRecordNotFound) {
			v.Add(f("license_number"), models.CodeNotFound, "there is no license with this number")
			return nil, mailer.LicenseLine{}, nil
		}
		if err != nil {
			return nil, mailer.LicenseLine{}, err
		}
		if d.License.AccountID != acct.ID {
			v.Add(f("license_number"), models.FieldInvalid, "belongs to another account")
			return nil, mailer.LicenseLine{}, nil
		}
		// Lock the license and its contract, then read them again: a concurrent order or contract
		// action on the same license (seats added, a renewal, a termination) must not be lost or
		// renew from a stale ends_on. License before contract, as everywhere.
		if err := lockLicense(tx, d.License.ID); err != nil {
			return nil, mailer.LicenseLine{}, err
		}
		if d.Contract != nil {
			if err := lockContract(tx, d.Contract.ID); err != nil {
				return nil, mailer.LicenseLine{}, err
			}
		}
		if d, err = loadLicenseDetail(tx, "licenses.id = ?", d.License.ID); err != nil {
			return nil, mailer.LicenseLine{}, err
		}
		if p.kind == "seats" {
			d.License.Quantity += p.addQuantity
			d.License.UpdatedAt = now
			if err := tx.Model(&models.License{}).Where("id = ?", d.License.ID).Updates(map[string]any{"quantity": d.License.Quantity, "updated_at": now}).Error; err != nil {
				return nil, mailer.LicenseLine{}, err
			}
			err := writeAudit(tx, now, a, models.AuditRecord{Action: "license.seats_added", SubjectType: "license", SubjectID: p.ln, LicenseID: d.License.ID,
				Details: map[string]any{"order_ref": order.OrderRef, "added": p.addQuantity, "quantity": d.License.Quantity}})
			return d, letterLine(d), err
		}
		if err := s.renew(tx, v, f("support"), d, p.support, order, today, a, now); err != nil {
			return nil, mailer.LicenseLine{}, err
		}
		return d, letterLine(d), nil
	}
	return nil, mailer.LicenseLine{}, fmt.Errorf("unknown item kind %q", p.kind)
}

// renew appends a renewal term: from the day after the current ends_on (or today, for a license
// that had no support) to the new ends_on.
func (s *Orders) renew(tx *gorm.DB, v *models.Validation, field string, d *models.LicenseDetail, sp *supportPlan, order *models.Order, today models.Date, a models.Actor, now time.Time) error {
	if d.License.Kind == models.KindTrial {
		v.Add(field, "trial", "a trial is not renewed: order a license")
		return nil
	}
	c := d.Contract
	if c == nil {
		if sp.program == "" {
			v.Add(field+".program", models.FieldRequired, "this license has no support yet: name the program")
			return nil
		}
		c = &models.Contract{LicenseID: d.License.ID, StartsOn: today, CreatedAt: now}
	} else {
		if !c.TerminatedOn.IsZero() {
			v.Add(field, "terminated", "this license's support was terminated; it cannot be renewed")
			return nil
		}
	}
	start := today
	if d.Contract != nil {
		start = c.EndsOn.AddDays(1)
	}
	if sp.endsOn.Before(start) {
		v.Add(field+".ends_on", models.FieldInvalid, "must be on or after "+start.String()+", the day after the current ends_on")
		return nil
	}
	if sp.program != "" {
		c.Program = sp.program
	}
	if sp.premier != nil {
		c.Premier = *sp.premier
	}
	c.EndsOn, c.GraceUntil, c.UpdatedAt = sp.endsOn, models.Date{}, now
	if c.ID == 0 {
		if err := tx.Create(c).Error; err != nil {
			return err
		}
		if err := startRenewalRecord(tx, c, sp.value, now); err != nil {
			return err
		}
	} else if err := tx.Model(&models.Contract{}).Where("id = ?", c.ID).Updates(map[string]any{
		"program": c.Program, "premier": c.Premier, "ends_on": c.EndsOn, "grace_until": nil, "updated_at": now,
	}).Error; err != nil {
		return err
	} else if err := renewRenewalRecord(tx, c, start.AddDays(-1), sp.value, now); err != nil {
		return err
	}
	term := newTerm(c, models.TermRenewal, a, "order "+order.OrderRef, &order.ID, now)
	term.StartsOn = start
	if err := appendTerm(tx, term); err != nil {
		return err
	}
	d.Contract = c
	return writeAudit(tx, now, a, models.AuditRecord{Action: "contract.renewed", SubjectType: "license", SubjectID: d.License.LicenseNumber, LicenseID: d.License.ID,
		Details: map[string]any{"order_ref": order.OrderRef, "starts_on": start.String(), "ends_on": c.EndsOn.String(), "program": c.Program, "premier": c.Premier}})
}

// appendTerm stores a term numbered after the contract's last one. The unique (contract, seq)
// makes two concurrent appends to one contract fail rather than interleave.
func appendTerm(tx *gorm.DB, t models.ContractTerm) error {
	var last int
	if err := tx.Model(&models.ContractTerm{}).Where("contract_id = ?", t.ContractID).Select("COALESCE(MAX(seq), 0)").Row().Scan(&last); err != nil {
		return err
	}
	t.Seq = last + 1
	return tx.Create(&t).Error
}

// freshLicenseNumber draws a License Number no license has.
func freshLicenseNumber(tx *gorm.DB) (string, error) {
	return drawFree(tx, &models.License{}, "license_number", "License Number", 10, func() (string, error) {
		return NewLicenseNumber(), nil
	})
}

// loadLicenseDetail loads one license with its product, account and contract.
func loadLicenseDetail(tx *gorm.DB, where string, args ...any) (*models.LicenseDetail, error) {
	var d models.LicenseDetail
	if err := tx.Table("licenses").Where(where, args...).Take(&d.License).Error; err != nil {
		return nil, err
	}
	if err := tx.Take(&d.Product, d.License.ProductID).Error; err != nil {
		return nil, err
	}
	if err := tx.Take(&d.Account, d.License.AccountID).Error; err != nil {
		return nil, err
	}
	var c models.Contract
	err := tx.Where("license_id = ?", d.License.ID).Take(&c).Error
	switch {
	case err == nil:
		d.Contract = &c
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return nil, err
	}
	return &d, nil
}

// letterLine describes a license for a letter.
func letterLine(d *models.LicenseDetail) mailer.LicenseLine {
	l := mailer.LicenseLine{LicenseNumber: d.License.LicenseNumber, Product: d.Product.Name, SKU: d.Product.SKU, Quantity: d.License.Quantity, Kind: d.License.Kind}
	if d.License.ServiceTag != nil {
		l.ServiceTag = *d.License.ServiceTag
	}
	if c := d.Contract; c != nil {
		switch {
		case c.Trial && c.EndsOn.IsZero():
			l.Support = fmt.Sprintf("%d-day trial with standard support, from the day it is registered", models.TrialDays)
		case c.Premier:
			l.Support = fmt.Sprintf("%s support with Premier until %s", c.Program, c.EndsOn)
		default:
			l.Support = fmt.Sprintf("%s support until %s", c.Program, c.EndsOn)
		}
	}
	return l
}
