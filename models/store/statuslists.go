package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"gorm.io/gorm"

	"entitled/models"
)

// Token status lists (issue 20, draft-ietf-oauth-status-list). Each grant version of a member
// and each license key owns one index of one list (members.status_list_id/status_idx,
// license_keys.status_list_id/status_idx); the index is allocated, and its bit set, inside the
// transaction of the change that causes it, so that a rolled-back change leaves no trace and a
// committed one is never missing from the list. Why a row per index: see the migration
// (00012_status_lists.sql).
//
// Serving (StatusLists.Get) answers from memory: each list's bits and its signed JWT are kept
// with the generation they were read at. The generation moves when this process commits a flip
// (withTx bumps it after the commit) and when another process changes anything (ChangeCount:
// PostgreSQL's notices, SQLite's data_version); only then does the next request re-read the
// list's revoked indexes (one small query on the partial index), and only if their count moved
// is the list re-signed. A served list is also re-signed when it is half its lifetime old, and
// when the entitlement signing key changes.

// statusState is the store's side of status lists: the size of the lists it makes, the random
// source indexes are drawn from, and the count of its committed transactions that flipped bits.
type statusState struct {
	size  atomic.Int64 // of new lists; 0: models.StatusListSize
	flips atomic.Uint64

	mu  sync.Mutex
	src mrand.Source // ChaCha8 seeded from crypto/rand; nil until first use
}

// Uint64 makes statusState a rand.Source safe for concurrent transactions.
func (st *statusState) Uint64() uint64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.src == nil {
		var seed [32]byte
		_, _ = rand.Read(seed[:])
		st.src = mrand.NewChaCha8(seed)
	}
	return st.src.Uint64()
}

func (st *statusState) listSize() int64 {
	if n := st.size.Load(); n > 0 {
		return n
	}
	return models.StatusListSize
}

// statusTxKey marks the context of a withTx transaction with its store's statusState and a flag
// that the transaction flipped a bit (withTx bumps flips once it has committed: a reader that
// sees the new generation then reads the committed rows).
type statusTxKey struct{}

type statusTx struct {
	state   *statusState
	flipped atomic.Bool
}

// fallbackStatus serves a transaction that withTx did not start (every one is withTx's today):
// default size, its own source.
var fallbackStatus statusState

func statusTxOf(tx *gorm.DB) *statusTx {
	if tx.Statement != nil && tx.Statement.Context != nil {
		if st, ok := tx.Statement.Context.Value(statusTxKey{}).(*statusTx); ok {
			return st
		}
	}
	return &statusTx{state: &fallbackStatus}
}

// markFlipped records that the transaction set a bit.
func (st *statusTx) markFlipped() { st.flipped.Store(true) }

// statusList is a row of status_lists.
type statusList struct {
	ID        int64
	Size      int64
	CreatedAt time.Time
}

func (statusList) TableName() string { return "status_lists" }

// statusProbes is how many random positions an allocation tries before it reads the list's
// taken positions and draws from the free ones (a nearly full list).
const statusProbes = 8

// allocateStatus gives out one free index of the newest list, drawn at random, in tx; a full list
// (or none yet) makes a new one. revoked allocates it with its bit already set: a grant made on a
// license whose contract is terminated is revoked from the start (models.TokenRevoked).
func allocateStatus(tx *gorm.DB, now time.Time, revoked bool) (models.StatusRef, error) {
	st := statusTxOf(tx)
	for range 4 { // a list that fills meanwhile, or twice, is unheard of; more is a bug
		var l statusList
		err := tx.Order("id DESC").Limit(1).Take(&l).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			if l, err = newStatusList(tx, st, now); err != nil {
				return models.StatusRef{}, err
			}
		} else if err != nil {
			return models.StatusRef{}, err
		}
		for range statusProbes {
			i := models.RandomStatusIndex(st.state, l.Size)
			if ok, err := insertStatusEntry(tx, st, l.ID, i, revoked, now); ok || err != nil {
				return models.StatusRef{List: l.ID, Idx: i}, err
			}
		}
		// Mostly full: draw from what is free. Another transaction may take the same position
		// first (its row is not visible yet); then draw again.
		for range 3 {
			var taken []int64
			if err := tx.Table("status_list_entries").Where("list_id = ?", l.ID).Pluck("idx", &taken).Error; err != nil {
				return models.StatusRef{}, err
			}
			i, ok := models.PickFreeStatusIndex(st.state, l.Size, taken)
			if !ok {
				break
			}
			if ok, err := insertStatusEntry(tx, st, l.ID, i, revoked, now); ok || err != nil {
				return models.StatusRef{List: l.ID, Idx: i}, err
			}
		}
		if _, err := newStatusList(tx, st, now); err != nil {
			return models.StatusRef{}, err
		}
	}
	return models.StatusRef{}, errors.New("no free status-list index after starting new lists")
}

