package store_test

// The renewal desk on both dialects: the SQL status filters agree with ContractStatus on every
// boundary day of every kind of contract, and the notice sweep sends each notice once — on the
// right day, to the right people, however often and however many times at once it runs.

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
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

// deskDay is where the renewal desk's tests start: a Monday.
var deskDay = models.NewDate(2026, 6, 1)

func day(offset int) models.Date { return deskDay.AddDays(offset) }

// desk is the contracts service and the notice sweep on a fresh database, the clock at deskDay.
type desk struct {
	store     *dbstore.Store
	clock     *models.FixedClock
	contracts *dbstore.Contracts
	sweep     *dbstore.Renewals
	jobs      *river.Client[*sql.Tx]
}

func newDesk(tb testing.TB, d dbstore.Dialect) *desk {
	tb.Helper()
	clock := models.NewFixedClock(deskDay.Time().Add(9 * time.Hour))
	store := storetest.Open(tb, d, clock)
	outbox, jobs := newOutbox(tb, store, nil)
	sweep, err := dbstore.NewRenewals(store, outbox, baseURL, []int{90, 60, 30, 7})
	if err != nil {
		tb.Fatal(err)
	}
	return &desk{store: store, clock: clock, contracts: dbstore.NewContracts(store, outbox, 90), sweep: sweep, jobs: jobs}
}

// on moves the clock to a day (at 09:00 UTC).
func (k *desk) on(d models.Date) { k.clock.Set(d.Time().Add(9 * time.Hour)) }

// pass runs one sweep and fails the test on an error.
func (k *desk) pass(tb testing.TB) models.PassReport {
	tb.Helper()
	rep, err := k.sweep.Pass(context.Background(), models.PassOptions{})
	if err != nil {
		tb.Fatalf("pass on %s: %v", rep.Day, err)
	}
	return rep
}

// outboxLetters are every queued letter of a kind, oldest first.
func (k *desk) outboxLetters(tb testing.TB, kind string) []mailer.Letter {
	tb.Helper()
	return storetest.Letters(tb, k.jobs, func(l mailer.Letter) bool { return l.Kind == kind })
}

// notices are the renewal_notices rows of a contract as "ends_on/offset", in the order sent.
func (k *desk) notices(tb testing.TB, contractID int64) []string {
	tb.Helper()
	v, err := k.contracts.Get(context.Background(), fmt.Sprint(contractID))
	if err != nil {
		tb.Fatal(err)
	}
	out := []string{}
	for _, n := range v.Notices {
		out = append(out, fmt.Sprintf("%s/%d", n.EndsOn, n.OffsetDays))
	}
	return out
}

// addAdmin makes a user with a verified address the admin of a license, straight in the
// database (an unverified account's membership counts for nothing).
func (k *desk) addAdmin(tb testing.TB, licenseID int64, email string) {
	tb.Helper()
	now := time.Now().UTC()
	var id int64
	if err := k.store.GormDB().Raw("INSERT INTO users (email, name, password_hash, email_verified_at, staff_roles, created_at, updated_at) VALUES (?, 'Admin', 'x', ?, '', ?, ?) RETURNING id",
		email, now, now, now).Scan(&id).Error; err != nil {
		tb.Fatal(err)
	}
	if err := k.store.GormDB().Exec("INSERT INTO members (license_id, user_id, role_admin, role_support, role_license, since, updated_at) VALUES (?, ?, true, true, true, ?, ?)",
		licenseID, id, now, now).Error; err != nil {
		tb.Fatal(err)
	}
}

// addStaff makes a staff user with the roles (comma-separated, canonical order).
func (k *desk) addStaff(tb testing.TB, email, roles string) {
	tb.Helper()
	now := time.Now().UTC()
	if err := k.store.GormDB().Exec("INSERT INTO users (email, name, password_hash, email_verified_at, staff_roles, created_at, updated_at) VALUES (?, ?, 'x', ?, ?, ?, ?)",
		email, "Staff "+roles, now, roles, now, now).Error; err != nil {
		tb.Fatal(err)
	}
}

