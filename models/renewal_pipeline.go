package models

// The renewal pipeline (contract: "Renewal pipeline"): every contract's current term has a
// renewal record that renewal staff work — who owns it, where it stands, the next step, what it
// is worth — and notes on the contract. These are its rules; models/store keeps the records.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Renewal stages: where the renewal of a term stands.
const (
	StageUntouched = "untouched" // the default: nobody has worked it yet
	StageContacted = "contacted"
	StageQuoted    = "quoted"
	StageCommitted = "committed"
	StageWon       = "won"  // a renewal was recorded (set by the renewal, never by hand)
	StageLost      = "lost" // the contract lapsed without renewal, or staff gave it up
)

var renewalStages = []string{StageUntouched, StageContacted, StageQuoted, StageCommitted, StageWon, StageLost}

// RenewalStages are the stages in pipeline order, in a fresh slice the caller may change.
func RenewalStages() []string { return slices.Clone(renewalStages) }

// stageSetByHand says whether staff may set a record to stage: won follows a recorded renewal.
func stageSetByHand(stage string) bool { return stage != StageWon }

// SettableStages are the stages staff may choose (a copy): every one but won.
func SettableStages() []string {
	return slices.DeleteFunc(RenewalStages(), func(s string) bool { return !stageSetByHand(s) })
}

// Limits of the pipeline's inputs.
const (
	DefaultForecastMonths = 12   // months ahead (and back) a forecast covers when not asked
	MaxNoteLength         = 4000 // characters of a note
	MaxBulkIDs            = 500  // contracts of one bulk change (PageMax: one full page of a list)
	// maxMoneyMinor bounds an amount at 10^15 minor units (ten trillion with two decimals): far
	// above any contract, far below where int64 arithmetic in sums could overflow.
	maxMoneyMinor = 1_000_000_000_000_000
)

// Field code of a renewal owner who is not renewal staff.
const FieldNotRenewalsStaff = "not_renewals_staff"

// Money is an amount in a currency, held as integer hundredths ("12000.00" is 1200000) so that
// sums are exact. The contract writes every amount with two decimals whatever the currency's own
// minor unit (JPY included), so hundredths are what is stored, not the currency's minor unit.
type Money struct {
	Minor    int64
	Currency string // ISO 4217: three upper-case letters
}

// Amount is the decimal string with exactly two decimals: "12000.00".
func (m Money) Amount() string {
	sign := ""
	n := m.Minor
	if n < 0 {
		sign, n = "-", -n
	}
	return fmt.Sprintf("%s%d.%02d", sign, n/100, n%100)
}

// MoneyInput is a value as a request gives it.
type MoneyInput struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

// CheckMoney validates a value: amount a non-negative decimal with exactly two decimals
// ("12000.00"), currency three upper-case letters (ISO 4217's form; the list of codes changes
// over time and is not this server's to keep). Failures are added to v under field.amount and
// field.currency.
func CheckMoney(v *Validation, field string, in MoneyInput) (Money, bool) {
	ok := true
	minor, err := parseAmount(in.Amount)
	if err != "" {
		v.Add(field+".amount", FieldInvalid, err)
		ok = false
	}
	if !isCurrencyCode(in.Currency) {
		v.Add(field+".currency", FieldInvalid, "must be an ISO 4217 currency code: three upper-case letters, such as EUR")
		ok = false
	}
	return Money{Minor: minor, Currency: in.Currency}, ok
}

