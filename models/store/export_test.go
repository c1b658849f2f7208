package store

import (
	"context"

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
