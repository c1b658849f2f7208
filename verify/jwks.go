package verify

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Why not MicahParks/keyfunc: it refreshes on a fixed interval and ignores the JWKS answer's
// Cache-Control. entitled's rotation is built on that header: a new key is published
// ENTITLED_JWKS_MAX_AGE before it signs, so a verifier that keeps the key set no longer than
// max-age always knows the key before it sees a token signed with it. This cache honours max-age
// (less the Age a shared cache adds), revalidates with If-None-Match, and refreshes early on an
// unknown kid at most once per MinRefreshInterval — in about 200 lines with no dependency.

// ErrUnknownKey is returned for a token whose kid is not in the key set, even after a refresh.
var ErrUnknownKey = errors.New("verify: the token's key (kid) is not published")

// KeySource finds the public key a token names. JWKS is the one that fetches entitled's key set;
// a test or entitled itself may use another.
type KeySource interface {
	PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error)
}

// JWKSOptions configure a JWKS cache. The zero value is usable.
type JWKSOptions struct {
	// Client does the fetches; nil: a client with a 10 s timeout.
	Client *http.Client
	// MinRefreshInterval is how often at most tokens with unknown kids make the cache fetch the
	// key set before its max-age ends, so that a flood of forged kids cannot hammer entitled.
	// 0: 30 s.
	MinRefreshInterval time.Duration
	// DefaultMaxAge is how long a key set is kept when its answer has no max-age. 0: 5 minutes.
	DefaultMaxAge time.Duration
	// RetryAfterFailure is how long a failed fetch is not retried (the keys held are kept). 0: 5 s.
	RetryAfterFailure time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// JWKS is a cached JWK Set fetched from a URL. It is safe for concurrent use.
type JWKS struct {
	url  string
	opts JWKSOptions

	set       atomic.Pointer[keySet]
	mu        sync.Mutex // one fetch at a time; guards lastEarly
	lastEarly time.Time  // the last fetch made for an unknown kid
	fetches   atomic.Int64
}

// keySet is one fetched key set; it is never changed once published.
type keySet struct {
	keys      map[string]ed25519.PublicKey
	etag      string
	fetchedAt time.Time // when the last fetch (or failed attempt) was made
	expires   time.Time // keep it until then
	err       error     // the last fetch failed with this
}

// NewJWKS makes a cache of the key set at url. Nothing is fetched until the first key is asked
// for (or Refresh or Run is called).
func NewJWKS(url string, opts JWKSOptions) *JWKS {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.MinRefreshInterval <= 0 {
		opts.MinRefreshInterval = 30 * time.Second
	}
	if opts.DefaultMaxAge <= 0 {
		opts.DefaultMaxAge = 5 * time.Minute
	}
	if opts.RetryAfterFailure <= 0 {
		opts.RetryAfterFailure = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &JWKS{url: url, opts: opts}
}

// Fetches is how many times the key set was requested from the server (tests and metrics).
func (j *JWKS) Fetches() int64 { return j.fetches.Load() }

// PublicKey returns the Ed25519 key with the kid. A key set older than its max-age is fetched
// again first; a kid it lacks makes it fetch early, at most once per MinRefreshInterval.
// Errors: ErrUnknownKey, or why the key set could not be fetched.
func (j *JWKS) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	s := j.set.Load()
	if s == nil || !j.opts.Now().Before(s.expires) {
		s = j.refresh(ctx, s, false)
	}
	if k, ok := s.keys[kid]; ok {
		return k, nil
	}
	s = j.refresh(ctx, s, true)
	if k, ok := s.keys[kid]; ok {
		return k, nil
	}
	if len(s.keys) == 0 && s.err != nil {
		return nil, fmt.Errorf("verify: no key set: %w", s.err)
	}
	return nil, ErrUnknownKey
}

// Refresh fetches the key set now, whatever its age.
func (j *JWKS) Refresh(ctx context.Context) error {
	return j.refresh(ctx, j.set.Load(), false).err
}

// Run refreshes the key set in the background each time its max-age ends, until ctx ends, so
// that verifications never wait for a fetch. Without it the key set is fetched by the first
// verification after it expired.
func (j *JWKS) Run(ctx context.Context) {
	for {
		s := j.set.Load()
		if s == nil || !j.opts.Now().Before(s.expires) {
			s = j.refresh(ctx, s, false)
		}
		wait := time.Until(s.expires)
		if wait < 100*time.Millisecond {
			wait = 100 * time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refresh fetches the key set unless another goroutine did so since seen was loaded; for an
// unknown kid (early) it fetches only if no other unknown kid did so within MinRefreshInterval,
// so that the first token of a key rotated in at once is verified at once, and a flood of forged
// kids costs one fetch per interval. It always returns a key set to use: on failure, the keys
// held so far.
func (j *JWKS) refresh(ctx context.Context, seen *keySet, early bool) *keySet {
	j.mu.Lock()
	defer j.mu.Unlock()
	cur := j.set.Load()
	if cur != seen && cur != nil {
		return cur // someone fetched while this one waited
	}
	now := j.opts.Now()
	if cur != nil {
		switch {
		case cur.err != nil && now.Sub(cur.fetchedAt) < j.opts.RetryAfterFailure:
			return cur // the server failed a moment ago: do not hammer it
		case early && !j.lastEarly.IsZero() && now.Sub(j.lastEarly) < j.opts.MinRefreshInterval:
			return cur // an unknown kid refreshed the set a moment ago: a flood of forged kids gets nothing more
		case early:
			j.lastEarly = now
		}
	}
	next, err := j.fetch(ctx, cur, now)
	if err != nil {
		// Keep what we have; try again after a pause (or on the next unknown kid).
		next = &keySet{err: err, fetchedAt: now, expires: now.Add(j.opts.RetryAfterFailure)}
		if cur != nil {
			next.keys, next.etag = cur.keys, cur.etag
		}
	}
	j.set.Store(next)
	return next
}

// jwk is the part of a JWK that matters here.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

func (j *JWKS) fetch(ctx context.Context, cur *keySet, now time.Time) (*keySet, error) {
	j.fetches.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if cur != nil && cur.etag != "" && len(cur.keys) > 0 {
		req.Header.Set("If-None-Match", cur.etag)
	}
	res, err := j.opts.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", j.url, err)
	}
	defer res.Body.Close()
	ttl := j.maxAge(res.Header)
	switch {
	case res.StatusCode == http.StatusNotModified && cur != nil:
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<16))
		return &keySet{keys: cur.keys, etag: cur.etag, fetchedAt: now, expires: now.Add(ttl)}, nil
	case res.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fetch %s: %s", j.url, res.Status)
	}
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("fetch %s: not a JWK Set: %w", j.url, err)
	}
	keys := signingKeys(doc.Keys)
	return &keySet{keys: keys, etag: res.Header.Get("ETag"), fetchedAt: now, expires: now.Add(ttl)}, nil
}

