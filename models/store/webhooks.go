package store

// Webhooks: the endpoints staff superadmin register, and the deliveries of events to them. An
// event is recorded by emit in the transaction of the change that causes it: one delivery row and
// one River job (webhookDeliveryArgs) per matching enabled endpoint, so that there is no event
// without its change and no change without its event. Package webhooks signs and sends them.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"gorm.io/gorm"

	"entitled/mailer"
	"entitled/models"
)

// webhookSecretAD binds a sealed webhook secret to its purpose, so that it cannot be opened as
// anything else sealed under the same key.
const webhookSecretAD = "entitled webhook secret"

// sealBytes seals b under the sealer's key with the additional data ad (the signing keys' seal,
// for other secrets).
func (s *keySealer) sealBytes(ad string, b []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, b, []byte(ad))
}

// openBytes opens what sealBytes sealed with the same ad.
func (s *keySealer) openBytes(ad string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errWrongSecret
	}
	b, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(ad))
	if err != nil {
		return nil, errWrongSecret
	}
	return b, nil
}

type webhookEndpointRow struct {
	ID                  int64
	URL                 string
	Events              string
	Description         string
	AccountID           *string
	Enabled             bool
	Secret              []byte
	PreviousSecret      []byte
	PreviousSecretUntil *time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
	LastDeliveryAt      *time.Time
	FailingSince        *time.Time
	DeletedAt           *time.Time
}

func (webhookEndpointRow) TableName() string { return "webhook_endpoints" }

func (r *webhookEndpointRow) model() models.WebhookEndpoint {
	return models.WebhookEndpoint{ID: r.ID, URL: r.URL, Events: splitEvents(r.Events), Description: r.Description, AccountID: r.AccountID,
		Enabled: r.Enabled, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), LastDeliveryAt: utcPtr(r.LastDeliveryAt), FailingSince: utcPtr(r.FailingSince)}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func splitEvents(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

type webhookDeliveryRow struct {
	ID            int64
	EndpointID    int64
	EventID       string
	EventType     string
	Payload       string
	Status        string
	Attempts      string
	NextAttemptAt *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (webhookDeliveryRow) TableName() string { return "webhook_deliveries" }

func (r *webhookDeliveryRow) model() models.WebhookDelivery {
	d := models.WebhookDelivery{ID: r.ID, EndpointID: r.EndpointID, EventID: r.EventID, Type: r.EventType, Status: r.Status,
		NextAttemptAt: utcPtr(r.NextAttemptAt), CreatedAt: r.CreatedAt.UTC(), Attempts: []models.WebhookAttempt{}}
	_ = json.Unmarshal([]byte(r.Attempts), &d.Attempts)
	return d
}

// WebhookDeliveryArgs is the River job of one delivery. A manual retry is a job of its own, with
// one attempt: WasFailed says the delivery had failed already, so that this attempt failing fails
// it again; a manual retry of a pending delivery leaves its schedule as it was.
type WebhookDeliveryArgs struct {
	DeliveryID int64 `json:"delivery_id"`
	Manual     bool  `json:"manual,omitempty"`
	WasFailed  bool  `json:"was_failed,omitempty"`
}

func (WebhookDeliveryArgs) Kind() string { return "webhook_delivery" }

func (a WebhookDeliveryArgs) InsertOpts() river.InsertOpts {
	n := models.WebhookMaxAttempts
	if a.Manual {
		n = 1
	}
	return river.InsertOpts{Queue: models.WebhookQueue, MaxAttempts: n}
}

// Webhooks is the service of webhook endpoints and their deliveries.
type Webhooks struct {
	store        *Store
	outbox       Outbox
	sealer       *keySealer
	allowPrivate bool
	// Links are the portal pages the letters to superadmins point to (an endpoint disabled).
	Links mailer.Links
	// Resolve looks a host's addresses up (net.DefaultResolver's by default); tests replace it.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
}

// NewWebhooks makes the webhook service. secret is ENTITLED_SECRET, which seals the endpoints'
// secrets; allowPrivate is ENTITLED_WEBHOOK_ALLOW_PRIVATE (http:// and any address allowed).
func NewWebhooks(store *Store, outbox Outbox, secret string, allowPrivate bool) (*Webhooks, error) {
	sealer, err := newKeySealer(secret)
	if err != nil {
		return nil, err
	}
	return &Webhooks{store: store, outbox: outbox, sealer: sealer, allowPrivate: allowPrivate,
		Resolve: func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}}, nil
}

// AllowPrivate says whether ENTITLED_WEBHOOK_ALLOW_PRIVATE lifts the URL rules.
func (s *Webhooks) AllowPrivate() bool { return s.allowPrivate }

// checkURL applies the URL rules at registration: https only, and every address the host
// resolves to allowed. Errors: validation_failed, webhook_url_refused.
func (s *Webhooks) checkURL(ctx context.Context, raw string) (string, error) {
	u, err := models.ParseWebhookURL(raw, s.allowPrivate)
	if err != nil {
		return "", err
	}
	if s.allowPrivate {
		return u.String(), nil
	}
	host := u.Hostname()
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else if addrs, err = s.Resolve(ctx, host); err != nil || len(addrs) == 0 {
		return "", models.Errorf(models.CodeWebhookURLRefused, "the host %s does not resolve", host)
	}
	for _, ip := range addrs {
		if why := models.RefusedWebhookAddr(ip); why != "" {
			return "", models.Errorf(models.CodeWebhookURLRefused, "the host %s resolves to %s", host, why)
		}
	}
	return u.String(), nil
}

func newWebhookSecret() []byte {
	b := make([]byte, models.WebhookSecretBytes)
	_, _ = rand.Read(b)
	return b
}

func formatWebhookSecret(b []byte) string {
	return models.WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b)
}

