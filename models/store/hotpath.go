package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"entitled/models"
	"github.com/entitled-dev/entitled/verify"
)

// The hot paths (check, token, introspection, support) answer from one JOIN per request and
// four short-lived in-process caches: principals by hashed credential, products' versions, the
// JOIN's rows (license, contract, membership) by License Number and user, and the entitlement
// tokens introspection has verified (their signatures; the rest is checked on every use).
//
// Every write this replica makes through the store (any INSERT, UPDATE, DELETE or Exec, and the
// end of every transaction) empties the caches, so a logout, a password reset or change, an
// API-key revocation, a staff role change, a revoked grant, a termination, AddVersion or
// SetPhase takes effect here at once — and so does a key rotation, which forgets every verified
// token. Changes made by another replica or the CLI empty them too (changes.go): on PostgreSQL
// as soon as the change's NOTIFY reaches this replica's listener (milliseconds after the
// commit); on SQLite at the next request, whose principal lookup first checks PRAGMA
// data_version (and so does a hit in the other caches, unless a check started within the last
// millisecond). Only while the PostgreSQL listener is reconnecting may another replica's change
// go unseen, for at most cacheTTL (a principal, a version, a verified signature) or grantTTL (a
// row).
const (
	cacheTTL        = 5 * time.Second
	cacheMaxEntries = 10_000
	// grantTTL bounds how long another replica's change to a license, its contract or a
	// membership (a revoked grant, a termination, a renewal) may go unseen by this replica's
	// check, support, token and introspection answers. Dates are judged live on every request;
	// only the rows are cached.
	grantTTL = time.Second
)

// grantKey names one hot row: a license with one user's membership, the user given by id or
// (API keys asking about a user) by email.
type grantKey struct {
	ln     string
	userID int64
	email  string
}

// cached is one cache entry: a value and when it stops being trusted.
type cached[V any] struct {
	v     V
	until time.Time
}

// principalEntry is a cached principal with its session's expiry (zero for API keys), checked
// on every hit.
type principalEntry struct {
	p         models.Principal
	expiresAt time.Time
}

// hotCache is the store's in-process cache: four maps under one lock, emptied together. gen
// counts writes: a lookup that started before a write does not store its (possibly stale) answer.
// hits and misses count lookups answered from the cache and not (Store.HotCacheCounts). Entries
// age by the store's clock (now), so that a test moves them past their TTL by advancing it.
type hotCache struct {
	gen    atomic.Uint64
	hits   atomic.Uint64
	misses atomic.Uint64
	now    func() time.Time // the store's clock; nil: time.Now
	// sync, when set (SQLite: Store.checkDataVersion), empties the cache when another process
	// committed since it last looked. A principal lookup — the first cache lookup of every
	// authenticated request — calls it with strict set, hit or miss; a hit in the other caches
	// calls it without, and then a check that started within the last dataVersionReuse serves
	// (the one at the start of the same request, when there is one).
	sync       func(strict bool)
	mu         sync.RWMutex
	principals map[string]cached[principalEntry]
	versions   map[int64]cached[[]models.ProductVersion] // by sort_key
	grants     map[grantKey]cached[hotLicense]
	// tokens are entitlement tokens whose signature, typ and kid introspection has checked, by
	// SHA-256 of their exact string. Time claims, issuer and audience are checked again on every
	// use (verify.Revalidate). The claims are shared: never changed after Verify.
	tokens map[[sha256.Size]byte]cached[*verify.Claims]
}

// newHotCache makes an empty cache whose entries age by now (the store's Clock, so that tests
// move time instead of sleeping).
func newHotCache(now func() time.Time) *hotCache {
	return &hotCache{now: now, principals: map[string]cached[principalEntry]{}, versions: map[int64]cached[[]models.ProductVersion]{},
		grants: map[grantKey]cached[hotLicense]{}, tokens: map[[sha256.Size]byte]cached[*verify.Claims]{}}
}

