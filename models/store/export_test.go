package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"entitled/models"
)

// What the store's own tests (package store_test) may reach that no other package can.

// GormDB is the store's own GORM handle: what a test writes through it empties this store's
// hot-path caches, as a write of the store's services does.
func (s *Store) GormDB() *gorm.DB { return s.db }

// WithTx runs fn in one of the store's transactions (see withTx).
func (s *Store) WithTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.withTx(ctx, fn)
}

// MigrateTo moves the schema up or down to version, as goose does.
func (s *Store) MigrateTo(ctx context.Context, version int64) error {
	p, err := s.gooseProvider()
	if err != nil {
		return err
	}
	cur, err := p.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	if version < cur {
		_, err = p.DownTo(ctx, version)
	} else {
		_, err = p.UpTo(ctx, version)
	}
	return err
}

// SetListenerProbe sets how long the change listener waits before it pings its connection, for
// the rest of the test binary's run; it answers the previous value.
func SetListenerProbe(d time.Duration) time.Duration {
	prev := listenerProbe
	listenerProbe = d
	return prev
}

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