func parseWebhookID(id string) int64 {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

func webhookNotFound(id string) error {
	return models.Errorf(models.CodeNotFound, "there is no webhook %q", id)
}

// endpoint reads a live (not deleted) endpoint.
func endpoint(tx *gorm.DB, id string) (*webhookEndpointRow, error) {
	n := parseWebhookID(id)
	if n == 0 {
		return nil, webhookNotFound(id)
	}
	var r webhookEndpointRow
	err := tx.Where("id = ? AND deleted_at IS NULL", n).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, webhookNotFound(id)
	}
	return &r, err
}

// Create registers an endpoint and returns it with its secret, shown only here. Errors:
// validation_failed, webhook_url_refused.
func (s *Webhooks) Create(ctx context.Context, in models.WebhookInput, a models.Actor) (_ *models.WebhookEndpoint, secret string, err error) {
	defer wrapErr(&err, "register a webhook")
	var v models.Validation
	if strings.TrimSpace(in.URL) == "" {
		v.Add("url", models.FieldRequired, "is required")
	}
	models.ValidateWebhookEvents(&v, in.Events)
	if len(in.Description) > 500 {
		v.Add("description", models.FieldTooLong, "must be at most 500 characters")
	}
	if in.AccountID != nil && strings.TrimSpace(*in.AccountID) == "" {
		v.Add("account_id", models.FieldInvalid, "must be an account number")
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	u, err := s.checkURL(ctx, in.URL)
	if err != nil {
		return nil, "", err
	}
	raw := newWebhookSecret()
	var out models.WebhookEndpoint
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		if in.AccountID != nil {
			var n int64
			if err := tx.Table("accounts").Where("account_id = ?", *in.AccountID).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 {
				return &models.Error{Code: models.CodeAccountNotFound, Message: "there is no account " + *in.AccountID, InBody: true}
			}
		}
		now := s.store.Clock.Now()
		r := webhookEndpointRow{URL: u, Events: strings.Join(in.Events, ","), Description: in.Description, AccountID: in.AccountID,
			Enabled: true, Secret: s.sealer.sealBytes(webhookSecretAD, raw), CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&r).Error; err != nil {
			return err
		}
		out = r.model()
		return writeAudit(tx, now, a, models.AuditRecord{Action: "webhook.created", SubjectType: "webhook", SubjectID: itoa64(r.ID),
			Details: map[string]any{"url": u, "events": in.Events}})
	})
	if err != nil {
		return nil, "", err
	}
	return &out, formatWebhookSecret(raw), nil
}

// List lists the live endpoints, oldest first.
func (s *Webhooks) List(ctx context.Context, page models.Page) (_ []models.WebhookEndpoint, _ string, err error) {
	defer wrapErr(&err, "list webhooks")
	var rows []webhookEndpointRow
	q := s.store.db.WithContext(ctx).Where("deleted_at IS NULL")
	if page.After > 0 {
		q = q.Where("id > ?", page.After)
	}
	if err := q.Order("id").Limit(page.Limit + 1).Find(&rows).Error; err != nil {
		return nil, "", err
	}
	out, next := modelPage(rows, page.Limit, func(r webhookEndpointRow) int64 { return r.ID }, (*webhookEndpointRow).model)
	return out, next, nil
}

