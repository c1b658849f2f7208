package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// percentile is the nearest-rank q-quantile (0 < q ≤ 1) of sorted durations: the smallest value
// that at least q of the samples do not exceed. An empty slice has none (0).
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// result is what one scenario measured, or why it was not run.
type result struct {
	Name     string
	Skipped  string // "not built yet", or why the scenario could not run; the row says only this
	Requests int    // answered within the measured window
	Errors   int    // of those, non-2xx answers and transport errors
	Elapsed  time.Duration
	P50, P99 time.Duration
	Note     string // e.g. "pool ran out after 4.1s"

	// ServerCPU is the CPU time the server used during the measured window (0: not measured).
	ServerCPU time.Duration

	HasRSS          bool
	RSSStart        int64 // server VmRSS in bytes, before the warm-up
	RSSEnd          int64 // after the measured window
	RSSPeak         int64 // largest sample taken during the scenario
	FirstErrorLines []string
}

// summarize sorts the latencies and fills the request count, rate and percentiles.
func (r *result) summarize(lat []time.Duration, elapsed time.Duration) {
	slices.Sort(lat)
	r.Requests = len(lat)
	r.Elapsed = elapsed
	r.P50 = percentile(lat, 0.50)
	r.P99 = percentile(lat, 0.99)
}

// RPS is the completed requests per second of the measured window (errors included: a closed-loop
// client waits for them just the same).
func (r result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// CPUPerRequest is the server's CPU time per answered request in the window: a cost that, unlike
// req/s, hardly moves when other work shares the machine.
func (r result) CPUPerRequest() time.Duration {
	if r.ServerCPU <= 0 || r.Requests == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.Requests)
}

