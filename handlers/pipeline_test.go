package handlers

// The renewal pipeline over HTTP, on both dialects (contract: "Renewal pipeline"): the renewal
// record in the contract's shape, its changes (one contract, several at once), notes, won on
// renewal and lost on lapse.

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"entitled/models"
)

// pipelineDesk is a renewals desk: ops to order, a renewals staff user, and a product.
type pipelineDesk struct {
	a        *testApp
	ops, sku string
	rs       *testUser
}

func newPipelineDesk(t *testing.T, a *testApp) *pipelineDesk {
	t.Helper()
	ops := a.newStaff(t, models.RoleOps).token
	return &pipelineDesk{a: a, ops: ops, rs: a.newStaff(t, models.RoleRenewals), sku: a.newProduct(t, ops, [3]string{"1.0", "2025-01-01", "full"})}
}

// contract orders a standard contract ending on endsOn (today is 2026-03-02) and returns its id.
func (k *pipelineDesk) contract(t *testing.T, name, startsOn, endsOn string) string {
	t.Helper()
	id, _, _ := k.a.contractOrder(t, k.ops, k.sku, name, "Con Tact", map[string]any{"program": "standard", "starts_on": startsOn, "ends_on": endsOn})
	return id
}

// renewal is the renewal member of a contract answer.
func renewal(t testing.TB, r *resp) map[string]any {
	t.Helper()
	m, ok := r.body["renewal"].(map[string]any)
	if !ok {
		t.Fatalf("no renewal in %s", r)
	}
	return m
}

func (k *pipelineDesk) get(t *testing.T, id string) *resp {
	t.Helper()
	r := k.a.do(t, "GET", "/v1/contracts/"+id, k.rs.token, nil)
	want(t, r, http.StatusOK)
	return r
}

func (k *pipelineDesk) patch(t *testing.T, id string, body any, headers ...string) *resp {
	t.Helper()
	return k.a.do(t, "PATCH", "/v1/contracts/"+id+"/renewal", k.rs.token, body, headers...)
}

// Every contract starts untouched, in the contract's shape on its own page (with notes and an
// ETag) and in both lists; a change sets owner, stage, next step and value, null clears them, and
// each change is audited.
func TestPipeline_RenewalRecordIsPartOfTheContract(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		k := newPipelineDesk(t, a)
		id := k.contract(t, "Pipe Ltd", "2025-06-01", "2026-04-30")

		r := k.get(t, id)
		rec := renewal(t, r)
		if rec["stage"] != models.StageUntouched || rec["owner"] != nil || rec["value"] != nil || rec["next_step_on"] != nil || rec["updated_at"] == nil {
			t.Errorf("a new contract's renewal = %v, want untouched with no owner, value or next step", rec)
		}
		if notes, ok := r.body["notes"].([]any); !ok || len(notes) != 0 {
			t.Errorf("notes = %v, want []", r.body["notes"])
		}
		if r.header.Get("ETag") == "" {
			t.Error("GET /contracts/{id} answers no ETag")
		}
		for _, path := range []string{"/v1/contracts", "/v1/renewals?within_days=90"} {
			l := a.do(t, "GET", path, k.rs.token, nil)
			want(t, l, http.StatusOK)
			if len(l.items()) != 1 || l.items()[0]["renewal"].(map[string]any)["stage"] != models.StageUntouched {
				t.Errorf("%s: items %v, want the contract with renewal.stage untouched", path, l.items())
			}
		}

		r = k.patch(t, id, map[string]any{"owner": strings.ToUpper(k.rs.email), "stage": "quoted", "next_step_on": "2026-03-09",
			"value": map[string]any{"amount": "12000.00", "currency": "EUR"}})
		want(t, r, http.StatusOK)
		rec = renewal(t, r)
		if rec["owner"] != k.rs.email || rec["stage"] != "quoted" || rec["next_step_on"] != "2026-03-09" {
			t.Errorf("after PATCH: %v", rec)
		}
		if v, _ := rec["value"].(map[string]any); v["amount"] != "12000.00" || v["currency"] != "EUR" {
			t.Errorf("value = %v, want 12000.00 EUR", rec["value"])
		}
		if got := renewal(t, k.get(t, id)); got["stage"] != "quoted" {
			t.Errorf("GET after PATCH: %v", got)
		}

		r = k.patch(t, id, map[string]any{"owner": nil, "next_step_on": nil, "value": nil})
		want(t, r, http.StatusOK)
		rec = renewal(t, r)
		if rec["owner"] != nil || rec["next_step_on"] != nil || rec["value"] != nil || rec["stage"] != "quoted" {
			t.Errorf("after clearing: %v, want no owner, next step or value, stage kept", rec)
		}

		super := a.newStaff(t, models.RoleSuperadmin).token
		audit := a.do(t, "GET", "/v1/audit?action=contract.renewal_updated&subject="+url.QueryEscape("contract:"+id), super, nil)
		want(t, audit, http.StatusOK)
		if n := len(audit.items()); n != 2 {
			t.Errorf("%d contract.renewal_updated audit entries, want 2: %s", n, audit)
		}
	})
}