// agreementContracts are the kinds of contract whose statuses the SQL filter must get right.
var agreementContracts = map[string]storetest.Contract{
	"regular":                 {StartsOn: day(-200), EndsOn: day(100)},
	"shorter than the window": {StartsOn: day(0), EndsOn: day(30)},
	"one day":                 {StartsOn: day(10), EndsOn: day(10)},
	"grace":                   {StartsOn: day(-300), EndsOn: day(0), GraceUntil: day(45)},
	"grace granted early":     {StartsOn: day(-10), EndsOn: day(120), GraceUntil: day(150), Program: models.Program24x7, Premier: true},
	"terminated while active": {StartsOn: day(-100), EndsOn: day(200), TerminatedOn: day(5)},
	"terminated before start": {StartsOn: day(50), EndsOn: day(400), TerminatedOn: day(20)},
	"terminated in grace":     {StartsOn: day(-300), EndsOn: day(3), GraceUntil: day(40), TerminatedOn: day(20)},
	"trial before register":   {Trial: true},
	"trial registered":        {Trial: true, StartsOn: day(0), EndsOn: models.TrialEndsOn(day(0))},
	"future":                  {StartsOn: day(60), EndsOn: day(425)},
	"lapsed long ago":         {StartsOn: day(-800), EndsOn: day(-400)},
	"one day, lapsed":         {StartsOn: day(-5), EndsOn: day(-5)},
}

// boundaryDays are the days where a contract's status may change, and the days either side.
func boundaryDays(window int) []models.Date {
	seen := map[string]models.Date{}
	add := func(d models.Date) {
		if d.IsZero() {
			return
		}
		for _, o := range []int{-1, 0, 1} {
			x := d.AddDays(o)
			seen[x.String()] = x
		}
	}
	for _, c := range agreementContracts {
		add(c.StartsOn)
		add(c.EndsOn)
		if !c.EndsOn.IsZero() {
			add(c.EndsOn.AddDays(-window)) // the window's first day
		}
		add(c.GraceUntil)
		add(c.TerminatedOn)
	}
	out := make([]models.Date, 0, len(seen))
	for _, d := range seen {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// The SQL status filter and the pure ContractStatus agree on every boundary day (starts_on, the
// renewal window's first day, ends_on, ends_on + 1, grace_until, grace_until + 1, terminated_on,
// and the day either side of each) for every kind of contract, with two renewal windows; and so
// does expiring_within_days, whose order is grace first, then soonest ends_on.
func TestStatusFilterAgreesWithContractStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		k := newDesk(t, d)
		ctx := context.Background()
		facts := map[int64]*models.SupportFacts{}
		names := map[int64]string{}
		for name, c := range agreementContracts {
			s := storetest.SeedContract(t, k.store, c)
			facts[s.ContractID] = &models.SupportFacts{Program: models.ProgramStandard, Trial: c.Trial, StartsOn: c.StartsOn, EndsOn: c.EndsOn,
				GraceUntil: c.GraceUntil, TerminatedOn: c.TerminatedOn}
			names[s.ContractID] = name
		}
		page, _ := dbstore.ParseContractPage("500", "")
		for _, window := range []int{90, 7} {
			k.contracts.RenewalWindowDays = window
			for _, today := range boundaryDays(window) {
				k.on(today)
				matched := map[int64][]string{}
				for _, status := range models.ContractStatuses() {
					list, err := k.contracts.List(ctx, models.ContractFilter{Status: status}, page)
					if err != nil {
						t.Fatal(err)
					}
					for _, v := range list.Items {
						matched[v.Contract.ID] = append(matched[v.Contract.ID], status)
						if got, _ := v.Status(today, window); got != status {
							t.Errorf("window %d, %s: %q listed under %s but its view says %s", window, today, names[v.Contract.ID], status, got)
						}
					}
				}
				for id, f := range facts {
					want, _ := models.ContractStatus(f, today, window)
					if got := matched[id]; len(got) != 1 || got[0] != want {
						t.Errorf("window %d, %s: %q: SQL filters matched %v, ContractStatus says %s", window, today, names[id], got, want)
					}
				}
				for _, within := range []int{0, 7, 30, 90} {
					list, err := k.contracts.List(ctx, models.ContractFilter{Within: within, HasWithin: true}, page)
					if err != nil {
						t.Fatal(err)
					}
					var got, wantIDs []int64
					for _, v := range list.Items {
						got = append(got, v.Contract.ID)
					}
					type row struct {
						id    int64
						grace bool
						end   models.Date
					}
					var rows []row
					for id, f := range facts {
						st, left := models.ContractStatus(f, today, window)
						if models.IsCurrent(st) && left <= within {
							rows = append(rows, row{id, st == models.StatusGrace, f.EndsOn})
						}
					}
					sort.Slice(rows, func(i, j int) bool {
						if rows[i].grace != rows[j].grace {
							return rows[i].grace
						}
						if !rows[i].end.Equal(rows[j].end) {
							return rows[i].end.Before(rows[j].end)
						}
						return rows[i].id < rows[j].id
					})
					for _, r := range rows {
						wantIDs = append(wantIDs, r.id)
					}
					if !slices.Equal(got, wantIDs) {
						t.Errorf("window %d, %s, within %d: listed %v, want %v", window, today, within, got, wantIDs)
					}
				}
			}
		}
	})
}

