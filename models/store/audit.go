package store

import (
	"context"
	"encoding/json"
	"time"

	"gorm.io/gorm"

	"entitled/models"
)

// writeAudit appends one audit row inside the caller's transaction, so that a change is never
// committed without its record (nor a record without its change).
func writeAudit(tx *gorm.DB, now time.Time, a models.Actor, r models.AuditRecord) error {
	details := "{}"
	if len(r.Details) > 0 {
		b, err := json.Marshal(r.Details)
		if err != nil {
			return err
		}
		details = string(b)
	}
	e := models.AuditEntry{
		At: now, ActorKind: a.Kind, Action: r.Action, SubjectType: r.SubjectType, SubjectID: r.SubjectID,
		Details: details, IP: a.IP, RequestID: a.RequestID,
	}
	if a.ID != 0 {
		e.ActorID = &a.ID
	}
	if a.Email != "" {
		e.ActorEmail = &a.Email
	}
	if r.LicenseID != 0 {
		e.LicenseID = &r.LicenseID
	}
	return tx.Create(&e).Error
}

// ListAudit lists audit entries, newest first, a page at a time.
func (s *Store) ListAudit(ctx context.Context, f models.AuditFilter, page models.Page) ([]models.AuditEntry, string, error) {
	q := auditQuery(s.db.WithContext(ctx), f)
	if page.After != 0 {
		q = q.Where("id < ?", page.After)
	}
	var out []models.AuditEntry
	if err := q.Order("id DESC").Limit(page.Limit + 1).Find(&out).Error; err != nil {
		return nil, "", wrap(translate(err), "list the audit log")
	}
	out, next := trimPage(out, page.Limit, func(e models.AuditEntry) int64 { return e.ID })
	return out, next, nil
}

// auditQuery selects the audit entries that f matches.
func auditQuery(db *gorm.DB, f models.AuditFilter) *gorm.DB {
	q := db.Model(&models.AuditEntry{})
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.SubjectType != "" {
		q = q.Where("subject_type = ?", f.SubjectType)
	}
	if f.SubjectID != "" {
		q = q.Where("subject_id = ?", f.SubjectID)
	}
	if f.ActorID != 0 {
		q = q.Where("actor_id = ?", f.ActorID)
	}
	if f.LicenseID != 0 {
		q = q.Where("license_id = ?", f.LicenseID)
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", f.Until.UTC())
	}
	return q
}

// ExportAudit calls fn with every audit entry f matches, newest first, one row at a time from
// one query (memory stays flat however long the log). An error of fn stops the export and is
// returned as it is.
func (s *Store) ExportAudit(ctx context.Context, f models.AuditFilter, fn func(*models.AuditEntry) error) (err error) {
	var fnErr error
	err = s.read(ctx, func(db *gorm.DB) error {
		rows, err := auditQuery(db, f).Order("id DESC").Rows()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e models.AuditEntry
			if err := db.ScanRows(rows, &e); err != nil {
				return err
			}
			if fnErr = fn(&e); fnErr != nil {
				return nil
			}
		}
		return rows.Err()
	})
	if fnErr != nil {
		return fnErr
	}
	return wrap(err, "export the audit log")
}
