package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func TestPercentile_NearestRank(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(float64(i + 1)) // 1 ms … 100 ms
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"no samples", nil, 0.5, 0},
		{"one sample is every percentile", []time.Duration{ms(7)}, 0.99, ms(7)},
		{"median of an odd count is the middle", []time.Duration{ms(1), ms(2), ms(3)}, 0.5, ms(2)},
		{"median of an even count is the lower middle", []time.Duration{ms(1), ms(2), ms(3), ms(4)}, 0.5, ms(2)},
		{"p50 of 1..100", hundred, 0.50, ms(50)},
		{"p99 of 1..100", hundred, 0.99, ms(99)},
		{"p100 is the largest", hundred, 1, ms(100)},
		{"a tiny q is the smallest", hundred, 0.0001, ms(1)},
		{"p99 of two samples is the slower", []time.Duration{ms(1), ms(9)}, 0.99, ms(9)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("percentile(q=%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestSummarize_SortsAndRates(t *testing.T) {
	var r result
	lat := []time.Duration{ms(9), ms(1), ms(5), ms(3), ms(7)}
	r.summarize(lat, 2*time.Second)
	if !slices.IsSorted(lat) {
		t.Errorf("latencies not sorted: %v", lat)
	}
	if r.Requests != 5 || r.P50 != ms(5) || r.P99 != ms(9) {
		t.Errorf("summary = %d requests, p50 %v, p99 %v", r.Requests, r.P50, r.P99)
	}
	if got := r.RPS(); got != 2.5 {
		t.Errorf("RPS = %v, want 2.5", got)
	}
	if got := (result{Requests: 10}).RPS(); got != 0 {
		t.Errorf("RPS with no window = %v, want 0", got)
	}
}

func TestFormatTable_RatiosSkipsAndNotes(t *testing.T) {
	rows := []result{
		{Name: "bare gin", Requests: 40000, Elapsed: 2 * time.Second, P50: ms(1.2), P99: ms(4)},
		{Name: "check", Requests: 5000, Elapsed: 2 * time.Second, P50: ms(20), P99: ms(55.5), Errors: 25,
			ServerCPU: 3 * time.Second, HasRSS: true, RSSStart: 50 << 20, RSSEnd: 52 << 20, RSSPeak: 60 << 20},
		{Name: "token", Skipped: "not built yet"},
		{Name: "registration", Requests: 1000, Elapsed: 2 * time.Second, P50: ms(60), P99: ms(300), Note: "ordered 10 more"},
	}
	got := formatTable(rows, rows[0].RPS())
	want := strings.Join([]string{
		"scenario      req/s       p50        p99     errors  × bare gin  CPU/req  server RSS MiB start → end (peak)",
		"bare gin      20000   1.20 ms    4.00 ms          0       1.000        -                                  -",
		"check          2500  20.00 ms   55.50 ms  25 (0.5%)       0.125   600 µs                 50.0 → 52.0 (60.0)",
		"token         not built yet",
		"registration    500  60.00 ms  300.00 ms          0       0.025        -                                  -",
		"note: registration: ordered 10 more",
		"",
	}, "\n")
	if got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
	slow := result{Name: "login", Requests: 100, Elapsed: time.Second, ServerCPU: 4 * time.Second}
	if !strings.Contains(formatTable([]result{slow}, 0), "40.00 ms") {
		t.Errorf("a CPU cost of 40 ms per request should be shown in ms:\n%s", formatTable([]result{slow}, 0))
	}
	if strings.Contains(formatTable(rows[1:2], 0), "0.125") {
		t.Error("with no baseline the ratio should be -")
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tentitled\nVmPeak:\t 1000 kB\nVmRSS:\t   61234 kB\nThreads:\t9\n"
	got, err := parseVmRSS(strings.NewReader(status))
	if err != nil || got != 61234*1024 {
		t.Errorf("parseVmRSS = %d, %v; want %d", got, err, 61234*1024)
	}
	if _, err := parseVmRSS(strings.NewReader("Name:\tx\n")); err == nil {
		t.Error("a status without VmRSS should be an error")
	}
}

func TestParseStatCPU_CountsFieldsAfterTheName(t *testing.T) {
	// The command name may hold spaces and parentheses; utime 250 and stime 50 ticks = 3 s.
	stat := "4242 (entitled (x) y) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 9 0 1234 2258320 17000"
	got, err := parseStatCPU(stat)
	if err != nil || got != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	if _, err := parseStatCPU("4242 (entitled) S 1"); err == nil {
		t.Error("a short stat line should be an error")
	}
}

func TestVerifyToken_QuotedPrintableMultipart(t *testing.T) {
	// As go-mail writes a letter: multipart/alternative, quoted-printable, "=" encoded as =3D and
	// a soft line break inside the link.
	eml := "From: entitled <no-reply@localhost>\r\n" +
		"To: \"Load User\" <user1-abc@loadgen.test>\r\n" +
		"Subject: Verify your email\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/alternative; boundary=b1\r\n" +
		"\r\n" +
		"--b1\r\n" +
		"Content-Type: text/plain; charset=UTF-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n" +
		"\r\n" +
		"Open http://127.0.0.1:9/verify?token=3DAbC-123_x=\r\nyz to verify.\r\n" +
		"--b1\r\n" +
		"Content-Type: text/html; charset=UTF-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n" +
		"\r\n" +
		"<a href=3D\"http://127.0.0.1:9/verify?token=3DAbC-123_xyz\">verify</a>\r\n" +
		"--b1--\r\n"
	to, tok, err := verifyToken([]byte(eml))
	if err != nil {
		t.Fatal(err)
	}
	if len(to) != 1 || to[0] != "user1-abc@loadgen.test" || tok != "AbC-123_xyz" {
		t.Errorf("verifyToken = %v, %q", to, tok)
	}
	_, tok, err = verifyToken([]byte("To: a@b.test\r\nContent-Type: text/plain\r\n\r\nno link here\r\n"))
	if err != nil || tok != "" {
		t.Errorf("a letter without a link gave %q, %v", tok, err)
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"--scenarios", "check, support", "--duration", "3s"}, new(strings.Builder))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.scenarios, []string{"check", "support"}) || o.duration != 3*time.Second || o.connections != 64 {
		t.Errorf("options = %+v", o)
	}
	for _, bad := range [][]string{{"--scenarios", "chek"}, {"--connections", "0"}, {"--database-url", "mysql://x"}, {"extra"}} {
		if _, err := parseOptions(bad, new(strings.Builder)); err == nil {
			t.Errorf("parseOptions(%q) accepted", bad)
		}
	}
}

