// Package migrations holds the versioned SQL schema, one folder per dialect, embedded in the binary
// and applied by goose (see store.Store.Migrate). Files are named NNNNN_what.sql; a migration is
// never edited once released, and every one is additive, so that an older replica keeps working
// while a newer one has migrated the database during a rolling deploy.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// For returns the migrations of one dialect ("postgres" or "sqlite").
func For(dialect string) (fs.FS, error) {
	return fs.Sub(files, dialect)
}