// newStatusList starts a list of the store's size.
func newStatusList(tx *gorm.DB, st *statusTx, now time.Time) (statusList, error) {
	l := statusList{Size: st.state.listSize(), CreatedAt: now}
	return l, tx.Create(&l).Error
}

// insertStatusEntry takes position i of the list unless it is taken (a concurrent insert of the
// same position waits for that transaction, then counts as taken).
func insertStatusEntry(tx *gorm.DB, st *statusTx, list, i int64, revoked bool, now time.Time) (bool, error) {
	var revokedAt *time.Time
	if revoked {
		revokedAt = &now
	}
	res := tx.Exec("INSERT INTO status_list_entries (list_id, idx, revoked, created_at, revoked_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
		list, i, revoked, now, revokedAt)
	if res.Error != nil || res.RowsAffected == 0 {
		return false, res.Error
	}
	if revoked {
		st.markFlipped()
	}
	return true, nil
}

// revokeStatus sets the bits of the indexes (those set already stay so), in (list, idx) order so
// that two transactions flipping the same indexes lock them in the same order.
func revokeStatus(tx *gorm.DB, now time.Time, refs ...models.StatusRef) error {
	slices.SortFunc(refs, func(a, b models.StatusRef) int {
		return cmp.Or(cmp.Compare(a.List, b.List), cmp.Compare(a.Idx, b.Idx))
	})
	st := statusTxOf(tx)
	for _, r := range refs {
		res := tx.Exec("UPDATE status_list_entries SET revoked = ?, revoked_at = ? WHERE list_id = ? AND idx = ? AND NOT revoked", true, now, r.List, r.Idx)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected > 0 {
			st.markFlipped()
		}
	}
	return nil
}

// revokeLicenseStatus sets the bit of every current grant and every key of the license: its
// contract was terminated.
func revokeLicenseStatus(tx *gorm.DB, now time.Time, licenseID int64) error {
	var refs []models.StatusRef
	for _, table := range []string{"members", "license_keys"} {
		var rows []struct{ StatusListID, StatusIdx int64 }
		if err := tx.Table(table).Select("status_list_id, status_idx").Where("license_id = ? AND status_list_id IS NOT NULL", licenseID).
			Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			refs = append(refs, models.StatusRef{List: r.StatusListID, Idx: r.StatusIdx})
		}
	}
	return revokeStatus(tx, now, refs...)
}

// contractTerminated reports whether the license's contract is terminated, holding (on
// PostgreSQL) a share lock on the contract until tx ends: a grant or key made now then either
// commits before a termination flips the license's indexes (which then sees it) or waits for it
// and is allocated revoked. It is called before any index is flipped or taken, so that the lock
// comes first (Terminate takes the contract, then the indexes).
func contractTerminated(tx *gorm.DB, licenseID int64) (bool, error) {
	q := "SELECT terminated_on FROM contracts WHERE license_id = ?"
	if tx.Dialector.Name() == "postgres" {
		q += " FOR SHARE"
	}
	var on []models.Date
	if err := tx.Raw(q, licenseID).Scan(&on).Error; err != nil {
		return false, err
	}
	return len(on) > 0 && !on[0].IsZero(), nil
}

// setStatusRef is the two columns' values for a reference (nil, nil for none).
func setStatusRef(ref *models.StatusRef) (list, idx *int64) {
	if ref == nil {
		return nil, nil
	}
	l, i := ref.List, ref.Idx
	return &l, &i
}

// statusListPath is the path of a list under ENTITLED_BASE_URL.
const statusListPath = "/v1/status-lists/"

