package pages

// The dashboard's forecast chart: stacked bars of what is due per month by stage — the number of
// contracts, and their value in each currency — drawn on the server as SVG from
// Contracts.Forecast (the numbers of GET /v1/renewals/forecast), so that it needs no script. Each
// chart has a legend and a table of its numbers, its text equivalent.

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"entitled/models"
)

// The chart's drawing area, in the SVG's own units (its viewBox); CSS scales it to the page.
const (
	chartW, chartH      = 720.0, 250.0
	plotLeft, plotRight = 64.0, 712.0
	plotTop, plotBottom = 14.0, 204.0
	chartTicks          = 4
	chartBarShare       = 0.62 // of a month's slot
	chartTickPadY       = 4.0
)

type chartBar struct {
	X, Y, W, H string
	Class      string
	Title      string
}

type chartTick struct {
	Y, TextY, Label string
}

type chartMonth struct {
	X, Label, Year string
}

type legendItem struct {
	Class, Label string
}

type chartRow struct {
	Month string
	Cells []string
}

// chart is one chart and its text equivalent.
type chart struct {
	ID, Title, Caption string
	Bars               []chartBar
	Ticks              []chartTick
	Months             []chartMonth
	Legend             []legendItem
	Head               []string // the table's columns after Month
	Rows               []chartRow
	Empty              bool // nothing is due in any month
	W, H, PlotLeft     string
	PlotRight, Bottom  string
}

// forecastCharts are the count chart and one value chart per currency, in currency order.
func forecastCharts(f *models.Forecast) []chart {
	stages := models.RenewalStages()
	count := newChart("chart-count", "Contracts due per month, by stage",
		"The number of contracts whose current term ends in each month, stacked by the stage of their renewal.", stages, "Due")
	stacks := make([][]float64, len(f.Months))
	for i, m := range f.Months {
		cells := []string{strconv.Itoa(m.Due)}
		for _, s := range stages {
			stacks[i] = append(stacks[i], float64(m.ByStage[s]))
			cells = append(cells, strconv.Itoa(m.ByStage[s]))
		}
		count.Rows = append(count.Rows, chartRow{Month: m.Month, Cells: cells})
	}
	count.draw(f.Months, stacks, stages, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }, true, "contracts")
	out := []chart{count}

	var currencies []string
	for _, m := range f.Months {
		for _, v := range m.Values {
			if !slices.Contains(currencies, v.Currency) {
				currencies = append(currencies, v.Currency)
			}
		}
	}
	slices.Sort(currencies)
	for _, cur := range currencies {
		ch := newChart("chart-value-"+cur, "Value due per month in "+cur+", by stage",
			"The value of the contracts due in each month that have one in "+cur+", stacked by stage.", stages, "Total ("+cur+")")
		stacks := make([][]float64, len(f.Months))
		for i, m := range f.Months {
			var val models.ForecastValue
			for _, v := range m.Values {
				if v.Currency == cur {
					val = v
				}
			}
			cells := []string{models.Money{Minor: val.Minor}.Amount()}
			for _, s := range stages {
				stacks[i] = append(stacks[i], float64(val.ByStage[s])/100)
				cells = append(cells, models.Money{Minor: val.ByStage[s]}.Amount())
			}
			ch.Rows = append(ch.Rows, chartRow{Month: m.Month, Cells: cells})
		}
		ch.draw(f.Months, stacks, stages, compactNumber, false, cur)
		out = append(out, ch)
	}
	return out
}

func newChart(id, title, caption string, stages []string, total string) chart {
	c := chart{ID: id, Title: title, Caption: caption, Head: []string{total},
		W: fnum(chartW), H: fnum(chartH), PlotLeft: fnum(plotLeft), PlotRight: fnum(plotRight), Bottom: fnum(plotBottom)}
	for _, s := range stages {
		c.Legend = append(c.Legend, legendItem{Class: "st-" + s, Label: stageWord(s)})
		c.Head = append(c.Head, stageWord(s))
	}
	return c
}

// draw lays out the stacked bars (stacks[month][stage], in units) with a y axis of chartTicks
// round steps.
func (c *chart) draw(months []models.ForecastMonth, stacks [][]float64, stages []string, label func(float64) string, whole bool, unit string) {
	top := 0.0
	for _, st := range stacks {
		sum := 0.0
		for _, v := range st {
			sum += v
		}
		top = math.Max(top, sum)
	}
	c.Empty = top == 0
	step := niceStep(top/chartTicks, whole)
	scale := (plotBottom - plotTop) / (step * chartTicks)
	for k := 0; k <= chartTicks; k++ {
		y := plotBottom - float64(k)*step*scale
		c.Ticks = append(c.Ticks, chartTick{Y: fnum(y), TextY: fnum(y + chartTickPadY), Label: label(float64(k) * step)})
	}
	if len(months) == 0 {
		return
	}
	slot := (plotRight - plotLeft) / float64(len(months))
	w := slot * chartBarShare
	for i, m := range months {
		x := plotLeft + float64(i)*slot + (slot-w)/2
		y := plotBottom
		for j, v := range stacks[i] {
			if v <= 0 {
				continue
			}
			h := v * scale
			y -= h
			c.Bars = append(c.Bars, chartBar{X: fnum(x), Y: fnum(y), W: fnum(w), H: fnum(h), Class: "st-" + stages[j],
				Title: fmt.Sprintf("%s, %s: %s %s", m.Month, stages[j], label(v), unit)})
		}
		cm := chartMonth{X: fnum(x + w/2), Label: m.Month}
		if t, err := time.Parse("2006-01", m.Month); err == nil {
			cm.Label = t.Format("Jan")
			if i == 0 || t.Month() == time.January {
				cm.Year = t.Format("2006")
			}
		}
		c.Months = append(c.Months, cm)
	}
}

// niceStep is the smallest of 1, 2, 2.5 or 5 times a power of ten at or above raw (whole
// numbers only for counts); 1 for nothing.
func niceStep(raw float64, whole bool) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		if s := f * p; s >= raw-1e-9 && (!whole || s == math.Trunc(s)) {
			return s
		}
	}
	return 10 * p
}

// compactNumber writes an axis label: 950, 12k, 1.5M.
func compactNumber(v float64) string {
	switch {
	case v >= 1e9:
		return trimZero(v/1e9) + "G"
	case v >= 1e6:
		return trimZero(v/1e6) + "M"
	case v >= 1e3:
		return trimZero(v/1e3) + "k"
	}
	return trimZero(v)
}

func trimZero(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(strconv.FormatFloat(v, 'f', 2, 64), "0"), ".")
}

func fnum(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// historyRow is a past month's renewal rate in words.
type historyRow struct {
	Month                string
	Due, Renewed, Lapsed int
	Rate                 string
}

func historyRows(h []models.HistoryMonth) []historyRow {
	out := make([]historyRow, 0, len(h))
	for _, m := range h {
		r := historyRow{Month: m.Month, Due: m.Due, Renewed: m.Renewed, Lapsed: m.Lapsed, Rate: "—"}
		if m.Rate != nil {
			r.Rate = strconv.FormatFloat(*m.Rate*100, 'f', 0, 64) + "%"
		}
		out = append(out, r)
	}
	return out
}
