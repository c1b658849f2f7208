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
}

// Verifier checks entitlement tokens. It is safe for concurrent use.
type Verifier struct {
	keys      KeySource
	jwks      *JWKS // nil when the keys come from elsewhere
	parser    *jwt.Parser
	validator *jwt.Validator // the parser's claim checks, for Revalidate
	typ       string
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
	return v, nil
}

// NewWithKeys makes a verifier that takes public keys from keys (entitled's own introspection
// uses its key ring; a test may use a fixed key).
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

// Why a token is refused, for errors.Is on a *Error's Err.
var (
	ErrWrongType = errors.New("verify: the token's typ is not the one expected")
	ErrNoKeyID   = errors.New("verify: the token has no kid")
	ErrCritical  = errors.New("verify: the token has critical header parameters this verifier does not know")
)

// Verify checks a token — signature (EdDSA only), typ, kid, iss, aud, exp, nbf and iat with the
// leeway — and returns its claims. Errors are *Error with status 401 and code invalid_token;
// Detail says why in words, Err says why for errors.Is (jwt.ErrTokenExpired, ErrUnknownKey, …).
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if err := wellFormed(token); err != nil {
		return nil, &Error{Status: 401, Code: CodeInvalidToken, Detail: describe(err), Err: err}
	}
	claims := new(Claims)
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if !typeIs(t.Header["typ"], v.typ) {
			return nil, ErrWrongType
		}
		if _, ok := t.Header["crit"]; ok {
			return nil, ErrCritical
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, ErrNoKeyID
		}
		return v.keys.PublicKey(ctx, kid)
	})
	if err != nil {
		return nil, &Error{Status: 401, Code: CodeInvalidToken, Detail: describe(err), Err: err}
	}
	return claims, nil
}

// Revalidate checks again, for claims that Verify returned earlier, what can change while the
// token's bytes stay the same: exp, nbf and iat against the clock with the leeway, iss and aud.
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
func wellFormed(token string) error {
	if len(token) > MaxTokenSize {
		return fmt.Errorf("%w: longer than %d bytes", jwt.ErrTokenMalformed, MaxTokenSize)
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
	}
	return "the token is not valid"
}

// Codes of the problems Require answers with, besides the denial reasons of Reason.
const (
	CodeUnauthenticated = "unauthenticated" // no bearer token
	CodeInvalidToken    = "invalid_token"   // a token that does not verify
)

// Error is why a request was refused: Status 401 (no or bad token) or 403 (the token does not
// grant the entitlement), with a machine Code and a Detail safe to show.
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