// A change names a renewals staff owner, a stage other than won (a renewal records won), a date
// and a two-decimal amount with an ISO 4217 code; anything else is 400 with every bad field, an
// unknown contract 404, and a stale If-Match 412.
func TestPipeline_PatchRefusals(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		k := newPipelineDesk(t, a)
		id := k.contract(t, "Refuse Ltd", "2025-06-01", "2026-04-30")
		opsUser := a.newStaff(t, models.RoleOps)
		customer := a.newUser(t)
		for _, tt := range []struct {
			name   string
			body   map[string]any
			fields map[string]string
		}{
			{"empty", map[string]any{}, map[string]string{"": models.FieldRequired}},
			{"unknown field", map[string]any{"colour": "red"}, map[string]string{"colour": models.FieldInvalid}},
			{"ops staff as owner", map[string]any{"owner": opsUser.email}, map[string]string{"owner": models.FieldNotRenewalsStaff}},
			{"customer as owner", map[string]any{"owner": customer.email}, map[string]string{"owner": models.FieldNotRenewalsStaff}},
			{"nobody as owner", map[string]any{"owner": "ghost@example.test"}, map[string]string{"owner": models.FieldNotRenewalsStaff}},
			{"not an email", map[string]any{"owner": "someone"}, map[string]string{"owner": models.FieldInvalid}},
			{"won by hand", map[string]any{"stage": "won"}, map[string]string{"stage": models.FieldInvalid}},
			{"no such stage", map[string]any{"stage": "pondering"}, map[string]string{"stage": models.FieldInvalid}},
			{"null stage", map[string]any{"stage": nil}, map[string]string{"stage": models.FieldType}},
			{"bad date", map[string]any{"next_step_on": "next week"}, map[string]string{"next_step_on": models.FieldInvalid}},
			{"one decimal", map[string]any{"value": map[string]any{"amount": "12000.0", "currency": "EUR"}}, map[string]string{"value.amount": models.FieldInvalid}},
			{"number amount", map[string]any{"value": map[string]any{"amount": 12000, "currency": "EUR"}}, map[string]string{"value": models.FieldType}},
			{"negative", map[string]any{"value": map[string]any{"amount": "-1.00", "currency": "EUR"}}, map[string]string{"value.amount": models.FieldInvalid}},
			{"lower-case currency", map[string]any{"value": map[string]any{"amount": "1.00", "currency": "eur"}}, map[string]string{"value.currency": models.FieldInvalid}},
			{"long currency", map[string]any{"value": map[string]any{"amount": "1.00", "currency": "EURO"}}, map[string]string{"value.currency": models.FieldInvalid}},
		} {
			t.Run(tt.name, func(t *testing.T) { wantFields(t, k.patch(t, id, tt.body), tt.fields) })
		}
		if rec := renewal(t, k.get(t, id)); rec["stage"] != models.StageUntouched || rec["owner"] != nil {
			t.Errorf("refused changes changed the record: %v", rec)
		}
		want(t, a.do(t, "PATCH", "/v1/contracts/999999/renewal", k.rs.token, map[string]any{"stage": "contacted"}), http.StatusNotFound, models.CodeNotFound)
		want(t, a.do(t, "GET", "/v1/contracts/999999", k.rs.token, nil), http.StatusNotFound, models.CodeNotFound)
		want(t, a.do(t, "GET", "/v1/contracts/nope", k.rs.token, nil), http.StatusNotFound, models.CodeNotFound)

		// If-Match: the current tag lets the change through; the tag from before it does not.
		etag := k.get(t, id).header.Get("ETag")
		want(t, k.patch(t, id, map[string]any{"stage": "contacted"}, "If-Match", etag), http.StatusOK)
		want(t, k.patch(t, id, map[string]any{"stage": "quoted"}, "If-Match", etag), http.StatusPreconditionFailed, models.CodePreconditionFailed)
		if rec := renewal(t, k.get(t, id)); rec["stage"] != "contacted" {
			t.Errorf("stage = %v after a refused If-Match, want contacted", rec["stage"])
		}
	})
}

