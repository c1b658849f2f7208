package handlers

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"entitled/models"
)

type licenseKeyRequest struct {
	Fingerprint string `json:"fingerprint"`
	Hostname    string `json:"hostname"`
	Version     string `json:"version"`
}

// licenseKeyJSON is an issued key (contract: `{id, key}`, with what it is bound to).
type licenseKeyJSON struct {
	ID            string       `json:"id"`
	Key           string       `json:"key,omitempty"`
	Fingerprint   string       `json:"fingerprint"`
	Hostname      string       `json:"hostname"`
	Version       string       `json:"version"`
	VerMajor      int          `json:"ver_major"`
	IssuedAt      time.Time    `json:"issued_at"`
	IssuedTo      string       `json:"issued_to,omitempty"`
	ExpiresAt     *time.Time   `json:"expires_at,omitempty"`
	SupportEndsOn *models.Date `json:"support_ends_on,omitempty"`
}

func toLicenseKeyJSON(k models.LicenseKey) licenseKeyJSON {
	out := licenseKeyJSON{ID: itoa64(k.ID), Fingerprint: k.Fingerprint, Hostname: k.Hostname, Version: k.Version, VerMajor: k.VerMajor,
		IssuedAt: k.IssuedAt.UTC(), SupportEndsOn: datePtr(k.SupportEndsOn)}
	if k.ExpiresAt != nil {
		e := k.ExpiresAt.UTC()
		out.ExpiresAt = &e
	}
	return out
}

// issueLicenseKey answers 201 for a key made (a new machine, or a new major version on a seated
// machine) and 200 for the machine's existing key of that major version.
func (h *api) issueLicenseKey(c *gin.Context, req licenseKeyRequest) {
	k, err := h.licenseKeys.Issue(c.Request.Context(), principal(c), c.Param("ln"), models.LicenseKeyInput(req), actor(c))
	if err != nil {
		fail(c, err)
		return
	}
	out := toLicenseKeyJSON(k.Key)
	out.Key = k.Token
	status := http.StatusOK
	if k.Created {
		status = http.StatusCreated
	}
	writeJSON(c, status, out)
}

func (h *api) listLicenseKeys(c *gin.Context) {
	pg, ok := page(c)
	if !ok {
		return
	}
	keys, next, err := h.licenseKeys.List(c.Request.Context(), principal(c), c.Param("ln"), pg)
	if err != nil {
		fail(c, err)
		return
	}
	items := make([]licenseKeyJSON, 0, len(keys))
	for _, k := range keys {
		j := toLicenseKeyJSON(k.LicenseKey)
		j.IssuedTo = k.IssuedTo
		items = append(items, j)
	}
	writeJSON(c, http.StatusOK, list(items, next))
}

// releaseLicenseKey releases a key (and with a machine's last key, its seat); ?reason= says why.
func (h *api) releaseLicenseKey(c *gin.Context) {
	noContent(c, h.licenseKeys.Release(c.Request.Context(), principal(c), c.Param("ln"), c.Param("id"), c.Query("reason"), actor(c)))
}