func parseAmount(s string) (int64, string) {
	const want = `must be a decimal string with exactly two decimals, such as "12000.00"`
	whole, frac, found := strings.Cut(s, ".")
	if !found || whole == "" || len(frac) != 2 || !allDigits(whole) || !allDigits(frac) {
		return 0, want
	}
	if len(whole) > 1 && whole[0] == '0' {
		return 0, want
	}
	if len(whole) > 13 {
		return 0, "is too large"
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	f, _ := strconv.ParseInt(frac, 10, 64)
	n := w*100 + f
	if n >= maxMoneyMinor {
		return 0, "is too large"
	}
	return n, ""
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, r := range s {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// RenewalRecord is the renewal record of one term of a contract. A contract has one open record
// (ClosedAt nil) — its current term's — and the closed ones of the terms that were renewed.
type RenewalRecord struct {
	ID         int64
	ContractID int64
	TermEndsOn Date // the ends_on of the term whose renewal this record works
	OwnerID    *int64
	OwnerEmail string `gorm:"-"` // loaded with the record
	Stage      string
	// StageSetOn is the UTC day staff last chose the stage (zero: never). It tells a choice made
	// after a lapse, which stands, from one made before it, which the lapse overrides.
	StageSetOn Date
	NextStepOn Date
	ValueMinor *int64
	Currency   *string
	// RenewedOn and CoveredUntil are set when the term is renewed: the day the renewal was
	// recorded, and the ended term's last covered day (ends_on, or the grace granted past it).
	RenewedOn    Date
	CoveredUntil Date
	ClosedAt     *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Value is the record's value, nil when none was given.
func (r *RenewalRecord) Value() *Money {
	if r == nil || r.ValueMinor == nil || r.Currency == nil {
		return nil
	}
	return &Money{Minor: *r.ValueMinor, Currency: *r.Currency}
}

// EffectiveStage is the stage a record reads as on a day. A contract that has lapsed without
// renewal is lost unless staff chose a stage after the lapse (after its last covered day,
// ends_on or grace_until).
//
// Lost-on-lapse is computed here, at read time, rather than written by the notice sweep: like the
// contract's status it follows from the dates and the clock, so it is right on the first day of
// the lapse whether or not a sweep ran, and it can never drift from the status (a renewal that
// backdates the lapse away leaves nothing stale to undo). The SQL filter on stage uses the same
// rule (LostPredicate).
func EffectiveStage(r *RenewalRecord, c *Contract, today Date, window int) string {
	if r == nil {
		return StageUntouched
	}
	if c != nil && r.ClosedAt == nil {
		if status, _ := ContractStatus(c.Facts(), today, window); status == StatusLapsed {
			last := c.EndsOn
			if c.GraceUntil.After(last) {
				last = c.GraceUntil
			}
			if r.StageSetOn.IsZero() || !r.StageSetOn.After(last) {
				return StageLost
			}
		}
	}
	if r.Stage == "" {
		return StageUntouched
	}
	return r.Stage
}

// EffectiveStagePredicate is the SQL condition on a contract row (alias c) and its open renewal
// record (alias r, LEFT JOINed: a contract without one reads as untouched) that holds exactly when
// EffectiveStage gives stage on the day today.
func EffectiveStagePredicate(stage string, today Date, window int) (string, []any) {
	lapsed, args := StatusPredicate(StatusLapsed, today, window)
	// COALESCE: the status predicate is NULL, not false, for a contract without dates (a trial
	// before registration), and NOT NULL would drop it from every stage.
	lostByLapse := "COALESCE((" + lapsed + ") AND (r.stage_set_on IS NULL OR r.stage_set_on <= COALESCE(c.grace_until, c.ends_on)), FALSE)"
	if stage == StageLost {
		return "(" + lostByLapse + ") OR COALESCE(r.stage, 'untouched') = 'lost'", args
	}
	return "NOT (" + lostByLapse + ") AND COALESCE(r.stage, 'untouched') = ?", append(args, stage)
}

// ContractNote is a note of renewal staff on a contract.
type ContractNote struct {
	ID          int64
	ContractID  int64
	AuthorID    *int64
	AuthorEmail string
	Text        string
	CreatedAt   time.Time
}

// CheckNote trims a note and checks it: required, at most MaxNoteLength characters.
func CheckNote(text string) (string, error) {
	var v Validation
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		v.Add("text", FieldRequired, "write the note")
	case len([]rune(text)) > MaxNoteLength:
		v.Add("text", FieldTooLong, fmt.Sprintf("must be at most %d characters", MaxNoteLength))
	}
	return text, v.Err()
}

// RenewalPatch is a change of a renewal record. A field that is not Set stays as it is; one that
// is Set with a zero value (Clear) is cleared (JSON null).
type RenewalPatch struct {
	OwnerSet   bool
	Owner      string // email; "" with OwnerSet clears the owner
	Stage      string // "" leaves it
	NextSet    bool
	NextStepOn Date // zero with NextSet clears it
	ValueSet   bool
	Value      *Money // nil with ValueSet clears it
}

// Empty reports whether the patch changes nothing.
func (p RenewalPatch) Empty() bool {
	return !p.OwnerSet && p.Stage == "" && !p.NextSet && !p.ValueSet
}

// ParseRenewalPatch reads the body of PATCH /contracts/{id}/renewal (or, with bulk, the set of
// POST /contracts/bulk, which has no value), telling an absent field from a null one. field
// prefixes the field paths of errors ("set." in bulk). Errors: validation_failed.
func ParseRenewalPatch(body map[string]json.RawMessage, field string, bulk bool) (RenewalPatch, error) {
	var v Validation
	var p RenewalPatch
	allowed := []string{"owner", "stage", "next_step_on", "value"}
	if bulk {
		allowed = allowed[:3]
	}
	for k := range body {
		if !slices.Contains(allowed, k) {
			v.Add(field+k, FieldInvalid, "is not a field here: use "+strings.Join(allowed, ", "))
		}
	}
	owner, set, ok := nullableField[string](&v, body, field, "owner", "must be an email address or null")
	p.OwnerSet = set
	if ok {
		if e, ok := NormaliseEmailLoose(owner); ok {
			p.Owner = e
		} else {
			v.Add(field+"owner", FieldInvalid, "must be an email address or null")
		}
	}
	if raw, ok := body["stage"]; ok {
		var s string
		if isNull(raw) || json.Unmarshal(raw, &s) != nil {
			v.Add(field+"stage", FieldType, "must be one of "+strings.Join(renewalStages, ", "))
		} else {
			p.Stage = strings.ToLower(strings.TrimSpace(s))
			switch {
			case !slices.Contains(renewalStages, p.Stage):
				v.Add(field+"stage", FieldInvalid, "must be one of "+strings.Join(renewalStages, ", "))
			case !stageSetByHand(p.Stage):
				// won means a new term was recorded: record the renewal, and the stage follows.
				v.Add(field+"stage", FieldInvalid, "won is set by recording the renewal (POST /contracts/{id}/renewals or an order)")
			}
		}
	}
	next, set, ok := nullableField[string](&v, body, field, "next_step_on", "must be a date, YYYY-MM-DD, or null")
	p.NextSet = set
	if ok {
		p.NextStepOn = CheckDate(&v, field+"next_step_on", next, true)
	}
	if !bulk {
		value, set, ok := nullableField[MoneyInput](&v, body, field, "value", `must be {"amount": "12000.00", "currency": "EUR"} or null`)
		p.ValueSet = set
		if ok {
			if m, ok := CheckMoney(&v, field+"value", value); ok {
				p.Value = &m
			}
		}
	}
	if err := v.Err(); err != nil {
		return p, err
	}
	if p.Empty() {
		v.Add(strings.TrimSuffix(field, "."), FieldRequired, "name at least one of "+strings.Join(allowed, ", "))
	}
	return p, v.Err()
}

// nullableField reads body[key], a field that may be null, as a T: set says whether the body has
// the key, and ok whether it holds a T. A value that is neither is reported to v under field+key.
func nullableField[T any](v *Validation, body map[string]json.RawMessage, field, key, typeMsg string) (value T, set, ok bool) {
	raw, set := body[key]
	if !set || isNull(raw) {
		return value, set, false
	}
	if json.Unmarshal(raw, &value) != nil {
		v.Add(field+key, FieldType, typeMsg)
		return value, true, false
	}
	return value, true, true
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// NormaliseEmailLoose trims and lower-cases an address and checks its form (see CheckEmail).
func NormaliseEmailLoose(s string) (string, bool) {
	var v Validation
	e := CheckEmail(&v, "email", s)
	return e, len(v.Fields) == 0
}

// ContractETag is the ETag of GET /contracts/{id} on a day: from everything its answer shows —
// the contract, license and account as last changed, the renewal record, the last note, and the
// day (status and days_left follow the clock).
func ContractETag(v *ContractView, today Date) string {
	parts := []string{strconv.FormatInt(v.Contract.ID, 10), today.String(), TagTime(&v.Contract.UpdatedAt),
		TagTime(&v.License.UpdatedAt), TagTime(&v.Account.UpdatedAt), strconv.Itoa(len(v.Terms)), strconv.Itoa(len(v.Notices))}
	if r := v.Renewal; r != nil {
		value := ""
		if m := r.Value(); m != nil {
			value = m.Amount() + m.Currency
		}
		owner := ""
		if r.OwnerID != nil {
			owner = strconv.FormatInt(*r.OwnerID, 10)
		}
		// Every field the answer shows: updated_at alone may repeat within a clock tick.
		parts = append(parts, strconv.FormatInt(r.ID, 10), TagTime(&r.UpdatedAt), owner, r.Stage, r.StageSetOn.String(), r.NextStepOn.String(), value)
	}
	if n := len(v.Notes); n > 0 {
		parts = append(parts, strconv.FormatInt(v.Notes[n-1].ID, 10))
	}
	return EntityTag("contract", parts...)
}

// Owner filter values besides an email: OwnerNone lists the contracts nobody owns.
const OwnerNone = "none"

// ParsePipelineFilter reads the owner= and stage= filters of the contract lists into f: owner an
// email, "none", or "me" (the caller, whose email is me; "" when the caller is no user, such as
// an API key); stage one of RenewalStages. Errors: validation_failed, naming each bad parameter.
func ParsePipelineFilter(f *ContractFilter, owner, stage, me string) error {
	var v Validation
	switch owner = strings.ToLower(strings.TrimSpace(owner)); owner {
	case "":
	case OwnerNone:
		f.Owner = OwnerNone
	case "me":
		if me == "" {
			v.Add("owner", FieldInvalid, "me names the signed-in staff user; an API key has no renewals of its own")
		}
		f.Owner = NormaliseEmail(me)
	default:
		if e, ok := NormaliseEmailLoose(owner); ok {
			f.Owner = e
		} else {
			v.Add("owner", FieldInvalid, "must be an email address, me or none")
		}
	}
	if stage != "" {
		f.Stage = strings.ToLower(strings.TrimSpace(stage))
		if !slices.Contains(renewalStages, f.Stage) {
			v.Add("stage", FieldInvalid, "must be one of "+strings.Join(renewalStages, ", "))
		}
	}
	return v.Err()
}

// EffectiveStageSQL is the SQL expression (over c and its open record r, LEFT JOINed) of the
// stage a contract's renewal reads as on the day today: EffectiveStage in SQL.
func EffectiveStageSQL(today Date, window int) (string, []any) {
	cond, args := EffectiveStagePredicate(StageLost, today, window)
	return "CASE WHEN " + cond + " THEN 'lost' ELSE COALESCE(r.stage, 'untouched') END", args
}

// MaxForecastMonths bounds months= of the forecast (three years each way).
const MaxForecastMonths = 36

// ParseForecastMonths reads months= of GET /renewals/forecast: 1 to MaxForecastMonths, default 12.
// Errors: validation_failed.
func ParseForecastMonths(raw string) (int, error) {
	if raw == "" {
		return DefaultForecastMonths, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil || n < 1 || n > MaxForecastMonths {
		var v Validation
		v.Add("months", FieldInvalid, fmt.Sprintf("must be a whole number of months from 1 to %d", MaxForecastMonths))
		return 0, v.Err()
	}
	return n, nil
}

// MonthOf is the first day of d's month.
func MonthOf(d Date) Date { return NewDate(d.t.Year(), d.t.Month(), 1) }

// AddMonths is the first day of the month n months after the month of d.
func AddMonths(d Date, n int) Date { return NewDate(d.t.Year(), d.t.Month()+time.Month(n), 1) }

// MonthKey is "YYYY-MM".
func MonthKey(d Date) string { return d.String()[:7] }

// Forecast is GET /renewals/forecast: the months ahead (from this month on) with the contracts
// due in each (their current ends_on in it) by stage and their value by currency; and the past
// months' renewal rate.
type Forecast struct {
	Today   Date
	Months  []ForecastMonth
	History []HistoryMonth
}

// ForecastMonth is one month ahead: Due contracts, counted by the stage they read as today, and
// the value of those that have one, per currency (in Currency order).
type ForecastMonth struct {
	Month   string // YYYY-MM
	Due     int
	ByStage map[string]int
	Values  []ForecastValue
}

// ForecastValue is the value due in a month in one currency, in hundredths, in total and by stage.
type ForecastValue struct {
	Currency string
	Minor    int64
	ByStage  map[string]int64
}

// HistoryMonth is one past month: the terms that ended in it (Due), those renewed in time (a
// new term recorded on or before the last covered day, grace included), and those that lapsed
// (not renewed in time, and past their last covered day). Rate is Renewed ÷ Due (nil when nothing
// was due).
type HistoryMonth struct {
	Month   string
	Due     int
	Renewed int
	Lapsed  int
	Rate    *float64
}

// NewForecastMonth is an empty month ahead, every stage counted zero.
func NewForecastMonth(month string) ForecastMonth {
	m := ForecastMonth{Month: month, ByStage: map[string]int{}, Values: []ForecastValue{}}
	for _, s := range renewalStages {
		m.ByStage[s] = 0
	}
	return m
}

// AddValue adds minor hundredths of currency at stage to the month.
func (m *ForecastMonth) AddValue(currency, stage string, minor int64) {
	i := slices.IndexFunc(m.Values, func(v ForecastValue) bool { return v.Currency == currency })
	if i < 0 {
		v := ForecastValue{Currency: currency, ByStage: map[string]int64{}}
		for _, s := range renewalStages {
			v.ByStage[s] = 0
		}
		m.Values = append(m.Values, v)
		slices.SortFunc(m.Values, func(a, b ForecastValue) int { return strings.Compare(a.Currency, b.Currency) })
		i = slices.IndexFunc(m.Values, func(v ForecastValue) bool { return v.Currency == currency })
	}
	m.Values[i].Minor += minor
	m.Values[i].ByStage[stage] += minor
}

// SetRate computes Rate from Due and Renewed.
func (h *HistoryMonth) SetRate() {
	if h.Due > 0 {
		r := float64(h.Renewed) / float64(h.Due)
		h.Rate = &r
	}
}

// AccountView is an account as staff see it (GET /accounts/{account_id}): its primary contact
// and every license with its contract (nil without support).
type AccountView struct {
	Account  Account
	Licenses []AccountLicense
}

// AccountLicense is one license of an account.
type AccountLicense struct {
	License  License
	Product  Product
	Contract *ContractView
}

// RenewalData is a contract's renewal record as webhook data shows it: the same members as the
// contract answer's renewal (handlers' renewalJSON; the webhook tests compare the two).
func RenewalData(v *ContractView, today Date, window int) map[string]any {
	r := v.Renewal
	out := map[string]any{"stage": EffectiveStage(r, &v.Contract, today, window), "updated_at": nil}
	if r == nil {
		return out
	}
	if r.OwnerEmail != "" {
		out["owner"] = r.OwnerEmail
	}
	if !r.NextStepOn.IsZero() {
		out["next_step_on"] = r.NextStepOn
	}
	if m := r.Value(); m != nil {
		out["value"] = map[string]any{"amount": m.Amount(), "currency": m.Currency}
	}
	if !r.UpdatedAt.IsZero() {
		out["updated_at"] = r.UpdatedAt.UTC()
	}
	return out
}
