package store

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"gorm.io/gorm"

	"entitled/models"
	"github.com/entitled-dev/entitled/verify"
)

// keySealer seals private keys under a key derived from ENTITLED_SECRET with HKDF-SHA256.
type keySealer struct{ aead cipher.AEAD }

// hkdfInfo names what the derived key is for; a new scheme gets a new info (and version).
const hkdfInfo = "entitled signing-key seal v1 (AES-256-GCM)"

func newKeySealer(secret string) (*keySealer, error) {
	if secret == "" {
		return nil, models.Errorf(models.CodeValidation, "signing keys need ENTITLED_SECRET")
	}
	key, err := hkdf.Key(sha256.New, []byte(secret), []byte("entitled"), hkdfInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &keySealer{aead: aead}, nil
}

// seal encrypts a private key's seed, bound to its kid so that a sealed key cannot be moved to
// another row.
func (s *keySealer) seal(kid string, priv ed25519.PrivateKey) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, priv.Seed(), []byte(kid))
}

// errWrongSecret says that a sealed key does not open with this secret.
var errWrongSecret = errors.New("the signing key does not decrypt with this ENTITLED_SECRET")

func (s *keySealer) open(kid string, sealed []byte) (ed25519.PrivateKey, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errWrongSecret
	}
	seed, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(kid))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errWrongSecret
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// newSigningKey makes a fresh key pair of the purpose, sealed.
func (s *keySealer) newSigningKey(purpose string, now time.Time) (*models.SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	kid := Thumbprint(pub)
	return &models.SigningKey{Kid: kid, Purpose: purpose, PublicKey: pub, PrivateKey: s.seal(kid, priv), CreatedAt: now, ActivatesAt: now}, nil
}

// Keyring holds the signing keys in memory: the published public keys (the JWKS, rendered once
// per change) and the active private key of each purpose. It re-reads them every Refresh, and on
// the way promotes a next key whose time has come and retires keys whose last token has expired,
// so that replicas agree on the keys within seconds without talking to each other.
type Keyring struct {
	store   *Store
	sealer  *keySealer
	maxAge  time.Duration
	ttl     time.Duration
	refresh time.Duration
	log     *slog.Logger

	snap    atomic.Pointer[keySnapshot]
	mu      sync.Mutex                    // one reload at a time; guards opened
	opened  map[string]ed25519.PrivateKey // private keys already decrypted, by kid
	loading atomic.Bool
	// licenseChecked is when a reload last looked for license signing keys to retire (guarded
	// by mu): that looks through the license keys, so the periodic reload does it once a minute.
	licenseChecked time.Time
	// seen is the store's ChangeCount as of the last check of the keys' fingerprint: when the
	// store has seen changes since, the ring checks again (changes.go).
	seen atomic.Uint64

	// The goroutines the ring starts (Start's ticker, current's background reloads) are counted
	// in running and end when life does; Stop cancels life and waits. stopped (guarded by
	// runMu) keeps new ones from starting once Stop has begun.
	life    context.Context
	stopAll context.CancelFunc
	runMu   sync.Mutex
	stopped bool
	running sync.WaitGroup
}

// keySnapshot is the keys as of one reload; never changed once published.
type keySnapshot struct {
	loaded  time.Time // wall time of the reload, for staleness
	keys    []models.SigningKey
	pub     map[string]*models.SigningKey // published keys by kid
	signers map[string]signer             // purpose → the active key
	jwks    []byte
	etag    string
	fp      string // keysFingerprint of keys
}

type signer struct {
	kid string
	key ed25519.PrivateKey
}

// NewKeyring makes the key ring. Call Ensure before serving.
func NewKeyring(store *Store, opts models.KeyringOptions) (*Keyring, error) {
	sealer, err := newKeySealer(opts.Secret)
	if err != nil {
		return nil, err
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Second
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 5 * time.Minute
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 15 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = store.log
	}
	life, stopAll := context.WithCancel(context.Background())
	return &Keyring{store: store, sealer: sealer, maxAge: opts.MaxAge, ttl: opts.TokenTTL, refresh: opts.Refresh, log: opts.Log,
		opened: map[string]ed25519.PrivateKey{}, life: life, stopAll: stopAll}, nil
}