// modelPage cuts rows fetched with Limit+1 to the page, as trimPage does, and makes them models.
func modelPage[R, M any](rows []R, limit int, id func(R) int64, model func(*R) M) ([]M, string) {
	rows, next := trimPage(rows, limit, id)
	out := make([]M, len(rows))
	for i := range rows {
		out[i] = model(&rows[i])
	}
	return out, next
}

// Get reads one endpoint. Errors: not_found.
func (s *Webhooks) Get(ctx context.Context, id string) (_ *models.WebhookEndpoint, err error) {
	defer wrapErr(&err, "read a webhook")
	r, err := endpoint(s.store.db.WithContext(ctx), id)
	if err != nil {
		return nil, err
	}
	m := r.model()
	return &m, nil
}

// Update changes an endpoint; enabling it again clears failing_since. p.IfMatch, when set, must
// match the endpoint's current ETag. Errors: not_found, validation_failed, webhook_url_refused,
// precondition_failed.
func (s *Webhooks) Update(ctx context.Context, id string, p models.WebhookPatch, a models.Actor) (_ *models.WebhookEndpoint, err error) {
	defer wrapErr(&err, "change a webhook")
	var v models.Validation
	if p.Events != nil {
		models.ValidateWebhookEvents(&v, *p.Events)
	}
	if p.Description != nil && len(*p.Description) > 500 {
		v.Add("description", models.FieldTooLong, "must be at most 500 characters")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	var u string
	if p.URL != nil {
		if u, err = s.checkURL(ctx, *p.URL); err != nil {
			return nil, err
		}
	}
	var out models.WebhookEndpoint
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		r, err := endpoint(tx, id)
		if err != nil {
			return err
		}
		if p.IfMatch != "" {
			if err := lockRow(tx, "webhook_endpoints", r.ID); err != nil {
				return err
			}
			if err := tx.Where("id = ?", r.ID).Take(r).Error; err != nil {
				return err
			}
			cur := r.model()
			if err := models.CheckIfMatch(p.IfMatch, cur.ETag()); err != nil {
				return err
			}
		}
		now := s.store.Clock.Now()
		changes := map[string]any{"updated_at": now}
		details := map[string]any{}
		if p.URL != nil {
			changes["url"], details["url"] = u, u
		}
		if p.Events != nil {
			changes["events"], details["events"] = strings.Join(*p.Events, ","), *p.Events
		}
		if p.Description != nil {
			changes["description"] = *p.Description
		}
		if p.Enabled != nil {
			changes["enabled"], details["enabled"] = *p.Enabled, *p.Enabled
			if *p.Enabled && !r.Enabled {
				changes["failing_since"] = nil
			}
		}
		if err := tx.Model(&webhookEndpointRow{}).Where("id = ?", r.ID).Updates(changes).Error; err != nil {
			return err
		}
		var after webhookEndpointRow
		if err := tx.Where("id = ?", r.ID).Take(&after).Error; err != nil {
			return err
		}
		out = after.model()
		return writeAudit(tx, now, a, models.AuditRecord{Action: "webhook.changed", SubjectType: "webhook", SubjectID: itoa64(r.ID), Details: details})
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Delete removes an endpoint: nothing more is sent to it (its pending deliveries end unsent).
// Errors: not_found.
func (s *Webhooks) Delete(ctx context.Context, id string, a models.Actor) (err error) {
	defer wrapErr(&err, "delete a webhook")
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		r, err := endpoint(tx, id)
		if err != nil {
			return err
		}
		now := s.store.Clock.Now()
		if err := tx.Model(&webhookEndpointRow{}).Where("id = ?", r.ID).
			Updates(map[string]any{"deleted_at": now, "enabled": false, "updated_at": now}).Error; err != nil {
			return err
		}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "webhook.deleted", SubjectType: "webhook", SubjectID: itoa64(r.ID)})
	})
}