// Notes: {text} up to 4,000 characters → 201 {id, at, author, text}, listed oldest first on the
// contract's page; empty or longer is 400, an unknown contract 404.
func TestPipeline_Notes(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		k := newPipelineDesk(t, a)
		id := k.contract(t, "Notes Ltd", "2025-06-01", "2026-04-30")
		path := "/v1/contracts/" + id + "/notes"
		r := a.do(t, "POST", path, k.rs.token, map[string]any{"text": "  Called Ann; PO expected Friday.  "})
		want(t, r, http.StatusCreated)
		if r.str("id") == "" || r.str("author") != k.rs.email || r.str("text") != "Called Ann; PO expected Friday." || r.str("at") != handlerStart() {
			t.Errorf("note = %s", r)
		}
		long := strings.Repeat("é", models.MaxNoteLength) // characters, not bytes
		want(t, a.do(t, "POST", path, k.rs.token, map[string]any{"text": long}), http.StatusCreated)
		a.wantValidation(t, path, k.rs.token, []validationCase{
			{"empty", map[string]any{"text": "   "}, map[string]string{"text": models.FieldRequired}},
			{"too long", map[string]any{"text": long + "x"}, map[string]string{"text": models.FieldTooLong}},
		})
		want(t, a.do(t, "POST", "/v1/contracts/999999/notes", k.rs.token, map[string]any{"text": "x"}), http.StatusNotFound, models.CodeNotFound)

		notes, _ := k.get(t, id).body["notes"].([]any)
		if len(notes) != 2 || notes[0].(map[string]any)["text"] != "Called Ann; PO expected Friday." {
			t.Errorf("notes = %v, want the two notes, oldest first", notes)
		}
	})
}

func handlerStart() string { return testStart.UTC().Format(time.RFC3339) }

// Bulk sets owner, stage or next step on every contract named, or on none: an unknown id or an
// owner who is not renewal staff leaves every contract as it was.
func TestPipeline_BulkIsAllOrNothing(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		k := newPipelineDesk(t, a)
		one := k.contract(t, "One Ltd", "2025-06-01", "2026-04-30")
		two := k.contract(t, "Two Ltd", "2025-06-01", "2026-05-31")
		three := k.contract(t, "Three Ltd", "2025-06-01", "2026-06-30")
		opsUser := a.newStaff(t, models.RoleOps)
		untouched := func(ids ...string) {
			t.Helper()
			for _, id := range ids {
				if rec := renewal(t, k.get(t, id)); rec["stage"] != models.StageUntouched || rec["owner"] != nil {
					t.Errorf("contract %s changed: %v", id, rec)
				}
			}
		}

		r := a.do(t, "POST", "/v1/contracts/bulk", k.rs.token, map[string]any{"ids": []string{one, two, "999999"}, "set": map[string]any{"stage": "contacted"}})
		wantFields(t, r, map[string]string{"ids[2]": models.CodeNotFound})
		untouched(one, two)
		r = a.do(t, "POST", "/v1/contracts/bulk", k.rs.token, map[string]any{"ids": []string{one, two}, "set": map[string]any{"owner": opsUser.email, "stage": "contacted"}})
		wantFields(t, r, map[string]string{"set.owner": models.FieldNotRenewalsStaff})
		untouched(one, two)
		for _, tt := range []validationCase{
			{"no ids", map[string]any{"ids": []string{}, "set": map[string]any{"stage": "quoted"}}, map[string]string{"ids": models.FieldRequired}},
			{"bad id", map[string]any{"ids": []string{one, "x"}, "set": map[string]any{"stage": "quoted"}}, map[string]string{"ids[1]": models.FieldInvalid}},
			{"no set", map[string]any{"ids": []string{one}}, map[string]string{"set": models.FieldRequired}},
			{"empty set", map[string]any{"ids": []string{one}, "set": map[string]any{}}, map[string]string{"set": models.FieldRequired}},
			{"value in bulk", map[string]any{"ids": []string{one}, "set": map[string]any{"value": nil}}, map[string]string{"set.value": models.FieldInvalid}},
			{"won", map[string]any{"ids": []string{one}, "set": map[string]any{"stage": "won"}}, map[string]string{"set.stage": models.FieldInvalid}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				wantFields(t, a.do(t, "POST", "/v1/contracts/bulk", k.rs.token, tt.body), tt.fields)
			})
		}
		untouched(one, two, three)

		// Ids as answers give them (strings) or as numbers; a repeated id counts once.
		r = a.do(t, "POST", "/v1/contracts/bulk", k.rs.token, map[string]any{"ids": []any{one, json.RawMessage(two), one},
			"set": map[string]any{"owner": k.rs.email, "stage": "committed", "next_step_on": "2026-03-20"}})
		want(t, r, http.StatusOK)
		if r.body["updated"] != float64(2) {
			t.Errorf("updated = %v, want 2", r.body["updated"])
		}
		for _, id := range []string{one, two} {
			if rec := renewal(t, k.get(t, id)); rec["stage"] != "committed" || rec["owner"] != k.rs.email || rec["next_step_on"] != "2026-03-20" {
				t.Errorf("contract %s after bulk: %v", id, rec)
			}
		}
		untouched(three)
	})
}