// MaxAge is the JWKS cache lifetime (ENTITLED_JWKS_MAX_AGE).
func (k *Keyring) MaxAge() time.Duration { return k.maxAge }

// publishLead is how long a rotated-in key is published before it signs: the JWKS max-age, plus
// two re-read intervals (every replica serves the new JWKS within one, and promotes within
// another) and a second of margin.
func (k *Keyring) publishLead() time.Duration { return k.maxAge + 2*k.refresh + time.Second }

// retireLag is how long an entitlement key stays published after it stopped signing: a token it
// signed lives TokenTTL; other replicas may sign with it for up to two re-read intervals more;
// and verifiers' clocks may be KeySkew behind.
func (k *Keyring) retireLag() time.Duration { return k.ttl + 2*k.refresh + models.KeySkew }

// lockKeys serialises changes to the signing keys across replicas: a PostgreSQL advisory lock
// until the transaction ends. SQLite transactions hold the write lock from BEGIN.
func lockKeys(tx *gorm.DB) error {
	if tx.Dialector.Name() != "postgres" {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock(7238460193)").Error
}

// lockKeysShared holds the keys' lock shared: a transaction that records what a key signed
// cannot overlap a change of the keys, while such transactions do not wait for one another.
func lockKeysShared(tx *gorm.DB) error {
	if tx.Dialector.Name() != "postgres" {
		return nil
	}
	return tx.Exec("SELECT pg_advisory_xact_lock_shared(7238460193)").Error
}

// stillPublished reports whether the key with the kid is published (it may have been retired
// since a snapshot was taken). Call it under lockKeysShared.
func stillPublished(tx *gorm.DB, kid string) (bool, error) {
	var n int64
	err := tx.Model(&models.SigningKey{}).Where("kid = ? AND state <> ?", kid, models.KeyRetired).Count(&n).Error
	return n > 0, err
}

func keyAudit(tx *gorm.DB, now time.Time, a models.Actor, action string, key *models.SigningKey, details map[string]any) error {
	if details == nil {
		details = map[string]any{}
	}
	details["purpose"] = key.Purpose
	details["state"] = key.State
	return writeAudit(tx, now, a, models.AuditRecord{Action: action, SubjectType: "signing_key", SubjectID: key.Kid, Details: details})
}

// Ensure makes sure every purpose has an active key — a fresh database gets one of each, made
// once however many replicas start at the same time (an advisory lock, and a unique index on one
// active key per purpose) — and loads the keys. It fails when the active keys do not decrypt with
// ENTITLED_SECRET.
func (k *Keyring) Ensure(ctx context.Context) (err error) {
	defer wrapErr(&err, "ensure signing keys")
	for _, purpose := range models.KeyPurposes() {
		var n int64
		if err := k.store.read(ctx, func(db *gorm.DB) error {
			return db.Model(&models.SigningKey{}).Where("purpose = ? AND state = ?", purpose, models.KeyActive).Count(&n).Error
		}); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		err := k.store.withTx(ctx, func(tx *gorm.DB) error {
			if err := lockKeys(tx); err != nil {
				return err
			}
			if err := tx.Model(&models.SigningKey{}).Where("purpose = ? AND state = ?", purpose, models.KeyActive).Count(&n).Error; err != nil || n > 0 {
				return err
			}
			now := k.store.Clock.Now()
			key, err := k.sealer.newSigningKey(purpose, now)
			if err != nil {
				return err
			}
			key.State, key.ActivatedAt = models.KeyActive, &now
			if err := tx.Create(key).Error; err != nil {
				return err
			}
			return keyAudit(tx, now, models.SystemActor("start-up"), "signing_key.created", key, nil)
		})
		if err != nil && !IsUniqueViolation(err) {
			return err
		}
	}
	if err := k.Reload(ctx); err != nil {
		return err
	}
	s := k.snap.Load()
	for _, purpose := range models.KeyPurposes() {
		if _, ok := s.signers[purpose]; !ok {
			return fmt.Errorf("the active %s signing key does not decrypt with ENTITLED_SECRET: was the secret changed without `entitled secret rotate`?", purpose)
		}
	}
	return nil
}

// Start re-reads the keys every Refresh until ctx ends or Stop is called. After Stop it does
// nothing.
func (k *Keyring) Start(ctx context.Context) {
	if !k.goStart() {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(k.life, cancel)
	go func() {
		defer k.running.Done()
		defer stop()
		defer cancel()
		t := time.NewTicker(k.refresh)
		defer t.Stop()
		// PostgreSQL's change notices wake the ring (on SQLite, current checks data_version).
		var changed <-chan struct{}
		if k.store.Dialect == Postgres {
			var unsubscribe func()
			changed, unsubscribe = k.store.changes.subscribe()
			defer unsubscribe()
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				// Another replica or the CLI changed something (PostgreSQL's notices): follow a
				// change of the keys at once. Every write of the fleet sends a notice, so a burst
				// of them costs at most one small query per syncGap (the notices that arrive
				// meanwhile fold into one).
				if err := k.syncKeys(ctx); err != nil && ctx.Err() == nil {
					k.log.Warn("signing keys: reload failed; keeping the keys held", "error", err)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(syncGap):
				}
			case <-t.C:
				if err := k.refreshKeys(ctx); err != nil && ctx.Err() == nil {
					k.log.Warn("signing keys: reload failed; keeping the keys held", "error", err)
				}
			}
		}
	}()
}

// Stop ends the ring's goroutines (the periodic reload and any background reload under way) and
// waits for them to return. The ring still answers afterwards, reloading in the foreground when
// its keys are stale. Calling Stop again does nothing.
func (k *Keyring) Stop() {
	k.runMu.Lock()
	k.stopped = true
	k.runMu.Unlock()
	k.stopAll()
	k.running.Wait()
}

// goStart counts a goroutine about to start in running, unless Stop has begun (then false).
func (k *Keyring) goStart() bool {
	k.runMu.Lock()
	defer k.runMu.Unlock()
	if k.stopped {
		return false
	}
	k.running.Add(1)
	return true
}

// Reload applies the transitions that are due (next → active, retiring → retired) and reads the
// keys again.
func (k *Keyring) Reload(ctx context.Context) (err error) {
	defer wrapErr(&err, "reload signing keys")
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reloadLocked(ctx, true)
}

// refreshKeys is the periodic reload: it looks for license signing keys to retire (a scan of the
// license keys) at most once a minute.
func (k *Keyring) refreshKeys(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reloadLocked(ctx, false)
}

// reloadIfOlder reloads unless another goroutine did so while this one waited for the lock.
func (k *Keyring) reloadIfOlder(ctx context.Context, age time.Duration) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s := k.snap.Load(); s != nil && time.Since(s.loaded) <= age {
		return nil
	}
	return k.reloadLocked(ctx, false)
}