// maxAge is how long an answer may be kept: Cache-Control max-age less Age, or the default.
func (j *JWKS) maxAge(h http.Header) time.Duration {
	if ttl, ok := cacheLifetime(h); ok {
		return ttl
	}
	return j.opts.DefaultMaxAge
}

// cacheLifetime is how long an answer may be kept by its Cache-Control max-age less its Age,
// at least a second; false when the answer gives no max-age. no-store and no-cache keep it for
// a second, so that a burst of verifications makes one fetch.
func cacheLifetime(h http.Header) (time.Duration, bool) {
	cc := strings.ToLower(h.Get("Cache-Control"))
	if cc == "" {
		return 0, false
	}
	ttl := time.Duration(-1)
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(d)
		switch {
		case d == "no-store", d == "no-cache":
			return time.Second, true
		case strings.HasPrefix(d, "max-age="):
			if n, err := strconv.Atoi(strings.Trim(strings.TrimPrefix(d, "max-age="), `"`)); err == nil && n >= 0 {
				ttl = time.Duration(n) * time.Second
			}
		}
	}
	if ttl < 0 {
		return 0, false
	}
	if age, err := strconv.Atoi(h.Get("Age")); err == nil && age > 0 {
		ttl -= time.Duration(age) * time.Second
	}
	if ttl < time.Second {
		ttl = time.Second
	}
	return ttl, true
}

// signingKeys are the Ed25519 signing keys of a JWK Set by kid: a key of another type or use can
// never verify a token, so it is left out.
func signingKeys(doc []jwk) map[string]ed25519.PublicKey {
	keys := make(map[string]ed25519.PublicKey, len(doc))
	for _, k := range doc {
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Kid == "" || (k.Alg != "" && k.Alg != Algorithm) || (k.Use != "" && k.Use != "sig") {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			continue
		}
		keys[k.Kid] = ed25519.PublicKey(x)
	}
	return keys
}
