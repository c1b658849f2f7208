package models

import (
	"log/slog"
	"time"
)

// CodeAudienceNotAllowed is the 422 for a token asked for a service that is not one of
// ENTITLED_TOKEN_AUDIENCES.
const CodeAudienceNotAllowed = "audience_not_allowed"

// TokensOptions configure the entitlement-token service.
type TokensOptions struct {
	Issuer            string        // ENTITLED_BASE_URL: the iss claim
	TTL               time.Duration // ENTITLED_TOKEN_TTL
	Audiences         []string      // ENTITLED_TOKEN_AUDIENCES
	RenewalWindowDays int
	StatusListTTL     time.Duration // ENTITLED_STATUS_LIST_TTL; 0: StatusListTTL
	Log               *slog.Logger
}
