package models_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"entitled/models"
)

// Amounts are decimal strings with exactly two decimals, held as hundredths; currencies are
// three upper-case letters.
func TestCheckMoney(t *testing.T) {
	for _, tt := range []struct {
		amount, currency string
		minor            int64
		ok               bool
	}{
		{"12000.00", "EUR", 1200000, true},
		{"0.05", "USD", 5, true},
		{"0.00", "JPY", 0, true},
		{"9999999999999.99", "EUR", 999999999999999, true},
		{"12000", "EUR", 0, false},
		{"12000.0", "EUR", 0, false},
		{"12000.000", "EUR", 0, false},
		{"012.00", "EUR", 0, false},
		{"-1.00", "EUR", 0, false},
		{"+1.00", "EUR", 0, false},
		{"1,000.00", "EUR", 0, false},
		{" 1.00", "EUR", 0, false},
		{"10000000000000.00", "EUR", 0, false},
		{"1.00", "eur", 0, false},
		{"1.00", "EU", 0, false},
		{"1.00", "EURO", 0, false},
		{"1.00", "", 0, false},
	} {
		var v models.Validation
		m, ok := models.CheckMoney(&v, "value", models.MoneyInput{Amount: tt.amount, Currency: tt.currency})
		if ok != tt.ok || (ok && (m.Minor != tt.minor || m.Amount() != tt.amount)) {
			t.Errorf("CheckMoney(%q, %q) = %+v, %v (%v); want %d, %v", tt.amount, tt.currency, m, ok, v.Fields, tt.minor, tt.ok)
		}
	}
}

// A contract that lapsed reads lost unless staff chose its stage after its last covered day
// (ends_on, or grace_until when grace was granted); a closed (renewed) record keeps its stage.
func TestEffectiveStage(t *testing.T) {
	d := func(s string) models.Date {
		v, err := models.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	c := &models.Contract{Program: models.ProgramStandard, StartsOn: d("2025-07-01"), EndsOn: d("2026-06-30")}
	graced := *c
	graced.GraceUntil = d("2026-07-31")
	closed := time.Now()
	for _, tt := range []struct {
		name     string
		c        *models.Contract
		stage    string
		setOn    string
		closedAt *time.Time
		today    string
		want     string
	}{
		{"covered, last day", c, models.StageQuoted, "2026-06-01", nil, "2026-06-30", models.StageQuoted},
		{"first day of the lapse", c, models.StageQuoted, "2026-06-01", nil, "2026-07-01", models.StageLost},
		{"never set", c, "", "", nil, "2026-07-01", models.StageLost},
		{"set on the last covered day", c, models.StageCommitted, "2026-06-30", nil, "2026-07-05", models.StageLost},
		{"set after the lapse", c, models.StageContacted, "2026-07-01", nil, "2026-07-05", models.StageContacted},
		{"in grace", &graced, models.StageQuoted, "2026-06-01", nil, "2026-07-31", models.StageQuoted},
		{"grace ran out", &graced, models.StageQuoted, "2026-07-15", nil, "2026-08-01", models.StageLost},
		{"closed as won", c, models.StageWon, "", &closed, "2026-08-01", models.StageWon},
	} {
		r := &models.RenewalRecord{Stage: tt.stage, ClosedAt: tt.closedAt}
		if tt.setOn != "" {
			r.StageSetOn = d(tt.setOn)
		}
		if got := models.EffectiveStage(r, tt.c, d(tt.today), 90); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

// Staff choose every stage but won, which follows a recorded renewal; the patch refuses won.
func TestSettableStages_AllButWon(t *testing.T) {
	got := models.SettableStages()
	want := slices.DeleteFunc(models.RenewalStages(), func(s string) bool { return s == models.StageWon })
	if !slices.Equal(got, want) || slices.Contains(got, models.StageWon) || len(got) != len(models.RenewalStages())-1 {
		t.Fatalf("models.SettableStages() = %v, want %v", got, want)
	}
	patch := func(stage string) error {
		_, err := models.ParseRenewalPatch(map[string]json.RawMessage{"stage": json.RawMessage(`"` + stage + `"`)}, "", false)
		return err
	}
	if err := patch(models.StageWon); err == nil {
		t.Errorf("a patch to won is accepted")
	}
	for _, s := range got {
		if err := patch(s); err != nil {
			t.Errorf("a patch to %s: %v", s, err)
		}
	}
}
