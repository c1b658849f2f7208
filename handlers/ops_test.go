package handlers

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"entitled/models"
	"entitled/models/store"
)

// /metrics counts requests by route template (never the raw path) and status.
func TestMetrics_CountRequestsByRouteTemplate(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	ops := a.newStaff(t, models.RoleOps).token
	a.do(t, "GET", "/v1/products/SOME-SKU", ops, nil)
	a.do(t, "GET", "/v1/no-such-route", "", nil)
	res, err := http.Get(a.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	text := string(b)
	for _, want := range []string{
		`entitled_http_requests_total{method="GET",route="/v1/products/:sku",status="404"} 1`,
		`entitled_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`entitled_http_request_duration_seconds_bucket{method="GET",route="/v1/products/:sku"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, "SOME-SKU") {
		t.Error("/metrics carries a raw path")
	}
}

// A chunked body (no Content-Length) is cut at the limit too, and answered 413.
func TestBodyLimit_ChunkedBodyIsCapped(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte(`{"token":"`))
		chunk := []byte(strings.Repeat("a", 64<<10))
		for i := 0; i < 20; i++ {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		_, _ = pw.Write([]byte(`"}`))
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", a.srv.URL+"/v1/auth/verify", pr)
	req.Header.Set("Content-Type", "application/json")
	res, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("chunked oversized body: %d %s", res.StatusCode, b)
	}
}

// API answers are never cached; every answer says nosniff.
func TestSecurityHeaders(t *testing.T) {
	a := newTestApp(t, store.SQLite)
	u := a.newUser(t)
	r := a.me(t, u.token)
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("X-Request-Id") == "" {
		t.Errorf("headers: %v", r.header)
	}
	r = a.do(t, "GET", "/v1/me", u.token, nil, "X-Request-Id", "trace-123")
	if r.header.Get("X-Request-Id") != "trace-123" {
		t.Errorf("X-Request-Id not echoed: %v", r.header)
	}
}
