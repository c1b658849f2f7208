package store

import "gorm.io/gorm"

// lockRow serialises changes to one row of table (a constant of this package, never input): on
// PostgreSQL it locks the row until the transaction ends, so that a read-compare-write (an
// If-Match, a count against a limit) sees no other writer between its read and its write;
// SQLite transactions hold the database's write lock from BEGIN (_txlock=immediate), so there is
// nothing more to take.
func lockRow(tx *gorm.DB, table string, id int64) error {
	if tx.Dialector.Name() != "postgres" {
		return nil
	}
	return tx.Exec("SELECT id FROM "+table+" WHERE id = ? FOR UPDATE", id).Error
}
