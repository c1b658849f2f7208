package handlers

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"entitled/models"
	"entitled/models/store"
	"github.com/entitled-dev/entitled/verify"
)

// wellKnownConfiguration is GET /.well-known/entitled-configuration: where a verifier finds the
// keys, the token and introspection endpoints and the status lists, and what tokens it will see
// (in the manner of OpenID Connect discovery), so that another service is configured with one URL.
type wellKnownConfiguration struct {
	Issuer                string   `json:"issuer"`
	JWKSURI               string   `json:"jwks_uri"`
	TokenEndpoint         string   `json:"token_endpoint"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	StatusListBase        string   `json:"status_list_base"`
	Audiences             []string `json:"audiences"`
	TokenTTLSeconds       int64    `json:"token_ttl_seconds"`
	SigningAlgs           []string `json:"signing_alg_values_supported"`
}

// configurationHandler answers the discovery document of tokens; base is ENTITLED_BASE_URL.
func configurationHandler(tokens *store.Tokens, base string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if tokens == nil {
			fail(c, models.Errorf(models.CodeNotFound, "this server issues no tokens"))
			return
		}
		cfg := tokens.Configuration()
		b := strings.TrimRight(base, "/")
		if b == "" {
			b = strings.TrimRight(cfg.Issuer, "/")
		}
		c.Header("Cache-Control", "public, max-age=300")
		writeJSON(c, http.StatusOK, wellKnownConfiguration{
			Issuer: cfg.Issuer, JWKSURI: b + "/.well-known/jwks.json",
			TokenEndpoint: b + "/v1/entitlements/token", IntrospectionEndpoint: b + "/v1/entitlements/introspect",
			StatusListBase: b + "/v1/status-lists", Audiences: cfg.Audiences, TokenTTLSeconds: int64(cfg.TTL.Seconds()),
			SigningAlgs: []string{verify.Algorithm},
		})
	}
}