func (k *Keyring) reloadLocked(ctx context.Context, full bool) error {
	keys, err := k.publishedKeys(ctx)
	if err != nil {
		return err
	}
	checkLicense := full || time.Since(k.licenseChecked) >= time.Minute
	if checkLicense {
		k.licenseChecked = time.Now()
	}
	due, err := k.due(ctx, keys, k.store.Clock.Now(), checkLicense)
	if err != nil {
		return err
	}
	if due {
		if err := k.transition(ctx); err != nil {
			return err
		}
		if keys, err = k.publishedKeys(ctx); err != nil {
			return err
		}
	}
	s := &keySnapshot{loaded: time.Now(), keys: keys, pub: map[string]*models.SigningKey{}, signers: map[string]signer{}}
	type jwkJSON struct {
		Kty string `json:"kty"`
		Crv string `json:"crv"`
		X   string `json:"x"`
		Kid string `json:"kid"`
		Alg string `json:"alg"`
		Use string `json:"use"`
	}
	doc := struct {
		Keys []jwkJSON `json:"keys"`
	}{Keys: []jwkJSON{}}
	for i := range keys {
		key := &keys[i]
		s.pub[key.Kid] = key
		doc.Keys = append(doc.Keys, jwkJSON{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(key.PublicKey), Kid: key.Kid, Alg: verify.Algorithm, Use: "sig"})
		if key.State != models.KeyActive && key.State != models.KeyNext {
			continue
		}
		priv, ok := k.opened[key.Kid]
		if !ok {
			if priv, err = k.sealer.open(key.Kid, key.PrivateKey); err != nil {
				k.log.Error("signing keys: a key does not decrypt with ENTITLED_SECRET", "kid", key.Kid, "purpose", key.Purpose, "state", key.State)
				continue
			}
			k.opened[key.Kid] = priv
		}
		if key.State == models.KeyActive {
			s.signers[key.Purpose] = signer{kid: key.Kid, key: priv}
		}
	}
	if s.jwks, err = json.Marshal(doc); err != nil {
		return err
	}
	sum := sha256.Sum256(s.jwks)
	s.etag = `"` + hex.EncodeToString(sum[:16]) + `"`
	s.fp = keysFingerprint(keys)
	k.snap.Store(s)
	return nil
}

