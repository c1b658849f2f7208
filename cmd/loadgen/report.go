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
	header := []string{"scenario", "req/s", "p50", "p99", "errors", "× bare gin", "CPU/req", "server RSS MiB start → end (peak)"}
	cells := [][]string{header}
	for _, r := range rows {
		if r.Skipped != "" {
			cells = append(cells, []string{r.Name, r.Skipped})
			continue
		}
		ratio := "-"
		if baseline > 0 {
			ratio = fmt.Sprintf("%.3f", r.RPS()/baseline)
		}
		errs := fmt.Sprintf("%d", r.Errors)
		if r.Errors > 0 && r.Requests > 0 {
			errs = fmt.Sprintf("%d (%.1f%%)", r.Errors, 100*float64(r.Errors)/float64(r.Requests))
		}
		cpu := "-"
		if c := r.CPUPerRequest(); c >= 10*time.Millisecond {
			cpu = fmtMs(c)
		} else if c > 0 {
			cpu = fmt.Sprintf("%d µs", c.Microseconds())
		}
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