// Filters combine, pages follow each other by cursor without gaps or repeats in either order,
// and a cursor of one order is refused by the other.
func TestContractList_FiltersAndKeysetPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		k := newDesk(t, d)
		ctx := context.Background()
		seeded := storetest.SeedContracts(t, k.store, 23, func(i int) storetest.Contract {
			c := storetest.Contract{StartsOn: day(-300), EndsOn: day(i * 5), Program: models.ProgramStandard}
			if i%3 == 0 {
				c.Program = models.Program24x7
			}
			if i == 4 {
				c.AccountName, c.ContactName, c.ContactEmail = "Zebra_100% Ltd", "Ann O'Neil", "ann@zebra.test"
			}
			return c
		})
		collect := func(f models.ContractFilter, limit string) []int64 {
			var ids []int64
			cursor := ""
			for range 50 {
				p, err := dbstore.ParseContractPage(limit, cursor)
				if err != nil {
					t.Fatal(err)
				}
				list, err := k.contracts.List(ctx, f, p)
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range list.Items {
					ids = append(ids, v.Contract.ID)
				}
				if cursor = list.Next; cursor == "" {
					return ids
				}
			}
			t.Fatal("pages never end")
			return nil
		}
		all := collect(models.ContractFilter{}, "4")
		if len(all) != 23 || !slices.IsSorted(all) {
			t.Errorf("all contracts by id, 4 a page: %v", all)
		}
		within := collect(models.ContractFilter{Within: 50, HasWithin: true}, "3")
		if len(within) != 11 || within[0] != seeded[0].ContractID || within[10] != seeded[10].ContractID {
			t.Errorf("within 50 days, 3 a page: %v", within)
		}
		if got := collect(models.ContractFilter{Program: models.Program24x7, Status: models.StatusExpiring}, "2"); len(got) != 7 {
			t.Errorf("24x7 and expiring: %v", got)
		}
		for _, q := range []string{"zebra_100%", "O'NEIL", "ann@zebra", seeded[4].LicenseNumber, strings.ToLower(strings.ReplaceAll(seeded[4].LicenseNumber, "-", ""))} {
			if got := collect(models.ContractFilter{Q: q}, "50"); len(got) != 1 || got[0] != seeded[4].ContractID {
				t.Errorf("q=%q found %v", q, got)
			}
		}
		if got := collect(models.ContractFilter{Q: "_"}, "50"); len(got) != 1 {
			t.Errorf("q=_ is a literal underscore, not a wildcard: %v", got)
		}
		if got := collect(models.ContractFilter{AccountID: seeded[7].AccountID}, "50"); len(got) != 1 || got[0] != seeded[7].ContractID {
			t.Errorf("account_id: %v", got)
		}
		p1, _ := dbstore.ParseContractPage("2", "")
		first, err := k.contracts.List(ctx, models.ContractFilter{}, p1)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := dbstore.ParseContractPage("2", first.Next)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.contracts.List(ctx, models.ContractFilter{Within: 9, HasWithin: true}, p2); dbstore.ErrorCode(err) != models.CodeValidation {
			t.Errorf("an id cursor on an ends_on list: %v", err)
		}
		if _, err := dbstore.ParseContractPage("2", "bm9wZQ"); dbstore.ErrorCode(err) != models.CodeValidation {
			t.Errorf("a forged cursor: %v", err)
		}
	})
}