// RotateSecret gives an endpoint a new secret and returns it; the previous one stays valid (and
// every delivery is signed with both) for 24 hours. Errors: not_found.
func (s *Webhooks) RotateSecret(ctx context.Context, id string, a models.Actor) (secret string, err error) {
	defer wrapErr(&err, "rotate a webhook's secret")
	raw := newWebhookSecret()
	err = s.store.withTx(ctx, func(tx *gorm.DB) error {
		r, err := endpoint(tx, id)
		if err != nil {
			return err
		}
		now := s.store.Clock.Now()
		until := now.Add(models.WebhookPreviousSecretValid)
		if err := tx.Model(&webhookEndpointRow{}).Where("id = ?", r.ID).Updates(map[string]any{
			"secret": s.sealer.sealBytes(webhookSecretAD, raw), "previous_secret": r.Secret, "previous_secret_until": until, "updated_at": now,
		}).Error; err != nil {
			return err
		}
		return writeAudit(tx, now, a, models.AuditRecord{Action: "webhook.secret_rotated", SubjectType: "webhook", SubjectID: itoa64(r.ID)})
	})
	if err != nil {
		return "", err
	}
	return formatWebhookSecret(raw), nil
}

// Ping sends the endpoint a ping event {webhook_id}, whatever its events filter, and also while
// it is disabled (to try it before enabling it). Errors: not_found.
func (s *Webhooks) Ping(ctx context.Context, id string) (err error) {
	defer wrapErr(&err, "ping a webhook")
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		r, err := endpoint(tx, id)
		if err != nil {
			return err
		}
		ev := newWebhookEvent(s.store.Clock.Now(), models.EventPing, "", map[string]any{"webhook_id": itoa64(r.ID)})
		body, err := webhookBody(ev)
		if err != nil {
			return err
		}
		return queueDelivery(ctx, tx, s.outbox, r.ID, ev, body)
	})
}

// Deliveries lists an endpoint's deliveries, newest first. Errors: not_found.
func (s *Webhooks) Deliveries(ctx context.Context, id string, page models.Page) (_ []models.WebhookDelivery, _ string, err error) {
	defer wrapErr(&err, "list a webhook's deliveries")
	db := s.store.db.WithContext(ctx)
	r, err := endpoint(db, id)
	if err != nil {
		return nil, "", err
	}
	q := db.Where("endpoint_id = ?", r.ID)
	if page.After > 0 {
		q = q.Where("id < ?", page.After)
	}
	var rows []webhookDeliveryRow
	if err := q.Order("id DESC").Limit(page.Limit + 1).Find(&rows).Error; err != nil {
		return nil, "", err
	}
	out, next := modelPage(rows, page.Limit, func(r webhookDeliveryRow) int64 { return r.ID }, (*webhookDeliveryRow).model)
	return out, next, nil
}

// Retry queues one more attempt, now, of a failed or pending delivery. Errors: not_found,
// conflict (the delivery succeeded).
func (s *Webhooks) Retry(ctx context.Context, id, deliveryID string) (err error) {
	defer wrapErr(&err, "retry a webhook delivery")
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		r, err := endpoint(tx, id)
		if err != nil {
			return err
		}
		var d webhookDeliveryRow
		n := parseWebhookID(deliveryID)
		err = tx.Where("id = ? AND endpoint_id = ?", n, r.ID).Take(&d).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || n == 0 {
			return models.Errorf(models.CodeNotFound, "there is no delivery %q of webhook %q", deliveryID, id)
		}
		if err != nil {
			return err
		}
		if d.Status == models.WebhookDeliverySucceeded {
			return models.Errorf(models.CodeConflict, "delivery %q succeeded already", deliveryID)
		}
		// A failed delivery is pending again until this attempt ends; a pending one keeps its
		// schedule, which this attempt ends early only by succeeding.
		wasFailed := d.Status == models.WebhookDeliveryFailed
		if wasFailed {
			now := s.store.Clock.Now()
			if err := tx.Model(&webhookDeliveryRow{}).Where("id = ?", d.ID).
				Updates(map[string]any{"status": models.WebhookDeliveryPending, "next_attempt_at": now, "updated_at": now}).Error; err != nil {
				return err
			}
		}
		return insertWebhookJob(ctx, tx, s.outbox, WebhookDeliveryArgs{DeliveryID: d.ID, Manual: true, WasFailed: wasFailed})
	})
}

// newWebhookEvent makes an event with a fresh id: the webhook-id of all its deliveries.
func newWebhookEvent(at time.Time, typ, account string, data any) models.WebhookEvent {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return models.WebhookEvent{ID: "msg_" + hex.EncodeToString(b), Type: typ, At: at.UTC(), AccountID: account, Data: data}
}

