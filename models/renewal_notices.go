package models

// The renewal-notice sweep: renewal notices before ends_on, the lapse notice after it, and the
// staff digest. A pass is safe to run any number of times, on any number of replicas at once:
// every letter is queued in the same transaction as a row whose unique key says it was sent —
// (contract, ends_on, offset) for notices, the day for the digest — so a re-run or a second
// replica finds the row taken and queues nothing, and a crash rolls back both together.

import (
	"context"
	"database/sql"
	"slices"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"entitled/mailer"
)

// LapseNoticeOffset is the offset_days of the lapse notice in renewal_notices and notices_sent.
const LapseNoticeOffset = -1

// LapseNoticeCatchUpDays is how late a lapse notice still goes out: the sweep owes it from the
// day after the contract's last covered day, and a pass missed while every replica was down
// catches up for this many days. Older lapses are not written to, so that turning the sweep on
// for a database with years of history does not write to every customer who ever lapsed.
const LapseNoticeCatchUpDays = 30

// DigestDays is the horizon of the digest's "expiring this week": 0 ≤ days_left ≤ 7.
const DigestDays = 7

// digestMaxLines caps each list of a digest letter; the counts still say how many there are.
const digestMaxLines = 200

// Letter kinds of the renewal desk (mailer.Message.Template()).
const (
	LetterRenewalNotice = "renewal_notice"
	LetterLapseNotice   = "lapse_notice"
	LetterDigest        = "renewal_digest"
)