// Every boundary of the notice rule, without a database.
func TestNoticeDue(t *testing.T) {
	offsets := []int{7, 30, 60, 90}
	c := &models.SupportFacts{Program: models.ProgramStandard, StartsOn: day(-300), EndsOn: day(0)}
	with := func(f func(*models.SupportFacts)) *models.SupportFacts { x := *c; f(&x); return &x }
	const none = -99
	for _, tt := range []struct {
		name  string
		c     *models.SupportFacts
		today models.Date
		want  int
	}{
		{"before the first offset", c, day(-91), none},
		{"on the first offset's day", c, day(-90), 90},
		{"between offsets: the nearest one above", c, day(-61), 90},
		{"60", c, day(-60), 60},
		{"a late entrant gets only the nearest", c, day(-20), 30},
		{"7", c, day(-7), 7},
		{"the last covered day", c, day(0), 7},
		{"the day after: the lapse notice", c, day(1), models.LapseNoticeOffset},
		{"still owed while catching up", c, day(1 + models.LapseNoticeCatchUpDays), models.LapseNoticeOffset},
		{"too old to write about", c, day(2 + models.LapseNoticeCatchUpDays), none},
		{"in grace: nothing", with(func(f *models.SupportFacts) { f.GraceUntil = day(20) }), day(20), none},
		{"after grace: the lapse notice", with(func(f *models.SupportFacts) { f.GraceUntil = day(20) }), day(21), models.LapseNoticeOffset},
		{"terminated: nothing before", with(func(f *models.SupportFacts) { f.TerminatedOn = day(-10) }), day(-5), none},
		{"terminated: nothing after", with(func(f *models.SupportFacts) { f.TerminatedOn = day(-10) }), day(1), none},
		{"future: nothing", with(func(f *models.SupportFacts) { f.StartsOn = day(-5) }), day(-6), none},
		{"a trial: no renewal notice", &models.SupportFacts{Trial: true, StartsOn: day(-25), EndsOn: day(5)}, day(0), none},
		{"a trial: the lapse notice", &models.SupportFacts{Trial: true, StartsOn: day(-30), EndsOn: day(0)}, day(1), models.LapseNoticeOffset},
		{"a trial before registration", &models.SupportFacts{Trial: true}, day(0), none},
		{"no contract", nil, day(0), none},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := models.NoticeDue(tt.c, tt.today, offsets)
			if !ok {
				got = none
			}
			if got != tt.want {
				t.Errorf("NoticeDue on %s = %d, want %d", tt.today, got, tt.want)
			}
		})
	}
}