// webhookBody is the body of every delivery of ev.
func webhookBody(ev models.WebhookEvent) ([]byte, error) {
	return json.Marshal(struct {
		Type      string `json:"type"`
		Timestamp string `json:"timestamp"`
		Data      any    `json:"data"`
	}{ev.Type, ev.At.UTC().Format(time.RFC3339Nano), ev.Data})
}

// queueDelivery records one delivery of ev to an endpoint and inserts its job, in tx.
func queueDelivery(ctx context.Context, tx *gorm.DB, outbox Outbox, endpointID int64, ev models.WebhookEvent, body []byte) error {
	d := webhookDeliveryRow{EndpointID: endpointID, EventID: ev.ID, EventType: ev.Type, Payload: string(body),
		Status: models.WebhookDeliveryPending, Attempts: "[]", NextAttemptAt: &ev.At, CreatedAt: ev.At, UpdatedAt: ev.At}
	if err := tx.Create(&d).Error; err != nil {
		return err
	}
	return insertWebhookJob(ctx, tx, outbox, WebhookDeliveryArgs{DeliveryID: d.ID})
}

// emit records an event of type typ about account ("" when none) in tx, the transaction of the
// change that causes it: one delivery, and its job, for each enabled endpoint whose events and
// account filter match. The event's time is the store clock's.
func emit(ctx context.Context, tx *gorm.DB, outbox Outbox, now time.Time, typ, account string, data any) error {
	var rows []webhookEndpointRow
	if err := tx.Select("id", "events", "account_id").Where("enabled AND deleted_at IS NULL").Order("id").Find(&rows).Error; err != nil {
		return err
	}
	ev := newWebhookEvent(now, typ, account, data)
	var body []byte
	for _, r := range rows {
		if !models.WebhookMatches(splitEvents(r.Events), r.AccountID, typ, account) {
			continue
		}
		if body == nil {
			var err error
			if body, err = webhookBody(ev); err != nil {
				return err
			}
		}
		if err := queueDelivery(ctx, tx, outbox, r.ID, ev, body); err != nil {
			return err
		}
	}
	return nil
}

// WebhookOutgoing is what one attempt of a delivery sends: Secrets are the raw secrets to sign
// with (the current one first, then the previous one while it is valid). Skip says there is
// nothing to send: the delivery is settled, or its endpoint was deleted or disabled; then
// Unsendable says why a pending delivery will never be sent (call Abandon with it).
type WebhookOutgoing struct {
	DeliveryID int64
	EndpointID int64
	URL        string
	EventID    string
	Type       string
	Body       []byte
	Secrets    [][]byte
	Skip       bool
	Unsendable string
}

// Outgoing reads what the next attempt of a delivery sends.
func (s *Webhooks) Outgoing(ctx context.Context, deliveryID int64) (_ *WebhookOutgoing, err error) {
	defer wrapErr(&err, "read a webhook delivery")
	db := s.store.db.WithContext(ctx)
	var d webhookDeliveryRow
	if err := db.Where("id = ?", deliveryID).Take(&d).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return &WebhookOutgoing{DeliveryID: deliveryID, Skip: true}, nil
		}
		return nil, err
	}
	var r webhookEndpointRow
	if err := db.Where("id = ?", d.EndpointID).Take(&r).Error; err != nil {
		return nil, err
	}
	out := &WebhookOutgoing{DeliveryID: d.ID, EndpointID: r.ID, URL: r.URL, EventID: d.EventID, Type: d.EventType, Body: []byte(d.Payload)}
	// A disabled endpoint gets nothing but the pings staff send it (to try it before enabling it).
	switch {
	case d.Status != models.WebhookDeliveryPending:
		out.Skip = true
		return out, nil
	case r.DeletedAt != nil:
		out.Skip, out.Unsendable = true, "not sent: the endpoint was deleted"
		return out, nil
	case !r.Enabled && d.EventType != models.EventPing:
		out.Skip, out.Unsendable = true, "not sent: the endpoint is disabled"
		return out, nil
	}
	cur, err := s.sealer.openBytes(webhookSecretAD, r.Secret)
	if err != nil {
		return nil, err
	}
	out.Secrets = [][]byte{cur}
	if r.PreviousSecret != nil && r.PreviousSecretUntil != nil && s.store.Clock.Now().Before(*r.PreviousSecretUntil) {
		prev, err := s.sealer.openBytes(webhookSecretAD, r.PreviousSecret)
		if err != nil {
			return nil, err
		}
		out.Secrets = append(out.Secrets, prev)
	}
	return out, nil
}