// statusListURI is a list's uri: the status claim's and the list's own sub.
func statusListURI(base string, id int64) string {
	return strings.TrimSuffix(base, "/") + statusListPath + strconv.FormatInt(id, 10)
}

// StatusLists serves the token status lists from memory (see the top of this file) and answers
// whether an index is revoked.
type StatusLists struct {
	store  *Store
	keys   *Keyring
	issuer string
	ttl    time.Duration

	mu      sync.RWMutex
	lists   map[int64]*servedStatusList
	refresh sync.Mutex // one re-read or re-signing at a time: a burst after a change makes one
}

// NewStatusLists makes the status-list service; issuer is ENTITLED_BASE_URL, ttl
// ENTITLED_STATUS_LIST_TTL (0: models.StatusListTTL).
func NewStatusLists(store *Store, keys *Keyring, issuer string, ttl time.Duration) *StatusLists {
	if ttl <= 0 {
		ttl = models.StatusListTTL
	}
	return &StatusLists{store: store, keys: keys, issuer: issuer, ttl: ttl, lists: map[int64]*servedStatusList{}}
}

// statusGen is the state of the world a served list was read at.
type statusGen struct{ local, remote uint64 }

// servedStatusList is one list as read at gen; never changed once stored (a refresh stores a
// new one).
type servedStatusList struct {
	gen     statusGen
	size    int64
	revoked int // how many bits are set: flips only go 0 → 1, so an equal count is an equal list
	bits    []byte
	signed  *SignedStatusList // nil until first served
}

// SignedStatusList is a list as GET /v1/status-lists/{id} answers it.
type SignedStatusList struct {
	JWT    []byte // application/statuslist+jwt
	ETag   string
	MaxAge time.Duration // Cache-Control: max-age (the ttl claim)
	kid    string
	iat    time.Time
}

// statusListClaims are a list's claims: sub (its uri), iat, exp, ttl and status_list.
type statusListClaims struct {
	jwt.RegisteredClaims
	TTL        int64          `json:"ttl"`
	StatusList statusListBits `json:"status_list"`
}

type statusListBits struct {
	Bits int    `json:"bits"`
	Lst  string `json:"lst"`
}

func (s *StatusLists) generation() statusGen {
	s.store.checkDataVersion(false) // SQLite: another process's commit moves ChangeCount
	return statusGen{local: s.store.status.flips.Load(), remote: s.store.ChangeCount()}
}

func (s *StatusLists) cached(id int64) *servedStatusList {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lists[id]
}

func (s *StatusLists) keep(id int64, l *servedStatusList) {
	s.mu.Lock()
	s.lists[id] = l
	s.mu.Unlock()
}

// current is the list as of now: the cached one while nothing changed, else re-read. nil, nil
// for a list that does not exist.
func (s *StatusLists) current(ctx context.Context, id int64) (*servedStatusList, error) {
	gen := s.generation()
	if l := s.cached(id); l != nil && l.gen == gen {
		return l, nil
	}
	s.refresh.Lock()
	defer s.refresh.Unlock()
	gen = s.generation() // read before the rows: a flip committed after this moves it again
	old := s.cached(id)
	if old != nil && old.gen == gen {
		return old, nil
	}
	var sizes []int64
	var revoked []int64
	err := s.store.read(ctx, func(db *gorm.DB) error {
		if err := db.Table("status_lists").Where("id = ?", id).Pluck("size", &sizes).Error; err != nil || len(sizes) == 0 {
			return err
		}
		return db.Table("status_list_entries").Where("list_id = ? AND revoked", id).Order("idx").Pluck("idx", &revoked).Error
	})
	if err != nil || len(sizes) == 0 {
		return nil, err
	}
	l := &servedStatusList{gen: gen, size: sizes[0], revoked: len(revoked)}
	if old != nil && old.revoked == len(revoked) {
		l.bits, l.signed = old.bits, old.signed
	} else {
		l.bits = models.StatusBits(l.size, revoked)
	}
	s.keep(id, l)
	return l, nil
}

// Revoked reports whether the index's bit is set, as the list served now says.
func (s *StatusLists) Revoked(ctx context.Context, ref models.StatusRef) (bool, error) {
	l, err := s.current(ctx, ref.List)
	if err != nil || l == nil {
		return false, err
	}
	return models.StatusBit(l.bits, ref.Idx), nil
}