func fmtMs(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// formatTable renders the results as one aligned table: the scenario name on the left, figures
// right-aligned. baseline is the bare-Gin req/s; each row's ratio is its req/s divided by it ("-"
// when there is no baseline). A skipped row shows only why. Notes follow the table.
func formatTable(rows []result, baseline float64) string {
	baselines := make([]float64, len(rows))
	for i := range baselines {
		baselines[i] = baseline
	}
	return formatRows(rows, baselines)
}

// formatRows is formatTable with a baseline for each row.
func formatRows(rows []result, baselines []float64) string {
	header := []string{"scenario", "req/s", "p50", "p99", "errors", "× bare gin", "CPU/req", "server RSS MiB start → end (peak)"}
	cells := [][]string{header}
	for i, r := range rows {
		if r.Skipped != "" {
			cells = append(cells, []string{r.Name, r.Skipped})
			continue
		}
		ratio := "-"
		if baselines[i] > 0 {
			ratio = fmt.Sprintf("%.3f", r.RPS()/baselines[i])
		}
		errs := fmt.Sprintf("%d", r.Errors)
		if r.Errors > 0 && r.Requests > 0 {
			errs = fmt.Sprintf("%d (%.1f%%)", r.Errors, 100*float64(r.Errors)/float64(r.Requests))
		}
		cpu := fmtCPU(r.CPUPerRequest())
		rss := "-"
		if r.HasRSS {
			rss = fmt.Sprintf("%s → %s (%s)", fmtMiB(r.RSSStart), fmtMiB(r.RSSEnd), fmtMiB(r.RSSPeak))
		}
		cells = append(cells, []string{r.Name, fmt.Sprintf("%.0f", r.RPS()), fmtMs(r.P50), fmtMs(r.P99), errs, ratio, cpu, rss})
	}
	return alignTable(cells) + tableNotes(rows, func(r result) (string, string) { return r.Name, r.Note })
}

// alignTable renders rows of cells with the first column left-aligned and the others
// right-aligned; a row shorter than the first (the header) is a skipped scenario's reason, which
// spans the figures left-aligned and widens none of them.
func alignTable(cells [][]string) string {
	width := make([]int, len(cells[0]))
	for _, row := range cells {
		if len(row) < len(width) {
			continue
		}
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, row := range cells {
		var line strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", max(width[i]-utf8.RuneCountInString(c), 0))
			switch {
			case i == 0:
				line.WriteString(c + pad)
			case len(row) < len(width):
				line.WriteString("  " + c)
			default:
				line.WriteString("  " + pad + c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	return b.String()
}

// tableNotes are the lines under a table, "note: <scenario>: <note>", of the rows with a note.
func tableNotes[R any](rows []R, note func(R) (name, note string)) string {
	var b strings.Builder
	for _, r := range rows {
		if name, n := note(r); n != "" {
			fmt.Fprintf(&b, "note: %s: %s\n", name, n)
		}
	}
	return b.String()
}

// joinNotes is a row's note with another appended, "; " between them when both say something.
func joinNotes(note, more string) string {
	if note == "" || more == "" {
		return note + more
	}
	return note + "; " + more
}

// pairedResult is one run of a scenario and the bare Gin run just before it.
type pairedResult struct{ bare, scenario result }

// ratio is the scenario's req/s over bare Gin's in the same pair.
func (p pairedResult) ratio() float64 {
	if p.bare.RPS() <= 0 {
		return 0
	}
	return p.scenario.RPS() / p.bare.RPS()
}

// cpuRatio is bare Gin's CPU per request over the scenario's: on a machine others share, a
// steadier figure of the same thing as ratio (how much more a request here costs than bare Gin's).
func (p pairedResult) cpuRatio() float64 {
	b, s := p.bare.CPUPerRequest(), p.scenario.CPUPerRequest()
	if b <= 0 || s <= 0 {
		return 0
	}
	return float64(b) / float64(s)
}

// median is the middle of xs (the lower middle of an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

func medianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

func fmtCPU(c time.Duration) string {
	switch {
	case c >= 10*time.Millisecond:
		return fmtMs(c)
	case c > 0:
		return fmt.Sprintf("%d µs", c.Microseconds())
	}
	return "-"
}

// formatPairedTable is one row per scenario, the medians over its rounds: req/s, the throughput
// ratio to the bare Gin run before each (and its spread), the CPU per request of both and their
// ratio, p50 and p99, and the errors of every round.
func formatPairedTable(order []string, pairs map[string][]pairedResult) string {
	cells := [][]string{{"scenario", "rounds", "req/s", "× bare gin (min–max)", "CPU/req", "bare gin CPU/req", "CPU × bare gin", "p50", "p99", "errors"}}
	var notes []result
	for _, name := range order {
		ps := pairs[name]
		if len(ps) == 0 {
			continue
		}
		if ps[0].scenario.Skipped != "" {
			cells = append(cells, []string{name, ps[0].scenario.Skipped})
			continue
		}
		var rps, ratio, cpuRatio []float64
		var cpu, bareCPU, p50, p99 []time.Duration
		errs := 0
		for _, p := range ps {
			rps, ratio, cpuRatio = append(rps, p.scenario.RPS()), append(ratio, p.ratio()), append(cpuRatio, p.cpuRatio())
			cpu, bareCPU = append(cpu, p.scenario.CPUPerRequest()), append(bareCPU, p.bare.CPUPerRequest())
			p50, p99 = append(p50, p.scenario.P50), append(p99, p.scenario.P99)
			errs += p.scenario.Errors
			if p.scenario.Note != "" {
				notes = append(notes, result{Name: name, Note: p.scenario.Note})
			}
		}
		cells = append(cells, []string{name, fmt.Sprint(len(ps)), fmt.Sprintf("%.0f", median(rps)),
			fmt.Sprintf("%.3f (%.3f–%.3f)", median(ratio), slices.Min(ratio), slices.Max(ratio)),
			fmtCPU(medianDuration(cpu)), fmtCPU(medianDuration(bareCPU)), fmt.Sprintf("%.3f", median(cpuRatio)),
			fmtMs(medianDuration(p50)), fmtMs(medianDuration(p99)), fmt.Sprint(errs)})
	}
	return alignTable(cells) + tableNotes(notes, func(r result) (string, string) { return r.Name, r.Note })
}

// formatRuns is every run in the order it ran (pairs: bare Gin, then a scenario), each
// scenario's ratio against the bare Gin run just before it.
func formatRuns(rows []result) string {
	baselines := make([]float64, len(rows))
	for i := range rows {
		baselines[i] = rows[i-i%2].RPS()
	}
	return formatRows(rows, baselines)
}
