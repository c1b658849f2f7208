package store

// The renewal pipeline's records (contract: "Renewal pipeline"): one renewal record per term of
// a contract — the open one is the current term's — and notes on the contract. Renewal staff
// change the open record (PATCH, bulk); recording a renewal closes it as won and opens the next
// term's with the owner and value carried over (renewRenewalRecord, called by Contracts.Renew and
// by a renewal order). Lost-on-lapse is not written: models.EffectiveStage computes it.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"entitled/mailer"
	"entitled/models"
)

// startRenewalRecord opens the untouched record of a contract's first term, with the value the
// order gave (nil: none).
func startRenewalRecord(tx *gorm.DB, c *models.Contract, value *models.Money, now time.Time) error {
	r := models.RenewalRecord{ContractID: c.ID, TermEndsOn: c.EndsOn, Stage: models.StageUntouched, CreatedAt: now, UpdatedAt: now}
	setValue(&r, value)
	return tx.Create(&r).Error
}

func setValue(r *models.RenewalRecord, value *models.Money) {
	if value == nil {
		r.ValueMinor, r.Currency = nil, nil
		return
	}
	minor, cur := value.Minor, value.Currency
	r.ValueMinor, r.Currency = &minor, &cur
}

// renewRenewalRecord records that the contract's term ending on endedOn was renewed (c holds the
// new ends_on): the open record is closed as won, with the day of the renewal and the ended
// term's last covered day (endedOn, or the grace granted past it: the renewal rate counts a
// renewal as in time when it came on or before that day), and the new term's record opens
// untouched with the owner and the value carried over — the value the renewal gave, when it gave
// one, replaces it.
func renewRenewalRecord(tx *gorm.DB, c *models.Contract, endedOn models.Date, value *models.Money, now time.Time) error {
	prev, err := openRecord(tx, c.ID)
	if err != nil {
		return err
	}
	next := models.RenewalRecord{ContractID: c.ID, TermEndsOn: c.EndsOn, Stage: models.StageUntouched, CreatedAt: now, UpdatedAt: now}
	if prev != nil {
		covered := endedOn
		var grace models.Date
		if err := tx.Model(&models.ContractTerm{}).Select("MAX(ends_on)").
			Where("contract_id = ? AND kind = ? AND starts_on = ?", c.ID, models.TermGrace, endedOn.AddDays(1)).Row().Scan(&grace); err != nil {
			return err
		}
		if grace.After(covered) {
			covered = grace
		}
		if err := tx.Model(&models.RenewalRecord{}).Where("id = ?", prev.ID).Updates(map[string]any{
			"stage": models.StageWon, "closed_at": now, "updated_at": now, "renewed_on": models.DateOf(now), "covered_until": covered, "term_ends_on": endedOn,
		}).Error; err != nil {
			return err
		}
		next.OwnerID, next.ValueMinor, next.Currency = prev.OwnerID, prev.ValueMinor, prev.Currency
	}
	if value != nil {
		setValue(&next, value)
	}
	return tx.Create(&next).Error
}

// openRecord is the contract's open renewal record, nil when it has none.
func openRecord(tx *gorm.DB, contractID int64) (*models.RenewalRecord, error) {
	var r models.RenewalRecord
	err := tx.Where("contract_id = ? AND closed_at IS NULL", contractID).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	return &r, err
}

// attachRenewals loads the open renewal record of each contract, with its owner's email. A
// contract without one (none is expected: orders and the migration open them) reads untouched.
func attachRenewals(db *gorm.DB, views []*models.ContractView) error {
	if len(views) == 0 {
		return nil
	}
	ids := make([]int64, len(views))
	at := make(map[int64]*models.ContractView, len(views))
	for i, v := range views {
		ids[i] = v.Contract.ID
		at[ids[i]] = v
		v.Renewal = &models.RenewalRecord{ContractID: ids[i], Stage: models.StageUntouched}
	}
	var recs []models.RenewalRecord
	if err := db.Where("contract_id IN ? AND closed_at IS NULL", ids).Find(&recs).Error; err != nil {
		return err
	}
	owners := map[int64]string{}
	var ownerIDs []int64
	for _, r := range recs {
		if r.OwnerID != nil {
			ownerIDs = append(ownerIDs, *r.OwnerID)
		}
	}
	if len(ownerIDs) > 0 {
		var us []models.User
		if err := db.Select("id, email").Where("id IN ?", ownerIDs).Find(&us).Error; err != nil {
			return err
		}
		for _, u := range us {
			owners[u.ID] = u.Email
		}
	}
	for i := range recs {
		r := recs[i]
		if r.OwnerID != nil {
			r.OwnerEmail = owners[*r.OwnerID]
		}
		at[r.ContractID].Renewal = &r
	}
	return nil
}

