package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"entitled/models"
)

// apiKeyPrefix starts every API key, so that a bearer credential says what it is.
const apiKeyPrefix = "ek_"

// apiKeyLookupLen is how much of a key is stored in clear and shown in lists: "ek_" and 8
// characters, enough to find the row and for a person to tell keys apart.
const apiKeyLookupLen = len(apiKeyPrefix) + 8

// CreateAPIKey makes a key with a name and scopes and returns it with the secret, which is shown
// this once. Errors: validation_failed.
func (s *Identity) CreateAPIKey(ctx context.Context, name string, scopes []string, a models.Actor) (_ *models.APIKey, _ string, err error) {
	defer wrapErr(&err, "create an API key")
	var v models.Validation
	name = models.CheckName(&v, "name", name, true)
	if len(scopes) == 0 {
		v.Add("scopes", models.FieldRequired, "name at least one scope: "+strings.Join(models.Scopes(), ", "))
	}
	scopes = normaliseSet(&v, "scopes", scopes, models.Scopes())
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	var k models.APIKey
	var secret string
	for attempt := 0; ; attempt++ {
		secret = apiKeyPrefix + newToken()
		err := s.store.withTx(ctx, func(tx *gorm.DB) error {
			now := s.store.Clock.Now()
			k = models.APIKey{Name: name, Prefix: secret[:apiKeyLookupLen], KeyHash: tokenHash(secret), Scopes: strings.Join(scopes, ","), CreatedAt: now}
			if a.Kind != models.ActorSystem && a.ID != 0 {
				k.CreatedBy = &a.ID
			}
			if err := tx.Create(&k).Error; err != nil {
				return err
			}
			return writeAudit(tx, now, a, models.AuditRecord{Action: "api_key.created", SubjectType: "api_key", SubjectID: itoa64(k.ID),
				Details: map[string]any{"name": name, "scopes": scopes, "prefix": k.Prefix}})
		})
		// Two keys sharing a 48-bit prefix is rare enough that a second try always does.
		if IsUniqueViolation(err) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		return &k, secret, nil
	}
}

// ListAPIKeys lists the keys that are not revoked, a page at a time.
func (s *Identity) ListAPIKeys(ctx context.Context, page models.Page) (_ []models.APIKey, _ string, err error) {
	defer wrapErr(&err, "list API keys")
	q := s.store.db.WithContext(ctx).Model(&models.APIKey{}).Where("revoked_at IS NULL")
	return pageOf[models.APIKey](q, page, func(k models.APIKey) int64 { return k.ID })
}

// RevokeAPIKey revokes a key at once. Errors: not_found (also for a key revoked already).
func (s *Identity) RevokeAPIKey(ctx context.Context, id string, a models.Actor) (err error) {
	defer wrapErr(&err, "revoke an API key")
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return models.Errorf(models.CodeNotFound, "there is no API key %q", id)
	}
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		res := tx.Model(&models.APIKey{}).Where("id = ? AND revoked_at IS NULL", n).Update("revoked_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return models.Errorf(models.CodeNotFound, "there is no API key %q", id)
		}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "api_key.revoked", SubjectType: "api_key", SubjectID: itoa64(n)})
	})
}

func (s *Identity) authenticateAPIKey(ctx context.Context, key string) (*models.Principal, error) {
	bad := models.Errorf(models.CodeUnauthenticated, "the credentials are missing, expired or revoked")
	if len(key) < apiKeyLookupLen {
		return nil, bad
	}
	hash := tokenHash(key)
	if p, ok := s.store.cache.principal(hash, time.Time{}); ok {
		return p, nil
	}
	gen := s.store.cache.generation()
	var k models.APIKey
	err := s.store.db.WithContext(ctx).Where("prefix = ? AND revoked_at IS NULL", key[:apiKeyLookupLen]).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, bad
	}
	if err != nil {
		return nil, translate(err)
	}
	if subtle.ConstantTimeCompare([]byte(k.KeyHash), []byte(hash)) != 1 {
		return nil, bad
	}
	now := s.store.Clock.Now()
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > apiKeyTouchStep {
		// Best effort: a failed touch must not fail the request it is counting.
		_ = s.store.db.WithContext(ctx).Model(&models.APIKey{}).Where("id = ?", k.ID).Update("last_used_at", now).Error
	}
	p := &models.Principal{Kind: models.PrincipalAPIKey, APIKeyID: k.ID, APIKeyName: k.Name, Scopes: k.ScopeList()}
	s.store.cache.putPrincipal(gen, hash, p, time.Time{})
	return p, nil
}
