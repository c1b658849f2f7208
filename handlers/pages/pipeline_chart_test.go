package pages

// The forecast chart's layout: round axis steps, and bars whose stacked heights are their
// numbers on the axis's scale.

import (
	"strconv"
	"testing"

	"entitled/models"
)

func TestNiceStep_RoundsUpToOneTwoOrFiveTimesAPowerOfTen(t *testing.T) {
	for _, tc := range []struct {
		raw   float64
		whole bool
		want  float64
	}{
		{0, true, 1}, {0.25, true, 1}, {1, true, 1}, {1.25, true, 2}, {2.2, true, 5}, {3000, false, 5000},
		{2400, false, 2500}, {2400, true, 2500}, {0.24, false, 0.25}, {7, true, 10}, {12, true, 20},
	} {
		if got := niceStep(tc.raw, tc.whole); got != tc.want {
			t.Errorf("niceStep(%v, %v) = %v, want %v", tc.raw, tc.whole, got, tc.want)
		}
	}
	for v, want := range map[float64]string{0: "0", 950: "950", 5000: "5k", 12500: "12.5k", 1_500_000: "1.5M", 2e9: "2G"} {
		if got := compactNumber(v); got != want {
			t.Errorf("compactNumber(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestForecastCharts_BarsStackEachMonthsNumbersByStage(t *testing.T) {
	may, june := models.NewForecastMonth("2026-05"), models.NewForecastMonth("2026-06")
	may.Due, may.ByStage[models.StageUntouched], may.ByStage[models.StageQuoted] = 3, 1, 2
	may.AddValue("EUR", models.StageQuoted, 1_200_000)
	june.Due, june.ByStage[models.StageContacted] = 1, 1
	june.AddValue("USD", models.StageContacted, 450_050)
	charts := forecastCharts(&models.Forecast{Months: []models.ForecastMonth{may, june}})
	if len(charts) != 3 || charts[0].ID != "chart-count" || charts[1].ID != "chart-value-EUR" || charts[2].ID != "chart-value-USD" {
		t.Fatalf("charts: %v, want the count, then EUR, then USD", charts)
	}
	count := charts[0]
	// Three contracts at most: an axis of 0..4 in steps of 1, over plotBottom-plotTop units.
	if len(count.Ticks) != chartTicks+1 || count.Ticks[chartTicks].Label != "4" {
		t.Errorf("count ticks: %+v", count.Ticks)
	}
	unit := (plotBottom - plotTop) / 4
	heights := map[string]float64{}
	for _, b := range count.Bars {
		h, _ := strconv.ParseFloat(b.H, 64)
		heights[b.Class+" "+b.Title[:7]] += h
	}
	for key, n := range map[string]float64{"st-untouched 2026-05": 1, "st-quoted 2026-05": 2, "st-contacted 2026-06": 1} {
		if got := heights[key]; got < n*unit-0.1 || got > n*unit+0.1 {
			t.Errorf("bar %s is %.1f high, want %.1f", key, got, n*unit)
		}
	}
	if len(count.Bars) != 3 {
		t.Errorf("%d bars, want one per stage with contracts: %+v", len(count.Bars), count.Bars)
	}
	if got := count.Rows[0].Cells; got[0] != "3" || got[1] != "1" || got[3] != "2" {
		t.Errorf("the count table's first row: %v", got)
	}
	if got := charts[2].Rows; got[0].Cells[0] != "0.00" || got[1].Cells[0] != "4500.50" || got[1].Cells[2] != "4500.50" {
		t.Errorf("the USD table: %+v", got)
	}
}
