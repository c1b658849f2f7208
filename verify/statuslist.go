package verify

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token status lists (draft-ietf-oauth-status-list): a token or license key that carries a
// status claim names one bit of a signed list that entitled serves at
// <issuer>/v1/status-lists/<id>. The bit is 0 while what the token stands for is valid and turns
// 1, for good, when it is revoked (a member removed, roles changed, a contract terminated, a key
// released). A verifier downloads each list once per its ttl and learns of every revocation
// within that time, without a request per token.
//
// A list is decompressed once, when it is fetched, into a bit array: checking a token costs a
// map lookup and a bit test.

// TypStatusList is the typ header of a status list token.
const TypStatusList = "statuslist+jwt"

// Why a token's status could not be vouched for, for errors.Is.
var (
	// ErrRevoked: the token's bit is set. Verify answers 401 with the code ReasonRevoked.
	ErrRevoked = errors.New("verify: the token was revoked")
	// ErrStatusIndex: the token's index is negative or past the end of its list.
	ErrStatusIndex = errors.New("verify: the token's status index is outside its list")
	// ErrStatusListURI: the token's list is not one of the issuer's (see StatusLists).
	ErrStatusListURI = errors.New("verify: the token's status list is not under the issuer")
	// ErrStatusListInvalid: a list was fetched or given but is not a valid status list of the
	// issuer's (signature, typ, alg, sub, exp, bits, lst).
	ErrStatusListInvalid = errors.New("verify: the status list is not valid")
	// ErrNoStatusList: no list fresh enough for the failure policy could be had (entitled could
	// not be reached, or answered with something that is not a valid list). Verify answers 503.
	ErrNoStatusList = errors.New("verify: no fresh status list could be had")
)

// StatusListFailure is what a verifier does with a token that carries a status when it holds
// no fresh list (the list's ttl ran out and fetching it again failed).
type StatusListFailure int

const (
	// RefuseWithoutFreshList refuses the token (503 unavailable) until a list is fetched again.
	// It is the default because it is the only policy under which "a removed member's token is
	// refused within ttl" holds whatever happens to the network: an attacker who can cut the
	// verifier off from entitled cannot stretch a revoked token's life from ttl (5 minutes) to
	// the cached list's exp (24 hours). Entitlement tokens are short-lived and re-fetched anyway,
	// so a verifier that cannot reach entitled is already close to refusing them.
	RefuseWithoutFreshList StatusListFailure = iota
	// AcceptUntilListExpires keeps using the last list held, after its ttl, until its exp: a
	// bit set in it is still refused, but a revocation made since is not seen. For services that
	// value staying up during an outage of entitled over a prompt revocation.
	AcceptUntilListExpires
)

