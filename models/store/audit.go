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
	q := s.db.WithContext(ctx).Model(&models.AuditEntry{})
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
