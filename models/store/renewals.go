package store

// The renewal-notice sweep: renewal notices before ends_on, the lapse notice after it, and the
// staff digest. A pass is safe to run any number of times, on any number of replicas at once:
// every letter is queued in the same transaction as a row whose unique key says it was sent —
// (contract, ends_on, offset) for notices, the day for the digest — so a re-run or a second
// replica finds the row taken and queues nothing, and a crash rolls back both together.

import (
	"context"
	"slices"
	"strings"

	"gorm.io/gorm"

	"entitled/mailer"
	"entitled/models"
)

// digestMaxLines caps each list of a digest letter; the counts still say how many there are.
const digestMaxLines = 200

// Renewals is the notice sweep of the renewal desk. It runs daily inside serve (a River periodic
// job, on the elected leader only) and on demand with `entitled renewals notify`.
type Renewals struct {
	store   *Store
	outbox  Outbox
	links   mailer.Links
	offsets []int
	// BatchSize is how many contracts one transaction handles (default 500): big enough to be
	// quick, small enough that a pass never holds SQLite's write lock for long.
	BatchSize int
	// RenewalWindowDays is ENTITLED_RENEWAL_WINDOW_DAYS (default 90): the contract.expiring and
	// contract.lapsed events show the contract's status with it.
	RenewalWindowDays int
}

// NewRenewals makes the sweep. noticeDays is ENTITLED_RENEWAL_NOTICE_DAYS; baseURL is where the
// letters' links point. Errors: validation_failed for a bad offset.
func NewRenewals(store *Store, outbox Outbox, baseURL string, noticeDays []int) (*Renewals, error) {
	offsets, err := models.NoticeOffsets(noticeDays)
	if err != nil {
		return nil, err
	}
	return &Renewals{store: store, outbox: outbox, links: mailer.NewLinks(baseURL), offsets: offsets, BatchSize: 500, RenewalWindowDays: 90}, nil
}

// Offsets are the notice offsets, ascending.
func (s *Renewals) Offsets() []int { return slices.Clone(s.offsets) }

// Pass runs the sweep once for today (by the store's clock): every notice due and not yet sent,
// then the day's digest if it was not sent yet. Errors: unavailable, or internal.
func (s *Renewals) Pass(ctx context.Context, opts models.PassOptions) (_ models.PassReport, err error) {
	defer wrapErr(&err, "run a renewal-notice pass")
	today := models.DateOf(s.store.Clock.Now())
	rep := models.PassReport{Day: today}
	ids, err := s.candidates(ctx, today)
	if err != nil {
		return rep, err
	}
	rep.Contracts = len(ids)
	if opts.Progress != nil {
		opts.Progress(0, len(ids))
	}
	size := s.BatchSize
	if size <= 0 {
		size = 500
	}
	for start := 0; start < len(ids); start += size {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		batch := ids[start:min(start+size, len(ids))]
		queued, undeliverable, err := s.noticeBatch(ctx, batch, today)
		if err != nil {
			return rep, err
		}
		rep.Undeliverable += len(undeliverable)
		if opts.Undeliverable != nil {
			for _, u := range undeliverable {
				opts.Undeliverable(u)
			}
		}
		for _, q := range queued {
			if q.Kind == models.LetterLapseNotice {
				rep.LapseNotices++
			} else {
				rep.RenewalNotices++
			}
			if opts.Queued != nil {
				opts.Queued(q)
			}
		}
		if opts.Progress != nil {
			opts.Progress(start+len(batch), len(ids))
		}
	}
	queued, err := s.digest(ctx, today)
	if err != nil {
		return rep, err
	}
	rep.DigestLetters = len(queued)
	if opts.Queued != nil {
		for _, q := range queued {
			opts.Queued(q)
		}
	}
	return rep, nil
}

// noticeOffsetCase is the SQL of the offset NoticeDue gives an active contract (ends_on on or
// after today, within the largest offset): the smallest offset ≥ days_left.
func (s *Renewals) noticeOffsetCase(today models.Date) (string, []any) {
	var b strings.Builder
	var args []any
	b.WriteString("CASE")
	for _, o := range s.offsets {
		b.WriteString(" WHEN c.ends_on <= ? THEN " + itoa(o))
		args = append(args, today.AddDays(o))
	}
	b.WriteString(" END")
	return b.String(), args
}