// invalidate forgets everything: this replica wrote something.
func (c *hotCache) invalidate() {
	if c == nil {
		return
	}
	c.gen.Add(1)
	c.mu.Lock()
	clear(c.principals)
	clear(c.versions)
	clear(c.grants)
	clear(c.tokens)
	c.mu.Unlock()
}

// clock is the time entries age by: the store's clock.
func (c *hotCache) clock() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}

// HotCacheCounts is how many hot-path cache lookups this store answered from its cache (hits)
// and how many it had to ask the database for (misses: no entry, or one past its TTL).
func (s *Store) HotCacheCounts() (hits, misses uint64) {
	if s.cache == nil {
		return 0, 0
	}
	return s.cache.hits.Load(), s.cache.misses.Load()
}

func (c *hotCache) generation() uint64 {
	if c == nil {
		return 0
	}
	return c.gen.Load()
}

// lookup is m[k] while it is trusted. c may be nil (no cache).
func lookup[K comparable, V any](c *hotCache, m map[K]cached[V], k K) (V, bool) {
	var zero V
	if c == nil {
		return zero, false
	}
	c.mu.RLock()
	e, ok := m[k]
	c.mu.RUnlock()
	if !ok || c.clock().After(e.until) {
		c.misses.Add(1)
		return zero, false
	}
	if c.sync != nil {
		g := c.gen.Load()
		c.sync(false)
		if c.gen.Load() != g { // emptied: the entry may be stale
			c.misses.Add(1)
			return zero, false
		}
	}
	c.hits.Add(1)
	return e.v, true
}

// keep stores v as m[k] for ttl, unless this replica wrote something since generation gen was
// read (the value may predate the write). A full map is emptied rather than grown.
func keep[K comparable, V any](c *hotCache, gen uint64, m map[K]cached[V], k K, v V, ttl time.Duration) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(m) >= cacheMaxEntries {
		clear(m)
	}
	m[k] = cached[V]{v: v, until: c.clock().Add(ttl)}
}

func (c *hotCache) principal(key string, now time.Time) (*models.Principal, bool) {
	if c == nil {
		return nil, false
	}
	if c.sync != nil {
		c.sync(true)
	}
	e, ok := lookup(c, c.principals, key)
	if !ok || (!e.expiresAt.IsZero() && !e.expiresAt.After(now)) {
		return nil, false
	}
	p := e.p
	return &p, true
}

func (c *hotCache) putPrincipal(gen uint64, key string, p *models.Principal, expiresAt time.Time) {
	if c == nil {
		return
	}
	keep(c, gen, c.principals, key, principalEntry{p: *p, expiresAt: expiresAt}, cacheTTL)
}

// grant is a copy of the cached row, or false when there is none or it is too old.
func (c *hotCache) grant(k grantKey) (*hotLicense, bool) {
	if c == nil {
		return nil, false
	}
	h, ok := lookup(c, c.grants, k)
	if !ok {
		return nil, false
	}
	return h.clone(), true
}

func (c *hotCache) putGrant(gen uint64, k grantKey, h *hotLicense) {
	if c == nil {
		return
	}
	keep(c, gen, c.grants, k, *h.clone(), grantTTL)
}

// verifiedToken is the claims of a token verified less than cacheTTL ago, or false.
func (c *hotCache) verifiedToken(k [sha256.Size]byte) (*verify.Claims, bool) {
	if c == nil {
		return nil, false
	}
	return lookup(c, c.tokens, k)
}

func (c *hotCache) putVerifiedToken(gen uint64, k [sha256.Size]byte, claims *verify.Claims) {
	if c == nil {
		return
	}
	keep(c, gen, c.tokens, k, claims, cacheTTL)
}

// clone copies the row and what it points to, so that no caller shares the cache's copy.
func (h *hotLicense) clone() *hotLicense {
	out := *h
	if h.Detail.Contract != nil {
		c := *h.Detail.Contract
		out.Detail.Contract = &c
	}
	if h.Member != nil {
		m := *h.Member
		out.Member = &m
	}
	return &out
}