// RecordAttempt appends an attempt to a delivery: succeeded on a 2xx, failed when it was the
// last attempt, else pending until next. It keeps the endpoint's last_delivery_at and
// failing_since, and disables an endpoint whose deliveries have all failed for 5 days.
func (s *Webhooks) RecordAttempt(ctx context.Context, deliveryID int64, at models.WebhookAttempt, last bool, next *time.Time) (err error) {
	defer wrapErr(&err, "record a webhook attempt")
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		// Two attempts of one delivery may end at once (a manual retry beside a scheduled one):
		// lock its row before reading its attempts, so that neither record is lost (SQLite's
		// transactions hold the write lock from BEGIN already).
		if tx.Dialector.Name() == "postgres" {
			if err := tx.Exec("SELECT id FROM webhook_deliveries WHERE id = ? FOR UPDATE", deliveryID).Error; err != nil {
				return err
			}
		}
		var d webhookDeliveryRow
		if err := tx.Where("id = ?", deliveryID).Take(&d).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return nil
			}
			return err
		}
		attempts := d.model().Attempts
		attempts = append(attempts, at)
		js, err := json.Marshal(attempts)
		if err != nil {
			return err
		}
		status, nextAt := models.WebhookDeliveryPending, next
		switch {
		case at.OK():
			status, nextAt = models.WebhookDeliverySucceeded, nil
		case last:
			status, nextAt = models.WebhookDeliveryFailed, nil
		case next == nil:
			nextAt = d.NextAttemptAt // a manual retry of a pending delivery: its schedule goes on
		}
		now := s.store.Clock.Now()
		if err := tx.Model(&webhookDeliveryRow{}).Where("id = ?", d.ID).
			Updates(map[string]any{"attempts": string(js), "status": status, "next_attempt_at": nextAt, "updated_at": now}).Error; err != nil {
			return err
		}
		ep := map[string]any{"last_delivery_at": at.At}
		if at.OK() {
			ep["failing_since"] = nil
			return tx.Model(&webhookEndpointRow{}).Where("id = ?", d.EndpointID).Updates(ep).Error
		}
		if err := tx.Model(&webhookEndpointRow{}).Where("id = ?", d.EndpointID).Updates(ep).Error; err != nil {
			return err
		}
		if err := tx.Model(&webhookEndpointRow{}).Where("id = ? AND failing_since IS NULL", d.EndpointID).Update("failing_since", at.At).Error; err != nil {
			return err
		}
		// Failing for 5 days: the endpoint is disabled (enabling it again clears failing_since).
		var r webhookEndpointRow
		if err := tx.Where("id = ?", d.EndpointID).Take(&r).Error; err != nil {
			return err
		}
		if !r.Enabled || r.DeletedAt != nil || !models.WebhookShouldDisable(r.FailingSince, at.At) {
			return nil
		}
		if err := tx.Model(&webhookEndpointRow{}).Where("id = ?", r.ID).Updates(map[string]any{"enabled": false, "updated_at": now}).Error; err != nil {
			return err
		}
		if err := writeAudit(tx, now, models.SystemActor("webhooks"), models.AuditRecord{Action: "webhook.disabled", SubjectType: "webhook", SubjectID: itoa64(r.ID),
			Details: map[string]any{"failing_since": r.FailingSince.UTC().Format(time.RFC3339), "reason": "every delivery failed for 5 days"}}); err != nil {
			return err
		}
		return s.tellSuperadmins(ctx, tx, &r)
	})
}

// tellSuperadmins queues, in tx, a letter to each superadmin that the endpoint r was disabled.
func (s *Webhooks) tellSuperadmins(ctx context.Context, tx *gorm.DB, r *webhookEndpointRow) error {
	staff, err := staffWith(tx, models.RoleSuperadmin)
	if err != nil {
		return err
	}
	var out []mailer.Outgoing
	for _, st := range staff {
		to, ok := mailable(st.Email)
		if !ok {
			continue
		}
		id := itoa64(r.ID)
		out = append(out, mailer.Outgoing{To: []string{to}, Message: mailer.WebhookDisabled{Name: st.Name, WebhookID: id, Endpoint: r.URL,
			Description: r.Description, FailingSince: r.FailingSince.UTC().Format(time.RFC3339), PageURL: s.Links.Webhook(id)}})
	}
	if len(out) == 0 {
		return nil
	}
	_, err = queueLetters(ctx, tx, s.outbox, out)
	return err
}