// Recording a renewal starts the new term's record untouched with the owner and value carried
// over; a contract that lapses without renewal reads lost, unless staff chose a stage after the
// lapse.
func TestPipeline_WonOnRenewalLostOnLapse(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		k := newPipelineDesk(t, a)
		id := k.contract(t, "Renew Ltd", "2025-06-01", "2026-04-30")
		want(t, k.patch(t, id, map[string]any{"owner": k.rs.email, "stage": "committed", "value": map[string]any{"amount": "5400.50", "currency": "USD"}}), http.StatusOK)
		r := a.do(t, "POST", "/v1/contracts/"+id+"/renewals", k.rs.token, map[string]any{"ends_on": "2027-04-30"})
		want(t, r, http.StatusOK)
		rec := renewal(t, r)
		if rec["stage"] != models.StageUntouched || rec["owner"] != k.rs.email {
			t.Errorf("after renewal: %v, want a fresh untouched record with the owner carried over", rec)
		}
		if v, _ := rec["value"].(map[string]any); v["amount"] != "5400.50" || v["currency"] != "USD" {
			t.Errorf("value after renewal = %v, want 5400.50 USD carried over", rec["value"])
		}

		// Lapse: ends 2026-02-27, today 2026-03-02.
		lapsed := k.contract(t, "Lapse Ltd", "2025-03-01", "2026-02-27")
		if rec := renewal(t, k.get(t, lapsed)); rec["stage"] != models.StageLost {
			t.Errorf("a lapsed contract reads %v, want lost", rec["stage"])
		}
		l := a.do(t, "GET", "/v1/contracts?status=lapsed", k.rs.token, nil)
		if len(l.items()) != 1 || l.items()[0]["renewal"].(map[string]any)["stage"] != models.StageLost {
			t.Errorf("the lapsed list: %v", l.items())
		}
		// A stage chosen after the lapse stands.
		want(t, k.patch(t, lapsed, map[string]any{"stage": "quoted"}), http.StatusOK)
		if rec := renewal(t, k.get(t, lapsed)); rec["stage"] != "quoted" {
			t.Errorf("stage chosen after the lapse reads %v, want quoted", rec["stage"])
		}

		// A stage chosen before the lapse does not: quoted on 2026-03-02, lapse after 2026-03-05.
		soon := k.contract(t, "Soon Ltd", "2025-03-06", "2026-03-05")
		want(t, k.patch(t, soon, map[string]any{"stage": "quoted"}), http.StatusOK)
		a.clock.Set(testStart.Add(4 * 24 * time.Hour)) // 2026-03-06
		k.rs = a.newStaff(t, models.RoleRenewals)      // sessions do not last four days
		if rec := renewal(t, k.get(t, soon)); rec["stage"] != models.StageLost {
			t.Errorf("quoted before the lapse reads %v after it, want lost", rec["stage"])
		}
		// Renewing it afterwards (backdated) makes the new term's record untouched again.
		want(t, a.do(t, "POST", "/v1/contracts/"+soon+"/renewals", k.rs.token, map[string]any{"ends_on": "2027-03-05"}), http.StatusOK)
		if rec := renewal(t, k.get(t, soon)); rec["stage"] != models.StageUntouched {
			t.Errorf("after a late renewal: %v, want untouched", rec["stage"])
		}
	})
}