// loadNotes lists a contract's notes, oldest first.
func loadNotes(db *gorm.DB, contractID int64) ([]models.ContractNote, error) {
	notes := []models.ContractNote{}
	err := db.Where("contract_id = ?", contractID).Order("id").Find(&notes).Error
	return notes, err
}

// Detail shows one contract with its renewal record and its notes (GET /contracts/{id}).
// Errors: not_found.
func (s *Contracts) Detail(ctx context.Context, id string) (*models.ContractView, error) {
	return s.readContract(ctx, id, loadContractDetail)
}

// loadContractDetail loads a contract's view with its notes.
func loadContractDetail(db *gorm.DB, contractID int64) (*models.ContractView, error) {
	v, err := loadContractView(db, contractID)
	if err != nil {
		return nil, err
	}
	v.Notes, err = loadNotes(db, contractID)
	return v, err
}

// resolveOwner finds the staff user an owner email names: a user with the renewals role (or
// superadmin, who may do what any staff role may). Errors: validation_failed on field.
func resolveOwner(tx *gorm.DB, field, email string) (int64, error) {
	var u models.User
	err := tx.Select("id, staff_roles").Where("email = ?", email).Take(&u).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return 0, err
	}
	roles := u.Roles()
	if u.ID == 0 || !(slices.Contains(roles, models.RoleRenewals) || slices.Contains(roles, models.RoleSuperadmin)) {
		var v models.Validation
		v.Add(field, models.FieldNotRenewalsStaff, "must be a staff user with the renewals role")
		return 0, v.Err()
	}
	return u.ID, nil
}

// applyPatch changes the open record of a contract (opening it if it has none) and writes the
// audit row of the change. ownerID is the resolved owner when the patch sets one.
func applyPatch(tx *gorm.DB, c *models.Contract, p models.RenewalPatch, ownerID *int64, a models.Actor, today models.Date, now time.Time, bulk bool) error {
	r, err := openRecord(tx, c.ID)
	if err != nil {
		return err
	}
	if r == nil {
		if err := startRenewalRecord(tx, c, nil, now); err != nil {
			return err
		}
		if r, err = openRecord(tx, c.ID); err != nil {
			return err
		}
	}
	set := map[string]any{"updated_at": now}
	changed := map[string]any{}
	if p.OwnerSet {
		set["owner_id"] = ownerID
		changed["owner"] = nil
		if ownerID != nil {
			changed["owner"] = p.Owner
		}
	}
	if p.Stage != "" {
		set["stage"], set["stage_set_on"] = p.Stage, today
		changed["stage"] = p.Stage
	}
	if p.NextSet {
		set["next_step_on"] = p.NextStepOn
		changed["next_step_on"] = nil
		if !p.NextStepOn.IsZero() {
			changed["next_step_on"] = p.NextStepOn.String()
		}
	}
	if p.ValueSet {
		set["value_minor"], set["currency"] = nil, nil
		changed["value"] = nil
		if p.Value != nil {
			set["value_minor"], set["currency"] = p.Value.Minor, p.Value.Currency
			changed["value"] = map[string]any{"amount": p.Value.Amount(), "currency": p.Value.Currency}
		}
	}
	if err := tx.Model(&models.RenewalRecord{}).Where("id = ?", r.ID).Updates(set).Error; err != nil {
		return err
	}
	if bulk {
		changed["bulk"] = true
	}
	return writeAudit(tx, now, a, models.AuditRecord{Action: "contract.renewal_updated", SubjectType: "contract",
		SubjectID: strconv.FormatInt(c.ID, 10), LicenseID: c.LicenseID, Details: changed})
}

