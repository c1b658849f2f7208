package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"

	"entitled/mailer"
	"entitled/models"
)

// Help is the registration help desk.
type Help struct {
	store  *Store
	outbox Outbox
}

// NewHelp makes the help desk service.
func NewHelp(store *Store, outbox Outbox) *Help { return &Help{store: store, outbox: outbox} }

// Ask files a help request and confirms it to the sender (at most LettersPerHour confirmations an
// hour to one address). A License Number is kept as typed when it does not parse: the person may
// need help precisely because of it. Errors: validation_failed.
func (s *Help) Ask(ctx context.Context, in models.HelpInput, a models.Actor) (_ *models.HelpRequest, err error) {
	defer wrapErr(&err, "file a help request")
	var v models.Validation
	h := models.HelpRequest{Status: models.HelpOpen}
	h.Name = models.CheckName(&v, "name", in.Name, true)
	h.Email = models.CheckEmail(&v, "email", in.Email)
	h.Company = models.CheckName(&v, "company", in.Company, false)
	msg := strings.TrimSpace(in.Message)
	switch {
	case msg == "":
		v.Add("message", models.FieldRequired, "tell us what went wrong")
	case utf8.RuneCountInString(msg) > 5000 || !utf8.ValidString(msg) || strings.ContainsRune(msg, 0):
		v.Add("message", models.FieldInvalid, "must be text of at most 5000 characters")
	}
	h.Message = msg
	for field, val := range map[string]string{"license_number": in.LicenseNumber, "account_id": in.AccountID} {
		if strings.IndexFunc(val, unicode.IsControl) >= 0 || !utf8.ValidString(val) {
			v.Add(field, models.FieldInvalid, "must not contain control characters")
		}
	}
	if ln := strings.TrimSpace(in.LicenseNumber); ln != "" {
		if canonical, err := models.ParseLicenseNumber(ln); err == nil {
			ln = canonical
		} else if len(ln) > 40 {
			v.Add("license_number", models.FieldTooLong, "must be at most 40 characters")
		}
		h.LicenseNumber = &ln
	}
	if id := strings.TrimSpace(in.AccountID); id != "" {
		if len(id) > 20 {
			v.Add("account_id", models.FieldTooLong, "must be at most 20 characters")
		}
		h.AccountID = &id
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		now := s.store.Clock.Now()
		h.CreatedAt = now
		if err := tx.Create(&h).Error; err != nil {
			return err
		}
		ok, err := letterAllowed(tx, now, h.Email, mailer.HelpConfirmation{}.Template())
		if err != nil || !ok {
			return err
		}
		_, err = queueLetter(ctx, tx, s.outbox, mailer.HelpConfirmation{Name: h.Name, RequestID: strconv.FormatInt(h.ID, 10)}, []string{h.Email}, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &h, nil
}

// Queue lists help requests, open ones first, then by age. status filters when not empty.
func (s *Help) Queue(ctx context.Context, status string, page models.Page) (_ []models.HelpRequest, _ string, err error) {
	defer wrapErr(&err, "list help requests")
	if status != "" && status != models.HelpOpen && status != models.HelpResolved {
		return nil, "", &models.Error{Code: models.CodeValidation, Message: "the request has invalid fields",
			Fields: []models.FieldError{{Field: "status", Code: models.FieldInvalid, Detail: "must be open or resolved"}}}
	}
	q := s.store.db.WithContext(ctx).Model(&models.HelpRequest{})
	if status != "" {
		q = q.Where("status = ?", status)
	}
	// Keyset order (open first, then id): the cursor carries the id; open requests sort before
	// resolved ones by a CASE so the order is the same on both dialects.
	if page.After != 0 {
		var after models.HelpRequest
		if err := s.store.db.WithContext(ctx).Take(&after, page.After).Error; err == nil {
			rank := 0
			if after.Status == models.HelpResolved {
				rank = 1
			}
			q = q.Where("(CASE WHEN status = 'open' THEN 0 ELSE 1 END > ?) OR (CASE WHEN status = 'open' THEN 0 ELSE 1 END = ? AND id > ?)", rank, rank, after.ID)
		}
	}
	var out []models.HelpRequest
	if err := q.Order("CASE WHEN status = 'open' THEN 0 ELSE 1 END, id").Limit(page.Limit + 1).Find(&out).Error; err != nil {
		return nil, "", translate(err)
	}
	out, next := trimPage(out, page.Limit, func(h models.HelpRequest) int64 { return h.ID })
	return out, next, nil
}

// Resolve closes a help request with a note. Errors: not_found, validation_failed.
func (s *Help) Resolve(ctx context.Context, p *models.Principal, id, note string, a models.Actor) (_ *models.HelpRequest, err error) {
	defer wrapErr(&err, "resolve a help request")
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return nil, models.Errorf(models.CodeNotFound, "there is no help request %q", models.Clip(id, 20))
	}
	note = strings.TrimSpace(note)
	if strings.ContainsRune(note, 0) || !utf8.ValidString(note) {
		return nil, &models.Error{Code: models.CodeValidation, Message: "the request has invalid fields",
			Fields: []models.FieldError{{Field: "note", Code: models.FieldInvalid, Detail: "must be text without NUL characters"}}}
	}
	if utf8.RuneCountInString(note) > 5000 {
		return nil, &models.Error{Code: models.CodeValidation, Message: "the request has invalid fields",
			Fields: []models.FieldError{{Field: "note", Code: models.FieldTooLong, Detail: "must be at most 5000 characters"}}}
	}
	var h models.HelpRequest
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		if err := tx.Take(&h, n).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return models.Errorf(models.CodeNotFound, "there is no help request %d", n)
			}
			return err
		}
		now := s.store.Clock.Now()
		h.Status, h.ResolvedAt, h.Note = models.HelpResolved, &now, &note
		if p.IsUser() {
			h.ResolvedBy = &p.UserID
		}
		if err := tx.Model(&models.HelpRequest{}).Where("id = ?", n).Updates(map[string]any{"status": models.HelpResolved, "resolved_at": now, "resolved_by": h.ResolvedBy, "note": note}).Error; err != nil {
			return err
		}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "help.resolved", SubjectType: "help_request", SubjectID: strconv.FormatInt(n, 10), Details: map[string]any{"note": note}})
	})
	if err != nil {
		return nil, err
	}
	return &h, nil
}