// The lists filter on the renewal record: owner=<email>|me|none and stage= (as it reads today, so
// a lapsed contract is lost); /renewals takes the list filters too, and its CSV follows every one
// of them, with the renewal_* columns.
func TestPipeline_ListFiltersAndCSV(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		k := newPipelineDesk(t, a)
		other := a.newStaff(t, models.RoleRenewals)
		mine := k.contract(t, "Mine Ltd", "2025-06-01", "2026-04-30")
		theirs := k.contract(t, "Theirs GmbH", "2025-06-01", "2026-05-31")
		nobodys := k.contract(t, "Nobody SA", "2025-06-01", "2026-03-31")
		lapsed := k.contract(t, "Gone BV", "2025-01-01", "2026-01-31")
		want(t, k.patch(t, mine, map[string]any{"owner": k.rs.email, "stage": "quoted", "next_step_on": "2026-03-10",
			"value": map[string]any{"amount": "=1.00", "currency": "EUR"}}), http.StatusBadRequest)
		want(t, k.patch(t, mine, map[string]any{"owner": k.rs.email, "stage": "quoted", "next_step_on": "2026-03-10",
			"value": map[string]any{"amount": "12000.00", "currency": "EUR"}}), http.StatusOK)
		want(t, k.patch(t, theirs, map[string]any{"owner": other.email, "stage": "contacted"}), http.StatusOK)

		for query, wantIDs := range map[string][]string{
			"owner=me":                              {mine},
			"owner=" + url.QueryEscape(other.email): {theirs},
			"owner=none":                            {nobodys, lapsed},
			"stage=quoted":                          {mine},
			"stage=untouched":                       {nobodys},
			"stage=lost":                            {lapsed},
			"stage=contacted&owner=me":              nil,
			"owner=none&status=lapsed":              {lapsed},
			"stage=untouched&program=24x7":          nil,
			"owner=" + url.QueryEscape(k.rs.email):  {mine},
			"owner=" + url.QueryEscape("NO@X.TEST"): nil,
		} {
			r := a.do(t, "GET", "/v1/contracts?"+query, k.rs.token, nil)
			want(t, r, http.StatusOK)
			if got := ids(r); !equalIDs(got, wantIDs) {
				t.Errorf("/contracts?%s = %v, want %v", query, got, wantIDs)
			}
		}
		// /renewals: the current ones due within the window, soonest first, filtered the same way.
		for query, wantIDs := range map[string][]string{
			"within_days=365":                 {nobodys, mine, theirs},
			"within_days=365&owner=none":      {nobodys},
			"within_days=365&stage=contacted": {theirs},
			"within_days=365&q=mine":          {mine},
			"within_days=60&owner=me":         {mine},
		} {
			r := a.do(t, "GET", "/v1/renewals?"+query, k.rs.token, nil)
			want(t, r, http.StatusOK)
			if got := ids(r); !equalIDs(got, wantIDs) {
				t.Errorf("/renewals?%s = %v, want %v", query, got, wantIDs)
			}
		}
		key := a.newAPIKey(t, models.ScopeRenewalsRead)
		wantFields(t, a.do(t, "GET", "/v1/renewals?owner=me", key, nil), map[string]string{"owner": models.FieldInvalid})
		wantFields(t, a.do(t, "GET", "/v1/renewals?stage=won-ish&owner=x", k.rs.token, nil), map[string]string{"stage": models.FieldInvalid, "owner": models.FieldInvalid})
		wantFields(t, a.do(t, "GET", "/v1/contracts?stage=maybe", k.rs.token, nil), map[string]string{"stage": models.FieldInvalid})

		// The CSV: the renewal_* columns, and every filter of the list.
		csvOf := func(query string) [][]string {
			t.Helper()
			r := a.do(t, "GET", "/v1/renewals?format=csv&"+query, key, nil)
			want(t, r, http.StatusOK)
			rows, err := csv.NewReader(bytes.NewReader(r.raw)).ReadAll()
			if err != nil {
				t.Fatalf("csv: %v", err)
			}
			if !slices.Equal(rows[0][len(rows[0])-5:], []string{"renewal_owner", "renewal_stage", "renewal_next_step_on", "renewal_value_amount", "renewal_value_currency"}) {
				t.Fatalf("header = %v", rows[0])
			}
			return rows[1:]
		}
		rows := csvOf("within_days=365")
		if len(rows) != 3 {
			t.Fatalf("%d rows, want 3", len(rows))
		}
		byID := map[string][]string{}
		for _, row := range rows {
			byID[row[0]] = row[len(row)-5:]
		}
		if got := byID[mine]; !slices.Equal(got, []string{k.rs.email, "quoted", "2026-03-10", "12000.00", "EUR"}) {
			t.Errorf("mine: %v", got)
		}
		if got := byID[nobodys]; !slices.Equal(got, []string{"", "untouched", "", "", ""}) {
			t.Errorf("nobody's: %v", got)
		}
		// /contracts?format=csv: the views a within list cannot show, such as lapsed.
		r := a.do(t, "GET", "/v1/contracts?format=csv&status=lapsed", k.rs.token, nil)
		want(t, r, http.StatusOK)
		lapsedRows, err := csv.NewReader(bytes.NewReader(r.raw)).ReadAll()
		if err != nil || len(lapsedRows) != 2 || lapsedRows[1][0] != lapsed || lapsedRows[1][len(lapsedRows[1])-4] != models.StageLost ||
			!strings.Contains(r.header.Get("Content-Disposition"), "contracts-2026-03-02.csv") {
			t.Errorf("lapsed CSV (%v): %q", err, lapsedRows)
		}
		wantFields(t, a.do(t, "GET", "/v1/contracts?format=xml", k.rs.token, nil), map[string]string{"format": models.FieldInvalid})
		for query, wantIDs := range map[string][]string{
			"within_days=365&owner=" + url.QueryEscape(other.email): {theirs},
			"within_days=365&stage=untouched":                       {nobodys},
			"within_days=365&q=theirs":                              {theirs},
			"within_days=365&program=24x7":                          nil,
			"within_days=40":                                        {nobodys},
		} {
			var got []string
			for _, row := range csvOf(query) {
				got = append(got, row[0])
			}
			if !equalIDs(got, wantIDs) {
				t.Errorf("CSV ?%s = %v, want %v", query, got, wantIDs)
			}
		}
	})
}