// StatusListOptions configure a StatusLists cache. The zero value is usable.
type StatusListOptions struct {
	// Client does the fetches; nil: a client with a 10 s timeout (New uses the JWKS's client).
	Client *http.Client
	// FetchBase is where entitled is reached when that is not its issuer URL (an internal
	// address, a test server): a token's list <issuer>/v1/status-lists/<id> is fetched at
	// <FetchBase>/v1/status-lists/<id>, and must still name itself <issuer>/v1/status-lists/<id>
	// (sub). "": the issuer. New sets it to the JWKS URL less /.well-known/jwks.json, so that
	// lists come from where the keys that sign them come from.
	FetchBase string
	// DefaultTTL is how long a list is kept when it has no ttl claim; 0: 5 minutes.
	DefaultTTL time.Duration
	// RetryAfterFailure is how long a failed fetch is not retried; 0: 5 s.
	RetryAfterFailure time.Duration
	// MaxLists bounds how many lists are held (entitled starts a new list only when one fills,
	// so a few at most are in use); the one fetched longest ago makes room. 0: 16.
	MaxLists int
	// Leeway forgives this much clock difference in a list's iat and exp; 0: one minute.
	Leeway time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// StatusLists fetches and caches the status lists of one issuer. It is safe for concurrent use.
//
// It fetches only lists named <issuer>/v1/status-lists/<id>, with id made of letters, digits,
// '-' and '_', and fetches them from <FetchBase>/v1/status-lists/<id> (FetchBase is the issuer
// unless set): a token is signed by entitled, but a verifier that followed any URL a token names
// would be one leaked signing key (or one bug in entitled) away from being made to request
// internal addresses. A token naming another list is refused (ErrStatusListURI).
type StatusLists struct {
	base    string // <issuer>/v1/status-lists/
	fetchAt string // <FetchBase>/v1/status-lists/
	keys    KeySource
	opts    StatusListOptions
	mu      sync.RWMutex
	lists   map[string]*listEntry
	fetches atomic.Int64
}

// listEntry is one list's place in the cache; mu lets one fetch at a time run, so that
// concurrent verifications of tokens of an expired list make one request.
type listEntry struct {
	mu  sync.Mutex
	cur atomic.Pointer[heldList]
}

// heldList is what is known of one list; it is never changed once published.
type heldList struct {
	list       *StatusList // the last valid list fetched; nil before the first
	freshUntil time.Time   // fetched + ttl, never past the list's exp
	err        error       // the last fetch failed with this
	tried      time.Time   // when the last fetch was made
}

// NewStatusLists makes a cache of the status lists of issuer (entitled's ENTITLED_BASE_URL),
// whose signatures are checked with keys (the JWKS cache; a product that verifies offline may
// pass ParseJWKS's keys). Nothing is fetched until a status is checked.
func NewStatusLists(issuer string, keys KeySource, opts StatusListOptions) *StatusLists {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.DefaultTTL <= 0 {
		opts.DefaultTTL = 5 * time.Minute
	}
	if opts.RetryAfterFailure <= 0 {
		opts.RetryAfterFailure = 5 * time.Second
	}
	if opts.MaxLists <= 0 {
		opts.MaxLists = 16
	}
	if opts.Leeway <= 0 {
		opts.Leeway = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FetchBase == "" {
		opts.FetchBase = issuer
	}
	return &StatusLists{base: strings.TrimRight(issuer, "/") + statusListPath, fetchAt: strings.TrimRight(opts.FetchBase, "/") + statusListPath,
		keys: keys, opts: opts, lists: map[string]*listEntry{}}
}

const statusListPath = "/v1/status-lists/"

// Fetches is how many times a list was requested from the server (tests and metrics).
func (s *StatusLists) Fetches() int64 { return s.fetches.Load() }

// Check says whether the index named by ref is valid: nil, or an error that is ErrRevoked,
// ErrStatusIndex, ErrStatusListURI, or ErrNoStatusList (wrapping why no list could be had).
// It fetches the list when the one held is older than its ttl; with AcceptUntilListExpires a
// list past its ttl but not its exp is used when the fetch fails.
func (s *StatusLists) Check(ctx context.Context, ref StatusListRef, policy StatusListFailure) error {
	if !s.allowed(ref.URI) {
		return ErrStatusListURI
	}
	e := s.entry(ref.URI)
	now := s.opts.Now()
	h := e.cur.Load()
	if h == nil || h.list == nil || !now.Before(h.freshUntil) {
		// Under AcceptUntilListExpires a list that may still be used is not worth waiting for
		// a fetch in progress (entitled may be hanging until the client's timeout).
		wait := policy != AcceptUntilListExpires || h == nil || h.list == nil || !now.Before(h.list.Expires)
		h = s.refresh(ctx, ref.URI, e, h, wait)
		now = s.opts.Now()
	}
	switch {
	case h.list != nil && now.Before(h.freshUntil):
	case h.list != nil && policy == AcceptUntilListExpires && now.Before(h.list.Expires):
	case h.err != nil:
		return fmt.Errorf("%w: %w", ErrNoStatusList, h.err)
	default:
		return fmt.Errorf("%w: the list held is past its ttl", ErrNoStatusList)
	}
	return h.list.check(ref.Index)
}

// allowed reports whether uri is one of the issuer's lists: the base, then an id of letters,
// digits, '-' and '_' (no '/', '.', '?', '#', '%', '@': nothing that reaches another path or host).
func (s *StatusLists) allowed(uri string) bool {
	id, ok := strings.CutPrefix(uri, s.base)
	if !ok || id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// entry is the cache's place for uri, made (and room made for it) on first use.
func (s *StatusLists) entry(uri string) *listEntry {
	s.mu.RLock()
	e := s.lists[uri]
	s.mu.RUnlock()
	if e != nil {
		return e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e = s.lists[uri]; e != nil {
		return e
	}
	if len(s.lists) >= s.opts.MaxLists {
		var oldest string
		var at time.Time
		for u, o := range s.lists {
			h := o.cur.Load()
			var t time.Time
			if h != nil {
				t = h.tried
			}
			if oldest == "" || t.Before(at) {
				oldest, at = u, t
			}
		}
		delete(s.lists, oldest)
	}
	e = new(listEntry)
	s.lists[uri] = e
	return e
}

// refresh fetches the list unless another goroutine did since seen was loaded, or a fetch failed
// less than RetryAfterFailure ago; without wait it returns seen at once while another goroutine
// fetches. It always returns what is held; a failed fetch keeps the last valid list.
func (s *StatusLists) refresh(ctx context.Context, uri string, e *listEntry, seen *heldList, wait bool) *heldList {
	if wait {
		e.mu.Lock()
	} else if !e.mu.TryLock() {
		return seen
	}
	defer e.mu.Unlock()
	cur := e.cur.Load()
	if cur != seen && cur != nil {
		return cur
	}
	now := s.opts.Now()
	if cur != nil && cur.err != nil && now.Sub(cur.tried) < s.opts.RetryAfterFailure {
		return cur
	}
	next := &heldList{tried: now}
	list, fresh, err := s.fetch(ctx, uri, now)
	if err != nil {
		next.err = err
		if cur != nil {
			next.list, next.freshUntil = cur.list, cur.freshUntil
		}
		if ctx.Err() != nil {
			// This caller gave up (a client went away): not the server's failure, so the next
			// verification tries again at once rather than after RetryAfterFailure.
			return next
		}
	} else {
		next.list, next.freshUntil = list, fresh
	}
	e.cur.Store(next)
	return next
}

// maxStatusListToken bounds the answer read: a list of 2^24 indexes, incompressible, is 2.8 MB
// in base64; entitled's 2^17 indexes are a few KiB.
const maxStatusListToken = 3 << 20

func (s *StatusLists) fetch(ctx context.Context, uri string, now time.Time) (*StatusList, time.Time, error) {
	s.fetches.Add(1)
	at := s.fetchAt + strings.TrimPrefix(uri, s.base) // allowed checked the prefix and the id
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, at, nil)
	if err != nil {
		return nil, time.Time{}, err
	}
	req.Header.Set("Accept", "application/statuslist+jwt")
	res, err := s.opts.Client.Do(req)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("fetch %s: %w", at, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, time.Time{}, fmt.Errorf("fetch %s: %s", at, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxStatusListToken+1))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("fetch %s: %w", at, err)
	}
	if len(body) > maxStatusListToken {
		return nil, time.Time{}, fmt.Errorf("fetch %s: %w: longer than %d bytes", at, ErrStatusListInvalid, maxStatusListToken)
	}
	list, err := parseStatusList(ctx, s.keys, uri, bytes.TrimSpace(body), now, s.opts.Leeway)
	if err != nil {
		return nil, time.Time{}, err
	}
	// Kept for its ttl (the signed claim, or the default), less what a shared cache in between
	// says it has kept it already, and never past its exp.
	life := list.TTL
	if life <= 0 {
		life = s.opts.DefaultTTL
	}
	if h, ok := cacheLifetime(res.Header); ok && h < life {
		life = h
	}
	fresh := now.Add(life)
	if list.Expires.Before(fresh) {
		fresh = list.Expires
	}
	return list, fresh, nil
}

// StatusList is one status list, verified and decompressed: a bit per index, 1 for revoked.
type StatusList struct {
	URI      string        // the list's sub: where it is served
	IssuedAt time.Time     // iat
	Expires  time.Time     // exp: it must not be used after
	TTL      time.Duration // ttl: how long it may be kept before fetching it again (0: not given)
	bits     []byte
}

// ParseStatusList checks a status list token that the caller downloaded from uri
// (GET <issuer>/v1/status-lists/<id>, saved as it came) — EdDSA signature by a key of keys,
// typ statuslist+jwt, sub equal to uri, iat, and exp not past at now — and decompresses it. A
// product that verifies license keys offline passes it to VerifyLicenseKey
// (LicenseKeyOptions.StatusList). Errors wrap ErrStatusListInvalid.
func ParseStatusList(keys KeySource, uri string, token []byte, now time.Time) (*StatusList, error) {
	return parseStatusList(context.Background(), keys, uri, bytes.TrimSpace(token), now, time.Minute)
}

// Len is how many indexes the list holds.
func (l *StatusList) Len() int64 { return int64(len(l.bits)) * 8 }

// Revoked is the status of index idx: true when its bit is 1. An index outside the list is
// ErrStatusIndex (the draft's verifier refuses it, as does this one).
func (l *StatusList) Revoked(idx int64) (bool, error) {
	if idx < 0 || idx/8 >= int64(len(l.bits)) {
		return false, ErrStatusIndex
	}
	return l.bits[idx/8]&(1<<(idx%8)) != 0, nil
}

// check is ErrRevoked when index idx is set, the error of Revoked, or nil.
func (l *StatusList) check(idx int64) error {
	revoked, err := l.Revoked(idx)
	switch {
	case err != nil:
		return err
	case revoked:
		return ErrRevoked
	}
	return nil
}

// statusListClaims are the claims of a status list token.
type statusListClaims struct {
	Subject    string           `json:"sub"`
	IssuedAt   *jwt.NumericDate `json:"iat"`
	ExpiresAt  *jwt.NumericDate `json:"exp"`
	TTL        int64            `json:"ttl"`
	StatusList struct {
		Bits int    `json:"bits"`
		Lst  string `json:"lst"`
	} `json:"status_list"`
}

func (c *statusListClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *statusListClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *statusListClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (c *statusListClaims) GetIssuer() (string, error)                   { return "", nil }
func (c *statusListClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *statusListClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// maxStatusListBits bounds what a list inflates to: 2^24 indexes, far more than entitled's 2^17,
// so that a small answer cannot make the verifier allocate gigabytes (a zlib bomb).
const maxStatusListBits = 1 << 21

func parseStatusList(ctx context.Context, keys KeySource, uri string, token []byte, now time.Time, leeway time.Duration) (*StatusList, error) {
	invalid := func(err error) error { return fmt.Errorf("%w: %w", ErrStatusListInvalid, err) }
	if err := wellFormedUpTo(string(token), maxStatusListToken); err != nil {
		return nil, invalid(err)
	}
	p := jwt.NewParser(jwt.WithValidMethods([]string{Algorithm}), jwt.WithSubject(uri), jwt.WithExpirationRequired(), jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway), jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithStrictDecoding())
	claims := new(statusListClaims)
	_, err := p.ParseWithClaims(string(token), claims, keyFunc(ctx, keys, TypStatusList))
	switch {
	case err != nil:
		return nil, invalid(err)
	case claims.IssuedAt == nil:
		return nil, invalid(fmt.Errorf("%w: iat", jwt.ErrTokenRequiredClaimMissing))
	case claims.StatusList.Bits != 1:
		return nil, invalid(fmt.Errorf("bits %d, want 1", claims.StatusList.Bits))
	case claims.TTL < 0:
		return nil, invalid(fmt.Errorf("ttl %d", claims.TTL))
	}
	bits, err := inflate(claims.StatusList.Lst)
	if err != nil {
		return nil, invalid(err)
	}
	return &StatusList{URI: claims.Subject, IssuedAt: claims.IssuedAt.Time, Expires: claims.ExpiresAt.Time,
		TTL: time.Duration(claims.TTL) * time.Second, bits: bits}, nil
}

// inflate decodes an lst: base64url without padding, then ZLIB (RFC 1950), read to the end so
// that its Adler-32 checksum is checked.
func inflate(lst string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(lst)
	if err != nil {
		return nil, fmt.Errorf("lst is not base64url: %w", err)
	}
	r, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("lst is not ZLIB: %w", err)
	}
	defer r.Close()
	bits, err := io.ReadAll(io.LimitReader(r, maxStatusListBits+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("lst is not ZLIB: %w", err)
	case len(bits) > maxStatusListBits:
		return nil, fmt.Errorf("lst inflates to more than %d bytes", maxStatusListBits)
	}
	return bits, nil
}