// syncGap is the least time between two checks of the keys that change notices start.
const syncGap = 20 * time.Millisecond

// keysFingerprint names the published keys and their states: what the JWKS and the signers are
// made of. Two reads with the same fingerprint give the same ring.
func keysFingerprint(keys []models.SigningKey) string {
	var b strings.Builder
	for _, key := range keys {
		b.WriteString(strconv.FormatInt(key.ID, 10))
		b.WriteByte(':')
		b.WriteString(key.State)
		b.WriteByte(',')
	}
	return b.String()
}

// syncKeys makes the ring match the database's keys: one small query (the published keys' ids
// and states), and a reload only when they differ from the ring's.
func (k *Keyring) syncKeys(ctx context.Context) error {
	seen := k.store.ChangeCount()
	rows, err := k.publishedStates(ctx)
	if err != nil {
		return err
	}
	fp := keysFingerprint(rows)
	if s := k.snap.Load(); s == nil || s.fp != fp {
		k.mu.Lock()
		err := func() error {
			if s := k.snap.Load(); s != nil && s.fp == fp {
				return nil // another goroutine reloaded while this one waited
			}
			return k.reloadLocked(ctx, false)
		}()
		k.mu.Unlock()
		if err != nil {
			return err
		}
	}
	k.seen.Store(seen)
	return nil
}

// publishedStates reads the id and state of every key that is not retired, oldest first: on
// PostgreSQL every JWKS answer asks this, so it is plain database/sql (pgx caches the prepared
// statement), not GORM's statement building and reflection.
func (k *Keyring) publishedStates(ctx context.Context) ([]models.SigningKey, error) {
	rows, err := k.store.sqlDB.QueryContext(ctx, "SELECT id, state FROM signing_keys WHERE state <> '"+models.KeyRetired+"' ORDER BY id")
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []models.SigningKey
	for rows.Next() {
		var key models.SigningKey
		if err := rows.Scan(&key.ID, &key.State); err != nil {
			return nil, err
		}
		out = append(out, key)
	}
	return out, translate(rows.Err())
}

// publishedKeys reads every key that is not retired, oldest first.
func (k *Keyring) publishedKeys(ctx context.Context) ([]models.SigningKey, error) {
	var keys []models.SigningKey
	err := k.store.read(ctx, func(db *gorm.DB) error {
		return db.Where("state <> ?", models.KeyRetired).Order("id").Find(&keys).Error
	})
	return keys, err
}

// due reports whether a transition is due, so that a reload takes a write lock only then.
func (k *Keyring) due(ctx context.Context, keys []models.SigningKey, now time.Time, checkLicense bool) (bool, error) {
	for _, key := range keys {
		switch {
		case key.State == models.KeyNext && !now.Before(key.ActivatesAt):
			return true, nil
		case key.State == models.KeyRetiring && key.RetireAfter != nil && !now.Before(*key.RetireAfter):
			return true, nil
		case key.State == models.KeyRetiring && key.Purpose == models.PurposeLicense && checkLicense && k.licenseRetireSettled(key, now):
			var inUse bool
			if err := k.store.read(ctx, func(db *gorm.DB) error {
				var err error
				inUse, err = licenseKeyInUse(db, key.Kid, now)
				return err
			}); err != nil || !inUse {
				return err == nil, err
			}
		}
	}
	return false, nil
}

// licenseRetireSettled reports whether a retiring license key stopped signing long enough ago
// that no replica still signs with it (two re-read intervals and a second).
func (k *Keyring) licenseRetireSettled(key models.SigningKey, now time.Time) bool {
	return key.RetiringAt != nil && now.Sub(*key.RetiringAt) >= 2*k.refresh+time.Second
}