func equalIDs(got, want []string) bool {
	return len(got) == len(want) && (len(got) == 0 || slices.Equal(got, want))
}

// GET /renewals/forecast (staff renewals, key renewals:read): the months ahead from this month
// with due counts by stage and value per currency as amounts, and the past months' history.
// (TestForecast_AgreesWithTheRulesInGo in models/store checks the numbers on many contracts.)
func TestPipeline_Forecast(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		k := newPipelineDesk(t, a)
		march := k.contract(t, "March Ltd", "2025-04-01", "2026-03-31")
		april := k.contract(t, "April Ltd", "2025-05-01", "2026-04-30")
		k.contract(t, "April Too Ltd", "2025-05-01", "2026-04-15")
		want(t, k.patch(t, march, map[string]any{"stage": "quoted", "value": map[string]any{"amount": "1200.50", "currency": "EUR"}}), http.StatusOK)
		want(t, k.patch(t, april, map[string]any{"value": map[string]any{"amount": "99.99", "currency": "USD"}}), http.StatusOK)

		key := a.newAPIKey(t, models.ScopeRenewalsRead)
		r := a.do(t, "GET", "/v1/renewals/forecast?months=3", key, nil)
		want(t, r, http.StatusOK)
		months, _ := r.body["months"].([]any)
		history, _ := r.body["history"].([]any)
		if len(months) != 3 || len(history) != 3 {
			t.Fatalf("months %d, history %d, want 3 each: %s", len(months), len(history), r)
		}
		m0, m1 := months[0].(map[string]any), months[1].(map[string]any)
		if m0["month"] != "2026-03" || m0["due"] != float64(1) || m0["by_stage"].(map[string]any)["quoted"] != float64(1) {
			t.Errorf("2026-03: %v", m0)
		}
		if v := m0["value"].([]any); len(v) != 1 || v[0].(map[string]any)["amount"] != "1200.50" || v[0].(map[string]any)["currency"] != "EUR" ||
			v[0].(map[string]any)["by_stage"].(map[string]any)["quoted"] != "1200.50" {
			t.Errorf("2026-03 value: %v", m0["value"])
		}
		if m1["month"] != "2026-04" || m1["due"] != float64(2) || m1["by_stage"].(map[string]any)["untouched"] != float64(2) {
			t.Errorf("2026-04: %v", m1)
		}
		if v := m1["value"].([]any); len(v) != 1 || v[0].(map[string]any)["amount"] != "99.99" || v[0].(map[string]any)["currency"] != "USD" {
			t.Errorf("2026-04 value: %v", m1["value"])
		}
		if h := history[2].(map[string]any); h["month"] != "2026-02" || h["due"] != float64(0) || h["rate"] != nil {
			t.Errorf("history: %v", history)
		}
		want(t, a.do(t, "GET", "/v1/renewals/forecast", k.rs.token, nil), http.StatusOK)
		for _, bad := range []string{"0", "37", "x"} {
			wantFields(t, a.do(t, "GET", "/v1/renewals/forecast?months="+bad, k.rs.token, nil), map[string]string{"months": models.FieldInvalid})
		}
	})
}

