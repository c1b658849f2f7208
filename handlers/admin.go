package handlers

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

type staffJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Roles     []string  `json:"roles"`
	CreatedAt time.Time `json:"created_at"`
}

func toStaffJSON(u *models.User) staffJSON {
	return staffJSON{ID: strconv.FormatInt(u.ID, 10), Email: u.Email, Name: u.Name, Roles: u.Roles(), CreatedAt: u.CreatedAt.UTC()}
}

type staffRequest struct {
	Email    string    `json:"email"`
	Name     string    `json:"name"`
	Roles    *[]string `json:"roles"` // required: [] removes staff rights, a missing list is a mistake
	Password string    `json:"password"`
}

func (h *api) putStaff(c *gin.Context, req staffRequest) {
	if req.Roles == nil {
		fail(c, &models.Error{Code: models.CodeValidation, Message: "the request has invalid fields",
			Fields: []models.FieldError{{Field: "roles", Code: models.FieldRequired, Detail: "is required; [] removes every staff right"}}})
		return
	}
	u, created, err := h.identity.PutStaff(c.Request.Context(), models.StaffInput{Email: req.Email, Name: req.Name, Roles: *req.Roles, Password: req.Password}, actor(c))
	if err != nil {
		fail(c, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(c, status, toStaffJSON(u))
}

func (h *api) listStaff(c *gin.Context) {
	listPage(c, func(p models.Page) ([]models.User, string, error) {
		return h.identity.ListStaff(c.Request.Context(), p)
	}, toStaffJSON)
}

type apiKeyJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Key        string     `json:"key,omitempty"` // only in the answer that creates it
}

func toAPIKeyJSON(k *models.APIKey) apiKeyJSON {
	return apiKeyJSON{ID: strconv.FormatInt(k.ID, 10), Name: k.Name, Prefix: k.Prefix, Scopes: k.ScopeList(), CreatedAt: k.CreatedAt.UTC(), LastUsedAt: k.LastUsedAt}
}

type apiKeyRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

func (h *api) createAPIKey(c *gin.Context, req apiKeyRequest) {
	k, secret, err := h.identity.CreateAPIKey(c.Request.Context(), req.Name, req.Scopes, actor(c))
	if err != nil {
		fail(c, err)
		return
	}
	out := toAPIKeyJSON(k)
	out.Key = secret
	writeJSON(c, http.StatusCreated, out)
}

func (h *api) listAPIKeys(c *gin.Context) {
	listPage(c, func(p models.Page) ([]models.APIKey, string, error) {
		return h.identity.ListAPIKeys(c.Request.Context(), p)
	}, toAPIKeyJSON)
}

func (h *api) revokeAPIKey(c *gin.Context) {
	noContent(c, h.identity.RevokeAPIKey(c.Request.Context(), c.Param("id"), actor(c)))
}

type auditActorJSON struct {
	Kind  string  `json:"kind"`
	ID    *string `json:"id"`
	Email *string `json:"email,omitempty"`
}

type auditJSON struct {
	ID        string          `json:"id"`
	At        time.Time       `json:"at"`
	Actor     auditActorJSON  `json:"actor"`
	Action    string          `json:"action"`
	Subject   string          `json:"subject"`
	Details   json.RawMessage `json:"details"`
	IP        string          `json:"ip"`
	RequestID string          `json:"request_id,omitempty"`
}

func toAuditJSON(e *models.AuditEntry) auditJSON {
	a := auditJSON{
		ID: strconv.FormatInt(e.ID, 10), At: e.At.UTC(), Action: e.Action, Subject: e.Subject(),
		Details: json.RawMessage(e.Details), IP: e.IP, RequestID: e.RequestID,
		Actor: auditActorJSON{Kind: e.ActorKind, Email: e.ActorEmail},
	}
	if e.ActorID != nil {
		id := strconv.FormatInt(*e.ActorID, 10)
		a.Actor.ID = &id
	}
	return a
}

func (h *api) listAudit(c *gin.Context) {
	p, ok := page(c)
	if !ok {
		return
	}
	f, err := models.ParseAuditFilter(c.Query("action"), c.Query("subject"), c.Query("actor"), c.Query("since"), c.Query("until"))
	format, ferr := auditFormat(c)
	if err := validationOf(err, ferr); err != nil {
		fail(c, err)
		return
	}
	if format != "" {
		h.exportAudit(c, format, f)
		return
	}
	entries, next, err := h.store.ListAudit(c.Request.Context(), f, p)
	if err != nil {
		fail(c, err)
		return
	}
	writeJSON(c, http.StatusOK, list(mapSlice(entries, toAuditJSON), next))
}
