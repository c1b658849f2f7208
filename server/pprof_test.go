package main

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// The profiler is off unless asked for, listens only on loopback, and serves on its own address.
func TestPprof_LoopbackOnlyAndApartFromTheAPI(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:6060", ":6060", "10.0.0.1:6060", "localhost"} {
		if _, _, err := loadConfig("serve", nil, []string{"ENTITLED_PPROF_ADDR=" + addr}); err == nil || !strings.Contains(err.Error(), "ENTITLED_PPROF_ADDR") {
			t.Errorf("ENTITLED_PPROF_ADDR=%s: %v, want refused", addr, err)
		}
	}
	cfg, _, err := loadConfig("serve", nil, nil)
	if err != nil || cfg.PprofAddr != "" {
		t.Fatalf("default: %q, %v; want off", cfg.PprofAddr, err)
	}
	addr := freeAddr(t)
	if cfg, _, err = loadConfig("serve", nil, []string{"ENTITLED_PPROF_ADDR=" + addr}); err != nil {
		t.Fatal(err)
	}
	stop, err := servePprof(cfg.PprofAddr, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	res, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Fatalf("profiler answered %d %.100s", res.StatusCode, body)
	}
}