// candidates are the contracts that may be owed a notice today and have not had it: found with
// the indexes by date range, without the rule's finer points, which noticeBatch applies.
func (s *Renewals) candidates(ctx context.Context, today models.Date) ([]int64, error) {
	var ids []int64
	err := s.store.read(ctx, func(db *gorm.DB) error {
		if len(s.offsets) > 0 {
			offset, offArgs := s.noticeOffsetCase(today)
			args := []any{today, today, today.AddDays(s.offsets[len(s.offsets)-1])}
			args = append(args, offArgs...)
			var renew []int64
			if err := db.Raw(`SELECT c.id FROM contracts c
				WHERE c.terminated_on IS NULL AND NOT c.trial AND c.starts_on <= ? AND c.ends_on >= ? AND c.ends_on <= ?
				AND NOT EXISTS (SELECT 1 FROM renewal_notices n WHERE n.contract_id = c.id AND n.ends_on = c.ends_on AND n.offset_days = `+offset+`)`,
				args...).Scan(&renew).Error; err != nil {
				return err
			}
			ids = append(ids, renew...)
		}
		earliest := today.AddDays(-1 - models.LapseNoticeCatchUpDays)
		var lapsed []int64
		if err := db.Raw(`SELECT c.id FROM contracts c
			WHERE c.terminated_on IS NULL AND c.starts_on <= ? AND c.ends_on < ? AND c.ends_on >= ?
			AND (c.grace_until IS NULL OR c.grace_until < ?) AND COALESCE(c.grace_until, c.ends_on) >= ?
			AND NOT EXISTS (SELECT 1 FROM renewal_notices n WHERE n.contract_id = c.id AND n.ends_on = c.ends_on AND n.offset_days = ?)`,
			today, today, earliest.AddDays(-models.MaxGraceDays), today, earliest, models.LapseNoticeOffset).Scan(&lapsed).Error; err != nil {
			return err
		}
		ids = append(ids, lapsed...)
		return nil
	})
	slices.Sort(ids)
	return slices.Compact(ids), err
}

