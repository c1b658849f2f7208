package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

type webhookJSON struct {
	ID             string     `json:"id"`
	URL            string     `json:"url"`
	Events         []string   `json:"events"`
	Description    string     `json:"description"`
	AccountID      *string    `json:"account_id,omitempty"`
	Enabled        bool       `json:"enabled"`
	CreatedAt      time.Time  `json:"created_at"`
	LastDeliveryAt *time.Time `json:"last_delivery_at"`
	FailingSince   *time.Time `json:"failing_since,omitempty"`
	Secret         string     `json:"secret,omitempty"` // only in the answer that registers it
}

func toWebhookJSON(e *models.WebhookEndpoint) webhookJSON {
	return webhookJSON{ID: strconv.FormatInt(e.ID, 10), URL: e.URL, Events: e.Events, Description: e.Description, AccountID: e.AccountID,
		Enabled: e.Enabled, CreatedAt: e.CreatedAt.UTC(), LastDeliveryAt: e.LastDeliveryAt, FailingSince: e.FailingSince}
}

type webhookDeliveryJSON struct {
	ID            string                  `json:"id"`
	EventID       string                  `json:"event_id"`
	Type          string                  `json:"type"`
	Status        string                  `json:"status"`
	Attempts      []models.WebhookAttempt `json:"attempts"`
	NextAttemptAt *time.Time              `json:"next_attempt_at,omitempty"`
}

func toWebhookDeliveryJSON(d *models.WebhookDelivery) webhookDeliveryJSON {
	return webhookDeliveryJSON{ID: strconv.FormatInt(d.ID, 10), EventID: d.EventID, Type: d.Type, Status: d.Status, Attempts: d.Attempts, NextAttemptAt: d.NextAttemptAt}
}

type webhookRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
	AccountID   *string  `json:"account_id"`
}

type webhookPatchRequest struct {
	URL         *string   `json:"url"`
	Events      *[]string `json:"events"`
	Description *string   `json:"description"`
	Enabled     *bool     `json:"enabled"`
}

func (h *api) createWebhook(c *gin.Context, req webhookRequest) {
	e, secret, err := h.webhooks.Create(c.Request.Context(), models.WebhookInput{URL: req.URL, Events: req.Events, Description: req.Description, AccountID: req.AccountID}, actor(c))
	if err != nil {
		fail(c, err)
		return
	}
	out := toWebhookJSON(e)
	out.Secret = secret
	writeJSON(c, http.StatusCreated, out)
}

func (h *api) listWebhooks(c *gin.Context) {
	listPage(c, func(p models.Page) ([]models.WebhookEndpoint, string, error) {
		return h.webhooks.List(c.Request.Context(), p)
	}, toWebhookJSON)
}

func (h *api) getWebhook(c *gin.Context) {
	e, err := h.webhooks.Get(c.Request.Context(), c.Param("id"))
	respondTagged(c, http.StatusOK, e, err, toWebhookJSON)
}

func (h *api) updateWebhook(c *gin.Context, req webhookPatchRequest) {
	e, err := h.webhooks.Update(c.Request.Context(), c.Param("id"),
		models.WebhookPatch{URL: req.URL, Events: req.Events, Description: req.Description, Enabled: req.Enabled, IfMatch: c.GetHeader("If-Match")}, actor(c))
	respondTagged(c, http.StatusOK, e, err, toWebhookJSON)
}

func (h *api) deleteWebhook(c *gin.Context) {
	noContent(c, h.webhooks.Delete(c.Request.Context(), c.Param("id"), actor(c)))
}

func (h *api) rotateWebhookSecret(c *gin.Context) {
	secret, err := h.webhooks.RotateSecret(c.Request.Context(), c.Param("id"), actor(c))
	if err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, gin.H{"secret": secret})
}

func (h *api) pingWebhook(c *gin.Context) {
	answerStatus(c, http.StatusAccepted, h.webhooks.Ping(c.Request.Context(), c.Param("id")))
}

func (h *api) listWebhookDeliveries(c *gin.Context) {
	listPage(c, func(p models.Page) ([]models.WebhookDelivery, string, error) {
		return h.webhooks.Deliveries(c.Request.Context(), c.Param("id"), p)
	}, toWebhookDeliveryJSON)
}

func (h *api) retryWebhookDelivery(c *gin.Context) {
	answerStatus(c, http.StatusAccepted, h.webhooks.Retry(c.Request.Context(), c.Param("id"), c.Param("delivery_id")))
}