// ownerOf resolves the owner a patch sets: nil when it clears it or does not set it.
func ownerOf(tx *gorm.DB, field string, p models.RenewalPatch) (*int64, error) {
	if !p.OwnerSet || p.Owner == "" {
		return nil, nil
	}
	id, err := resolveOwner(tx, field, p.Owner)
	if err != nil {
		return nil, err
	}
	return &id, nil
}

// PatchRenewal changes a contract's renewal record and answers the contract as it now is, with
// its notes. ifMatch, when given, must be the contract's current ETag. Audited. Errors:
// not_found, validation_failed (an owner who is not renewal staff), precondition_failed.
func (s *Contracts) PatchRenewal(ctx context.Context, id string, p models.RenewalPatch, ifMatch string, a models.Actor) (_ *models.ContractView, err error) {
	defer wrapErr(&err, "change a renewal record")
	var out *models.ContractView
	err = s.withLockedContract(ctx, id, func(tx *gorm.DB, n int64, cur *models.ContractView, now time.Time) (err error) {
		today := models.DateOf(now)
		if ifMatch != "" {
			if cur.Notes, err = loadNotes(tx, n); err != nil {
				return err
			}
			if err := models.CheckIfMatch(ifMatch, models.ContractETag(cur, today)); err != nil {
				return err
			}
		}
		ownerID, err := ownerOf(tx, "owner", p)
		if err != nil {
			return err
		}
		if err := applyPatch(tx, &cur.Contract, p, ownerID, a, today, now, false); err != nil {
			return err
		}
		out, err = loadContractDetail(tx, n)
		return err
	})
	return out, err
}

// BulkRenewal applies one change (owner, stage, next step) to the renewal records of several
// contracts in one transaction: every contract is changed, or none (an unknown id, a bad owner).
// It answers how many were changed. Errors: validation_failed (naming ids[i] that are not
// contracts).
func (s *Contracts) BulkRenewal(ctx context.Context, ids []string, p models.RenewalPatch, a models.Actor) (_ int, err error) {
	defer wrapErr(&err, "change renewal records in bulk")
	var v models.Validation
	var want []int64
	seen := map[int64]int{} // id → index of its first mention in ids
	switch {
	case len(ids) == 0:
		v.Add("ids", models.FieldRequired, "name the contracts to change")
	case len(ids) > models.MaxBulkIDs:
		v.Add("ids", models.FieldTooLong, "at most "+strconv.Itoa(models.MaxBulkIDs)+" contracts at once")
	}
	for i, raw := range ids {
		n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil || n <= 0 {
			v.Add("ids["+strconv.Itoa(i)+"]", models.FieldInvalid, "is not a contract id")
			continue
		}
		if _, dup := seen[n]; !dup {
			seen[n] = i
			want = append(want, n)
		}
	}
	if err := v.Err(); err != nil {
		return 0, err
	}
	slices.Sort(want) // lock in id order, so that two bulk changes never deadlock
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		for _, n := range want {
			if err := lockContract(tx, n); err != nil {
				return err
			}
		}
		var cs []models.Contract
		if err := tx.Where("id IN ?", want).Order("id").Find(&cs).Error; err != nil {
			return err
		}
		found := map[int64]bool{}
		for _, c := range cs {
			found[c.ID] = true
		}
		for _, n := range want {
			if !found[n] {
				v.Add("ids["+strconv.Itoa(seen[n])+"]", models.CodeNotFound, "there is no contract "+strconv.FormatInt(n, 10))
			}
		}
		if err := v.Err(); err != nil {
			return err
		}
		ownerID, err := ownerOf(tx, "set.owner", p)
		if err != nil {
			return err
		}
		now := s.store.Clock.Now()
		for i := range cs {
			if err := applyPatch(tx, &cs[i], p, ownerID, a, models.DateOf(now), now, true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(want), nil
}

// AddNote adds a note to a contract. Audited (without the text). Errors: not_found,
// validation_failed.
func (s *Contracts) AddNote(ctx context.Context, id, text string, a models.Actor) (_ *models.ContractNote, err error) {
	defer wrapErr(&err, "add a note")
	n, err := parseContractID(id)
	if err != nil {
		return nil, err
	}
	text, err = models.CheckNote(text)
	if err != nil {
		return nil, err
	}
	var note models.ContractNote
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		var c models.Contract
		if err := tx.Take(&c, n).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.Errorf(models.CodeNotFound, "there is no contract %d", n)
			}
			return err
		}
		now := s.store.Clock.Now()
		note = models.ContractNote{ContractID: n, AuthorEmail: a.Email, Text: text, CreatedAt: now}
		if a.ID != 0 {
			note.AuthorID = &a.ID
		}
		if err := tx.Create(&note).Error; err != nil {
			return err
		}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "contract.note_added", SubjectType: "contract",
			SubjectID: strconv.FormatInt(n, 10), LicenseID: c.LicenseID, Details: map[string]any{"note_id": note.ID}})
	})
	if err != nil {
		return nil, err
	}
	return &note, nil
}

