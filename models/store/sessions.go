package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"entitled/models"
)

// touchSession records that the session was used now, at most once every
// models.SessionTouchStep: this replica remembers when it last wrote each session, and the
// UPDATE itself only writes a last_seen_at older than the step, so that several replicas add up
// to one write a step too. It goes to the pool directly, not through GORM: a write through GORM
// empties the hot caches (and, on PostgreSQL, every replica's), which a mere "last seen" must not
// do (on SQLite the data_version check still notices it, at most once a step per session). Best
// effort: a failed touch does not fail the request.
func (s *Identity) touchSession(ctx context.Context, sessionID int64, now time.Time) {
	if sessionID == 0 {
		return
	}
	m := &s.mfa
	m.mu.Lock()
	if m.touched == nil {
		m.touched = map[int64]time.Time{}
	}
	last, ok := m.touched[sessionID]
	if ok && now.Sub(last) < models.SessionTouchStep && !now.Before(last) {
		m.mu.Unlock()
		return
	}
	if len(m.touched) >= cacheMaxEntries {
		clear(m.touched) // forget everyone: each is written once more, at worst
	}
	m.touched[sessionID] = now
	m.mu.Unlock()
	q := "UPDATE sessions SET last_seen_at = ? WHERE id = ? AND (last_seen_at IS NULL OR last_seen_at <= ?)"
	if s.store.Dialect == Postgres {
		q = numberPlaceholders(q)
	}
	if _, err := s.store.sqlDB.ExecContext(ctx, q, now, sessionID, now.Add(-models.SessionTouchStep)); err != nil {
		s.store.log.WarnContext(ctx, "session last-seen not recorded", "error", err)
	}
}

// Sessions lists the principal's open sessions, newest first, the one it calls with marked
// Current.
func (s *Identity) Sessions(ctx context.Context, p *models.Principal) (_ []models.Session, err error) {
	defer wrapErr(&err, "list sessions")
	if !p.IsUser() {
		return nil, models.Errorf(models.CodeForbidden, "only a person has sessions")
	}
	var rows []session
	err = s.store.db.WithContext(ctx).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", p.UserID, s.store.Clock.Now()).
		Order("id DESC").Limit(500).Find(&rows).Error
	if err != nil {
		return nil, translate(err)
	}
	out := make([]models.Session, 0, len(rows))
	for _, r := range rows {
		out = append(out, models.Session{ID: r.ID, UserAgent: r.UserAgent, IP: r.IP, CreatedAt: r.CreatedAt, LastSeenAt: r.LastSeenAt, Current: r.ID == p.SessionID})
	}
	return out, nil
}

// RevokeSession ends one of the principal's sessions (its own current one included: that is a
// logout). Another user's session, or one that ended already, is not_found.
// Errors: not_found.
func (s *Identity) RevokeSession(ctx context.Context, p *models.Principal, id int64, a models.Actor) (err error) {
	defer wrapErr(&err, "end a session")
	if !p.IsUser() {
		return models.Errorf(models.CodeForbidden, "only a person has sessions")
	}
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		r := tx.Model(&session{}).Where("id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?", id, p.UserID, now).Update("revoked_at", now)
		if r.Error != nil {
			return r.Error
		}
		if r.RowsAffected == 0 {
			return models.Errorf(models.CodeNotFound, "you have no open session %d", id)
		}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "session.revoked", SubjectType: "user", SubjectID: itoa64(p.UserID),
			Details: map[string]any{"session": id}})
	})
}
