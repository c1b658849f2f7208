package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"gorm.io/gorm"

	"entitled/models"
)

// idempotencyStale is how long a first request may run before a repeat may take over its key:
// longer than any request is allowed to run, so that only a request whose process died
// mid-way is taken over. A key whose owner's heartbeat has stopped is taken over sooner
// (heartbeat.go).
const idempotencyStale = 5 * time.Minute

type idempotencyKey struct {
	ID             int64
	Scope          string
	Method         string
	Path           string
	Key            string
	RequestHash    string
	ResponseStatus int
	ResponseBody   string
	ResponseType   string
	CreatedAt      time.Time
	CompletedAt    *time.Time
	Owner          string // the heartbeat id of the process running the first request ('' none: see heartbeat.go)
}

func (idempotencyKey) TableName() string { return "idempotency_keys" }

// IdempotencyClaim is a key claimed for a first request; Complete or Release it when done.
type IdempotencyClaim struct {
	id int64
}

// ClaimIdempotencyKey starts a request under an idempotency key. It returns a claim for a first
// request, or the stored answer for a repeat of a finished one. Errors: idempotency_key_reused
// (another body), idempotency_in_progress (the first request is still running), validation_failed.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, scope, method, path, key string, body []byte) (_ *IdempotencyClaim, _ *models.StoredResponse, err error) {
	defer wrapErr(&err, "claim an idempotency key")
	requestHash := hashRequest(body)
	if key == "" || len(key) > 255 {
		return nil, nil, &models.Error{Code: models.CodeValidation, Message: "the request has invalid fields",
			Fields: []models.FieldError{{Field: "Idempotency-Key", Code: models.FieldInvalid, Detail: "must be 1 to 255 characters"}}}
	}
	for attempt := 0; attempt < 3; attempt++ {
		now := s.Clock.Now()
		row := idempotencyKey{Scope: scope, Method: method, Path: path, Key: key, RequestHash: requestHash, CreatedAt: now, Owner: s.owner()}
		err := s.db.WithContext(ctx).Create(&row).Error
		if err == nil {
			return &IdempotencyClaim{id: row.ID}, nil, nil
		}
		if !IsUniqueViolation(err) {
			return nil, nil, translate(err)
		}
		var prev idempotencyKey
		err = s.db.WithContext(ctx).Where("scope = ? AND method = ? AND path = ? AND key = ?", scope, method, path, key).Take(&prev).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			continue // released meanwhile: try to claim again
		}
		if err != nil {
			return nil, nil, translate(err)
		}
		switch {
		case now.Sub(prev.CreatedAt) > models.IdempotencyTTL:
			// Expired but not pruned yet: it no longer counts.
			if err := s.db.WithContext(ctx).Delete(&idempotencyKey{}, prev.ID).Error; err != nil {
				return nil, nil, translate(err)
			}
			continue
		case prev.RequestHash != requestHash:
			return nil, nil, models.Errorf(models.CodeIdempotencyReused, "this Idempotency-Key was used with another request body")
		case prev.CompletedAt != nil:
			return nil, &models.StoredResponse{Status: prev.ResponseStatus, ContentType: prev.ResponseType, Body: []byte(prev.ResponseBody)}, nil
		}
		stale := now.Sub(prev.CreatedAt) > idempotencyStale
		if !stale && prev.Owner != "" && prev.Owner != s.heartbeat.id {
			if stale, err = s.processGone(ctx, prev.Owner, now); err != nil {
				return nil, nil, err
			}
		}
		switch {
		case stale:
			// The first request's process died before it answered (its heartbeat stopped, or
			// it has run longer than any request may): take the key over.
			res := s.db.WithContext(ctx).Model(&idempotencyKey{}).Where("id = ? AND completed_at IS NULL AND created_at = ? AND owner = ?", prev.ID, prev.CreatedAt, prev.Owner).
				Updates(map[string]any{"created_at": now, "owner": s.owner()})
			if res.Error != nil {
				return nil, nil, translate(res.Error)
			}
			if res.RowsAffected == 1 {
				return &IdempotencyClaim{id: prev.ID}, nil, nil
			}
			continue
		default:
			return nil, nil, idempotencyBusy()
		}
	}
	return nil, nil, idempotencyBusy()
}

// idempotencyBusy answers a repeat while the first request runs (on a live process): retry in
// a second, by when it has answered, or its process is known dead and the key is taken over.
func idempotencyBusy() error {
	return &models.Error{Code: models.CodeIdempotencyBusy, RetryAfter: time.Second,
		Message: "a request with this Idempotency-Key is still being processed; retry shortly"}
}

// owner is what a claim made now records as its process: this one's heartbeat id while it beats.
func (s *Store) owner() string {
	if s.heartbeat.beating.Load() {
		return s.heartbeat.id
	}
	return ""
}

// Complete stores the answer of the first request for its repeats.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, c *IdempotencyClaim, r models.StoredResponse) (err error) {
	defer wrapErr(&err, "complete an idempotency key")
	now := s.Clock.Now()
	return translate(s.db.WithContext(context.WithoutCancel(ctx)).Model(&idempotencyKey{}).Where("id = ?", c.id).Updates(map[string]any{
		"response_status": r.Status, "response_type": r.ContentType, "response_body": string(r.Body), "completed_at": now,
	}).Error)
}

// ReleaseIdempotencyKey forgets a claim whose request failed on our side (5xx), so that the
// client's retry runs again instead of replaying a failure.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, c *IdempotencyClaim) (err error) {
	defer wrapErr(&err, "release an idempotency key")
	return translate(s.db.WithContext(context.WithoutCancel(ctx)).Delete(&idempotencyKey{}, c.id).Error)
}

// PruneIdempotencyKeys deletes keys older than IdempotencyTTL.
func (s *Store) PruneIdempotencyKeys(ctx context.Context) (_ int64, err error) {
	defer wrapErr(&err, "prune idempotency keys")
	res := s.db.WithContext(ctx).Where("created_at < ?", s.Clock.Now().Add(-models.IdempotencyTTL)).Delete(&idempotencyKey{})
	return res.RowsAffected, translate(res.Error)
}

// hashRequest is the fingerprint of a request body that a repeat must match.
func hashRequest(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}