// Each scenario's ratio is taken against the bare Gin run just before it, and the table shows
// the median of the rounds with their spread: a machine that slows down in one round moves that
// round's bare Gin run too, not the others'.
func TestPairedTable_MedianOfRatiosAgainstTheRunBefore(t *testing.T) {
	run := func(name string, rps float64, cpuPerReq time.Duration) result {
		n := int(rps)
		return result{Name: name, Requests: n, Elapsed: time.Second, ServerCPU: cpuPerReq * time.Duration(n)}
	}
	pairs := map[string][]pairedResult{"check": {
		{bare: run("bare gin", 20000, 20*time.Microsecond), scenario: run("check", 10000, 60*time.Microsecond)}, // 0.5
		{bare: run("bare gin", 10000, 20*time.Microsecond), scenario: run("check", 6000, 50*time.Microsecond)},  // 0.6: a slow round, both slow
		{bare: run("bare gin", 20000, 20*time.Microsecond), scenario: run("check", 14000, 40*time.Microsecond)}, // 0.7
	}}
	table := formatPairedTable([]string{"check"}, pairs)
	for _, want := range []string{"0.600 (0.500–0.700)", "50 µs", "20 µs", "0.400"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table lacks %q:\n%s", want, table)
		}
	}
	if got := median([]float64{3, 1, 2, 4}); got != 2 {
		t.Errorf("median of 1..4 = %v, want the lower middle 2", got)
	}
}