// noticeBatch queues the notices a batch of contracts is owed, in one transaction. The contracts
// are read again inside it (and locked on PostgreSQL, in id order, as the contract actions lock
// them) so that a renewal committed since the candidates were found is seen, and NoticeDue
// decides on what is true now.
//
// A contract whose primary contact's address cannot take mail is left out before anything is
// written for it (no notice row, no letter), and returned as undeliverable; the batch goes on
// with the others. Letters are rendered with the same address rule (models.ValidEmail), so no
// address that passes here makes the batch fail.
func (s *Renewals) noticeBatch(ctx context.Context, ids []int64, today models.Date) ([]models.QueuedLetter, []models.UndeliverableNotice, error) {
	var queued []models.QueuedLetter
	var undeliverable []models.UndeliverableNotice
	err := s.store.withTx(ctx, func(tx *gorm.DB) error {
		queued, undeliverable = nil, nil
		lock := ""
		if s.store.Dialect == Postgres {
			lock = " FOR UPDATE OF c"
		}
		rows, err := tx.Raw("SELECT "+contractColumns+contractFrom+" WHERE c.id IN ? ORDER BY c.id"+lock, ids).Rows()
		if err != nil {
			return err
		}
		var views []models.ContractView
		for rows.Next() {
			var v models.ContractView
			if err := scanContract(rows, &v); err != nil {
				rows.Close()
				return err
			}
			views = append(views, v)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		licenseIDs := make([]int64, 0, len(views))
		for i := range views {
			licenseIDs = append(licenseIDs, views[i].License.ID)
		}
		admins, err := adminEmailsByLicense(tx, licenseIDs)
		if err != nil {
			return err
		}
		// The notice rows first, all at once: the ones that come back were not sent before (by
		// an earlier pass, or another pass running now), and only those get a letter.
		now := s.store.Clock.Now().UTC()
		type due struct {
			v      *models.ContractView
			offset int
			to     string
		}
		var owed []due
		var values []string
		var args []any
		for i := range views {
			v := &views[i]
			offset, ok := models.NoticeDue(v.Contract.Facts(), today, s.offsets)
			if !ok {
				continue
			}
			to, ok := mailable(v.Account.ContactEmail)
			if !ok {
				kind := models.LetterRenewalNotice
				if offset == models.LapseNoticeOffset {
					kind = models.LetterLapseNotice
				}
				undeliverable = append(undeliverable, models.UndeliverableNotice{Kind: kind, ContractID: v.Contract.ID,
					LicenseNumber: v.License.LicenseNumber, AccountID: v.Account.AccountID, OffsetDays: offset, Address: v.Account.ContactEmail})
				continue
			}
			owed = append(owed, due{v, offset, to})
			values = append(values, "(?, ?, ?, ?)")
			args = append(args, v.Contract.ID, v.Contract.EndsOn, offset, now)
		}
		if len(owed) == 0 {
			return nil
		}
		var inserted []int64
		if err := tx.Raw(`INSERT INTO renewal_notices (contract_id, ends_on, offset_days, sent_at) VALUES `+strings.Join(values, ", ")+`
			ON CONFLICT (contract_id, ends_on, offset_days) DO NOTHING RETURNING contract_id`, args...).Scan(&inserted).Error; err != nil {
			return err
		}
		var out []mailer.Outgoing
		var sent []due
		for _, d := range owed {
			if !slices.Contains(inserted, d.v.Contract.ID) {
				continue // another pass sent it
			}
			var cc []string
			for _, a := range admins[d.v.License.ID] {
				if a2, ok := mailable(a); ok && !strings.EqualFold(a2, d.to) && !slices.Contains(cc, a2) {
					cc = append(cc, a2)
				}
			}
			msg := s.letter(d.v, d.offset, today)
			out = append(out, mailer.Outgoing{Message: msg, To: []string{d.to}, Cc: cc})
			sent = append(sent, d)
		}
		letters, err := queueLetters(ctx, tx, s.outbox, out)
		if err != nil {
			return err
		}
		for i, d := range sent {
			kind := models.LetterRenewalNotice
			if d.offset == models.LapseNoticeOffset {
				kind = models.LetterLapseNotice
			}
			// The event goes with its notice: contract.expiring (with offset_days) or contract.lapsed.
			data := models.WebhookContractData(d.v, today, s.RenewalWindowDays)
			typ := models.EventContractLapsed
			if d.offset != models.LapseNoticeOffset {
				typ, data["offset_days"] = models.EventContractExpiring, d.offset
			}
			if err := emit(ctx, tx, s.outbox, now, typ, d.v.Account.AccountID, data); err != nil {
				return err
			}
			queued = append(queued, models.QueuedLetter{Kind: kind, ContractID: d.v.Contract.ID, LicenseNumber: d.v.License.LicenseNumber,
				EndsOn: d.v.Contract.EndsOn, OffsetDays: d.offset, DaysLeft: today.DaysUntil(d.v.Contract.EndsOn),
				To: letters[i].To, Cc: letters[i].Cc, MessageID: letters[i].MessageID})
		}
		failpoint("notice.before_commit")
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	failpoint("notice.after_commit")
	return queued, undeliverable, nil
}

// mailable reports whether an address can be written to, normalised: the rule the mailer
// renders letters by (models.ValidEmail), so that an address that passes here never fails the
// letter, and the transaction of the letters around it.
func mailable(addr string) (string, bool) {
	addr = models.NormaliseEmail(addr)
	if !models.ValidEmail(addr) {
		return "", false
	}
	return addr, true
}

// adminEmailsByLicense lists each license's admins' addresses.
func adminEmailsByLicense(tx *gorm.DB, licenseIDs []int64) (map[int64][]string, error) {
	out := map[int64][]string{}
	if len(licenseIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		LicenseID int64
		Email     string
	}
	if err := tx.Table("members").Select("members.license_id, users.email").Joins("JOIN users ON users.id = members.user_id").
		Where("members.license_id IN ? AND members.role_admin AND "+verifiedUser, licenseIDs).Order("members.license_id, users.email").Scan(&rows).Error; err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.LicenseID] = append(out[r.LicenseID], r.Email)
	}
	return out, nil
}

// renewURL is where a letter sends the customer to renew: the license's page in the portal,
// which shows its support and how to renew it.
func (s *Renewals) renewURL(ln string) string { return s.links.License(ln) }

// letter is the letter of a notice.
func (s *Renewals) letter(v *models.ContractView, offset int, today models.Date) mailer.Message {
	c := &v.Contract
	n := mailer.ContractNotice{Name: v.Account.ContactName, AccountName: v.Account.Name, AccountID: v.Account.AccountID,
		LicenseNumber: v.License.LicenseNumber, ProductName: v.Product.Name, SKU: v.Product.SKU, Program: c.Program, Premier: c.Premier,
		EndsOn: c.EndsOn.String(), DaysLeft: today.DaysUntil(c.EndsOn), RenewURL: s.renewURL(v.License.LicenseNumber)}
	if offset == models.LapseNoticeOffset {
		return mailer.LapseNotice{ContractNotice: n, GraceUntil: c.GraceUntil.String(), Trial: c.Trial}
	}
	return mailer.RenewalNotice{ContractNotice: n, OffsetDays: offset}
}

// digest queues the day's digest to every staff member with the renewals role (superadmin
// included), once a day: the renewal_digests row for the day is written in the same transaction.
// It lists the contracts (trials aside, which are not renewed) that expire within DigestDays and
// those whose last covered day was yesterday. A day with nothing in either list sends nothing.
func (s *Renewals) digest(ctx context.Context, today models.Date) ([]models.QueuedLetter, error) {
	var queued []models.QueuedLetter
	err := s.store.withTx(ctx, func(tx *gorm.DB) error {
		queued = nil
		now := s.store.Clock.Now().UTC()
		res := tx.Exec("INSERT INTO renewal_digests (day, sent_at, recipients) VALUES (?, ?, 0) ON CONFLICT (day) DO NOTHING", today, now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return nil // sent today already
		}
		yesterday := today.AddDays(-1)
		expiring, nExpiring, err := digestLines(tx, today,
			"c.terminated_on IS NULL AND NOT c.trial AND c.starts_on <= ? AND c.ends_on >= ? AND c.ends_on <= ?",
			today, today, today.AddDays(models.DigestDays))
		if err != nil {
			return err
		}
		lapsed, nLapsed, err := digestLines(tx, today,
			"c.terminated_on IS NULL AND NOT c.trial AND c.starts_on <= ? AND ((c.grace_until IS NULL AND c.ends_on = ?) OR c.grace_until = ?)",
			today, yesterday, yesterday)
		if err != nil {
			return err
		}
		if nExpiring == 0 && nLapsed == 0 {
			return nil
		}
		staff, err := staffWith(tx, models.RoleRenewals, models.RoleSuperadmin)
		if err != nil {
			return err
		}
		for _, st := range staff {
			to, ok := mailable(st.Email)
			if !ok {
				continue
			}
			m := mailer.RenewalDigest{Name: st.Name, Day: today.String(),
				ExpiringCount: nExpiring, Expiring: expiring, ExpiringMore: nExpiring - len(expiring),
				LapsedCount: nLapsed, Lapsed: lapsed, LapsedMore: nLapsed - len(lapsed),
				ListURL: s.links.Renewals()}
			l, err := queueLetter(ctx, tx, s.outbox, m, []string{to}, nil)
			if err != nil {
				return err
			}
			queued = append(queued, models.QueuedLetter{Kind: models.LetterDigest, To: l.To, MessageID: l.MessageID})
		}
		return tx.Exec("UPDATE renewal_digests SET recipients = ? WHERE day = ?", len(queued), today).Error
	})
	return queued, err
}

// digestLines lists up to digestMaxLines contracts that match cond, soonest ends_on first, and
// counts them all.
func digestLines(tx *gorm.DB, today models.Date, cond string, args ...any) ([]mailer.DigestLine, int, error) {
	var n int64
	if err := tx.Raw("SELECT count(*) FROM contracts c WHERE "+cond, args...).Scan(&n).Error; err != nil {
		return nil, 0, err
	}
	out := []mailer.DigestLine{}
	if n == 0 {
		return out, 0, nil
	}
	rows, err := tx.Raw("SELECT "+contractColumns+contractFrom+" WHERE "+cond+" ORDER BY c.ends_on, c.id LIMIT ?", append(args, digestMaxLines)...).Rows()
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var v models.ContractView
		if err := scanContract(rows, &v); err != nil {
			return nil, 0, err
		}
		c := &v.Contract
		out = append(out, mailer.DigestLine{ContractID: itoa64(c.ID), LicenseNumber: v.License.LicenseNumber, AccountName: v.Account.Name,
			AccountID: v.Account.AccountID, Contact: v.Account.ContactName + " <" + v.Account.ContactEmail + ">", ProductName: v.Product.Name,
			Program: c.Program, Premier: c.Premier, EndsOn: c.EndsOn.String(), GraceUntil: c.GraceUntil.String(), DaysLeft: today.DaysUntil(c.EndsOn)})
	}
	return out, int(n), rows.Err()
}