// registerInvalidation empties the cache after every write made through db.
func (c *hotCache) registerInvalidation(db *gorm.DB) error {
	return afterWrites(db, "entitled:cache", func(*gorm.DB) { c.invalidate() })
}

// productVersions lists a product's versions by sort_key, from the cache when it is fresh.
func (s *Store) productVersions(tx *gorm.DB, productID int64) ([]models.ProductVersion, error) {
	c := s.cache
	if c != nil {
		if versions, ok := lookup(c, c.versions, productID); ok {
			return versions, nil
		}
	}
	gen := c.generation()
	var versions []models.ProductVersion
	if err := tx.Where("product_id = ?", productID).Order("sort_key").Find(&versions).Error; err != nil {
		return nil, err
	}
	sort.SliceStable(versions, func(i, j int) bool { return versions[i].SortKey < versions[j].SortKey })
	if c != nil {
		keep(c, gen, c.versions, productID, versions, cacheTTL)
	}
	return versions, nil
}

// hotLicense is a license with its account, contract and one user's membership, loaded by one
// JOIN: what check, token, introspection and support need.
type hotLicense struct {
	Detail models.LicenseDetail
	UserID int64          // 0: no such user
	Member *models.Member // the user's active membership, or nil
}

const hotLicenseSQL = `SELECT l.id, l.license_number, l.account_id, l.product_id, l.order_id, l.quantity, l.kind,
 l.service_tag, l.ordered_on, l.registered_on, a.account_id,
 c.id, c.program, c.premier, c.trial, c.starts_on, c.ends_on, c.grace_until, c.terminated_on,
 u.id, m.id, m.role_admin, m.role_support, m.role_license, m.grant_version, m.status_list_id, m.status_idx
FROM licenses l
JOIN accounts a ON a.id = l.account_id
LEFT JOIN contracts c ON c.license_id = l.id
LEFT JOIN users u ON `

// An account whose address is not verified is nobody on a license (the rule of verifiedUser):
// a membership it held from before that rule grants nothing until the address is verified.
const hotLicenseTail = ` AND u.email_verified_at IS NOT NULL
LEFT JOIN members m ON m.license_id = l.id AND m.user_id = u.id
WHERE l.license_number = ?`

// hotStatements are the hot JOIN's two forms (by user id, by email), prepared once per store on
// the *sql.DB: the hot paths skip GORM's statement building and reflection, and SQLite does not
// parse the JOIN again per request (database/sql re-prepares it per connection as needed).
type hotStatements struct {
	mu      sync.Mutex // held while preparing
	byID    atomic.Pointer[sql.Stmt]
	byEmail atomic.Pointer[sql.Stmt]
}

