package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Options configure a Verifier.
type Options struct {
	// Issuer is entitled's ENTITLED_BASE_URL, which tokens carry as iss. Required.
	Issuer string
	// Audience lists the names this service is known by in ENTITLED_TOKEN_AUDIENCES (one, as a
	// rule); a token's aud must be one of them. Required: a token for the knowledge base must not
	// open the download site.
	Audience []string
	// Type is the typ header tokens must carry; "": ent+jwt (entitlement tokens).
	Type string
	// Leeway forgives this much clock difference in exp, nbf and iat; 0: one minute.
	Leeway time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// JWKS configures the key-set cache that New makes.
	JWKS JWKSOptions
	// StatusListFailure is what Verify does with a token that carries a status when no fresh
	// status list can be had; the zero value is RefuseWithoutFreshList (see there why).
	StatusListFailure StatusListFailure
	// StatusLists configures the status-list cache that New makes; its Client, Now and Leeway
	// default to the JWKS's client and the options' clock and leeway, and its FetchBase to the
	// JWKS URL less /.well-known/jwks.json (lists are fetched where their keys are).
	StatusLists StatusListOptions
}

// Verifier checks entitlement tokens. It is safe for concurrent use.
type Verifier struct {
	keys      KeySource
	jwks      *JWKS // nil when the keys come from elsewhere
	parser    *jwt.Parser
	validator *jwt.Validator // the parser's claim checks, for Revalidate
	typ       string
	lists     *StatusLists // nil for NewWithKeys: no status is checked
	policy    StatusListFailure
}

// New makes a verifier that takes entitled's public keys from the JWK Set at jwksURL
// (https://entitled.example.com/.well-known/jwks.json), cached as the answer's max-age allows.
func New(jwksURL string, opts Options) (*Verifier, error) {
	if jwksURL == "" {
		return nil, errors.New("verify: the JWKS URL is required")
	}
	if opts.JWKS.Now == nil {
		opts.JWKS.Now = opts.Now
	}
	j := NewJWKS(jwksURL, opts.JWKS)
	v, err := NewWithKeys(j, opts)
	if err != nil {
		return nil, err
	}
	v.jwks = j
	v.policy = opts.StatusListFailure
	so := opts.StatusLists
	if so.Client == nil {
		so.Client = j.opts.Client
	}
	if so.Now == nil {
		so.Now = opts.Now
	}
	if so.Leeway == 0 {
		so.Leeway = opts.Leeway
	}
	if base, ok := strings.CutSuffix(jwksURL, "/.well-known/jwks.json"); ok && so.FetchBase == "" {
		so.FetchBase = base
	}
	v.lists = NewStatusLists(opts.Issuer, j, so)
	return v, nil
}

// NewWithKeys makes a verifier that takes public keys from keys (entitled's own introspection
// uses its key ring; a test may use a fixed key). It checks no status list: entitled's
// introspection reads the bits from its database, and a verifier without a JWKS URL has no
// fetch path. New's verifier checks them.
func NewWithKeys(keys KeySource, opts Options) (*Verifier, error) {
	if opts.Issuer == "" {
		return nil, errors.New("verify: Options.Issuer (entitled's ENTITLED_BASE_URL) is required")
	}
	if len(opts.Audience) == 0 {
		return nil, errors.New("verify: Options.Audience (this service's name in ENTITLED_TOKEN_AUDIENCES) is required")
	}
	if opts.Type == "" {
		opts.Type = TypEntitlement
	}
	if opts.Leeway == 0 {
		opts.Leeway = time.Minute
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithAudience(opts.Audience...),
		jwt.WithLeeway(opts.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	}
	if opts.Now != nil {
		popts = append(popts, jwt.WithTimeFunc(opts.Now))
	}
	return &Verifier{keys: keys, parser: jwt.NewParser(popts...), validator: jwt.NewValidator(popts...), typ: opts.Type}, nil
}

// JWKS is the verifier's key-set cache (nil for NewWithKeys), for Run and Fetches.
func (v *Verifier) JWKS() *JWKS { return v.jwks }

// StatusLists is the verifier's status-list cache (nil for NewWithKeys), for Fetches, and for
// VerifyLicenseKey to share (LicenseKeyOptions.StatusLists).
func (v *Verifier) StatusLists() *StatusLists { return v.lists }

// Why a token is refused, for errors.Is on a *Error's Err.
var (
	ErrWrongType = errors.New("verify: the token's typ is not the one expected")
	ErrNoKeyID   = errors.New("verify: the token has no kid")
	ErrCritical  = errors.New("verify: the token has critical header parameters this verifier does not know")
)

// Verify checks a token — signature (EdDSA only), typ, kid, iss, aud, exp, nbf and iat with the
// leeway, then its status-list bit when it carries one (CheckStatus) — and returns its claims.
// Errors are *Error: 401 invalid_token, 401 revoked, or 503 unavailable when no fresh status
// list can be had under RefuseWithoutFreshList; Detail says why in words, Err says why for
// errors.Is (jwt.ErrTokenExpired, ErrUnknownKey, ErrRevoked, ErrNoStatusList, …).
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if err := wellFormed(token); err != nil {
		return nil, &Error{Status: 401, Code: CodeInvalidToken, Detail: describe(err), Err: err}
	}
	claims := new(Claims)
	_, err := v.parser.ParseWithClaims(token, claims, keyFunc(ctx, v.keys, v.typ))
	if err != nil {
		return nil, &Error{Status: 401, Code: CodeInvalidToken, Detail: describe(err), Err: err}
	}
	if err := v.CheckStatus(ctx, claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// CheckStatus checks the status-list bit of claims that carry a status (nil otherwise, and for
// a verifier made by NewWithKeys): the list is fetched (where the JWKS is) when the one held is
// older than its ttl. Errors are *Error: 401 revoked (ErrRevoked), 401 invalid_token for an
// index outside its list or a list not under the issuer, 503 unavailable (ErrNoStatusList).
// Verify calls it; a service that remembers verified tokens calls it with Revalidate.
func (v *Verifier) CheckStatus(ctx context.Context, claims *Claims) error {
	if claims.Status == nil || v.lists == nil {
		return nil
	}
	err := v.lists.Check(ctx, claims.Status.StatusList, v.policy)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrRevoked):
		return &Error{Status: 401, Code: ReasonRevoked, Detail: "the token was revoked: the grant behind it changed or ended", Err: err}
	case errors.Is(err, ErrNoStatusList):
		return &Error{Status: 503, Code: CodeUnavailable, Detail: "the token's revocation status cannot be checked now", Err: err}
	}
	return &Error{Status: 401, Code: CodeInvalidToken, Detail: describe(err), Err: err}
}