// GET /accounts/{id} shows every license with its contract; POST /accounts/{id}/coterm gives each
// current contract ending before ends_on one term up to it (a renewal: won, and a fresh record)
// and leaves later, lapsed and other accounts' contracts alone, with one letter to the primary
// contact.
func TestPipeline_AccountAndCoterm(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		k := newPipelineDesk(t, a)
		contact := a.email("buyer")
		item := func(starts, ends string) map[string]any {
			return map[string]any{"sku": k.sku, "quantity": 1, "kind": "perpetual", "support": map[string]any{"program": "standard", "starts_on": starts, "ends_on": ends}}
		}
		r := a.do(t, "POST", "/v1/orders", k.ops, map[string]any{"order_ref": "ORD-COTERM", "account": map[string]any{"name": "Coterm AG"},
			"primary_contact": map[string]any{"name": "Bea Buyer", "email": contact},
			"items": []map[string]any{item("2025-05-01", "2026-04-30"), item("2025-10-01", "2026-09-30"), item("2026-01-01", "2027-06-30"), item("2025-02-01", "2026-01-31"),
				{"sku": k.sku, "quantity": 2, "kind": "perpetual"}}})
		want(t, r, http.StatusCreated)
		acct := r.str("account_id")
		lics := licensesOf(r)
		expiring, active, later, lapsed := lics[0]["contract_id"].(string), lics[1]["contract_id"].(string), lics[2]["contract_id"].(string), lics[3]["contract_id"].(string)
		elsewhere := k.contract(t, "Other Co", "2025-05-01", "2026-04-30")
		want(t, k.patch(t, expiring, map[string]any{"owner": k.rs.email, "stage": "committed"}), http.StatusOK)

		ops := a.newStaff(t, models.RoleOps).token
		v := a.do(t, "GET", "/v1/accounts/"+acct, ops, nil)
		want(t, v, http.StatusOK)
		got, _ := v.body["licenses"].([]any)
		if v.str("account_id") != acct || v.str("name") != "Coterm AG" || len(got) != 5 || v.header.Get("ETag") == "" {
			t.Fatalf("account: %s", v)
		}
		if c, _ := got[0].(map[string]any)["contract"].(map[string]any); c["id"] != expiring || c["renewal"].(map[string]any)["stage"] != "committed" {
			t.Errorf("first license's contract: %v", c)
		}
		if got[4].(map[string]any)["contract"] != nil {
			t.Errorf("a license without support shows contract %v, want null", got[4].(map[string]any)["contract"])
		}
		want(t, a.do(t, "GET", "/v1/accounts/1000000", ops, nil), http.StatusNotFound, models.CodeNotFound)

		path := "/v1/accounts/" + acct + "/coterm"
		wantFields(t, a.do(t, "POST", path, k.rs.token, map[string]any{}), map[string]string{"ends_on": models.FieldRequired})
		wantFields(t, a.do(t, "POST", path, k.rs.token, map[string]any{"ends_on": "2026-03-01"}), map[string]string{"ends_on": models.FieldInvalid})
		want(t, a.do(t, "POST", "/v1/accounts/1000000/coterm", k.rs.token, map[string]any{"ends_on": "2026-12-31"}), http.StatusNotFound, models.CodeNotFound)

		r = a.do(t, "POST", path, k.rs.token, map[string]any{"ends_on": "2026-12-31"})
		want(t, r, http.StatusOK)
		changed, _ := r.body["contracts"].([]any)
		if len(changed) != 2 || changed[0].(map[string]any)["id"] != expiring || changed[1].(map[string]any)["id"] != active {
			t.Fatalf("co-term changed %v, want the expiring and the active contract", changed)
		}
		for _, id := range []string{expiring, active} {
			c := k.get(t, id)
			if c.str("ends_on") != "2026-12-31" {
				t.Errorf("contract %s ends %s, want 2026-12-31", id, c.str("ends_on"))
			}
			if rec := renewal(t, c); rec["stage"] != models.StageUntouched {
				t.Errorf("contract %s's record after the co-term: %v, want a fresh untouched one", id, rec)
			}
		}
		if rec := renewal(t, k.get(t, expiring)); rec["owner"] != k.rs.email {
			t.Errorf("the owner was not carried over: %v", rec)
		}
		for id, ends := range map[string]string{later: "2027-06-30", lapsed: "2026-01-31", elsewhere: "2026-04-30"} {
			if c := k.get(t, id); c.str("ends_on") != ends {
				t.Errorf("contract %s ends %s after the co-term, want %s (left alone)", id, c.str("ends_on"), ends)
			}
		}
		letters := a.letters(t, "coterm_confirmation", contact)
		if len(letters) != 1 || !strings.Contains(letters[0].Text, "2026-12-31") || !strings.Contains(letters[0].Text, lics[0]["license_number"].(string)) ||
			strings.Contains(letters[0].Text, lics[2]["license_number"].(string)) {
			t.Errorf("co-term letters: %+v, want one naming the two contracts", letters)
		}
		// Again: nothing ends before the date any more, so nothing changes and no letter goes.
		r = a.do(t, "POST", path, k.rs.token, map[string]any{"ends_on": "2026-12-31"})
		want(t, r, http.StatusOK)
		if n := len(r.body["contracts"].([]any)); n != 0 {
			t.Errorf("a second co-term changed %d contracts", n)
		}
		if n := len(a.letters(t, "coterm_confirmation", contact)); n != 1 {
			t.Errorf("%d co-term letters after a co-term that changed nothing, want 1", n)
		}
	})
}

