package store

import (
	"context"

	"gorm.io/gorm"

	"entitled/models"
)

// What the status-list tests reach inside the store.

// SetStatusListSize makes the lists the store starts from now on hold n indexes (a test fills a
// small one).
func (s *Store) SetStatusListSize(n int64) { s.status.size.Store(n) }

// AllocateStatus takes one index, as a new grant version or license key does.
func (s *Store) AllocateStatus(ctx context.Context) (ref models.StatusRef, err error) {
	err = s.withTx(ctx, func(tx *gorm.DB) error {
		ref, err = allocateStatus(tx, s.Clock.Now(), false)
		return err
	})
	return ref, err
}

// RevokeStatus sets the indexes' bits, as a grant change does.
func (s *Store) RevokeStatus(ctx context.Context, refs ...models.StatusRef) error {
	return s.withTx(ctx, func(tx *gorm.DB) error { return revokeStatus(tx, s.Clock.Now(), refs...) })
}
