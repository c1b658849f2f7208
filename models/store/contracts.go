package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"entitled/mailer"
	"entitled/models"
)

// Contracts is the renewal desk's service: contracts, their history and the actions on them.
type Contracts struct {
	store  *Store
	outbox Outbox
	// RenewalWindowDays is how close to ends_on a contract counts as expiring.
	RenewalWindowDays int
}

// NewContracts makes the contracts service.
func NewContracts(store *Store, outbox Outbox, renewalWindowDays int) *Contracts {
	return &Contracts{store: store, outbox: outbox, RenewalWindowDays: renewalWindowDays}
}

// Today is the current UTC day by the store's clock.
func (s *Contracts) Today() models.Date { return models.DateOf(s.store.Clock.Now()) }

func parseContractID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0, models.Errorf(models.CodeNotFound, "there is no contract %q", models.Clip(id, 20))
	}
	return n, nil
}

// loadContractView loads a contract with its license, account, product, terms and notices.
func loadContractView(tx *gorm.DB, id int64) (*models.ContractView, error) {
	var v models.ContractView
	if err := tx.Take(&v.Contract, id).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, models.Errorf(models.CodeNotFound, "there is no contract %d", id)
		}
		return nil, err
	}
	if err := tx.Take(&v.License, v.Contract.LicenseID).Error; err != nil {
		return nil, err
	}
	if err := tx.Take(&v.Account, v.License.AccountID).Error; err != nil {
		return nil, err
	}
	if err := tx.Take(&v.Product, v.License.ProductID).Error; err != nil {
		return nil, err
	}
	if err := tx.Where("contract_id = ?", id).Order("seq").Find(&v.Terms).Error; err != nil {
		return nil, err
	}
	notices, err := noticesSent(tx, id)
	if err != nil {
		return nil, err
	}
	v.Notices = notices
	if err := attachRenewals(tx, []*models.ContractView{&v}); err != nil {
		return nil, err
	}
	return &v, nil
}

// noticesSent lists the renewal and lapse notices sent for a contract, oldest first.
func noticesSent(tx *gorm.DB, contractID int64) ([]models.NoticeSent, error) {
	out := []models.NoticeSent{}
	err := tx.Table("renewal_notices").Select("ends_on, offset_days, sent_at").Where("contract_id = ?", contractID).Order("sent_at, id").Scan(&out).Error
	return out, err
}

// Get shows one contract. Errors: not_found.
func (s *Contracts) Get(ctx context.Context, id string) (*models.ContractView, error) {
	return s.readContract(ctx, id, loadContractView)
}

// readContract reads the contract id names with load. Errors: not_found (also for an id that
// is not a number).
func (s *Contracts) readContract(ctx context.Context, id string, load func(db *gorm.DB, n int64) (*models.ContractView, error)) (_ *models.ContractView, err error) {
	defer wrapErr(&err, "read a contract")
	n, err := parseContractID(id)
	if err != nil {
		return nil, err
	}
	var v *models.ContractView
	err = s.store.read(ctx, func(db *gorm.DB) error {
		v, err = load(db, n)
		return err
	})
	return v, err
}

// lockContract serialises actions on one contract (see lockLicense).
func lockContract(tx *gorm.DB, id int64) error {
	if tx.Dialector.Name() != "postgres" {
		return nil
	}
	return tx.Exec("SELECT id FROM contracts WHERE id = ? FOR UPDATE", id).Error
}

// withLockedContract runs fn in a transaction on the contract id names, locked and loaded as it
// now is, at the store's now. Errors: not_found (also for an id that is not a number).
func (s *Contracts) withLockedContract(ctx context.Context, id string, fn func(tx *gorm.DB, n int64, v *models.ContractView, now time.Time) error) error {
	n, err := parseContractID(id)
	if err != nil {
		return err
	}
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		if err := lockContract(tx, n); err != nil {
			return err
		}
		v, err := loadContractView(tx, n)
		if err != nil {
			return err
		}
		return fn(tx, n, v, s.store.Clock.Now())
	})
}