// Walking day by day through a contract's last 100 days: the notices of 90, 60, 30 and 7 days,
// each once, on its day, to the contact with the admins in copy, saying what the contract is;
// the lapse notice the day after ends_on; nothing after. A contract that entered the window late
// gets only the nearest notice, then the next.
func TestNoticePass_OffsetsOncePerDayAndLateEntrant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		k := newDesk(t, d)
		c := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-265), EndsOn: day(100), Program: models.Program24x7, Premier: true,
			AccountName: "Acme, \"Ltd\"", ContactName: "Pat Contact", ContactEmail: "pat@acme.test", ProductName: "Widget Server"})
		k.addAdmin(t, c.LicenseID, "admin1@acme.test")
		k.addAdmin(t, c.LicenseID, "pat@acme.test") // the contact is also an admin: not copied twice
		var late storetest.Seeded
		sentOn := map[string]models.Date{}
		for i := 0; i <= 105; i++ {
			k.on(day(i))
			if i == 80 {
				late = storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(80), EndsOn: day(100)})
			}
			k.pass(t)
			for _, n := range k.notices(t, c.ContractID) {
				if _, ok := sentOn[n]; !ok {
					sentOn[n] = day(i)
				}
			}
		}
		end := day(100).String()
		want := []string{end + "/90", end + "/60", end + "/30", end + "/7", end + "/-1"}
		if got := k.notices(t, c.ContractID); !slices.Equal(got, want) {
			t.Fatalf("notices %v, want %v", got, want)
		}
		for n, on := range map[string]models.Date{end + "/90": day(10), end + "/60": day(40), end + "/30": day(70), end + "/7": day(93), end + "/-1": day(101)} {
			if !sentOn[n].Equal(on) {
				t.Errorf("notice %s went out on %s, want %s", n, sentOn[n], on)
			}
		}
		if got := k.notices(t, late.ContractID); !slices.Equal(got, []string{end + "/30", end + "/7", end + "/-1"}) {
			t.Errorf("the late entrant got %v, want only the nearest (30), then 7 and the lapse notice", got)
		}

		var mine []mailer.Letter
		for _, l := range k.outboxLetters(t, models.LetterRenewalNotice) {
			if slices.Contains(l.To, "pat@acme.test") {
				mine = append(mine, l)
			}
		}
		if len(mine) != 4 {
			t.Fatalf("%d renewal notices to the contact, want 4", len(mine))
		}
		l := mine[0]
		if !slices.Equal(l.Cc, []string{"admin1@acme.test"}) {
			t.Errorf("cc %v, want the other admin only", l.Cc)
		}
		for _, s := range []string{c.LicenseNumber, "Widget Server", "24x7 with Premier", end, "Days left       90", baseURL + "/licenses/" + c.LicenseNumber, "Hello Pat Contact"} {
			if !strings.Contains(l.Text, s) {
				t.Errorf("the 90-day notice lacks %q:\n%s", s, l.Text)
			}
		}
		if !strings.Contains(l.Subject, "90 days") || !strings.Contains(l.HTML, `href="`+baseURL+"/licenses/"+c.LicenseNumber+`"`) {
			t.Errorf("subject %q or HTML link wrong", l.Subject)
		}
		lapse := k.outboxLetters(t, models.LetterLapseNotice)
		if len(lapse) != 2 || !strings.Contains(lapse[0].Text, "Days left       -1") || !strings.Contains(lapse[0].Subject, "lapsed") {
			t.Errorf("lapse notices: %d, %+v", len(lapse), lapse)
		}
	})
}

// A renewal moves ends_on: the next term gets notices of its own, from 90 days before it. An
// upgrade keeps ends_on and sends nothing new. A terminated contract gets nothing more, lapse
// notice included. Grace holds the lapse notice back until the day after grace_until.
func TestNoticePass_RenewalTerminationAndGrace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		k := newDesk(t, d)
		ctx := context.Background()
		staff := models.SystemActor("test")
		renewed := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(20)})
		terminated := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(5)})
		graced := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(3)})
		trial := storetest.SeedContract(t, k.store, storetest.Contract{Trial: true, StartsOn: day(-28), EndsOn: day(2)})
		k.pass(t)
		e20, e385 := day(20).String(), day(385).String()
		if got := k.notices(t, renewed.ContractID); !slices.Equal(got, []string{e20 + "/30"}) {
			t.Fatalf("before the renewal: %v", got)
		}
		if got := k.notices(t, trial.ContractID); len(got) != 0 {
			t.Errorf("a trial got renewal notices: %v", got)
		}
		if _, err := k.contracts.Upgrade(ctx, fmt.Sprint(renewed.ContractID), models.UpgradeInput{Program: models.Program24x7}, staff); err != nil {
			t.Fatal(err)
		}
		if _, err := k.contracts.Terminate(ctx, fmt.Sprint(terminated.ContractID), "non-payment", staff); err != nil {
			t.Fatal(err)
		}
		if _, err := k.contracts.Grace(ctx, fmt.Sprint(graced.ContractID), day(30).String(), "PO pending", staff); err != nil {
			t.Fatal(err)
		}
		k.on(day(1))
		if rep := k.pass(t); rep.Letters() != 0 {
			t.Errorf("after an upgrade, a termination and grace, the next day's pass queued %+v", rep)
		}
		if _, err := k.contracts.Renew(ctx, fmt.Sprint(renewed.ContractID), models.RenewalInput{EndsOn: e385}, staff); err != nil {
			t.Fatal(err)
		}
		for i := 2; i <= 330; i++ {
			k.on(day(i))
			k.pass(t)
		}
		if got := k.notices(t, renewed.ContractID); !slices.Equal(got, []string{e20 + "/30", e385 + "/90", e385 + "/60"}) {
			t.Errorf("after the renewal: %v, want the old term's 30 then the new term's 90 and 60", got)
		}
		if got := k.notices(t, terminated.ContractID); !slices.Equal(got, []string{day(5).String() + "/7"}) {
			t.Errorf("terminated: %v, want only the 7-day notice sent before termination", got)
		}
		if got := k.notices(t, graced.ContractID); !slices.Equal(got, []string{day(3).String() + "/7", day(3).String() + "/-1"}) {
			t.Errorf("grace: %v", got)
		}
		if got := k.notices(t, trial.ContractID); !slices.Equal(got, []string{day(2).String() + "/-1"}) {
			t.Errorf("trial: %v, want the lapse notice only", got)
		}
		var graceSent time.Time
		v, _ := k.contracts.Get(ctx, fmt.Sprint(graced.ContractID))
		for _, n := range v.Notices {
			if n.OffsetDays == models.LapseNoticeOffset {
				graceSent = n.SentAt
			}
		}
		if !models.DateOf(graceSent).Equal(day(31)) {
			t.Errorf("the lapse notice after grace went out on %s, want %s (the day after grace_until)", models.DateOf(graceSent), day(31))
		}
		for _, l := range k.outboxLetters(t, models.LetterLapseNotice) {
			if strings.Contains(l.Text, trial.LicenseNumber) && !strings.Contains(l.Subject, "trial") {
				t.Errorf("a trial's lapse notice does not say trial: %q", l.Subject)
			}
		}
	})
}