// Get is the list with the id as GET /v1/status-lists/{id} serves it: signed by the current
// entitlement key, at most StatusListResign old, with the bits as of the latest change this
// replica has seen. Errors: not_found.
func (s *StatusLists) Get(ctx context.Context, id string) (_ *SignedStatusList, err error) {
	defer wrapErr(&err, "serve a status list")
	n, perr := strconv.ParseInt(id, 10, 64)
	if perr != nil || n <= 0 || strconv.FormatInt(n, 10) != id {
		return nil, models.Errorf(models.CodeNotFound, "there is no status list %q", models.Clip(id, 32))
	}
	sg, err := s.keys.signerFor(ctx, models.PurposeEntitlement)
	if err != nil {
		return nil, err
	}
	l, err := s.current(ctx, n)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, models.Errorf(models.CodeNotFound, "there is no status list %d", n)
	}
	now := s.store.Clock.Now().UTC().Truncate(time.Second)
	if fresh(l.signed, sg.kid, now) {
		return l.signed, nil
	}
	s.refresh.Lock()
	defer s.refresh.Unlock()
	if c := s.cached(n); c != nil && c.gen == l.gen {
		l = c // signed meanwhile, perhaps
		if fresh(l.signed, sg.kid, now) {
			return l.signed, nil
		}
	}
	uri := statusListURI(s.issuer, n)
	claims := &statusListClaims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: uri, IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(models.StatusListLifetime))},
		TTL:              int64(s.ttl / time.Second),
		StatusList:       statusListBits{Bits: 1, Lst: models.EncodeStatusList(l.bits)},
	}
	token, kid, err := sg.sign(models.TypStatusList, claims)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(token))
	signed := &SignedStatusList{JWT: []byte(token), ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`, MaxAge: s.ttl, kid: kid, iat: now}
	next := *l
	next.signed = signed
	s.keep(n, &next)
	return signed, nil
}

// fresh reports whether a signed list may be served now: signed by the current key, less than
// StatusListResign ago.
func fresh(sl *SignedStatusList, kid string, now time.Time) bool {
	return sl != nil && sl.kid == kid && !now.Before(sl.iat) && now.Sub(sl.iat) < models.StatusListResign
}

// statusRefOf is the list and index a status claim's uri and idx name, when the uri is one of
// this server's lists.
func statusRefOf(issuer, uri string, idx int64) (models.StatusRef, bool) {
	rest, ok := strings.CutPrefix(uri, strings.TrimSuffix(issuer, "/")+statusListPath)
	if !ok {
		return models.StatusRef{}, false
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n <= 0 {
		return models.StatusRef{}, false
	}
	return models.StatusRef{List: n, Idx: idx}, true
}

// assignGrantStatus gives a grant made before status lists existed its index, at its first token
// since, so that every token carries a status claim. It answers the member as it now is; when the
// grant changed meanwhile, the member as read (the token is for a grant that is gone, and
// introspection says so).
func (s *Store) assignGrantStatus(ctx context.Context, m *models.Member) (*models.Member, error) {
	out := *m
	err := s.withTx(ctx, func(tx *gorm.DB) error {
		if err := lockLicense(tx, m.LicenseID); err != nil {
			return err
		}
		terminated, err := contractTerminated(tx, m.LicenseID)
		if err != nil {
			return err
		}
		var cur models.Member
		if err := tx.Take(&cur, m.ID).Error; err != nil {
			return err
		}
		if cur.GrantVersion != m.GrantVersion || !cur.Active() {
			return nil
		}
		if _, ok := cur.Status(); ok { // another token took it first
			out.StatusListID, out.StatusIdx = cur.StatusListID, cur.StatusIdx
			return nil
		}
		ref, err := allocateStatus(tx, s.Clock.Now(), terminated)
		if err != nil {
			return err
		}
		out.StatusListID, out.StatusIdx = setStatusRef(&ref)
		return tx.Model(&models.Member{}).Where("id = ?", m.ID).
			Updates(map[string]any{"status_list_id": out.StatusListID, "status_idx": out.StatusIdx}).Error
	})
	return &out, err
}
