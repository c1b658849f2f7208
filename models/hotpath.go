package models

import (
	"database/sql"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// The hot paths (check, token, introspection, support) answer from one JOIN per request and two
// short-lived in-process caches: principals by hashed credential, and products' versions.
//
// Every write this replica makes through the store (any INSERT, UPDATE, DELETE or Exec, and the
// end of every transaction) empties both caches, so a logout, a password reset or change, an
// API-key revocation, a staff role change, AddVersion or SetPhase takes effect here at once.
// Another replica may go on trusting what it cached for at most cacheTTL.
const (
	cacheTTL        = 5 * time.Second
	cacheMaxEntries = 10_000
)

type cachedPrincipal struct {
	p         Principal
	expiresAt time.Time // the session's expiry (zero for API keys), checked on every hit
	until     time.Time // when the entry stops being trusted
}

type cachedVersions struct {
	versions []ProductVersion // by sort_key
	until    time.Time
}

// hotCache is the store's in-process cache. gen counts writes: a lookup that started before a
// write does not store its (possibly stale) answer.
type hotCache struct {
	gen        atomic.Uint64
	mu         sync.RWMutex
	principals map[string]cachedPrincipal
	versions   map[int64]cachedVersions
}

func newHotCache() *hotCache {
	return &hotCache{principals: map[string]cachedPrincipal{}, versions: map[int64]cachedVersions{}}
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
	c.mu.Unlock()
}

func (c *hotCache) generation() uint64 {
	if c == nil {
		return 0
	}
	return c.gen.Load()
}

func (c *hotCache) principal(key string, now time.Time) (*Principal, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.principals[key]
	c.mu.RUnlock()
	if !ok || time.Now().After(e.until) || (!e.expiresAt.IsZero() && !e.expiresAt.After(now)) {
		return nil, false
	}
	p := e.p
	return &p, true
}

func (c *hotCache) putPrincipal(gen uint64, key string, p *Principal, expiresAt time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.principals) >= cacheMaxEntries {
		clear(c.principals)
	}
	c.principals[key] = cachedPrincipal{p: *p, expiresAt: expiresAt, until: time.Now().Add(cacheTTL)}
}

// registerInvalidation empties the cache after every write made through db.
func (c *hotCache) registerInvalidation(db *gorm.DB) error {
	after := func(*gorm.DB) { c.invalidate() }
	cb := db.Callback()
	if err := cb.Create().After("gorm:create").Register("entitled:cache_create", after); err != nil {
		return err
	}
	if err := cb.Update().After("gorm:update").Register("entitled:cache_update", after); err != nil {
		return err
	}
	if err := cb.Delete().After("gorm:delete").Register("entitled:cache_delete", after); err != nil {
		return err
	}
	return cb.Raw().After("gorm:raw").Register("entitled:cache_raw", after)
}

// productVersions lists a product's versions by sort_key, from the cache when it is fresh.
func (s *Store) productVersions(tx *gorm.DB, productID int64) ([]ProductVersion, error) {
	c := s.cache
	if c != nil {
		c.mu.RLock()
		e, ok := c.versions[productID]
		c.mu.RUnlock()
		if ok && time.Now().Before(e.until) {
			return e.versions, nil
		}
	}
	gen := c.generation()
	var versions []ProductVersion
	if err := tx.Where("product_id = ?", productID).Order("sort_key").Find(&versions).Error; err != nil {
		return nil, err
	}
	sort.SliceStable(versions, func(i, j int) bool { return versions[i].SortKey < versions[j].SortKey })
	if c != nil {
		c.mu.Lock()
		if c.gen.Load() == gen {
			if len(c.versions) >= cacheMaxEntries {
				clear(c.versions)
			}
			c.versions[productID] = cachedVersions{versions: versions, until: time.Now().Add(cacheTTL)}
		}
		c.mu.Unlock()
	}
	return versions, nil
}