// Running the pass twice queues nothing the second time; four passes at once (as replicas would,
// were the leader election to fail) queue each notice once between them.
func TestNoticePass_TwiceAndConcurrentlyNeverDuplicates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		k := newDesk(t, d)
		k.sweep.BatchSize = 7 // several batches, so that passes interleave
		seeded := storetest.SeedContracts(t, k.store, 60, func(i int) storetest.Contract {
			return storetest.Contract{StartsOn: day(-400), EndsOn: day(i*3 - 20)} // lapsed, current and beyond the window
		})
		due := 0
		for i := range seeded {
			if _, ok := models.NoticeDue(&models.SupportFacts{StartsOn: day(-400), EndsOn: day(i*3 - 20)}, deskDay, k.sweep.Offsets()); ok {
				due++
			}
		}
		first := k.pass(t)
		if first.RenewalNotices+first.LapseNotices != due || due == 0 {
			t.Fatalf("first pass queued %+v, want %d notices", first, due)
		}
		if again := k.pass(t); again.RenewalNotices+again.LapseNotices != 0 {
			t.Errorf("the same day's second pass queued %+v", again)
		}

		k.on(day(1)) // a new day: some contracts move to their next offset or lapse
		var wg sync.WaitGroup
		reports := make([]models.PassReport, 4)
		errs := make([]error, 4)
		for i := range reports {
			wg.Go(func() { reports[i], errs[i] = k.sweep.Pass(context.Background(), models.PassOptions{}) })
		}
		wg.Wait()
		total := 0
		for i := range reports {
			if errs[i] != nil {
				t.Fatalf("pass %d: %v", i, errs[i])
			}
			total += reports[i].Letters()
		}
		perContract := map[string]int{}
		letters := append(k.outboxLetters(t, models.LetterRenewalNotice), k.outboxLetters(t, models.LetterLapseNotice)...)
		for _, l := range letters {
			perContract[l.To[0]+" "+l.Subject]++
		}
		for key, n := range perContract {
			if n > 1 {
				t.Errorf("%d letters for %s", n, key)
			}
		}
		var rows int64
		k.store.GormDB().Raw("SELECT count(*) FROM renewal_notices").Scan(&rows)
		if int(rows) != len(letters) {
			t.Errorf("%d notice rows but %d letters", rows, len(letters))
		}
		if fresh := len(letters) - first.RenewalNotices - first.LapseNotices; total == 0 || total != fresh {
			t.Errorf("the concurrent passes reported %d letters; the outbox has %d new", total, fresh)
		}
	})
}

