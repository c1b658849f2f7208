// Package verify lets another service (a download site, the case portal, the knowledge base,
// chat) check the entitlement tokens that entitled issues, offline: it fetches entitled's public
// keys from /.well-known/jwks.json, keeps them as long as the answer's Cache-Control max-age
// allows (refreshing early, at most so often, when a token names a key it does not know), and
// verifies tokens with golang-jwt/v5 restricted to EdDSA. A token that carries a status is
// checked against entitled's token status list, downloaded once per its ttl (StatusLists), so
// that a revoked grant is refused within minutes while verification stays offline.
//
//	v, err := verify.New("https://entitled.example.com/.well-known/jwks.json", verify.Options{
//		Issuer:   "https://entitled.example.com",
//		Audience: []string{"downloads"},
//	})
//	mux.Handle("/files/", v.Require("downloads.read")(files))
//
// It imports neither Gin nor GORM; verify/ginverify adapts it to Gin. It imports nothing of
// entitled either, so that another team can vendor it alone.
package verify

import (
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token types (the JOSE "typ" header): entitlement tokens and license keys are told apart by it,
// so that one can never be passed off as the other (RFC 8725 §3.11).
const (
	TypEntitlement = "ent+jwt"
	TypLicense     = "lic+jwt"
	// Algorithm is the only signing algorithm accepted: Ed25519.
	Algorithm = "EdDSA"
)

// Entitlement names, as the ent claim lists them.
const (
	AssetsRead     = "assets.read"
	SupportCases   = "support.cases"
	SupportKB      = "support.kb"
	SupportChat    = "support.chat"
	DownloadsRead  = "downloads.read"
	LicenseKeys    = "license.keys"
	SupportPremier = "support.premier"
)

// Support is the support claim: the license's support contract when the token was issued.
type Support struct {
	// Status is none, future, active, expiring, grace, lapsed or terminated.
	Status  string  `json:"status"`
	Program *string `json:"program"` // standard or 24x7; null without support
	Premier bool    `json:"premier"`
	// EndsOn is the last day support paid for (YYYY-MM-DD; a terminated contract's termination
	// date); null without support. Versions released on or before it stay downloadable.
	EndsOn          *string           `json:"ends_on"`
	Hours           *string           `json:"hours"`            // business or 24x7; null without support
	ResponseTargets map[string]string `json:"response_targets"` // severity "1".."4" → ISO 8601 duration
}

// Claims are the claims of an entitlement token.
type Claims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"` // the user's id
	Audience  string           `json:"aud"` // the service the token was issued for
	IssuedAt  *jwt.NumericDate `json:"iat"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
	ID        string           `json:"jti"`
	Account   string           `json:"acct"`  // the 7-digit Account ID
	License   string           `json:"lic"`   // the License Number
	Roles     []string         `json:"roles"` // admin, support, license
	// Entitlements are the allowed entitlements, for the product's newest version that is not
	// discontinued. For another version, see CanDownload.
	Entitlements []string `json:"ent"`
	Support      Support  `json:"support"`
	// GrantVersion is the member's grant version: introspection compares it with the current one
	// to tell a revoked or changed grant.
	GrantVersion int64 `json:"ver"`
	// Status points at this grant's bit in a token status list (draft-ietf-oauth-status-list);
	// nil on tokens issued before status lists existed.
	Status *StatusClaim `json:"status,omitempty"`
}

// StatusClaim is the status claim of the IETF OAuth Token Status List draft:
// {"status_list": {"idx": 12345, "uri": "https://entitled.example.com/v1/status-lists/1"}}.
type StatusClaim struct {
	StatusList StatusListRef `json:"status_list"`
}

// StatusListRef names one index of one status list.
type StatusListRef struct {
	Index int64  `json:"idx"`
	URI   string `json:"uri"`
}

// Has reports whether the token grants the entitlement.
func (c *Claims) Has(entitlement string) bool { return slices.Contains(c.Entitlements, entitlement) }

// HasRole reports whether the member has the role on the license.
func (c *Claims) HasRole(role string) bool { return slices.Contains(c.Roles, role) }

// The jwt.Claims interface, so that golang-jwt validates the time claims, issuer and audience.

func (c *Claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *Claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *Claims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *Claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *Claims) GetAudience() (jwt.ClaimStrings, error) {
	if c.Audience == "" {
		return nil, nil
	}
	return jwt.ClaimStrings{c.Audience}, nil
}

// Expires is when the token expires (the zero time if it has no exp, which Verify refuses).
func (c *Claims) Expires() time.Time {
	if c.ExpiresAt == nil {
		return time.Time{}
	}
	return c.ExpiresAt.Time
}
