package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"entitled/models"
)

// MaxBodyBytes is the largest request body accepted (contract: over 1 MiB is 413).
const MaxBodyBytes = 1 << 20

const (
	ctxRequestID = "entitled.request_id"
	ctxLogger    = "entitled.logger"
)

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// withRequestID takes the caller's X-Request-Id when it is a sane token (so that a trace crosses
// services), or makes one, and echoes it on the answer.
func withRequestID(base *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if !saneRequestID(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set(ctxRequestID, id)
		c.Set(ctxLogger, &requestLogger{base: base, id: id})
		c.Header("X-Request-Id", id)
		c.Next()
	}
}

// requestLogger is a request's logger, made with its request id only when something is logged at
// a level that is enabled: most requests to the hot paths log nothing, and slog's With formats
// its attribute up front.
type requestLogger struct {
	base *slog.Logger
	id   string
	once sync.Once
	l    *slog.Logger
}

func (r *requestLogger) logger() *slog.Logger {
	r.once.Do(func() { r.l = r.base.With("request_id", r.id) })
	return r.l
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r < '!' || r > '~' {
			return false
		}
	}
	return true
}

// accessLog writes one structured line per request. Probes (health, readiness, metrics) are
// logged at debug so that they do not drown the log.
// quietRoutes are logged at Debug when they succeed: probes, and the hot paths that other
// services call on every request they serve (a line each would be most of the log and a
// syscall per request). Their volume, status and latency are on /metrics by route; a failure
// is logged at Info as on every other route; an issued token has its own Info line (jti).
var quietRoutes = map[string]bool{
	"/healthz": true, "/readyz": true, "/metrics": true,
	"/v1/entitlements/check": true, "/v1/entitlements/token": true, "/v1/entitlements/introspect": true,
	"/v1/licenses/:ln/support": true,
}

func accessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		level := slog.LevelInfo
		if quietRoutes[route] && c.Writer.Status() < 400 {
			level = slog.LevelDebug
		}
		l, ok := loggerAt(c, level)
		if !ok {
			return // a hot path's success at Info: nothing to write, nothing to format
		}
		l.Log(c.Request.Context(), level, "http request",
			"method", c.Request.Method,
			"route", route,
			"path", c.Request.URL.Path,
			"status", c.Writer.Status(),
			"bytes", c.Writer.Size(),
			"duration_ms", float64(time.Since(start).Microseconds())/1000,
			"ip", c.ClientIP(),
		)
	}
}

// recovery turns a panic into a 500 problem, logged once with the stack and request id; the
// client sees nothing of it.
func recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				panic(rec)
			}
			logger(c).Error("panic serving request", "request_id", requestID(c), "route", c.FullPath(),
				"panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			if c.Writer.Written() {
				c.Abort()
				return
			}
			writeProblem(c, http.StatusInternalServerError, Problem{
				Title: http.StatusText(http.StatusInternalServerError), Status: http.StatusInternalServerError, Code: models.CodeInternal,
				Detail:    "Something went wrong on our side. It has been logged; please try again later.",
				RequestID: requestID(c),
			})
		}()
		c.Next()
	}
}

// limitBody refuses a declared body over the limit at once and caps an undeclared (chunked) one,
// so that no handler ever reads more than MaxBodyBytes.
func limitBody() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > MaxBodyBytes {
			// The body is not read: tell the client the connection ends here.
			c.Header("Connection", "close")
			fail(c, errBodyTooLarge)
			return
		}
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes)
		}
		c.Next()
	}
}

var errBodyTooLarge = models.Errorf(models.CodeBodyTooLarge, "the request body is larger than %d bytes", MaxBodyBytes)

// securityHeaders sets the headers every answer carries. API answers are personal: no cache
// may keep them unless a handler says otherwise (the JWKS and OpenAPI document do).
func securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if strings.HasPrefix(c.Request.URL.Path, "/v1/") {
			h.Set("Cache-Control", "no-store")
		}
		c.Next()
	}
}

// httpMetrics counts requests and their latency by route template (never the raw path, whose
// License Numbers and ids would make a metric per license) and status.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "entitled_http_requests_total",
			Help: "HTTP requests answered, by method, route template and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "entitled_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and route template.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *httpMetrics) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(c.Writer.Status())).Inc()
		m.latency.WithLabelValues(c.Request.Method, route).Observe(time.Since(start).Seconds())
	}
}

