package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"gorm.io/gorm"

	"entitled/models"
	"github.com/entitled-dev/entitled/verify"
)

// introspectionLeeway is the clock difference between replicas that introspection forgives.
const introspectionLeeway = 5 * time.Second

// Tokens issues entitlement tokens (EdDSA JWTs, typ ent+jwt) and introspects them.
type Tokens struct {
	store     *Store
	keys      *Keyring
	licenses  *Licenses
	issuer    string
	ttl       time.Duration
	audiences []string
	verifier  *verify.Verifier
	status    *StatusLists
	log       *slog.Logger
}

// NewTokens makes the token service on the key ring.
func NewTokens(store *Store, keys *Keyring, opts models.TokensOptions) (*Tokens, error) {
	if opts.TTL <= 0 {
		opts.TTL = 15 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = store.log
	}
	// Introspection trusts exactly what an offline verifier would, with the entitlement keys that
	// are published (not retired) and a leeway for replicas' clocks only.
	v, err := verify.NewWithKeys(keys.PublicKeys(models.PurposeEntitlement), verify.Options{
		Issuer: opts.Issuer, Audience: opts.Audiences, Leeway: introspectionLeeway, Now: store.Clock.Now,
	})
	if err != nil {
		return nil, err
	}
	return &Tokens{store: store, keys: keys, licenses: NewLicenses(store, opts.RenewalWindowDays), issuer: opts.Issuer, ttl: opts.TTL,
		audiences: opts.Audiences, verifier: v, status: NewStatusLists(store, keys, opts.Issuer, opts.StatusListTTL), log: opts.Log}, nil
}

// StatusLists is the status-list service of the tokens' grants (and of the license keys, which
// share the issuer and the lists): GET /v1/status-lists/{id} serves it.
func (s *Tokens) StatusLists() *StatusLists {
	if s == nil {
		return nil
	}
	return s.status
}

// IssuedToken is a signed entitlement token with its claims.
type IssuedToken struct {
	Token     string
	Kid       string
	ExpiresAt time.Time
	Claims    *verify.Claims
}