// An order's support.value is the new term's renewal value, through the API; a malformed one is
// refused with the order's field named.
func TestPipeline_OrderValueIsTheRenewalValue(t *testing.T) {
	eachDialect(t, func(t *testing.T, a *testApp) {
		k := newPipelineDesk(t, a)
		id, _, _ := a.contractOrder(t, k.ops, k.sku, "Valued Ltd", "Val Ue", map[string]any{"program": "standard", "starts_on": "2026-01-01",
			"ends_on": "2026-12-31", "value": map[string]any{"amount": "12000.00", "currency": "EUR"}})
		v, _ := renewal(t, k.get(t, id))["value"].(map[string]any)
		if v["amount"] != "12000.00" || v["currency"] != "EUR" {
			t.Fatalf("the renewal value of a contract ordered with 12000.00 EUR: %v", v)
		}
		body, _ := a.Order(map[string]any{"sku": k.sku, "quantity": 1, "kind": "perpetual",
			"support": map[string]any{"program": "standard", "ends_on": "2026-12-31", "value": map[string]any{"amount": "12", "currency": "euro"}}})
		r := a.do(t, "POST", "/v1/orders", k.ops, body)
		want(t, r, http.StatusBadRequest, models.CodeValidation)
		if len(r.fields()) == 0 {
			t.Errorf("a malformed value names no field: %s", r)
		}
	})
}