// Abandon ends a pending delivery that can never be sent (its endpoint was deleted or disabled)
// as failed, with why as its last attempt's error, so that it neither waits for ever nor counts
// in the queue. Staff may retry it once the endpoint is enabled again.
func (s *Webhooks) Abandon(ctx context.Context, deliveryID int64, why string) (err error) {
	defer wrapErr(&err, "abandon a webhook delivery")
	return s.store.withTx(ctx, func(tx *gorm.DB) error {
		var d webhookDeliveryRow
		if err := tx.Where("id = ? AND status = ?", deliveryID, models.WebhookDeliveryPending).Take(&d).Error; err != nil {
			if errors.Is(err, gorm.ErrRecordNotFound) {
				return nil
			}
			return err
		}
		now := s.store.Clock.Now().UTC().Truncate(time.Microsecond)
		js, err := json.Marshal(append(d.model().Attempts, models.WebhookAttempt{At: now, Error: why}))
		if err != nil {
			return err
		}
		return tx.Model(&webhookDeliveryRow{}).Where("id = ? AND status = ?", d.ID, models.WebhookDeliveryPending).
			Updates(map[string]any{"attempts": string(js), "status": models.WebhookDeliveryFailed, "next_attempt_at": nil, "updated_at": now}).Error
	})
}

// accountNumber is the 7-digit number of the account with the row id, which events carry and
// endpoints filter on.
func accountNumber(tx *gorm.DB, id int64) (string, error) {
	var n []string
	if err := tx.Table("accounts").Where("id = ?", id).Pluck("account_id", &n).Error; err != nil {
		return "", err
	}
	if len(n) == 0 {
		return "", nil
	}
	return n[0], nil
}

// emitMember records member.updated (roles given or changed) or member.removed (no roles) for a
// grant g of the license, in tx.
func emitMember(ctx context.Context, tx *gorm.DB, outbox Outbox, now time.Time, lic *models.License, email string, m *models.Member) error {
	if m == nil {
		return nil
	}
	acct, err := accountNumber(tx, lic.AccountID)
	if err != nil {
		return err
	}
	roles := m.Roles()
	if len(roles) == 0 {
		return emit(ctx, tx, outbox, now, models.EventMemberRemoved, acct,
			map[string]any{"license_number": lic.LicenseNumber, "email": email, "version": m.GrantVersion})
	}
	return emit(ctx, tx, outbox, now, models.EventMemberUpdated, acct,
		map[string]any{"license_number": lic.LicenseNumber, "email": email, "roles": roles, "version": m.GrantVersion})
}

// emitJoinRequest records join_request.created: the join request as GET .../requests shows it,
// made for a license (licenseNumber) or for every license of an account.
func emitJoinRequest(ctx context.Context, tx *gorm.DB, outbox Outbox, req *models.JoinRequest, p *models.Principal, licenseNumber, account string) error {
	data := map[string]any{"id": itoa64(req.ID), "email": p.Email, "name": p.Name, "requested_at": req.CreatedAt.UTC(), "status": req.Status}
	if licenseNumber != "" {
		data["license_number"] = licenseNumber
	} else {
		data["account_id"] = account
	}
	return emit(ctx, tx, outbox, req.CreatedAt, models.EventJoinRequestCreated, account, data)
}

// emitLicenseKey records license_key.issued or license_key.released for a key of the license.
func emitLicenseKey(ctx context.Context, tx *gorm.DB, outbox Outbox, now time.Time, typ string, lic *models.License, key *models.LicenseKey) error {
	acct, err := accountNumber(tx, lic.AccountID)
	if err != nil {
		return err
	}
	return emit(ctx, tx, outbox, now, typ, acct, map[string]any{
		"license_number": lic.LicenseNumber, "key_id": itoa64(key.ID), "fingerprint": key.Fingerprint, "ver_major": key.VerMajor,
	})
}

// PendingDeliveries counts the deliveries not yet succeeded or failed (the queue's depth).
func (s *Webhooks) PendingDeliveries(ctx context.Context) (n int64, err error) {
	defer wrapErr(&err, "count pending webhook deliveries")
	err = s.store.db.WithContext(ctx).Model(&webhookDeliveryRow{}).Where("status = ?", models.WebhookDeliveryPending).Count(&n).Error
	return n, err
}
