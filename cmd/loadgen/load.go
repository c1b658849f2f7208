package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// newClient is the one client every target is driven with: keep-alive, enough idle connections
// per host that none of the workers ever opens a new one after the warm-up, no compression, and
// a dialer that refuses anything but loopback.
func newClient(connections int, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
					return nil, fmt.Errorf("loadgen drives loopback addresses only, not %s", addr)
				}
				return dialer.DialContext(ctx, network, addr)
			},
			MaxIdleConns:        2 * connections,
			MaxIdleConnsPerHost: 2 * connections,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// errorLog keeps the first few failed answers of a scenario, to print under the table.
type errorLog struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (e *errorLog) add(phase, line string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.lines) < e.max {
		e.lines = append(e.lines, phase+": "+line)
	}
}

func (e *errorLog) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.lines...)
}

// phaseResult is one closed-loop run of a scenario: the latencies of the requests that started
// and finished inside the window, how many of those failed, and how long the window was.
type phaseResult struct {
	lat     []time.Duration
	errors  int
	elapsed time.Duration
	ranOut  bool // the scenario had nothing left to send (a used-up pool) before the window closed
}

// next builds the scenario's next request; false means there is nothing left to send.
type nextFunc func() (*http.Request, bool)

// runPhase drives the target for d with conns closed-loop workers: each sends a request, waits
// for the whole answer, and sends the next. A request counts when it finished inside the window;
// one in flight at the end is waited for but not counted. Any answer outside 2xx is an error.
func runPhase(ctx context.Context, client *http.Client, conns int, d time.Duration, next nextFunc, phase string, errs *errorLog) phaseResult {
	start := time.Now()
	deadline := start.Add(d)
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		ranOut   atomic.Int64 // UnixNano when the first worker found nothing left to send
		perW     = make([][]time.Duration, conns)
	)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			var body bytes.Buffer
			for ctx.Err() == nil && time.Now().Before(deadline) {
				req, ok := next()
				if !ok {
					ranOut.CompareAndSwap(0, time.Now().UnixNano())
					break
				}
				t0 := time.Now()
				res, err := client.Do(req)
				status := 0
				body.Reset()
				if err == nil {
					status = res.StatusCode
					_, err = io.Copy(&body, res.Body)
					res.Body.Close()
				}
				t1 := time.Now()
				if t1.After(deadline) {
					break
				}
				lat = append(lat, t1.Sub(t0))
				if err != nil || status < 200 || status > 299 {
					failures.Add(1)
					errs.add(phase, describeFailure(req, status, body.Bytes(), err))
				}
			}
			perW[w] = lat
		}()
	}
	wg.Wait()
	end := time.Now()
	if end.After(deadline) {
		end = deadline
	}
	out := phaseResult{errors: int(failures.Load())}
	if at := ranOut.Load(); at != 0 {
		out.ranOut = true
		end = time.Unix(0, at)
	}
	out.elapsed = end.Sub(start)
	n := 0
	for _, l := range perW {
		n += len(l)
	}
	out.lat = make([]time.Duration, 0, n)
	for _, l := range perW {
		out.lat = append(out.lat, l...)
	}
	return out
}

// describeFailure is one line about a failed request: what was asked and what came back.
func describeFailure(req *http.Request, status int, body []byte, err error) string {
	what := req.Method + " " + req.URL.RequestURI()
	if err != nil {
		return fmt.Sprintf("%s: %v", what, err)
	}
	b := strings.Join(strings.Fields(string(body)), " ")
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("%s: %d %s", what, status, b)
}