// forecastQueries are the two GROUP BY queries of the forecast, grouped by day (Go adds the
// days up into months: a DATE column's groups are ones the planner can count, where a month
// string is an expression it cannot, and PostgreSQL then sorts half a million rows instead of
// hashing a few thousand groups).
//
// The months ahead, by day, stage and currency over the current ends_on, in two halves: the days
// of this month before today, where a lapse can make a record read as lost (the full
// EffectiveStageSQL), and today on, where no contract is lapsed and the stage is the record's
// own — so that the large half groups by plain columns. The past months over the renewal
// records' term_ends_on.
//
// On SQLite the large halves read their table in rowid order (NOT INDEXED), so that the join's
// lookups go through the other table in key order too; a range of the ends_on index would visit
// the records at random, a page read each at a million contracts (21 s against 3 s, measured
// with half of them due in the year ahead). For the past months that pays while the records
// in the window are more than about a tenth of all: until a database holds some ten years of
// renewals.
func (s *Contracts) forecastQueries(today models.Date, months int) (ahead string, aheadArgs []any, past string, pastArgs []any) {
	stage, stageArgs := models.EffectiveStageSQL(today, s.RenewalWindowDays)
	from, to := models.MonthOf(today), models.AddMonths(today, months)
	scan := ""
	if s.store.Dialect == SQLite {
		scan = " NOT INDEXED"
	}
	open := " LEFT JOIN renewal_records r ON r.contract_id = c.id AND r.closed_at IS NULL"
	due := " AND c.terminated_on IS NULL AND NOT c.trial"
	ahead = "SELECT c.ends_on, " + stage + `, COALESCE(r.currency, ''), COUNT(*), COALESCE(SUM(r.value_minor), 0)
	FROM contracts c` + open + `
	WHERE c.ends_on >= ? AND c.ends_on < ?` + due + `
	GROUP BY 1, 2, 3
	UNION ALL
	SELECT c.ends_on, COALESCE(r.stage, 'untouched'), COALESCE(r.currency, ''), COUNT(*), COALESCE(SUM(r.value_minor), 0)
	FROM contracts c` + scan + open + `
	WHERE c.ends_on >= ? AND c.ends_on < ?` + due + `
	GROUP BY c.ends_on, r.stage, r.currency`
	aheadArgs = append(stageArgs, from, today, today, to)
	// Renewed in time: closed by a renewal on or before the ended term's last covered day. Lapsed:
	// not renewed in time and past the last covered day (an open record's is the contract's own
	// ends_on or grace_until; the renewal of a lapsed contract came too late and counts lapsed).
	inTime := "r.closed_at IS NOT NULL AND r.renewed_on <= r.covered_until"
	past = `SELECT r.term_ends_on, COUNT(*),
		SUM(CASE WHEN ` + inTime + ` THEN 1 ELSE 0 END),
		SUM(CASE WHEN NOT (` + inTime + `) AND COALESCE(r.covered_until, c.grace_until, r.term_ends_on) < ? THEN 1 ELSE 0 END)
	FROM renewal_records r` + scan + ` JOIN contracts c ON c.id = r.contract_id
	WHERE r.term_ends_on >= ? AND r.term_ends_on < ? AND NOT c.trial AND (r.closed_at IS NOT NULL OR c.terminated_on IS NULL)
	GROUP BY r.term_ends_on`
	pastArgs = []any{today, models.AddMonths(today, -months), from}
	return ahead, aheadArgs, past, pastArgs
}