// change runs one action on a contract in a transaction: it locks the contract, loads it, lets
// apply change it (returning the audit record and the letter), writes both, and returns the
// contract as it now is.
func (s *Contracts) change(ctx context.Context, id string, a models.Actor, apply func(tx *gorm.DB, v *models.ContractView, today models.Date, now time.Time) (models.AuditRecord, *mailer.ContractChanged, error)) (*models.ContractView, error) {
	var out *models.ContractView
	err := s.withLockedContract(ctx, id, func(tx *gorm.DB, n int64, v *models.ContractView, now time.Time) (err error) {
		rec, letter, err := apply(tx, v, models.DateOf(now), now)
		if err != nil {
			return err
		}
		rec.SubjectType, rec.SubjectID, rec.LicenseID = "contract", strconv.FormatInt(n, 10), v.License.ID
		if rec.Details == nil {
			rec.Details = map[string]any{}
		}
		rec.Details["license_number"] = v.License.LicenseNumber
		if err := writeAudit(tx, now, a, rec); err != nil {
			return err
		}
		if out, err = loadContractView(tx, n); err != nil {
			return err
		}
		// The audit action is the event's type: contract.renewed, .upgraded, .terminated, .grace_granted.
		if err := emit(ctx, tx, s.outbox, now, rec.Action, out.Account.AccountID, models.WebhookContractData(out, models.DateOf(now), s.RenewalWindowDays)); err != nil {
			return err
		}
		letter.Name, letter.LicenseNumber, letter.ProductName = out.Account.ContactName, out.License.LicenseNumber, out.Product.Name
		letter.Program, letter.Premier, letter.EndsOn = out.Contract.Program, out.Contract.Premier, out.Contract.EndsOn.String()
		to, ok := mailable(out.Account.ContactEmail)
		if !ok {
			// A contact stored before addresses were checked as they are now cannot take mail:
			// the change stands without its letter (as an order's confirmation does).
			s.store.log.WarnContext(ctx, "contract letter not queued: the account's primary contact address cannot take mail",
				"contract_id", n, "account_id", out.Account.AccountID)
			return nil
		}
		_, err = queueLetter(ctx, tx, s.outbox, *letter, []string{to}, nil)
		return err
	})
	return out, err
}