// bindJSON decodes the request body into dst. It answers the request itself and returns false
// when the body is too large, not JSON, or has a member of the wrong type.
func bindJSON(c *gin.Context, dst any) bool {
	if err := decodeJSON(c.Request.Body, dst); err != nil {
		fail(c, err)
		return false
	}
	return true
}

func decodeJSON(body io.Reader, dst any) error {
	if body == nil {
		return models.Errorf(models.CodeMalformedJSON, "the request body is empty; a JSON object is expected")
	}
	dec := json.NewDecoder(body)
	err := dec.Decode(dst)
	if err == nil {
		// Anything after the first value other than white space is an error.
		if _, err2 := dec.Token(); err2 != io.EOF {
			return models.Errorf(models.CodeMalformedJSON, "the request body has data after the JSON object")
		}
		// No text field may hold a NUL: PostgreSQL refuses it in text, and no field has a use for it.
		if field, ok := nulField(reflect.ValueOf(dst), ""); ok {
			return &models.Error{Code: models.CodeValidation, Message: "the request has invalid fields",
				Fields: []models.FieldError{{Field: field, Code: models.FieldInvalid, Detail: "must not contain a NUL character"}}}
		}
		return nil
	}
	var maxErr *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &maxErr):
		return errBodyTooLarge
	case errors.Is(err, io.EOF):
		return models.Errorf(models.CodeMalformedJSON, "the request body is empty; a JSON object is expected")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return models.Errorf(models.CodeMalformedJSON, "the request body must be a JSON object")
		}
		return &models.Error{Code: models.CodeValidation, Message: "the request has invalid fields",
			Fields: []models.FieldError{{Field: typeErr.Field, Code: models.FieldType, Detail: "must be a " + jsonKind(typeErr.Type.Kind().String())}}}
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return models.Errorf(models.CodeMalformedJSON, "the request body is not valid JSON")
	}
	return models.Errorf(models.CodeMalformedJSON, "the request body is not valid JSON")
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(k string) string {
	switch {
	case k == "string":
		return "string"
	case k == "bool":
		return "boolean"
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "number"
	case k == "slice", k == "array":
		return "array"
	}
	return "object"
}

// jsonEncode writes v without HTML escaping (answers are JSON, not HTML).
func jsonEncode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// respond answers v, converted by to, with the status; or the problem of err, when the call that
// made v failed.
func respond[T, J any](c *gin.Context, status int, v T, err error, to func(T) J) {
	if err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, status, to(v))
}

// respondTagged is respond for a thing with an entity tag: a successful answer carries its ETag.
func respondTagged[T interface{ ETag() string }, J any](c *gin.Context, status int, v T, err error, to func(T) J) {
	if err == nil {
		c.Header("ETag", v.ETag())
	}
	respond(c, status, v, err, to)
}

// noContent answers 204; or the problem of err, when the call failed.
func noContent(c *gin.Context, err error) { answerStatus(c, http.StatusNoContent, err) }

// answerStatus answers status with no body; or the problem of err, when the call failed.
func answerStatus(c *gin.Context, status int, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	c.Status(status)
}

// writeJSON answers with status and v as JSON.
func writeJSON(c *gin.Context, status int, v any) {
	if l, ok := v.(paged); ok {
		linkNext(c, l.next())
	}
	c.Render(status, jsonRender{v})
}

type jsonRender struct{ v any }

func (r jsonRender) Render(w http.ResponseWriter) error {
	r.WriteContentType(w)
	return jsonEncode(w, r.v)
}

func (r jsonRender) WriteContentType(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
}

// nulField finds a decoded string holding a NUL character and names it by its JSON path
// ("items[0].sku"); ok is false when there is none.
func nulField(v reflect.Value, path string) (string, bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", false
		}
		return nulField(v.Elem(), path)
	case reflect.String:
		return path, strings.ContainsRune(v.String(), 0)
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if path != "" {
				name = path + "." + name
			}
			if p, ok := nulField(v.Field(i), name); ok {
				return p, true
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if p, ok := nulField(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, true
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			name := fmt.Sprint(iter.Key().Interface())
			if path != "" {
				name = path + "." + name
			}
			if strings.ContainsRune(name, 0) {
				return path, true
			}
			if p, ok := nulField(iter.Value(), name); ok {
				return p, true
			}
		}
	}
	return "", false
}