// statement prepares the form on first use. A failed prepare (the database is down) is not
// kept: the next request tries again.
func (s *Store) hotStatement(ctx context.Context, byEmail bool) (*sql.Stmt, error) {
	h := &s.hot
	slot, where := &h.byID, "u.id = ?"
	if byEmail {
		slot, where = &h.byEmail, "u.email = ?"
	}
	if st := slot.Load(); st != nil {
		return st, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if st := slot.Load(); st != nil {
		return st, nil
	}
	q := hotLicenseSQL + where + hotLicenseTail
	if s.Dialect == Postgres {
		q = numberPlaceholders(q)
	}
	stmt, err := s.sqlDB.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	slot.Store(stmt)
	return stmt, nil
}

// numberPlaceholders turns the query's ? placeholders into PostgreSQL's $1, $2, … (the hot
// query has no ? anywhere else).
func numberPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// closeHot closes the prepared statements (Store.Close).
func (s *Store) closeHot() {
	s.hot.mu.Lock()
	defer s.hot.mu.Unlock()
	for _, slot := range []*atomic.Pointer[sql.Stmt]{&s.hot.byID, &s.hot.byEmail} {
		if st := slot.Swap(nil); st != nil {
			st.Close()
		}
	}
}

// loadHotLicense loads the license by its number with the membership of the user with the id
// (email == "") or the email. It is nil, nil when there is no such license.
func (s *Store) loadHotLicense(ctx context.Context, ln string, userID int64, email string) (*hotLicense, error) {
	key := grantKey{ln: ln, userID: userID, email: email}
	if h, ok := s.cache.grant(key); ok {
		return h, nil
	}
	gen := s.cache.generation()
	h, err := s.queryHotLicense(ctx, ln, userID, email)
	if err != nil || h == nil {
		return h, err
	}
	s.cache.putGrant(gen, key, h)
	return h, nil
}

// queryHotLicense is loadHotLicense's one query.
func (s *Store) queryHotLicense(ctx context.Context, ln string, userID int64, email string) (*hotLicense, error) {
	stmt, err := s.hotStatement(ctx, email != "")
	if err != nil {
		return nil, err
	}
	var arg any = userID
	if email != "" {
		arg = email
	}
	row := stmt.QueryRowContext(ctx, arg, ln)
	var (
		h                               hotLicense
		l                               = &h.Detail.License
		serviceTag, program             sql.NullString
		cID, uID, mID, grant            sql.NullInt64
		statusList, statusIdx           sql.NullInt64
		premier, trial, ra, rs, rl      sql.NullBool
		startsOn, endsOn, grace, termOn models.Date
	)
	if err := row.Scan(&l.ID, &l.LicenseNumber, &l.AccountID, &l.ProductID, &l.OrderID, &l.Quantity, &l.Kind,
		&serviceTag, &l.OrderedOn, &l.RegisteredOn, &h.Detail.Account.AccountID,
		&cID, &program, &premier, &trial, &startsOn, &endsOn, &grace, &termOn,
		&uID, &mID, &ra, &rs, &rl, &grant, &statusList, &statusIdx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, err
	}
	if serviceTag.Valid {
		l.ServiceTag = &serviceTag.String
	}
	h.Detail.Account.ID = l.AccountID
	h.Detail.Product.ID = l.ProductID
	if cID.Valid {
		h.Detail.Contract = &models.Contract{ID: cID.Int64, LicenseID: l.ID, Program: program.String, Premier: premier.Bool, Trial: trial.Bool,
			StartsOn: startsOn, EndsOn: endsOn, GraceUntil: grace, TerminatedOn: termOn}
	}
	if uID.Valid {
		h.UserID = uID.Int64
	}
	if mID.Valid {
		m := &models.Member{ID: mID.Int64, LicenseID: l.ID, UserID: h.UserID, RoleAdmin: ra.Bool, RoleSupport: rs.Bool, RoleLicense: rl.Bool, GrantVersion: grant.Int64}
		if statusList.Valid && statusIdx.Valid {
			m.StatusListID, m.StatusIdx = &statusList.Int64, &statusIdx.Int64
		}
		if m.Active() {
			h.Member = m
		}
	}
	return &h, nil
}

// hotAccess is access(tx, p, ln, "") with the license's detail, by one query (possibly cached):
// the same rule, models.LicenseAccess, decides.
// Errors: invalid_license_number, not_found, not_a_member.
func (s *Store) hotAccess(ctx context.Context, p *models.Principal, ln string) (*hotLicense, error) {
	canonical, err := models.ParseLicenseNumber(ln)
	if err != nil {
		return nil, err
	}
	var userID int64
	if p.IsUser() {
		userID = p.UserID
	}
	h, err := s.loadHotLicense(ctx, canonical, userID, "")
	if err != nil {
		return nil, err
	}
	var roles []string
	if h != nil && h.Member != nil {
		roles = h.Member.Roles()
	}
	if code := models.LicenseAccess(p, h != nil, roles, ""); code != "" {
		return nil, models.LicenseAccessError(code, canonical, "")
	}
	return h, nil
}