// Forecast is the renewal forecast: the months ahead from this month on (months of them) with
// what is due by stage and value per currency, and the renewal rate of the past months months
// (contract: GET /renewals/forecast). Both are computed in SQL, grouped by month, stage and
// currency; Go only lays the groups out. Terminated contracts and trials are not renewals.
func (s *Contracts) Forecast(ctx context.Context, months int) (_ *models.Forecast, err error) {
	defer wrapErr(&err, "forecast renewals")
	today := s.Today()
	out := &models.Forecast{Today: today}
	ahead := map[string]*models.ForecastMonth{}
	for i := range months {
		m := models.NewForecastMonth(models.MonthKey(models.AddMonths(today, i)))
		out.Months = append(out.Months, m)
	}
	for i := range out.Months {
		ahead[out.Months[i].Month] = &out.Months[i]
	}
	past := map[string]*models.HistoryMonth{}
	for i := months; i >= 1; i-- {
		out.History = append(out.History, models.HistoryMonth{Month: models.MonthKey(models.AddMonths(today, -i))})
	}
	for i := range out.History {
		past[out.History[i].Month] = &out.History[i]
	}
	aheadSQL, aheadArgs, pastSQL, pastArgs := s.forecastQueries(today, months)
	err = s.store.read(ctx, func(db *gorm.DB) error {
		err := eachListRow(db, []listSQL{{aheadSQL, aheadArgs}}, func(rows *sql.Rows) (bool, error) {
			var day models.Date
			var stage, currency string
			var n int
			var minor int64
			if err := rows.Scan(&day, &stage, &currency, &n, &minor); err != nil {
				return false, err
			}
			if m := ahead[models.MonthKey(day)]; m != nil {
				m.Due += n
				m.ByStage[stage] += n
				if currency != "" {
					m.AddValue(currency, stage, minor)
				}
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		return eachListRow(db, []listSQL{{pastSQL, pastArgs}}, func(rows *sql.Rows) (bool, error) {
			var day models.Date
			var due, renewed, lapsed int
			if err := rows.Scan(&day, &due, &renewed, &lapsed); err != nil {
				return false, err
			}
			if h := past[models.MonthKey(day)]; h != nil {
				h.Due += due
				h.Renewed += renewed
				h.Lapsed += lapsed
			}
			return true, nil
		})
	})
	if err != nil {
		return nil, err
	}
	for i := range out.History {
		out.History[i].SetRate()
	}
	return out, nil
}

// ExplainForecast is the database's plan of the forecast's two queries (EXPLAIN on PostgreSQL,
// EXPLAIN QUERY PLAN on SQLite), for benchmarks and for operators checking index use.
func (s *Contracts) ExplainForecast(ctx context.Context, months int) (_ string, err error) {
	defer wrapErr(&err, "explain the forecast")
	aheadSQL, aheadArgs, pastSQL, pastArgs := s.forecastQueries(s.Today(), months)
	prefix := "EXPLAIN QUERY PLAN "
	if s.store.Dialect == Postgres {
		prefix = "EXPLAIN "
	}
	var lines []string
	err = s.store.read(ctx, func(db *gorm.DB) error {
		for _, q := range []struct {
			sql  string
			args []any
		}{{aheadSQL, aheadArgs}, {pastSQL, pastArgs}} {
			rows, err := db.Raw(prefix+q.sql, q.args...).Rows()
			if err != nil {
				return err
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					rows.Close()
					return err
				}
				lines = append(lines, fmt.Sprint(vals[len(vals)-1]))
			}
			rows.Close()
		}
		return nil
	})
	return strings.Join(lines, "\n"), err
}

// accountByID loads an account by its 7-digit Account ID. Errors: not_found.
func accountByID(db *gorm.DB, accountID string) (*models.Account, error) {
	id, ok := models.ParseAccountID(accountID)
	if !ok {
		return nil, models.Errorf(models.CodeNotFound, "there is no account %q", models.Clip(accountID, 16))
	}
	var acct models.Account
	if err := db.Where("account_id = ?", id).Take(&acct).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, models.Errorf(models.CodeNotFound, "there is no account %s", id)
		}
		return nil, err
	}
	return &acct, nil
}