// Issue signs an entitlement token for a member of a license, for one of the configured
// audiences. ent is the allowed entitlements for the product's newest version that is not
// discontinued; ver is the member's grant version, which introspection compares.
//
// Issuing a token is not written to the audit log: it changes nothing, it is the hot path of
// every other service, and a write per token would make every replica queue on the database.
// The token's jti, sub and lic are logged instead, and introspection answers from live grants.
// Errors: forbidden (not a person), email_unverified, validation_failed, audience_not_allowed,
// invalid_license_number, not_a_member.
func (s *Tokens) Issue(ctx context.Context, p *models.Principal, ln, audience string) (_ *IssuedToken, err error) {
	defer wrapErr(&err, "issue a token")
	if err := verifiedPerson(p, "entitlement tokens are for people; services introspect them"); err != nil {
		return nil, err
	}
	var v models.Validation
	v.Required("license_number", strings.TrimSpace(ln))
	v.Required("audience", strings.TrimSpace(audience))
	if err := v.Err(); err != nil {
		return nil, err
	}
	if !slices.Contains(s.audiences, audience) {
		return nil, models.Errorf(models.CodeAudienceNotAllowed, "tokens are issued for %s only", strings.Join(s.audiences, ", "))
	}
	now := s.store.Clock.Now().UTC().Truncate(time.Second)
	var claims *verify.Claims
	err = s.store.read(ctx, func(db *gorm.DB) error {
		acc, err := s.store.hotAccess(ctx, p, ln)
		if err != nil {
			return err
		}
		if acc.Member == nil {
			return models.Errorf(models.CodeNotAMember, "you are not a member of license %s", acc.Detail.License.LicenseNumber)
		}
		d := &acc.Detail
		ver, err := s.store.defaultVersion(db, d.License.ProductID)
		if err != nil {
			return err
		}
		m := acc.Member
		if _, ok := m.Status(); !ok { // a grant made before status lists: it gets its index now
			if m, err = s.store.assignGrantStatus(ctx, m); err != nil {
				return err
			}
		}
		claims = s.claims(d, m, ver, p.UserID, audience, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	token, kid, err := s.keys.Sign(ctx, models.PurposeEntitlement, verify.TypEntitlement, claims)
	if err != nil {
		return nil, err
	}
	s.log.Info("entitlement token issued", "jti", claims.ID, "sub", claims.Subject, "lic", claims.License, "aud", audience, "kid", kid, "ver", claims.GrantVersion)
	return &IssuedToken{Token: token, Kid: kid, ExpiresAt: claims.ExpiresAt.Time, Claims: claims}, nil
}

// claims are the token's claims for the member on the day, exactly the contract's list.
func (s *Tokens) claims(d *models.LicenseDetail, m *models.Member, ver *models.ProductVersion, userID int64, audience string, now time.Time) *verify.Claims {
	today := models.DateOf(now)
	ents := models.Entitlements(s.licenses.entitlementInput(d, m, ver, today))
	return &verify.Claims{
		Issuer: s.issuer, Subject: strconv.FormatInt(userID, 10), Audience: audience,
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(s.ttl)),
		ID: newJTI(), Account: d.Account.AccountID, License: d.License.LicenseNumber, Roles: m.Roles(),
		Entitlements: models.AllowedEntitlements(ents), Support: supportClaim(d, today, s.licenses.RenewalWindowDays),
		GrantVersion: m.GrantVersion, Status: s.statusClaim(m),
	}
}

// statusClaim points at the grant version's index: every token of the grant shares it. nil for
// a grant made before status lists existed.
func (s *Tokens) statusClaim(m *models.Member) *verify.StatusClaim {
	ref, ok := m.Status()
	if !ok {
		return nil
	}
	return &verify.StatusClaim{StatusList: verify.StatusListRef{Index: ref.Idx, URI: statusListURI(s.issuer, ref.List)}}
}

// supportClaim is the token's support claim. ends_on is the last day support paid for (a
// terminated contract's termination date), so that a verifier can apply the download rule to
// any version offline; it is null without support, and for a contract terminated before it
// started (it paid for no day).
func supportClaim(d *models.LicenseDetail, today models.Date, window int) verify.Support {
	sum := d.Summary(today, window)
	out := verify.Support{Status: sum.Status}
	c := d.Contract
	if c == nil {
		return out
	}
	program := c.Program
	out.Program, out.Premier = &program, c.Premier
	_, paid := models.PaidThrough(c.Facts())
	if !sum.EndsOn.IsZero() && (paid || sum.Status != models.StatusTerminated) {
		end := sum.EndsOn.String()
		out.EndsOn = &end
	}
	t := models.TargetsFor(c.Program, models.PremierCurrent(c.Facts(), sum.Status))
	if t.Hours != "" {
		hours := t.Hours
		out.Hours, out.ResponseTargets = &hours, t.BySeverity
	}
	return out
}

// newJTI is a token id: 128 random bits, base64url.
func newJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// verified is Verify, remembering the signatures it checked: services introspect the same
// token on every request of a session, and an Ed25519 verification is most of an
// introspection's cost. A remembered token still has its time claims, issuer and audience
// checked on each use.
func (s *Tokens) verified(ctx context.Context, token string) (*verify.Claims, error) {
	key := sha256.Sum256([]byte(token))
	if claims, ok := s.store.cache.verifiedToken(key); ok {
		if err := s.verifier.Revalidate(claims); err != nil {
			return nil, err
		}
		return claims, nil
	}
	gen := s.store.cache.generation()
	claims, err := s.verifier.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	s.store.cache.putVerifiedToken(gen, key, claims)
	return claims, nil
}

// Introspection is RFC 7662's answer: Active, and the token's claims when it is.
type Introspection struct {
	Active bool
	Claims *verify.Claims
}

// Introspect answers whether a token is active: its signature (EdDSA, by a published
// entitlement key), typ, iss, aud, exp, nbf and iat check out, and models.TokenRevoked says no:
// the member still holds the grant the token was issued on (same grant version), its
// status-list bit is not set, and the license's contract is not terminated. A bad token is
// never an error, only inactive; errors are the database's.
func (s *Tokens) Introspect(ctx context.Context, token string) (_ *Introspection, err error) {
	defer wrapErr(&err, "introspect a token")
	inactive := &Introspection{}
	if token == "" {
		return inactive, nil
	}
	claims, err := s.verified(ctx, token)
	if err != nil {
		s.log.Debug("introspection: token refused", "reason", err)
		return inactive, nil
	}
	userID, err := strconv.ParseInt(claims.Subject, 10, 64)
	if err != nil {
		return inactive, nil
	}
	// The grant version and the contract: at once after a change made by this replica, at most
	// grantTTL old after one made by another (hotpath.go). The bit: as the list this replica
	// serves says (statuslists.go).
	h, err := s.store.loadHotLicense(ctx, claims.License, userID, "")
	if err != nil {
		return nil, translate(err)
	}
	if h == nil {
		return inactive, nil
	}
	var g models.GrantState
	if m := h.Member; m != nil {
		g.Member, g.Version = true, m.GrantVersion
	}
	status, _ := models.ContractStatus(h.Detail.Contract.Facts(), models.DateOf(s.store.Clock.Now()), s.licenses.RenewalWindowDays)
	g.Terminated = status == models.StatusTerminated
	bit := false
	if c := claims.Status; c != nil {
		if ref, ok := statusRefOf(s.issuer, c.StatusList.URI, c.StatusList.Index); ok {
			if bit, err = s.status.Revoked(ctx, ref); err != nil {
				return nil, err
			}
		}
	}
	if models.TokenRevoked(claims.GrantVersion, bit, g) {
		return inactive, nil
	}
	return &Introspection{Active: true, Claims: claims}, nil
}