// Revalidate checks again, for claims that Verify returned earlier, what can change while the
// token's bytes stay the same: exp, nbf and iat against the clock with the leeway, iss and aud.
// The status can change too: CheckStatus checks it (it needs a context, for the fetch).
// A service that remembers the tokens it verified (by the token's exact string: Verify accepts
// one string form per token) runs it on each use in place of the signature check.
func (v *Verifier) Revalidate(claims *Claims) error {
	if err := v.validator.Validate(claims); err != nil {
		return &Error{Status: 401, Code: CodeInvalidToken, Detail: describe(err), Err: err}
	}
	return nil
}

// MaxTokenSize is the longest token Verify and VerifyLicenseKey read; entitled's are about 1 KiB.
// A longer one is refused before anything is decoded, so that a forged token costs a verifier
// nothing to refuse.
const MaxTokenSize = 16 << 10

// wellFormed refuses, before any decoding, what no token of entitled's can be: over MaxTokenSize,
// or anything but three segments of base64url characters (RFC 7515 §7.1 allows no whitespace).
// Go's base64 decoder skips CR and LF, so without this a genuine token with a newline inside
// would verify as another string — one that a denylist or cache keyed by the token misses.
// (Strict decoding, in the parser, refuses the other re-encoding: spare bits set in a segment's
// last character.)
func wellFormed(token string) error { return wellFormedUpTo(token, MaxTokenSize) }

// wellFormedUpTo is wellFormed for a JWS of at most limit bytes (a status list may be longer
// than a token).
func wellFormedUpTo(token string, limit int) error {
	if len(token) > limit {
		return fmt.Errorf("%w: longer than %d bytes", jwt.ErrTokenMalformed, limit)
	}
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			dots++
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return fmt.Errorf("%w: a character that is not base64url", jwt.ErrTokenMalformed)
		}
	}
	if dots != 2 {
		return fmt.Errorf("%w: not three segments", jwt.ErrTokenMalformed)
	}
	return nil
}

// typeIs compares a typ header with the expected media type, as RFC 7515 §4.1.9 says:
// case-insensitively, with or without "application/".
func typeIs(h any, want string) bool {
	s, ok := h.(string)
	if !ok {
		return false
	}
	s = strings.ToLower(s)
	return s == want || s == "application/"+want
}

// describe says in words why a token was refused.
func describe(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "the token is not a well-formed JWT"
	case errors.Is(err, ErrWrongType):
		return "the token is not an entitlement token (typ)"
	case errors.Is(err, ErrCritical):
		return "the token has critical header parameters"
	case errors.Is(err, ErrNoKeyID):
		return "the token names no key (kid)"
	case errors.Is(err, ErrUnknownKey):
		return "the token is signed with a key that is not published"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "the token's key could not be found"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "the token's signature or algorithm is not valid"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "the token lacks a required claim"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "the token was issued by someone else (iss)"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "the token was issued for another service (aud)"
	case errors.Is(err, ErrStatusIndex):
		return "the token's status index is outside its status list"
	case errors.Is(err, ErrStatusListURI):
		return "the token's status list is not one of the issuer's"
	}
	return "the token is not valid"
}

// Codes of the problems Require answers with, besides the denial reasons of Reason.
const (
	CodeUnauthenticated = "unauthenticated" // no bearer token
	CodeInvalidToken    = "invalid_token"   // a token that does not verify
	CodeUnavailable     = "unavailable"     // no fresh status list could be had (503)
)

// Error is why a request was refused: Status 401 (no, bad or revoked token), 403 (the token does
// not grant the entitlement) or 503 (its status cannot be checked now), with a machine Code and
// a Detail safe to show.
type Error struct {
	Status int
	Code   string
	Detail string
	Err    error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Detail, e.Err)
	}
	return e.Code + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

// keyFunc finds the key of a token of type typ in keys by its kid, once its header passed the
// checks every kind of entitled token shares: the typ (so that one kind cannot stand for
// another), no crit extension (none is understood) and a kid.
func keyFunc(ctx context.Context, keys KeySource, typ string) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if !typeIs(t.Header["typ"], typ) {
			return nil, ErrWrongType
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, ErrCritical
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, ErrNoKeyID
		}
		return keys.PublicKey(ctx, kid)
	}
}