// NoticeOffsets turns ENTITLED_RENEWAL_NOTICE_DAYS into the sweep's offsets: distinct,
// non-negative, ascending. Errors: validation_failed.
func NoticeOffsets(days []int) ([]int, error) {
	var v Validation
	out := []int{}
	for _, d := range days {
		if d < 0 || d > MaxWithinDays {
			v.Add("renewal_notice_days", FieldInvalid, "offsets are whole numbers of days before ends_on, from 0")
			continue
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	sort.Ints(out)
	return out, v.Err()
}

// LastCoveredDay is the last day a contract gives support on without a renewal: ends_on, or
// grace_until when staff granted grace. Zero when there is no end yet.
func LastCoveredDay(c *SupportFacts) Date {
	c = c.withTrialEnd()
	if c == nil {
		return Date{}
	}
	if c.GraceUntil.After(c.EndsOn) {
		return c.GraceUntil
	}
	return c.EndsOn
}

// NoticeDue is the rule of the renewal desk's letters: the notice a contract is owed on a day, as
// its offset_days, or false when it is owed none. offsets are ascending (NoticeOffsets).
//
//   - A renewal notice while the contract is active or expiring (days_left ≥ 0): the one of the
//     smallest offset ≥ days_left. So a contract that enters the window late, or a pass that was
//     missed, gets only the nearest notice. Never for a trial: it is not renewed.
//   - The lapse notice (LapseNoticeOffset) once the contract is lapsed: from the day after
//     ends_on, or after grace_until when grace was granted, for LapseNoticeCatchUpDays days.
//   - Nothing for a future, grace or terminated contract.
//
// Whether that notice went out already is not decided here but by the unique row of
// renewal_notices: one per (contract, ends_on, offset), so a renewal (a new ends_on) starts
// afresh and an upgrade (the same ends_on) sends nothing new.
func NoticeDue(c *SupportFacts, today Date, offsets []int) (int, bool) {
	if c == nil {
		return 0, false
	}
	status, days := ContractStatus(c, today, 0)
	switch status {
	case StatusActive, StatusExpiring:
		if c.Trial {
			return 0, false
		}
		for _, o := range offsets {
			if o >= days {
				return o, true
			}
		}
	case StatusLapsed:
		if today.AddDays(-1 - LapseNoticeCatchUpDays).After(LastCoveredDay(c)) {
			return 0, false
		}
		return LapseNoticeOffset, true
	}
	return 0, false
}

// Renewals is the notice sweep of the renewal desk. It runs daily inside serve (a River periodic
// job, on the elected leader only) and on demand with `entitled renewals notify`.
type Renewals struct {
	store   *Store
	outbox  Outbox
	baseURL string
	offsets []int
	// BatchSize is how many contracts one transaction handles (default 500): big enough to be
	// quick, small enough that a pass never holds SQLite's write lock for long.
	BatchSize int
}

// NewRenewals makes the sweep. noticeDays is ENTITLED_RENEWAL_NOTICE_DAYS; baseURL is where the
// letters' links point. Errors: validation_failed for a bad offset.
func NewRenewals(store *Store, outbox Outbox, baseURL string, noticeDays []int) (*Renewals, error) {
	offsets, err := NoticeOffsets(noticeDays)
	if err != nil {
		return nil, err
	}
	return &Renewals{store: store, outbox: outbox, baseURL: strings.TrimRight(baseURL, "/"), offsets: offsets, BatchSize: 500}, nil
}

// Offsets are the notice offsets, ascending.
func (s *Renewals) Offsets() []int { return slices.Clone(s.offsets) }

// QueuedLetter is a letter a pass queued, reported once its transaction committed.
type QueuedLetter struct {
	Kind          string // LetterRenewalNotice, LetterLapseNotice or LetterDigest
	ContractID    int64  // 0 for the digest
	LicenseNumber string
	EndsOn        Date
	OffsetDays    int
	DaysLeft      int
	To            []string
	Cc            []string
	MessageID     string
}

// UndeliverableNotice is a notice a pass did not queue because the primary contact's address
// cannot take mail (one stored before addresses were checked as they are now, such as an address
// literal x@[10.0.0.1]). No renewal_notices row is written for it, so a later pass sends it
// once the contact is corrected (PATCH /v1/accounts/{id}), while it is still due.
type UndeliverableNotice struct {
	Kind          string // LetterRenewalNotice or LetterLapseNotice
	ContractID    int64
	LicenseNumber string
	AccountID     string
	OffsetDays    int
	Address       string // the stored address, as it is: personal data, for the operator only
}

// PassOptions are the callbacks of a pass; any may be nil.
type PassOptions struct {
	// Progress is called after each batch with the contracts handled so far and in all.
	Progress func(done, total int)
	// Queued is called for each letter, after the transaction that queued it committed.
	Queued func(QueuedLetter)
	// Undeliverable is called for each notice skipped for its address, after its batch
	// committed. The pass goes on with every other contract.
	Undeliverable func(UndeliverableNotice)
}

// PassReport sums up a pass.
type PassReport struct {
	Day            Date
	Contracts      int // contracts that looked due and were examined
	RenewalNotices int
	LapseNotices   int
	DigestLetters  int
	Undeliverable  int // notices not queued because the primary contact's address cannot take mail (mailer.ValidAddress)
}

// Letters is how many letters the pass queued.
func (r PassReport) Letters() int { return r.RenewalNotices + r.LapseNotices + r.DigestLetters }

// Pass runs the sweep once for today (by the store's clock): every notice due and not yet sent,
// then the day's digest if it was not sent yet. Errors: unavailable, or internal.
func (s *Renewals) Pass(ctx context.Context, opts PassOptions) (PassReport, error) {
	today := DateOf(s.store.Clock.Now())
	rep := PassReport{Day: today}
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
			if q.Kind == LetterLapseNotice {
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
func (s *Renewals) noticeOffsetCase(today Date) (string, []any) {
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
func (s *Renewals) candidates(ctx context.Context, today Date) ([]int64, error) {
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
		earliest := today.AddDays(-1 - LapseNoticeCatchUpDays)
		var lapsed []int64
		if err := db.Raw(`SELECT c.id FROM contracts c
			WHERE c.terminated_on IS NULL AND c.starts_on <= ? AND c.ends_on < ? AND c.ends_on >= ?
			AND (c.grace_until IS NULL OR c.grace_until < ?) AND COALESCE(c.grace_until, c.ends_on) >= ?
			AND NOT EXISTS (SELECT 1 FROM renewal_notices n WHERE n.contract_id = c.id AND n.ends_on = c.ends_on AND n.offset_days = ?)`,
			today, today, earliest.AddDays(-MaxGraceDays), today, earliest, LapseNoticeOffset).Scan(&lapsed).Error; err != nil {
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
// with the others. Letters are rendered with the same address rule (mailer.ValidAddress), so no
// address that passes here makes the batch fail.
func (s *Renewals) noticeBatch(ctx context.Context, ids []int64, today Date) ([]QueuedLetter, []UndeliverableNotice, error) {
	var queued []QueuedLetter
	var undeliverable []UndeliverableNotice
	err := s.store.WithTx(ctx, func(tx *gorm.DB) error {
		queued, undeliverable = nil, nil
		lock := ""
		if s.store.Dialect == Postgres {
			lock = " FOR UPDATE OF c"
		}
		rows, err := tx.Raw("SELECT "+contractColumns+contractFrom+" WHERE c.id IN ? ORDER BY c.id"+lock, ids).Rows()
		if err != nil {
			return err
		}
		var views []ContractView
		for rows.Next() {
			var v ContractView
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
			v      *ContractView
			offset int
			to     string
		}
		var owed []due
		var values []string
		var args []any
		for i := range views {
			v := &views[i]
			offset, ok := NoticeDue(v.Contract.Facts(), today, s.offsets)
			if !ok {
				continue
			}
			to, ok := mailable(v.Account.ContactEmail)
			if !ok {
				kind := LetterRenewalNotice
				if offset == LapseNoticeOffset {
					kind = LetterLapseNotice
				}
				undeliverable = append(undeliverable, UndeliverableNotice{Kind: kind, ContractID: v.Contract.ID,
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
		sqlTx, err := SQLTx(tx)
		if err != nil {
			return err
		}
		letters, err := queueMany(ctx, s.outbox, sqlTx, out)
		if err != nil {
			return err
		}
		for i, d := range sent {
			kind := LetterRenewalNotice
			if d.offset == LapseNoticeOffset {
				kind = LetterLapseNotice
			}
			queued = append(queued, QueuedLetter{Kind: kind, ContractID: d.v.Contract.ID, LicenseNumber: d.v.License.LicenseNumber,
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

// manyQueuer is an outbox that queues many letters with one insert (mailer.Outbox is one).
type manyQueuer interface {
	QueueMany(ctx context.Context, tx *sql.Tx, out []mailer.Outgoing) ([]mailer.Letter, error)
}

// queueMany queues letters in tx: all at once when the outbox can, one by one otherwise.
func queueMany(ctx context.Context, outbox Outbox, tx *sql.Tx, out []mailer.Outgoing) ([]mailer.Letter, error) {
	if m, ok := outbox.(manyQueuer); ok {
		return m.QueueMany(ctx, tx, out)
	}
	letters := make([]mailer.Letter, 0, len(out))
	for _, o := range out {
		l, err := outbox.Queue(ctx, tx, o.Message, o.To, o.Cc)
		if err != nil {
			return nil, err
		}
		letters = append(letters, l)
	}
	return letters, nil
}

// mailable reports whether an address can be written to, normalised: the rule the mailer
// renders letters by (mailer.ValidAddress), so that an address that passes here never fails the
// letter, and the transaction of the letters around it.
func mailable(addr string) (string, bool) {
	addr = NormaliseEmail(addr)
	if !mailer.ValidAddress(addr) {
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
func (s *Renewals) renewURL(ln string) string { return s.baseURL + "/licenses/" + ln }

// letter is the letter of a notice.
func (s *Renewals) letter(v *ContractView, offset int, today Date) mailer.Message {
	c := &v.Contract
	if offset == LapseNoticeOffset {
		m := mailer.LapseNotice{Name: v.Account.ContactName, AccountName: v.Account.Name, AccountID: v.Account.AccountID,
			LicenseNumber: v.License.LicenseNumber, ProductName: v.Product.Name, SKU: v.Product.SKU, Program: c.Program, Premier: c.Premier,
			EndsOn: c.EndsOn.String(), GraceUntil: c.GraceUntil.String(), DaysLeft: today.DaysUntil(c.EndsOn), Trial: c.Trial,
			RenewURL: s.renewURL(v.License.LicenseNumber)}
		return m
	}
	m := mailer.RenewalNotice{Name: v.Account.ContactName, AccountName: v.Account.Name, AccountID: v.Account.AccountID,
		LicenseNumber: v.License.LicenseNumber, ProductName: v.Product.Name, SKU: v.Product.SKU, Program: c.Program, Premier: c.Premier,
		EndsOn: c.EndsOn.String(), DaysLeft: today.DaysUntil(c.EndsOn), OffsetDays: offset, RenewURL: s.renewURL(v.License.LicenseNumber)}
	return m
}

// digest queues the day's digest to every staff member with the renewals role (superadmin
// included), once a day: the renewal_digests row for the day is written in the same transaction.
// It lists the contracts (trials aside, which are not renewed) that expire within DigestDays and
// those whose last covered day was yesterday. A day with nothing in either list sends nothing.
func (s *Renewals) digest(ctx context.Context, today Date) ([]QueuedLetter, error) {
	var queued []QueuedLetter
	err := s.store.WithTx(ctx, func(tx *gorm.DB) error {
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
			today, today, today.AddDays(DigestDays))
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
		var staff []struct {
			Name  string
			Email string
		}
		if err := tx.Table("users").Select("name, email").
			Where("(',' || staff_roles || ',') LIKE ? OR (',' || staff_roles || ',') LIKE ?", "%,"+RoleRenewals+",%", "%,"+RoleSuperadmin+",%").
			Order("email").Scan(&staff).Error; err != nil {
			return err
		}
		sqlTx, err := SQLTx(tx)
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
				ListURL: s.baseURL + "/renewals"}
			l, err := s.outbox.Queue(ctx, sqlTx, m, []string{to}, nil)
			if err != nil {
				return err
			}
			queued = append(queued, QueuedLetter{Kind: LetterDigest, To: l.To, MessageID: l.MessageID})
		}
		return tx.Exec("UPDATE renewal_digests SET recipients = ? WHERE day = ?", len(queued), today).Error
	})
	return queued, err
}

// digestLines lists up to digestMaxLines contracts that match cond, soonest ends_on first, and
// counts them all.
func digestLines(tx *gorm.DB, today Date, cond string, args ...any) ([]mailer.DigestLine, int, error) {
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
		var v ContractView
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

// NextSweep is when the daily sweep runs next after t: at 00:05 UTC, just after the day (and so
// the days_left of every contract) changed.
func NextSweep(t time.Time) time.Time {
	t = t.UTC()
	next := time.Date(t.Year(), t.Month(), t.Day(), 0, 5, 0, 0, time.UTC)
	if !next.After(t) {
		next = next.AddDate(0, 0, 1)
	}
	return next
}