// licenseKeyInUse reports whether a license key signed with the kid is still out there: not
// released, and not expired.
func licenseKeyInUse(db *gorm.DB, kid string, now time.Time) (bool, error) {
	var n int64
	err := db.Table("license_keys").Where("released_at IS NULL AND kids LIKE ? AND (expires_at IS NULL OR expires_at > ?)", "%"+kid+"%", now).
		Limit(1).Count(&n).Error
	return n > 0, err
}

// transition promotes each purpose's next key once its time has come (the active one becomes
// retiring) and retires retiring keys whose time is up, under the keys' lock so that replicas
// doing the same at once change each key once.
func (k *Keyring) transition(ctx context.Context) error {
	return k.store.withTx(ctx, func(tx *gorm.DB) error {
		if err := lockKeys(tx); err != nil {
			return err
		}
		var keys []models.SigningKey
		if err := tx.Where("state IN ?", []string{models.KeyNext, models.KeyRetiring}).Order("id").Find(&keys).Error; err != nil {
			return err
		}
		now := k.store.Clock.Now()
		actor := models.SystemActor("key rotation")
		for i := range keys {
			key := &keys[i]
			switch {
			case key.State == models.KeyNext && !now.Before(key.ActivatesAt):
				if err := k.retireActive(tx, key.Purpose, now, actor, key.Kid); err != nil {
					return err
				}
				key.State, key.ActivatedAt = models.KeyActive, &now
				if err := saveKeyStep(tx, now, actor, key, models.KeyNext, "activated_at", "signing_key.activated"); err != nil {
					return err
				}
			case key.State == models.KeyRetiring && (key.RetireAfter != nil && !now.Before(*key.RetireAfter) ||
				key.Purpose == models.PurposeLicense && k.licenseRetireSettled(*key, now)):
				if key.Purpose == models.PurposeLicense {
					inUse, err := licenseKeyInUse(tx, key.Kid, now)
					if err != nil || inUse {
						if err != nil {
							return err
						}
						continue
					}
				}
				key.State, key.RetiredAt = models.KeyRetired, &now
				if err := saveKeyStep(tx, now, actor, key, models.KeyRetiring, "retired_at", "signing_key.retired"); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// saveKeyStep writes key's new state, and now into column, if the row is still in state from, and
// audits action.
func saveKeyStep(tx *gorm.DB, now time.Time, a models.Actor, key *models.SigningKey, from, column, action string) error {
	if err := tx.Model(&models.SigningKey{}).Where("id = ? AND state = ?", key.ID, from).
		Updates(map[string]any{"state": key.State, column: now}).Error; err != nil {
		return err
	}
	return keyAudit(tx, now, a, action, key, nil)
}

// retireActive makes the purpose's active key retiring: it stops signing now and stays published
// — an entitlement key until the last token it signed has expired; a license key while a license
// key it signed is not released (it never leaves retiring before then).
func (k *Keyring) retireActive(tx *gorm.DB, purpose string, now time.Time, a models.Actor, successor string) error {
	var old []models.SigningKey
	if err := tx.Where("purpose = ? AND state = ?", purpose, models.KeyActive).Find(&old).Error; err != nil {
		return err
	}
	for i := range old {
		key := &old[i]
		upd := map[string]any{"state": models.KeyRetiring, "retiring_at": now}
		if purpose == models.PurposeEntitlement {
			after := now.Add(k.retireLag())
			upd["retire_after"] = after
			key.RetireAfter = &after
		}
		key.State, key.RetiringAt = models.KeyRetiring, &now
		if err := tx.Model(&models.SigningKey{}).Where("id = ?", key.ID).Updates(upd).Error; err != nil {
			return err
		}
		details := map[string]any{"successor": successor}
		if key.RetireAfter != nil {
			details["retire_after"] = key.RetireAfter.UTC().Format(time.RFC3339)
		}
		if err := keyAudit(tx, now, a, "signing_key.retiring", key, details); err != nil {
			return err
		}
	}
	return nil
}

// Rotate makes a new key of the purpose. It is published at once as next and signs from
// ActivatesAt — after the JWKS max-age (and a few seconds), so that every verifier holding a
// cached JWKS knows it by then — or, with now set (a compromised key), at once. The key it
// replaces becomes retiring; a next key still waiting is dropped (it never signed anything).
// Errors: validation_failed (an unknown purpose).
func (k *Keyring) Rotate(ctx context.Context, purpose string, now bool, a models.Actor) (_ *models.SigningKey, err error) {
	defer wrapErr(&err, "rotate a signing key")
	if !slices.Contains(models.KeyPurposes(), purpose) {
		var v models.Validation
		v.Add("purpose", models.FieldInvalid, "must be entitlement or license")
		return nil, v.Err()
	}
	var out *models.SigningKey
	err = k.store.withTx(ctx, func(tx *gorm.DB) error {
		if err := lockKeys(tx); err != nil {
			return err
		}
		at := k.store.Clock.Now()
		key, err := k.sealer.newSigningKey(purpose, at)
		if err != nil {
			return err
		}
		var waiting []models.SigningKey
		if err := tx.Where("purpose = ? AND state = ?", purpose, models.KeyNext).Find(&waiting).Error; err != nil {
			return err
		}
		for i := range waiting {
			w := &waiting[i]
			w.State, w.RetiredAt = models.KeyRetired, &at
			if err := tx.Model(&models.SigningKey{}).Where("id = ?", w.ID).Updates(map[string]any{"state": models.KeyRetired, "retired_at": at}).Error; err != nil {
				return err
			}
			if err := keyAudit(tx, at, a, "signing_key.dropped", w, map[string]any{"successor": key.Kid}); err != nil {
				return err
			}
		}
		var active int64
		if err := tx.Model(&models.SigningKey{}).Where("purpose = ? AND state = ?", purpose, models.KeyActive).Count(&active).Error; err != nil {
			return err
		}
		if now || active == 0 {
			if err := k.retireActive(tx, purpose, at, a, key.Kid); err != nil {
				return err
			}
			key.State, key.ActivatedAt = models.KeyActive, &at
		} else {
			key.State, key.ActivatesAt = models.KeyNext, at.Add(k.publishLead())
		}
		if err := tx.Create(key).Error; err != nil {
			return err
		}
		out = key
		return keyAudit(tx, at, a, "signing_key.rotated", key, map[string]any{
			"activates_at": key.ActivatesAt.UTC().Format(time.RFC3339), "immediate": now})
	})
	if err != nil {
		return nil, err
	}
	return out, k.Reload(ctx)
}

// Retire unpublishes the key with the kid at once, for a key believed compromised: from the
// next JWKS answer on, nothing it signed (entitlement tokens, license keys) verifies, whatever
// the schedule above would have allowed. Retiring the active key of a purpose first puts a fresh
// key in its place, signing at once (as Rotate with now does), so that signing never stops.
// A retired key stays retired; retiring it again changes nothing. It returns the retired key and
// the successor it made, if any. Errors: not_found (no key has the kid).
func (k *Keyring) Retire(ctx context.Context, kid string, a models.Actor) (_ *models.SigningKey, _ *models.SigningKey, err error) {
	defer wrapErr(&err, "retire a signing key")
	var retired, successor *models.SigningKey
	err = k.store.withTx(ctx, func(tx *gorm.DB) error {
		if err := lockKeys(tx); err != nil {
			return err
		}
		var key models.SigningKey
		err := tx.Where("kid = ?", kid).Take(&key).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return models.Errorf(models.CodeNotFound, "there is no signing key %q (entitled keys list shows them)", kid)
		}
		if err != nil {
			return err
		}
		retired = &key
		if key.State == models.KeyRetired {
			return nil
		}
		at := k.store.Clock.Now()
		if key.State == models.KeyActive {
			next, err := k.sealer.newSigningKey(key.Purpose, at)
			if err != nil {
				return err
			}
			next.State, next.ActivatedAt = models.KeyActive, &at
			// The old key leaves the active state first: one active key per purpose is unique.
			if err := tx.Model(&models.SigningKey{}).Where("id = ?", key.ID).Update("state", models.KeyRetiring).Error; err != nil {
				return err
			}
			if err := tx.Create(next).Error; err != nil {
				return err
			}
			if err := keyAudit(tx, at, a, "signing_key.rotated", next, map[string]any{
				"activates_at": at.UTC().Format(time.RFC3339), "immediate": true, "replaces": key.Kid}); err != nil {
				return err
			}
			successor = next
		}
		if key.RetiringAt == nil {
			key.RetiringAt = &at
		}
		key.State, key.RetiredAt = models.KeyRetired, &at
		if err := tx.Model(&models.SigningKey{}).Where("id = ?", key.ID).
			Updates(map[string]any{"state": models.KeyRetired, "retiring_at": *key.RetiringAt, "retired_at": at}).Error; err != nil {
			return err
		}
		details := map[string]any{"forced": true}
		if successor != nil {
			details["successor"] = successor.Kid
		}
		return keyAudit(tx, at, a, "signing_key.retired", &key, details)
	})
	if err != nil {
		return nil, nil, err
	}
	// The write emptied this replica's caches (introspection's verified signatures included).
	return retired, successor, k.Reload(ctx)
}

// Keys lists every signing key, retired ones included, oldest first, after applying the
// transitions that are due.
func (k *Keyring) Keys(ctx context.Context) (_ []models.SigningKey, err error) {
	defer wrapErr(&err, "list signing keys")
	if err := k.Reload(ctx); err != nil {
		return nil, err
	}
	var keys []models.SigningKey
	err = k.store.read(ctx, func(db *gorm.DB) error { return db.Order("id").Find(&keys).Error })
	return keys, err
}

// current is the latest snapshot. One older than the re-read interval is refreshed in the
// background; one much older (the ticker is not running, or stalled) is refreshed first.
func (k *Keyring) current(ctx context.Context) (*keySnapshot, error) {
	// SQLite: another process (the CLI) may have changed the keys; a cheap PRAGMA says whether
	// anything changed, and only then one small query says whether the keys did.
	if k.store.Dialect == SQLite {
		k.store.checkDataVersion(false)
		if k.store.ChangeCount() != k.seen.Load() {
			if err := k.syncKeys(ctx); err != nil {
				k.log.Warn("signing keys: reload failed; keeping the keys held", "error", err)
			}
		}
	}
	s := k.snap.Load()
	if s != nil {
		age := time.Since(s.loaded)
		if age <= 2*k.refresh {
			if age > k.refresh && k.loading.CompareAndSwap(false, true) {
				if !k.goStart() {
					k.loading.Store(false)
					return s, nil
				}
				// Not cut short when the request ends, but when the ring stops.
				rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
				stop := context.AfterFunc(k.life, cancel)
				go func() {
					defer k.running.Done()
					defer k.loading.Store(false)
					defer stop()
					defer cancel()
					if err := k.refreshKeys(rctx); err != nil && rctx.Err() == nil {
						k.log.Warn("signing keys: reload failed; keeping the keys held", "error", err)
					}
				}()
			}
			return s, nil
		}
	}
	if err := k.reloadIfOlder(ctx, k.refresh); err != nil {
		if s != nil {
			k.log.Warn("signing keys: reload failed; keeping the keys held", "error", err)
			return s, nil
		}
		return nil, err
	}
	return k.snap.Load(), nil
}

// JWKS is the JWK Set of the published keys, rendered, with its ETag. It is strictly fresh: the
// answer after `entitled keys rotate` returns has the new key on every replica, whether or not
// the change notice has arrived yet.
func (k *Keyring) JWKS(ctx context.Context) (_ []byte, _ string, err error) {
	defer wrapErr(&err, "publish the JWKS")
	// On SQLite a strict data_version check (about 2 µs) says whether anything was committed
	// elsewhere since the keys were last compared, and only then is the query needed. On
	// PostgreSQL another replica's rotation reaches this one by a notice that may lag its commit,
	// so every answer compares.
	sync := true
	if k.store.Dialect == SQLite && k.store.ChangesConnected() {
		k.store.checkDataVersion(true)
		sync = k.store.ChangeCount() != k.seen.Load()
	}
	if sync {
		if err := k.syncKeys(ctx); err != nil {
			k.log.Warn("signing keys: reload failed; keeping the keys held", "error", err)
		}
	}
	s, err := k.current(ctx)
	if err != nil {
		return nil, "", err
	}
	return s.jwks, s.etag, nil
}

// Sign signs claims as a compact JWS with the purpose's active key: alg EdDSA, the typ given,
// and the key's kid. It returns the token and the kid.
func (k *Keyring) Sign(ctx context.Context, purpose, typ string, claims jwt.Claims) (_ string, _ string, err error) {
	defer wrapErr(&err, "sign")
	sg, err := k.signerFor(ctx, purpose)
	if err != nil {
		return "", "", err
	}
	return sg.sign(typ, claims)
}

// signerFor is the purpose's active key. Services that sign inside a transaction take it first,
// so that signing never waits on the database (a reload inside a SQLite write transaction would
// wait for that transaction's own lock).
func (k *Keyring) signerFor(ctx context.Context, purpose string) (signer, error) {
	s, err := k.current(ctx)
	if err != nil {
		return signer{}, err
	}
	sg, ok := s.signers[purpose]
	if !ok {
		return signer{}, fmt.Errorf("no active %s signing key that decrypts with ENTITLED_SECRET", purpose)
	}
	return sg, nil
}

// sign makes a compact JWS of the claims: alg EdDSA, the typ, the key's kid.
// It is RFC 7515's compact serialization written out rather than golang-jwt's SignedString, which
// encodes the same header from a map for every token: on the token endpoint everything but the
// Ed25519 signature is overhead (issue #24). The bytes are the ones golang-jwt makes (its header
// map marshals with its keys sorted: alg, kid, typ), and golang-jwt parses them in verify.
func (sg signer) sign(typ string, claims jwt.Claims) (string, string, error) {
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		Typ string `json:"typ"`
	}{jwt.SigningMethodEdDSA.Alg(), sg.kid, typ})
	if err != nil {
		return "", "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", "", err
	}
	enc := base64.RawURLEncoding
	buf := make([]byte, 0, enc.EncodedLen(len(header))+enc.EncodedLen(len(payload))+enc.EncodedLen(ed25519.SignatureSize)+2)
	buf = enc.AppendEncode(buf, header)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	sig := ed25519.Sign(sg.key, buf)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), sg.kid, nil
}

// PublicKeys is the published keys of one purpose as a verify.KeySource: what the server's own
// introspection trusts. A retired key, or a key of the other purpose, is unknown to it.
func (k *Keyring) PublicKeys(purpose string) verify.KeySource { return purposeKeys{k, purpose} }

type purposeKeys struct {
	k       *Keyring
	purpose string
}

func (p purposeKeys) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	s, err := p.k.current(ctx)
	if err != nil {
		return nil, err
	}
	if key, ok := s.pub[kid]; ok && key.Purpose == p.purpose {
		return ed25519.PublicKey(key.PublicKey), nil
	}
	return nil, verify.ErrUnknownKey
}

