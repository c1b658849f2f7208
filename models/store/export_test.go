package store

import (
	"context"
	"time"

	"gorm.io/gorm"
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