// Account shows an account with its primary contact and every license with its contract (in
// the contract list's shape, renewal record included). Errors: not_found.
func (s *Contracts) Account(ctx context.Context, accountID string) (_ *models.AccountView, err error) {
	defer wrapErr(&err, "read an account")
	var out *models.AccountView
	err = s.store.read(ctx, func(db *gorm.DB) error {
		acct, err := accountByID(db, accountID)
		if err != nil {
			return err
		}
		out = &models.AccountView{Account: *acct, Licenses: []models.AccountLicense{}}
		var lics []models.License
		if err := db.Where("account_id = ?", acct.ID).Order("id").Find(&lics).Error; err != nil {
			return err
		}
		if len(lics) == 0 {
			return nil
		}
		ids, productIDs := make([]int64, len(lics)), make([]int64, len(lics))
		for i, l := range lics {
			ids[i], productIDs[i] = l.ID, l.ProductID
		}
		var products []models.Product
		if err := db.Where("id IN ?", productIDs).Find(&products).Error; err != nil {
			return err
		}
		byProduct := map[int64]models.Product{}
		for _, p := range products {
			byProduct[p.ID] = p
		}
		var cids []int64
		if err := db.Model(&models.Contract{}).Where("license_id IN ?", ids).Order("id").Pluck("id", &cids).Error; err != nil {
			return err
		}
		byLicense := map[int64]*models.ContractView{}
		for _, cid := range cids {
			v, err := loadContractView(db, cid)
			if err != nil {
				return err
			}
			byLicense[v.Contract.LicenseID] = v
		}
		for _, l := range lics {
			out.Licenses = append(out.Licenses, models.AccountLicense{License: l, Product: byProduct[l.ProductID], Contract: byLicense[l.ID]})
		}
		return nil
	})
	return out, err
}

