package handlers

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"entitled/models/store"
)

// openAPIDocument is the API's OpenAPI 3.1 description, kept in the repository beside the router
// and checked against it by a test.
//
//go:embed openapi.json
var openAPIDocument []byte

type opsHandlers struct {
	store      *store.Store
	registry   *prometheus.Registry
	openAPIDoc []byte // openAPIDocument naming this server (openAPIFor)
}

// openAPIFor is openAPIDocument with baseURL as its one server, so that a client generated from
// the served document talks to this deployment; with no baseURL the document is served as kept.
func openAPIFor(baseURL string) ([]byte, error) {
	if baseURL == "" {
		return openAPIDocument, nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		return nil, fmt.Errorf("handlers: the embedded OpenAPI document: %w", err)
	}
	servers, err := json.Marshal([]map[string]string{{"url": baseURL}})
	if err != nil {
		return nil, err
	}
	doc["servers"] = servers
	return json.Marshal(doc)
}

// health says the process is up; it touches nothing else, so that a slow database never makes
// an orchestrator kill a replica that could recover by itself.
func (h *opsHandlers) health(c *gin.Context) {
	writeJSON(c, http.StatusOK, gin.H{"status": "ok"})
}

// ready says whether this replica can serve: the database answers and its schema is at or ahead
// of what this build needs. It also says whether the change notices are connected
// ("change_notices": "connected", or "reconnecting" while another replica's change reaches this
// one's caches only at their TTLs); that alone does not make a replica unready, since every
// replica would then leave the load balancer together when LISTEN fails for all of them.
func (h *opsHandlers) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		fail(c, err)
		return
	}
	if err := h.store.SchemaReady(ctx); err != nil {
		fail(c, err)
		return
	}
	notices := "connected"
	if !h.store.ChangesConnected() {
		notices = "reconnecting"
	}
	writeJSON(c, http.StatusOK, gin.H{"status": "ready", "change_notices": notices})
}

func (h *opsHandlers) metrics() gin.HandlerFunc {
	hh := promhttp.HandlerFor(h.registry, promhttp.HandlerOpts{Registry: h.registry})
	return gin.WrapH(hh)
}

func (h *opsHandlers) openAPI(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json", h.openAPIDoc)
}