// hotLicense is a license with its account, contract and one user's membership, loaded by one
// JOIN: what check, token, introspection and support need.
type hotLicense struct {
	Detail LicenseDetail
	UserID int64   // 0: no such user
	Member *Member // the user's active membership, or nil
}

const hotLicenseSQL = `SELECT l.id, l.license_number, l.account_id, l.product_id, l.order_id, l.quantity, l.kind,
 l.service_tag, l.ordered_on, l.registered_on, a.account_id,
 c.id, c.program, c.premier, c.trial, c.starts_on, c.ends_on, c.grace_until, c.terminated_on,
 u.id, m.id, m.role_admin, m.role_support, m.role_license, m.grant_version
FROM licenses l
JOIN accounts a ON a.id = l.account_id
LEFT JOIN contracts c ON c.license_id = l.id
LEFT JOIN users u ON `

const hotLicenseTail = `
LEFT JOIN members m ON m.license_id = l.id AND m.user_id = u.id
WHERE l.license_number = ?`

// loadHotLicense loads the license by its number with the membership of the user with the id
// (email == "") or the email. It is nil, nil when there is no such license.
func loadHotLicense(db *gorm.DB, ln string, userID int64, email string) (*hotLicense, error) {
	q, arg := hotLicenseSQL+"u.id = ?"+hotLicenseTail, any(userID)
	if email != "" {
		q, arg = hotLicenseSQL+"u.email = ?"+hotLicenseTail, any(email)
	}
	rows, err := db.Raw(q, arg, ln).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	var (
		h                               hotLicense
		l                               = &h.Detail.License
		serviceTag, program             sql.NullString
		cID, uID, mID, grant            sql.NullInt64
		premier, trial, ra, rs, rl      sql.NullBool
		startsOn, endsOn, grace, termOn Date
	)
	if err := rows.Scan(&l.ID, &l.LicenseNumber, &l.AccountID, &l.ProductID, &l.OrderID, &l.Quantity, &l.Kind,
		&serviceTag, &l.OrderedOn, &l.RegisteredOn, &h.Detail.Account.AccountID,
		&cID, &program, &premier, &trial, &startsOn, &endsOn, &grace, &termOn,
		&uID, &mID, &ra, &rs, &rl, &grant); err != nil {
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if serviceTag.Valid {
		l.ServiceTag = &serviceTag.String
	}
	h.Detail.Account.ID = l.AccountID
	h.Detail.Product.ID = l.ProductID
	if cID.Valid {
		h.Detail.Contract = &Contract{ID: cID.Int64, LicenseID: l.ID, Program: program.String, Premier: premier.Bool, Trial: trial.Bool,
			StartsOn: startsOn, EndsOn: endsOn, GraceUntil: grace, TerminatedOn: termOn}
	}
	if uID.Valid {
		h.UserID = uID.Int64
	}
	if mID.Valid {
		m := &Member{ID: mID.Int64, LicenseID: l.ID, UserID: h.UserID, RoleAdmin: ra.Bool, RoleSupport: rs.Bool, RoleLicense: rl.Bool, GrantVersion: grant.Int64}
		if m.Active() {
			h.Member = m
		}
	}
	return &h, nil
}

// hotAccess is access(tx, p, ln, "") with the license's detail, by one query.
// Errors: invalid_license_number, not_found, not_a_member.
func hotAccess(db *gorm.DB, p *Principal, ln string) (*hotLicense, error) {
	canonical, err := ParseLicenseNumber(ln)
	if err != nil {
		return nil, err
	}
	var userID int64
	if p.IsUser() {
		userID = p.UserID
	}
	h, err := loadHotLicense(db, canonical, userID, "")
	if err != nil {
		return nil, err
	}
	switch {
	case p.IsStaff() && h == nil:
		return nil, Errorf(CodeNotFound, "there is no license %s", canonical)
	case p.IsStaff():
		return h, nil
	case h == nil || h.Member == nil:
		return nil, Errorf(CodeNotAMember, "you are not a member of license %s", canonical)
	}
	return h, nil
}