// Coterm aligns an account's support contracts on one end: each current contract (active,
// expiring or grace; not a trial) ending before endsOn gets one renewal term from the day after
// its ends_on up to endsOn — recorded as a renewal, so its renewal record is won and the new
// term's opens — and a contract ending on or after endsOn is left alone. The primary contact gets
// one confirmation letter for all of them. It answers the contracts it changed. Errors:
// not_found, validation_failed.
func (s *Contracts) Coterm(ctx context.Context, accountID, endsOn string, a models.Actor) (_ []models.ContractView, err error) {
	defer wrapErr(&err, "co-term an account")
	var v models.Validation
	target := models.CheckDate(&v, "ends_on", endsOn, true)
	if err := v.Err(); err != nil {
		return nil, err
	}
	out := []models.ContractView{}
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		acct, err := accountByID(tx, accountID)
		if err != nil {
			return err
		}
		now := s.store.Clock.Now()
		today := models.DateOf(now)
		if target.Before(today) {
			v.Add("ends_on", models.FieldInvalid, "must be today or later")
			return v.Err()
		}
		var cids []int64
		if err := tx.Model(&models.Contract{}).Joins("JOIN licenses l ON l.id = contracts.license_id").
			Where("l.account_id = ? AND contracts.terminated_on IS NULL AND NOT contracts.trial AND contracts.ends_on < ?", acct.ID, target).
			Order("contracts.id").Pluck("contracts.id", &cids).Error; err != nil {
			return err
		}
		letter := mailer.CotermConfirmation{Name: acct.ContactName, AccountID: acct.AccountID, EndsOn: target.String()}
		for _, cid := range cids {
			if err := lockContract(tx, cid); err != nil {
				return err
			}
			cv, err := loadContractView(tx, cid)
			if err != nil {
				return err
			}
			c := &cv.Contract
			status, _ := models.ContractStatus(c.Facts(), today, s.RenewalWindowDays)
			if !models.IsCurrent(status) || !c.EndsOn.Before(target) {
				continue
			}
			start := c.EndsOn.AddDays(1)
			c.EndsOn, c.GraceUntil, c.UpdatedAt = target, models.Date{}, now
			if err := tx.Model(&models.Contract{}).Where("id = ?", c.ID).Updates(map[string]any{
				"ends_on": c.EndsOn, "grace_until": nil, "updated_at": now,
			}).Error; err != nil {
				return err
			}
			term := newTerm(c, models.TermRenewal, a, "co-term to "+target.String(), nil, now)
			term.StartsOn = start
			if err := appendTerm(tx, term); err != nil {
				return err
			}
			if err := renewRenewalRecord(tx, c, start.AddDays(-1), nil, now); err != nil {
				return err
			}
			if err := writeAudit(tx, now, a, models.AuditRecord{Action: models.EventContractRenewed, SubjectType: "contract", SubjectID: itoa64(c.ID),
				LicenseID: c.LicenseID, Details: map[string]any{"license_number": cv.License.LicenseNumber, "coterm": true,
					"starts_on": start.String(), "ends_on": target.String(), "program": c.Program, "premier": c.Premier}}); err != nil {
				return err
			}
			after, err := loadContractView(tx, cid)
			if err != nil {
				return err
			}
			if err := emit(ctx, tx, s.outbox, now, models.EventContractRenewed, acct.AccountID, models.WebhookContractData(after, today, s.RenewalWindowDays)); err != nil {
				return err
			}
			out = append(out, *after)
			letter.Contracts = append(letter.Contracts, mailer.CotermLine{LicenseNumber: after.License.LicenseNumber, ProductName: after.Product.Name,
				Program: c.Program, Premier: c.Premier, StartsOn: start.String()})
		}
		if len(out) == 0 {
			return nil // nothing to align: no letter
		}
		to, ok := mailable(acct.ContactEmail)
		if !ok {
			s.store.log.WarnContext(ctx, "co-term letter not queued: the account's primary contact address cannot take mail", "account_id", acct.AccountID)
			return nil
		}
		_, err = queueLetter(ctx, tx, s.outbox, letter, []string{to}, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RenewalOwners lists the email of every staff user who may own a renewal (as resolveOwner
// admits: the renewals role, or superadmin), in email order: the portal's owner choices.
func (s *Contracts) RenewalOwners(ctx context.Context) (_ []string, err error) {
	defer wrapErr(&err, "list renewal owners")
	var staff []staffContact
	err = s.store.read(ctx, func(db *gorm.DB) error {
		staff, err = staffWith(db, models.RoleRenewals, models.RoleSuperadmin)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(staff))
	for _, u := range staff {
		out = append(out, u.Email)
	}
	return out, nil
}

// RenewalHistory lists every renewal record of a contract, one per term, the open (current)
// one first and then the closed ones newest first, each with its owner's email. Errors:
// not_found.
func (s *Contracts) RenewalHistory(ctx context.Context, id string) (_ []models.RenewalRecord, err error) {
	defer wrapErr(&err, "list a contract's renewal records")
	n, err := parseContractID(id)
	if err != nil {
		return nil, err
	}
	var recs []models.RenewalRecord
	err = s.store.read(ctx, func(db *gorm.DB) error {
		var c models.Contract
		if err := db.Select("id").Take(&c, n).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.Errorf(models.CodeNotFound, "there is no contract %d", n)
			}
			return err
		}
		if err := db.Where("contract_id = ?", n).Order("CASE WHEN closed_at IS NULL THEN 0 ELSE 1 END, id DESC").Find(&recs).Error; err != nil {
			return err
		}
		var ownerIDs []int64
		for _, r := range recs {
			if r.OwnerID != nil {
				ownerIDs = append(ownerIDs, *r.OwnerID)
			}
		}
		if len(ownerIDs) == 0 {
			return nil
		}
		var us []models.User
		if err := db.Select("id, email").Where("id IN ?", ownerIDs).Find(&us).Error; err != nil {
			return err
		}
		owners := map[int64]string{}
		for _, u := range us {
			owners[u.ID] = u.Email
		}
		for i := range recs {
			if recs[i].OwnerID != nil {
				recs[i].OwnerEmail = owners[*recs[i].OwnerID]
			}
		}
		return nil
	})
	return recs, err
}
