package handlers

import (
	"bytes"
	"io"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

// idempotent makes a POST safe to retry with an Idempotency-Key header: the first answer is
// kept and replayed to a repeat with the same body; the same key with another body is 422
// idempotency_key_reused; a repeat while the first runs is 409 idempotency_in_progress. Keys are
// scoped to the caller, the method and the path. It runs after the route's guard.
func (h *api) idempotent(c *gin.Context) {
	key := c.GetHeader("Idempotency-Key")
	if key == "" {
		c.Next()
		return
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		fail(c, readError(err, models.Errorf(models.CodeMalformedJSON, "the request body could not be read")))
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	ctx := c.Request.Context()
	claim, stored, err := h.store.ClaimIdempotencyKey(ctx, callerScope(principal(c)), c.Request.Method, c.Request.URL.Path, key, body)
	if err != nil {
		fail(c, err)
		return
	}
	if stored != nil {
		c.Header("Idempotent-Replayed", "true")
		c.Data(stored.Status, stored.ContentType, stored.Body)
		c.Abort()
		return
	}
	rec := &recordingWriter{ResponseWriter: c.Writer}
	c.Writer = rec
	c.Next()
	status := rec.Status()
	if status >= 500 {
		if err := h.store.ReleaseIdempotencyKey(ctx, claim); err != nil {
			logger(c).Warn("release idempotency key", "error", err)
		}
		return
	}
	if err := h.store.CompleteIdempotencyKey(ctx, claim, models.StoredResponse{Status: status, ContentType: rec.Header().Get("Content-Type"), Body: rec.buf.Bytes()}); err != nil {
		logger(c).Warn("store idempotent answer", "error", err)
	}
}

// callerScope names the caller an idempotency key belongs to.
func callerScope(p *models.Principal) string {
	if p == nil {
		return "anonymous"
	}
	if p.Kind == models.PrincipalAPIKey {
		return "api_key:" + itoa64(p.APIKeyID)
	}
	return "user:" + itoa64(p.UserID)
}

// recordingWriter keeps a copy of what a handler writes.
type recordingWriter struct {
	gin.ResponseWriter
	buf bytes.Buffer
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *recordingWriter) WriteString(s string) (int, error) {
	w.buf.WriteString(s)
	return w.ResponseWriter.WriteString(s)
}