// Renew appends a term from the day after the current ends_on to the new ends_on, also when the
// contract has lapsed (backdated, so there is never a gap nor a day paid twice). Program and
// premier carry over unless given. Errors: not_found, validation_failed, contract_terminated,
// trial_not_renewable.
func (s *Contracts) Renew(ctx context.Context, id string, in models.RenewalInput, a models.Actor) (_ *models.ContractView, err error) {
	defer wrapErr(&err, "renew a contract")
	var v models.Validation
	endsOn := models.CheckDate(&v, "ends_on", in.EndsOn, true)
	program := ""
	if in.Program != "" {
		program = models.CheckProgram(&v, "program", in.Program)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.change(ctx, id, a, func(tx *gorm.DB, cv *models.ContractView, today models.Date, now time.Time) (models.AuditRecord, *mailer.ContractChanged, error) {
		c := &cv.Contract
		switch {
		case !c.TerminatedOn.IsZero():
			return models.AuditRecord{}, nil, models.Errorf(models.CodeContractTerminated, "this contract was terminated on %s; it cannot be renewed", c.TerminatedOn)
		case c.Trial:
			return models.AuditRecord{}, nil, models.Errorf(models.CodeTrialNotRenewable, "a trial is not renewed: order a license")
		}
		start := c.EndsOn.AddDays(1)
		if endsOn.Before(start) {
			v.Add("ends_on", models.FieldInvalid, "must be on or after "+start.String()+", the day after the current ends_on")
			return models.AuditRecord{}, nil, v.Err()
		}
		if program != "" {
			c.Program = program
		}
		if in.Premier != nil {
			c.Premier = *in.Premier
		}
		c.EndsOn, c.GraceUntil, c.UpdatedAt = endsOn, models.Date{}, now
		if err := tx.Model(&models.Contract{}).Where("id = ?", c.ID).Updates(map[string]any{
			"program": c.Program, "premier": c.Premier, "ends_on": c.EndsOn, "grace_until": nil, "updated_at": now,
		}).Error; err != nil {
			return models.AuditRecord{}, nil, err
		}
		term := newTerm(c, models.TermRenewal, a, "", nil, now)
		term.StartsOn = start
		if err := appendTerm(tx, term); err != nil {
			return models.AuditRecord{}, nil, err
		}
		if err := renewRenewalRecord(tx, c, start.AddDays(-1), nil, now); err != nil {
			return models.AuditRecord{}, nil, err
		}
		return models.AuditRecord{Action: "contract.renewed", Details: map[string]any{"starts_on": start.String(), "ends_on": endsOn.String(), "program": c.Program, "premier": c.Premier}},
			&mailer.ContractChanged{Change: "renewed"}, nil
	})
}

// Upgrade changes the program or premier of the current term from today: a change recorded in
// the contract's history, not a new term. Premier can be added only while the program is current.
// Errors: not_found, validation_failed, premier_requires_program, contract_terminated.
func (s *Contracts) Upgrade(ctx context.Context, id string, in models.UpgradeInput, a models.Actor) (_ *models.ContractView, err error) {
	defer wrapErr(&err, "upgrade a contract")
	var v models.Validation
	program := ""
	if in.Program != "" {
		program = models.CheckProgram(&v, "program", in.Program)
	}
	if in.Program == "" && in.Premier == nil {
		v.Add("program", models.FieldRequired, "name the program, premier, or both")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.change(ctx, id, a, func(tx *gorm.DB, cv *models.ContractView, today models.Date, now time.Time) (models.AuditRecord, *mailer.ContractChanged, error) {
		c := &cv.Contract
		if !c.TerminatedOn.IsZero() {
			return models.AuditRecord{}, nil, models.Errorf(models.CodeContractTerminated, "this contract was terminated on %s", c.TerminatedOn)
		}
		if cv.License.Kind == models.KindTrial {
			// A trial's support is always standard, as an order's trial item is (orders.go).
			var tv models.Validation
			if program != "" && program != models.ProgramStandard {
				tv.Add("program", models.FieldTrialIsStandard, "a trial's support is always standard")
			}
			if in.Premier != nil && *in.Premier {
				tv.Add("premier", models.FieldTrialIsStandard, "a trial's support has no premier add-on")
			}
			if err := tv.Err(); err != nil {
				return models.AuditRecord{}, nil, err
			}
		}
		status, _ := models.ContractStatus(c.Facts(), today, s.RenewalWindowDays)
		if in.Premier != nil && *in.Premier && !models.IsCurrent(status) {
			return models.AuditRecord{}, nil, models.Errorf(models.CodePremierRequiresProgram, "premier is an add-on to a current standard or 24x7 program, and this contract is %s", status)
		}
		before := map[string]any{"program": c.Program, "premier": c.Premier}
		if program != "" {
			c.Program = program
		}
		if in.Premier != nil {
			c.Premier = *in.Premier
		}
		c.UpdatedAt = now
		if err := tx.Model(&models.Contract{}).Where("id = ?", c.ID).Updates(map[string]any{"program": c.Program, "premier": c.Premier, "updated_at": now}).Error; err != nil {
			return models.AuditRecord{}, nil, err
		}
		term := newTerm(c, models.TermUpgrade, a, "", nil, now)
		term.StartsOn = today
		if err := appendTerm(tx, term); err != nil {
			return models.AuditRecord{}, nil, err
		}
		return models.AuditRecord{Action: "contract.upgraded", Details: map[string]any{"from": before, "program": c.Program, "premier": c.Premier}},
			&mailer.ContractChanged{Change: "upgraded"}, nil
	})
}

// checkReason checks the reason staff give for an action: required, at most 2000 characters.
func checkReason(v *models.Validation, reason, missing string) string {
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		v.Add("reason", models.FieldRequired, missing)
	case len(reason) > 2000:
		v.Add("reason", models.FieldTooLong, "must be at most 2000 characters")
	}
	return reason
}

// Terminate ends a contract today. Errors: not_found, validation_failed, contract_terminated.
func (s *Contracts) Terminate(ctx context.Context, id, reason string, a models.Actor) (_ *models.ContractView, err error) {
	defer wrapErr(&err, "terminate a contract")
	var v models.Validation
	reason = checkReason(&v, reason, "say why the contract ends early")
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.change(ctx, id, a, func(tx *gorm.DB, cv *models.ContractView, today models.Date, now time.Time) (models.AuditRecord, *mailer.ContractChanged, error) {
		c := &cv.Contract
		if !c.TerminatedOn.IsZero() {
			return models.AuditRecord{}, nil, models.Errorf(models.CodeContractTerminated, "this contract was terminated on %s already", c.TerminatedOn)
		}
		c.TerminatedOn, c.UpdatedAt = today, now
		if err := tx.Model(&models.Contract{}).Where("id = ?", c.ID).Updates(map[string]any{"terminated_on": today, "updated_at": now}).Error; err != nil {
			return models.AuditRecord{}, nil, err
		}
		// Every current grant's and every key's status-list bit: offline verifiers see it too.
		if err := revokeLicenseStatus(tx, now, cv.License.ID); err != nil {
			return models.AuditRecord{}, nil, err
		}
		term := newTerm(c, models.TermTermination, a, reason, nil, now)
		term.StartsOn, term.EndsOn = today, today
		if err := appendTerm(tx, term); err != nil {
			return models.AuditRecord{}, nil, err
		}
		return models.AuditRecord{Action: "contract.terminated", Details: map[string]any{"terminated_on": today.String(), "reason": reason}},
			&mailer.ContractChanged{Change: "terminated", Reason: reason}, nil
	})
}

// Grace keeps support on past ends_on until a day at most MaxGraceDays after it, while a renewal
// is negotiated. Errors: not_found, validation_failed, grace_too_long, contract_terminated.
func (s *Contracts) Grace(ctx context.Context, id, until, reason string, a models.Actor) (_ *models.ContractView, err error) {
	defer wrapErr(&err, "grant grace")
	var v models.Validation
	day := models.CheckDate(&v, "until", until, true)
	reason = checkReason(&v, reason, "say why support continues")
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.change(ctx, id, a, func(tx *gorm.DB, cv *models.ContractView, today models.Date, now time.Time) (models.AuditRecord, *mailer.ContractChanged, error) {
		c := &cv.Contract
		switch {
		case !c.TerminatedOn.IsZero():
			return models.AuditRecord{}, nil, models.Errorf(models.CodeContractTerminated, "this contract was terminated on %s", c.TerminatedOn)
		case c.EndsOn.IsZero():
			return models.AuditRecord{}, nil, models.Errorf(models.CodeConflict, "this contract has no end date yet")
		case models.GraceRefusal(c.EndsOn, day) == models.FieldInvalid:
			v.Add("until", models.FieldInvalid, "must be after ends_on ("+c.EndsOn.String()+")")
			return models.AuditRecord{}, nil, v.Err()
		case models.GraceRefusal(c.EndsOn, day) == models.CodeGraceTooLong:
			return models.AuditRecord{}, nil, models.Errorf(models.CodeGraceTooLong, "grace may run at most %d days past ends_on, until %s", models.MaxGraceDays, c.EndsOn.AddDays(models.MaxGraceDays))
		}
		c.GraceUntil, c.UpdatedAt = day, now
		if err := tx.Model(&models.Contract{}).Where("id = ?", c.ID).Updates(map[string]any{"grace_until": day, "updated_at": now}).Error; err != nil {
			return models.AuditRecord{}, nil, err
		}
		term := newTerm(c, models.TermGrace, a, reason, nil, now)
		term.StartsOn, term.EndsOn = c.EndsOn.AddDays(1), day
		if err := appendTerm(tx, term); err != nil {
			return models.AuditRecord{}, nil, err
		}
		return models.AuditRecord{Action: "contract.grace_granted", Details: map[string]any{"grace_until": day.String(), "reason": reason}},
			&mailer.ContractChanged{Change: "grace", GraceUntil: day.String()}, nil
	})
}