// ReencryptKeys seals every signing key, retired ones included, under newSecret instead of
// oldSecret, in one transaction: either every key moves to the new secret or none does. A key that
// already opens with the new secret (a repeated run) is left as it is. It returns how many keys
// were re-sealed. Errors: validation_failed (a key opens with neither secret: the old secret is
// wrong).
func ReencryptKeys(ctx context.Context, store *Store, oldSecret, newSecret string, a models.Actor) (int, error) {
	oldSealer, err := newKeySealer(oldSecret)
	if err != nil {
		return 0, err
	}
	newSealer, err := newKeySealer(newSecret)
	if err != nil {
		return 0, err
	}
	n := 0
	err = store.withTx(ctx, func(tx *gorm.DB) error {
		if err := lockKeys(tx); err != nil {
			return err
		}
		var keys []models.SigningKey
		if err := tx.Order("id").Find(&keys).Error; err != nil {
			return err
		}
		for _, key := range keys {
			if _, err := newSealer.open(key.Kid, key.PrivateKey); err == nil {
				continue
			}
			priv, err := oldSealer.open(key.Kid, key.PrivateKey)
			if err != nil {
				return models.Errorf(models.CodeValidation, "signing key %s decrypts with neither the old secret nor ENTITLED_SECRET: nothing was changed", key.Kid)
			}
			if err := tx.Model(&models.SigningKey{}).Where("id = ?", key.ID).Update("private_key", newSealer.seal(key.Kid, priv)).Error; err != nil {
				return err
			}
			n++
		}
		return writeAudit(tx, store.Clock.Now(), a, models.AuditRecord{Action: "signing_keys.reencrypted", SubjectType: "signing_key", SubjectID: "*",
			Details: map[string]any{"keys": n}})
	})
	return n, err
}

// Thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key: base64url of the SHA-256
// of {"crv":"Ed25519","kty":"OKP","x":"…"} (the required members, in lexicographic order, no
// white space).
func Thumbprint(pub ed25519.PublicKey) string {
	canon := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
