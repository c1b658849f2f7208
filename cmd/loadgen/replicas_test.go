package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// With replicas, the scenario's requests (built for the first server) go to each server in turn.
func TestFleetRoundRobin(t *testing.T) {
	f := fleet{{base: "http://127.0.0.1:1001"}, {base: "http://127.0.0.1:1002"}, {base: "http://127.0.0.1:1003"}}
	s := &scenario{name: "check", next: func() (*http.Request, bool) {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:1001/v1/x?y=1", nil)
		return req, true
	}}
	rr := f.roundRobin(s)
	var got []string
	for range 6 {
		req, ok := rr.next()
		if !ok || req.URL.Path != "/v1/x" || req.URL.RawQuery != "y=1" || req.Host != req.URL.Host {
			t.Fatalf("request %v", req)
		}
		got = append(got, strings.TrimPrefix(req.URL.Host, "127.0.0.1:"))
	}
	if strings.Join(got, ",") != "1001,1002,1003,1001,1002,1003" {
		t.Errorf("hosts %v, want each replica in turn", got)
	}
	if one := (fleet{f[0]}).roundRobin(s); one != s {
		t.Error("one server: the scenario should be left as it is")
	}
}

func TestCPUNote(t *testing.T) {
	before := []time.Duration{time.Second, 2 * time.Second}
	after := []time.Duration{3 * time.Second, 2500 * time.Millisecond}
	if got := cpuNote(before, after); got != "server CPU by replica: 2.00s, 0.50s" {
		t.Errorf("cpuNote = %q", got)
	}
	if cpuNote(before[:1], after[:1]) != "" {
		t.Error("one server needs no note")
	}
}

func TestParseOptions_Replicas(t *testing.T) {
	pg := "postgres://postgres@127.0.0.1:5432/postgres"
	if o, err := parseOptions([]string{"--replicas", "3", "--database-url", pg}, &strings.Builder{}); err != nil || o.replicas != 3 {
		t.Errorf("--replicas 3 on PostgreSQL: %+v, %v", o.replicas, err)
	}
	for _, bad := range [][]string{{"--replicas", "3"}, {"--replicas", "0", "--database-url", pg}} {
		if _, err := parseOptions(bad, &strings.Builder{}); err == nil {
			t.Errorf("%q: accepted", bad)
		}
	}
}