// The digest goes once a day to staff with the renewals role and to superadmins (not to other
// staff), listing what expires this week and what lapsed yesterday (after grace too), and
// leaving out trials and terminated contracts.
func TestNoticePass_DailyDigestToRenewalStaff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		k := newDesk(t, d)
		k.addStaff(t, "renewals@vendor.test", "renewals")
		k.addStaff(t, "boss@vendor.test", "superadmin")
		k.addStaff(t, "ops@vendor.test", "ops,support")
		expiring := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(3), AccountName: "Expiring Co", ContactName: "Eve", ContactEmail: "eve@expiring.test"})
		lastDay := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(7), AccountName: "Week End Co"})
		notThisWeek := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(8), AccountName: "Next Week Co"})
		lapsed := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(-1), AccountName: "Lapsed Co"})
		afterGrace := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(-20), GraceUntil: day(-1), AccountName: "Grace Over Co"})
		inGrace := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(-1), GraceUntil: day(10), AccountName: "Still In Grace Co"})
		trial := storetest.SeedContract(t, k.store, storetest.Contract{Trial: true, StartsOn: day(-28), EndsOn: day(2), AccountName: "Trial Co"})
		term := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(2), TerminatedOn: day(-3), AccountName: "Terminated Co"})

		rep := k.pass(t)
		if rep.DigestLetters != 2 {
			t.Fatalf("digest letters %d, want 2 (renewals and superadmin)", rep.DigestLetters)
		}
		digests := k.outboxLetters(t, models.LetterDigest)
		var to []string
		for _, l := range digests {
			to = append(to, l.To...)
		}
		sort.Strings(to)
		if !slices.Equal(to, []string{"boss@vendor.test", "renewals@vendor.test"}) {
			t.Errorf("digest to %v", to)
		}
		text := digests[0].Text
		for _, s := range []string{expiring.LicenseNumber, lastDay.LicenseNumber, lapsed.LicenseNumber, afterGrace.LicenseNumber, "Expiring Co", "Eve <eve@expiring.test>", "grace until " + day(-1).String()} {
			if !strings.Contains(text, s) {
				t.Errorf("digest lacks %q:\n%s", s, text)
			}
		}
		for _, s := range []string{notThisWeek.LicenseNumber, inGrace.LicenseNumber, trial.LicenseNumber, term.LicenseNumber} {
			if strings.Contains(text, s) {
				t.Errorf("digest lists %s, which it should not:\n%s", s, text)
			}
		}
		if !strings.Contains(digests[0].Subject, "2 expiring this week, 2 lapsed yesterday") {
			t.Errorf("subject %q", digests[0].Subject)
		}
		if again := k.pass(t); again.DigestLetters != 0 {
			t.Errorf("a second digest the same day: %+v", again)
		}
		k.on(day(1))
		if next := k.pass(t); next.DigestLetters != 2 {
			t.Errorf("the next day's digest: %+v", next)
		}
	})
}

// The sweep runs daily just after midnight UTC, whatever the time zone it is asked in.
func TestNextSweep(t *testing.T) {
	paris := time.FixedZone("CEST", 2*3600)
	for _, tt := range []struct{ at, want time.Time }{
		{time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 6, 1, 0, 5, 0, 0, time.UTC)},
		{time.Date(2026, 6, 1, 0, 5, 0, 0, time.UTC), time.Date(2026, 6, 2, 0, 5, 0, 0, time.UTC)},
		{time.Date(2026, 6, 1, 13, 0, 0, 0, time.UTC), time.Date(2026, 6, 2, 0, 5, 0, 0, time.UTC)},
		{time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC)},
		{time.Date(2026, 6, 2, 1, 0, 0, 0, paris), time.Date(2026, 6, 2, 0, 5, 0, 0, time.UTC)}, // 23:00 UTC the day before
	} {
		if got := models.NextSweep(tt.at); !got.Equal(tt.want) {
			t.Errorf("NextSweep(%s) = %s, want %s", tt.at, got, tt.want)
		}
	}
}

// legacyContact writes an account's contact straight into the database, as one stored before
// addresses were checked as they are now: the API no longer takes it.
func (k *desk) legacyContact(tb testing.TB, accountID, email string) {
	tb.Helper()
	if err := k.store.GormDB().Exec("UPDATE accounts SET contact_email = ? WHERE account_id = ?", email, accountID).Error; err != nil {
		tb.Fatal(err)
	}
}

