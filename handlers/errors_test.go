package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
	dbstore "entitled/models/store"
	"entitled/models/storetest"
)

// newTestRouter is the real router on a fresh SQLite store, with extra routes that exist only to
// provoke the error paths (a panic, a validation failure, a raw database error).
func newTestRouter(t *testing.T) http.Handler {
	t.Helper()
	store := storetest.Open(t, dbstore.SQLite, nil)
	h, err := New(Deps{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	r := h.(*gin.Engine)
	r.GET("/test/panic", func(c *gin.Context) { panic("boom: SELECT secret FROM users") })
	r.POST("/test/bind", func(c *gin.Context) {
		var in struct {
			Email    string `json:"email"`
			Password string `json:"password"`
		}
		if !bindJSON(c, &in) {
			return
		}
		var v models.Validation
		v.Required("email", in.Email)
		v.Required("password", in.Password)
		if err := v.Err(); err != nil {
			fail(c, err)
			return
		}
		writeJSON(c, 200, gin.H{"ok": true})
	})
	// A raw database error out of a real store call: the audit log's table is gone (renamed to
	// no_such_table, so that the driver's message names it as before).
	if _, err := store.SQLDB().Exec("ALTER TABLE audit_log RENAME TO no_such_table"); err != nil {
		t.Fatal(err)
	}
	r.GET("/test/sql-error", func(c *gin.Context) {
		_, _, err := store.ListAudit(c.Request.Context(), models.AuditFilter{}, models.Page{Limit: 10})
		if err == nil || !strings.Contains(err.Error(), "store: ") || !strings.Contains(err.Error(), "audit_log") {
			t.Errorf("ListAudit on a missing table: %v, want the driver's error with the store's context", err)
		}
		fail(c, err)
	})
	// A real store call that cannot reach the database in time.
	r.GET("/test/unavailable", func(c *gin.Context) {
		ctx, cancel := context.WithDeadline(c.Request.Context(), time.Now().Add(-time.Second))
		defer cancel()
		_, _, err := dbstore.NewHelp(store, nil).Queue(ctx, "", models.Page{Limit: 10})
		fail(c, err)
	})
	// What a driver returns when the server refuses the connection, as it reaches a handler:
	// uncoded, and wrapped with the store's context.
	r.GET("/test/refused", func(c *gin.Context) {
		fail(c, fmt.Errorf("store: list help requests: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}))
	})
	// A coded error that something wrapped on its way up keeps its code and message.
	r.GET("/test/wrapped-coded", func(c *gin.Context) {
		fail(c, fmt.Errorf("store: look up a license: %w", &models.Error{Code: models.CodeLicenseNotFound, Message: "no such license"}))
	})
	return h
}

// Every error the HTTP layer produces is problem+json with a stable code and status, and no body
// ever carries SQL, a driver message or a stack trace.
func TestErrorAnswers(t *testing.T) {
	h := newTestRouter(t)
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
		fields                   []string
	}{
		{"unknown route", "GET", "/v1/nowhere", "", 404, "not_found", nil},
		{"unknown nested route", "POST", "/v1/nowhere/deeper", `{}`, 404, "not_found", nil},
		{"wrong method", "DELETE", "/healthz", "", 405, "method_not_allowed", nil},
		{"malformed json", "POST", "/test/bind", `{"email": "x@example.test", "password": `, 400, "malformed_json", nil},
		{"not json", "POST", "/test/bind", `email=x&password=y`, 400, "malformed_json", nil},
		{"empty body", "POST", "/test/bind", ``, 400, "malformed_json", nil},
		{"array body", "POST", "/test/bind", `[1,2]`, 400, "malformed_json", nil},
		{"trailing garbage", "POST", "/test/bind", `{"email":"a@b.c","password":"x"} {}`, 400, "malformed_json", nil},
		{"wrong type", "POST", "/test/bind", `{"email": 12, "password": "x"}`, 400, "validation_failed", []string{"email"}},
		{"missing fields", "POST", "/test/bind", `{}`, 400, "validation_failed", []string{"email", "password"}},
		{"oversized body", "POST", "/test/bind", `{"email":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, "body_too_large", nil},
		{"panic", "GET", "/test/panic", "", 500, "internal", nil},
		{"raw database error", "GET", "/test/sql-error", "", 500, "internal", nil},
		{"database unreachable", "GET", "/test/unavailable", "", 503, "unavailable", nil},
		{"database refuses connections", "GET", "/test/refused", "", 503, "unavailable", nil},
		{"wrapped coded error", "GET", "/test/wrapped-coded", "", 404, models.CodeLicenseNotFound, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req := httptest.NewRequest(tc.method, tc.path, body)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			var p map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, rec.Body)
			}
			for _, k := range []string{"type", "title", "status", "detail", "code"} {
				if _, ok := p[k]; !ok {
					t.Errorf("problem lacks %q: %s", k, rec.Body)
				}
			}
			if p["code"] != tc.code || p["status"] != float64(tc.status) {
				t.Errorf("code %v status %v, want %s %d", p["code"], p["status"], tc.code, tc.status)
			}
			var got []string
			errs, _ := p["errors"].([]any)
			for _, e := range errs {
				got = append(got, e.(map[string]any)["field"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("errors name fields %v, want %v", got, tc.fields)
			}
			low := strings.ToLower(rec.Body.String())
			for _, leak := range []string{"select", "no_such_table", "audit_log", "no such table", "sqlite", "goroutine", ".go:", "boom", "dial tcp", "store:", "deadline"} {
				if strings.Contains(low, leak) {
					t.Errorf("answer leaks %q: %s", leak, rec.Body)
				}
			}
			if rec.Header().Get("X-Request-Id") == "" {
				t.Error("answer has no X-Request-Id")
			}
		})
	}
}

// A 401 carries the Bearer challenge and a 503 tells the client when to come back.
func TestProblemHeaders(t *testing.T) {
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest("GET", "/", nil)
	fail(c, models.Errorf(models.CodeUnauthenticated, "log in"))
	if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
		t.Errorf("401 WWW-Authenticate = %q", got)
	}
	rec = httptest.NewRecorder()
	c, _ = gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest("GET", "/", nil)
	fail(c, &models.Error{Code: models.CodeTooManyAttempts, Message: "slow down", RetryAfter: 1500e6})
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" {
		t.Errorf("429: status %d Retry-After %q, want 429 and 2 (rounded up)", rec.Code, rec.Header().Get("Retry-After"))
	}
}
