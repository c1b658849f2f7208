package mailer_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"entitled/mailer"
)

// The renewal desk's letters say the license, product, program, end date, days left and how to
// renew, in both parts, with the link as a link.
func TestRenewalLettersRender(t *testing.T) {
	r := mustRenderer(t)
	link := testBaseURL + "/licenses/LN-7KQ2-M9XD-44TB-R1ZC"
	notice := mailer.RenewalNotice{ContractNotice: mailer.ContractNotice{Name: "Pat", AccountName: "Acme", AccountID: "4829173", LicenseNumber: "LN-7KQ2-M9XD-44TB-R1ZC",
		ProductName: "Widget Server", SKU: "WS-1", Program: "24x7", Premier: true, EndsOn: "2026-06-30", DaysLeft: 30, RenewURL: link}, OffsetDays: 30}
	tests := []struct {
		name    string
		msg     mailer.Message
		subject string
		text    []string
	}{
		{"renewal notice", notice, "Support for Widget Server ends in 30 days: LN-7KQ2-M9XD-44TB-R1ZC",
			[]string{"Hello Pat,", "LN-7KQ2-M9XD-44TB-R1ZC", "Widget Server (WS-1)", "24x7 with Premier", "Ends on         2026-06-30", "Days left       30", link}},
		{"renewal notice, last day", func() mailer.Message { n := notice; n.DaysLeft = 0; return n }(), "Support for Widget Server ends today: LN-7KQ2-M9XD-44TB-R1ZC",
			[]string{"Your support contract ends today, 2026-06-30:", "Days left       0"}},
		{"lapse notice after grace", mailer.LapseNotice{ContractNotice: mailer.ContractNotice{Name: "Pat", LicenseNumber: "LN-7KQ2-M9XD-44TB-R1ZC", ProductName: "Widget Server", Program: "standard",
			EndsOn: "2026-06-30", DaysLeft: -32, RenewURL: link}, GraceUntil: "2026-07-31"}, "Support for Widget Server has lapsed: LN-7KQ2-M9XD-44TB-R1ZC",
			[]string{"extended until 2026-07-31", "Ended on        2026-06-30", "Grace until     2026-07-31", "Days left       -32", "To renew, open", link}},
		{"lapse notice of a trial", mailer.LapseNotice{ContractNotice: mailer.ContractNotice{LicenseNumber: "LN-7KQ2-M9XD-44TB-R1ZC", ProductName: "Widget Server", Program: "standard",
			EndsOn: "2026-06-30", DaysLeft: -1, RenewURL: link}, Trial: true}, "Your Widget Server trial support has ended: LN-7KQ2-M9XD-44TB-R1ZC",
			[]string{"Hello,", "(trial)", "buy a license", link}},
		{"digest", mailer.RenewalDigest{Name: "Rene", Day: "2026-06-01", ExpiringCount: 3, ExpiringMore: 2, LapsedCount: 0, ListURL: testBaseURL + "/renewals",
			Expiring: []mailer.DigestLine{{ContractID: "12", LicenseNumber: "LN-7KQ2-M9XD-44TB-R1ZC", AccountName: "Acme", AccountID: "4829173",
				Contact: "Pat <pat@acme.test>", ProductName: "Widget Server", Program: "standard", EndsOn: "2026-06-05", DaysLeft: 4}}},
			"Renewals 2026-06-01: 3 expiring this week, 0 lapsed yesterday",
			[]string{"2026-06-05  4 day(s) left  LN-7KQ2-M9XD-44TB-R1ZC  contract 12", "Acme (Account ID 4829173), Widget Server, standard", "… and 2 more", "Lapsed yesterday:\n\n  none", testBaseURL + "/renewals"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := r.Render(tt.msg, []string{"pat@acme.test"}, []string{"admin@acme.test"})
			if err != nil {
				t.Fatal(err)
			}
			if l.Subject != tt.subject {
				t.Errorf("subject %q, want %q", l.Subject, tt.subject)
			}
			wantText(t, l, tt.text)
			if want := `href="` + tt.text[len(tt.text)-1] + `"`; strings.HasPrefix(tt.text[len(tt.text)-1], "http") && !strings.Contains(l.HTML, want) {
				t.Errorf("HTML lacks %s", want)
			}
		})
	}
}

// oneByOne is an inserter without InsertManyFastTx.
type oneByOne struct{ args []river.JobArgs }

func (o *oneByOne) InsertTx(_ context.Context, _ *sql.Tx, args river.JobArgs, _ *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	o.args = append(o.args, args)
	return &rivertype.JobInsertResult{}, nil
}

// QueueMany renders every letter in order, and inserts them one by one when the inserter cannot
// insert many at once; a bad address queues nothing; no transaction is refused.
func TestQueueMany(t *testing.T) {
	ins := &oneByOne{}
	o := mailer.NewOutbox(ins, mustRenderer(t))
	out := []mailer.Outgoing{
		{Message: mailer.RenewalNotice{ContractNotice: mailer.ContractNotice{LicenseNumber: "LN-1", RenewURL: testBaseURL}}, To: []string{"a@example.test"}},
		{Message: mailer.LapseNotice{ContractNotice: mailer.ContractNotice{LicenseNumber: "LN-2", RenewURL: testBaseURL}}, To: []string{"b@example.test"}, Cc: []string{"c@example.test"}},
		{Message: mailer.RenewalNotice{ContractNotice: mailer.ContractNotice{LicenseNumber: "LN-3", RenewURL: testBaseURL}}, To: []string{"d@example.test"}},
	}
	if _, err := o.QueueMany(context.Background(), nil, out); err == nil {
		t.Error("QueueMany without a transaction queued")
	}
	letters, err := o.QueueMany(context.Background(), &sql.Tx{}, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 3 || len(ins.args) != 3 {
		t.Fatalf("%d letters, %d inserts", len(letters), len(ins.args))
	}
	for i, want := range []string{"LN-1", "LN-2", "LN-3"} {
		if !strings.Contains(letters[i].Subject, want) || ins.args[i].(mailer.SendLetterArgs).Letter.MessageID != letters[i].MessageID {
			t.Errorf("letter %d: %q", i, letters[i].Subject)
		}
	}
	if letters[1].Cc[0] != "c@example.test" || letters[0].Kind != "renewal_notice" || letters[1].Kind != "lapse_notice" {
		t.Errorf("letters: %+v", letters[1])
	}
	bad := append(out, mailer.Outgoing{Message: mailer.RenewalNotice{}, To: []string{"not an address"}})
	ins.args = nil
	if _, err := o.QueueMany(context.Background(), &sql.Tx{}, bad); err == nil || len(ins.args) != 0 {
		t.Errorf("a bad address: %v, %d inserted", err, len(ins.args))
	}
}