// One undeliverable address never stops letters to anyone else (issue 16, item 4): in a pass
// whose batch holds a contract whose contact is an address literal, that contract's notice (and
// another's lapse notice) is skipped, counted and reported, with nothing written for it, and the
// customer 26 days from lapse beside it gets the 30-day notice; an admin whose address cannot
// take mail is left out of the copy. Once the contact is corrected, the next pass sends it.
func TestNoticePass_UndeliverableContactIsSkippedAndCountedAndOthersGetTheirs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, d dbstore.Dialect) {
		k := newDesk(t, d)
		ctx := context.Background()
		good := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(26), ContactEmail: "pat@acme.test"})
		k.addAdmin(t, good.LicenseID, "y@[10.0.0.2]") // a legacy admin address: left out of the copy
		k.addAdmin(t, good.LicenseID, "admin@acme.test")
		bad := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(20)})
		k.legacyContact(t, bad.AccountID, "x@[10.0.0.1]")
		lapsed := storetest.SeedContract(t, k.store, storetest.Contract{StartsOn: day(-300), EndsOn: day(-1)})
		k.legacyContact(t, lapsed.AccountID, `"quoted"@example.com`)

		var skipped []models.UndeliverableNotice
		rep, err := k.sweep.Pass(ctx, models.PassOptions{Undeliverable: func(u models.UndeliverableNotice) { skipped = append(skipped, u) }})
		if err != nil {
			t.Fatalf("the pass failed: %v", err)
		}
		if rep.RenewalNotices != 1 || rep.LapseNotices != 0 || rep.Undeliverable != 2 || rep.Contracts != 3 {
			t.Errorf("report %+v, want 1 renewal notice, 2 undeliverable of 3 contracts", rep)
		}
		slices.SortFunc(skipped, func(a, b models.UndeliverableNotice) int { return int(a.ContractID - b.ContractID) })
		want := []models.UndeliverableNotice{
			{Kind: models.LetterRenewalNotice, ContractID: bad.ContractID, LicenseNumber: bad.LicenseNumber, AccountID: bad.AccountID, OffsetDays: 30, Address: "x@[10.0.0.1]"},
			{Kind: models.LetterLapseNotice, ContractID: lapsed.ContractID, LicenseNumber: lapsed.LicenseNumber, AccountID: lapsed.AccountID, OffsetDays: models.LapseNoticeOffset, Address: `"quoted"@example.com`},
		}
		if !slices.Equal(skipped, want) {
			t.Errorf("reported undeliverable %+v, want %+v", skipped, want)
		}
		if got := k.notices(t, good.ContractID); !slices.Equal(got, []string{day(26).String() + "/30"}) {
			t.Errorf("the deliverable contract's notices %v, want its 30-day notice", got)
		}
		for _, c := range []storetest.Seeded{bad, lapsed} {
			if got := k.notices(t, c.ContractID); len(got) != 0 {
				t.Errorf("contract %d, skipped, has notice rows %v", c.ContractID, got)
			}
		}
		letters := k.outboxLetters(t, models.LetterRenewalNotice)
		if len(letters) != 1 || !slices.Equal(letters[0].To, []string{"pat@acme.test"}) || !slices.Equal(letters[0].Cc, []string{"admin@acme.test"}) {
			t.Errorf("renewal notices %+v, want one to pat@acme.test cc admin@acme.test", letters)
		}
		if n := len(k.outboxLetters(t, models.LetterLapseNotice)); n != 0 {
			t.Errorf("%d lapse notices queued", n)
		}

		// The next pass skips them again (they are still owed) and sends nothing twice.
		rep = k.pass(t)
		if rep.Letters() != 0 || rep.Undeliverable != 2 {
			t.Errorf("second pass %+v, want nothing queued and 2 undeliverable", rep)
		}
		// Corrected, the contact gets the notice it is owed.
		k.legacyContact(t, bad.AccountID, "fixed@acme.test")
		rep = k.pass(t)
		if rep.RenewalNotices != 1 || rep.Undeliverable != 1 {
			t.Errorf("pass after the correction %+v, want 1 renewal notice and 1 undeliverable", rep)
		}
		if got := k.notices(t, bad.ContractID); !slices.Equal(got, []string{day(20).String() + "/30"}) {
			t.Errorf("corrected contract's notices %v", got)
		}
	})
}
