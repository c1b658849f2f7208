package models

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Webhooks (contract: "Webhooks — other services hear of changes (Standard Webhooks)"): staff
// superadmin register endpoints; every change that an event names records, in its own
// transaction, one delivery per matching enabled endpoint; a worker sends each, signed as the
// Standard Webhooks specification says, and retries it on WebhookRetrySchedule.

// CodeWebhookURLRefused: a webhook URL that is not https, or whose host resolves to a loopback,
// private, link-local, multicast or unspecified address (HTTP 422).
const CodeWebhookURLRefused = "webhook_url_refused"

// Event types, as the contract names them.
const (
	EventOrderCreated          = "order.created"
	EventLicenseRegistered     = "license.registered"
	EventMemberUpdated         = "member.updated"
	EventMemberRemoved         = "member.removed"
	EventJoinRequestCreated    = "join_request.created"
	EventContractRenewed       = "contract.renewed"
	EventContractUpgraded      = "contract.upgraded"
	EventContractTerminated    = "contract.terminated"
	EventContractGraceGranted  = "contract.grace_granted"
	EventContractExpiring      = "contract.expiring"
	EventContractLapsed        = "contract.lapsed"
	EventLicenseKeyIssued      = "license_key.issued"
	EventLicenseKeyReleased    = "license_key.released"
	EventPing                  = "ping"
	WebhookAllEvents           = "*"
	WebhookSecretPrefix        = "whsec_"
	WebhookSecretBytes         = 32
	WebhookDeliveryPending     = "pending"
	WebhookDeliverySucceeded   = "succeeded"
	WebhookDeliveryFailed      = "failed"
	WebhookTimeout             = 10 * time.Second
	WebhookMaxAnswer           = 64 << 10 // bytes of an answer read, at most
	WebhookPreviousSecretValid = 24 * time.Hour
)

// WebhookEventTypes are every event type an endpoint may ask for (besides "*").
var WebhookEventTypes = []string{
	EventOrderCreated, EventLicenseRegistered, EventMemberUpdated, EventMemberRemoved, EventJoinRequestCreated,
	EventContractRenewed, EventContractUpgraded, EventContractTerminated, EventContractGraceGranted,
	EventContractExpiring, EventContractLapsed, EventLicenseKeyIssued, EventLicenseKeyReleased, EventPing,
}

// WebhookRetrySchedule is how long after each failed attempt the next one is made: after the
// last, the delivery is failed. So a delivery has len+1 attempts.
var WebhookRetrySchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// WebhookMaxAttempts is how many attempts a delivery gets.
var WebhookMaxAttempts = len(WebhookRetrySchedule) + 1

// WebhookRetryDelay is the wait after failed attempt number attempt (1-based), and false when
// that attempt was the last.
func WebhookRetryDelay(attempt int) (time.Duration, bool) {
	if attempt < 1 || attempt > len(WebhookRetrySchedule) {
		return 0, false
	}
	return WebhookRetrySchedule[attempt-1], true
}

// WebhookEndpoint is a registered receiver. Its secrets are not here: the store keeps them sealed.
type WebhookEndpoint struct {
	ID             int64
	URL            string
	Events         []string
	Description    string
	AccountID      *string // the 7-digit account number this endpoint is limited to
	Enabled        bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
	LastDeliveryAt *time.Time
	FailingSince   *time.Time
}

// WebhookInput is what registering an endpoint takes.
type WebhookInput struct {
	URL         string
	Events      []string
	Description string
	AccountID   *string
}

// WebhookPatch changes an endpoint; nil leaves a field as it is. IfMatch is the caller's
// If-Match header ("" when none).
type WebhookPatch struct {
	URL         *string
	Events      *[]string
	Description *string
	Enabled     *bool
	IfMatch     string
}

// ETag is the endpoint's entity tag: it changes with every field GET /webhooks/{id} shows.
func (e *WebhookEndpoint) ETag() string {
	account := ""
	if e.AccountID != nil {
		account = *e.AccountID
	}
	return EntityTag("webhook", strconv.FormatInt(e.ID, 10), e.URL, strings.Join(e.Events, ","), e.Description, account,
		strconv.FormatBool(e.Enabled), TagTime(&e.CreatedAt), TagTime(e.LastDeliveryAt), TagTime(e.FailingSince))
}

// WebhookEvent is one change other services hear of. ID is the webhook-id of every delivery of
// it; AccountID (the 7-digit number, "" when none) is what an endpoint's account filter matches.
type WebhookEvent struct {
	ID        string
	Type      string
	At        time.Time
	AccountID string
	Data      any
}

// WebhookAttempt is one try of a delivery.
type WebhookAttempt struct {
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
	DurationMS int64     `json:"duration_ms"`
}

// OK says whether the attempt succeeded: a 2xx answer.
func (a WebhookAttempt) OK() bool { return a.Error == "" && a.StatusCode >= 200 && a.StatusCode < 300 }

// WebhookDelivery is one event to one endpoint.
type WebhookDelivery struct {
	ID            int64
	EndpointID    int64
	EventID       string
	Type          string
	Status        string
	Attempts      []WebhookAttempt
	NextAttemptAt *time.Time
	CreatedAt     time.Time
}

// WebhookMatches says whether an endpoint with these events and account filter gets an event of
// type typ about account (the 7-digit number, "" when the event has none). An endpoint limited to
// an account gets only that account's events.
func WebhookMatches(events []string, accountFilter *string, typ, account string) bool {
	if accountFilter != nil && *accountFilter != account {
		return false
	}
	return slices.Contains(events, WebhookAllEvents) || slices.Contains(events, typ)
}

// ValidateWebhookEvents checks an endpoint's events list: not empty, each a known type or "*".
func ValidateWebhookEvents(v *Validation, events []string) {
	if len(events) == 0 {
		v.Add("events", FieldRequired, `is required: event types, or ["*"]`)
		return
	}
	for i, e := range events {
		if e != WebhookAllEvents && !slices.Contains(WebhookEventTypes, e) {
			v.Add("events["+strconv.Itoa(i)+"]", FieldInvalid, "is not an event type")
		}
	}
}

// ParseWebhookURL checks a webhook URL's form: absolute, https (http too when allowPrivate), a
// host, no user information. It returns the host to resolve. Whether the host's addresses are
// allowed is RefusedWebhookAddr's to say.
func ParseWebhookURL(raw string, allowPrivate bool) (*url.URL, error) {
	if len(raw) > MaxWebhookURL {
		return nil, &Error{Code: CodeValidation, Message: "the request has invalid fields",
			Fields: []FieldError{{Field: "url", Code: FieldTooLong, Detail: fmt.Sprintf("must be at most %d characters", MaxWebhookURL)}}}
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || u.Hostname() == "" || u.User != nil || u.Opaque != "" {
		return nil, &Error{Code: CodeValidation, Message: "the request has invalid fields",
			Fields: []FieldError{{Field: "url", Code: FieldInvalid, Detail: "must be an absolute https:// URL with a host"}}}
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowPrivate:
	default:
		return nil, Errorf(CodeWebhookURLRefused, "a webhook URL must be https://")
	}
	return u, nil
}

// refusedWebhookRanges are special-purpose ranges (RFC 6890) that reach no public receiver but
// may reach something inside: shared address space (carrier-grade NAT, where some clouds keep
// their metadata service), "this network", IETF protocol assignments, benchmarking, reserved
// and broadcast, IPv6 site-local. Loopback, private, link-local, multicast and unspecified
// addresses are refused by netip's own tests.
var refusedWebhookRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("fec0::/10"),
}

// IPv6 forms that carry an IPv4 address a gateway may turn into a connection to it: NAT64
// (64:ff9b::/96, its local-use 64:ff9b:1::/48), 6to4 (2002::/16) and IPv4-compatible (::/96).
var (
	nat64Prefix      = netip.MustParsePrefix("64:ff9b::/96")
	nat64LocalPrefix = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFourPrefix  = netip.MustParsePrefix("2002::/16")
	v4CompatPrefix   = netip.MustParsePrefix("::/96")
)

// RefusedWebhookAddr says why a webhook may not connect to ip ("" when it may): loopback,
// private, link-local, multicast, unspecified and other special-purpose addresses are refused,
// and an IPv6 address that embeds an IPv4 one (IPv4-mapped, NAT64, 6to4, IPv4-compatible) as
// that IPv4 address.
func RefusedWebhookAddr(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "not an address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsPrivate():
		return "a private address"
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return "a link-local address"
	case ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return "a multicast address"
	case ip.IsUnspecified():
		return "the unspecified address"
	}
	for _, p := range refusedWebhookRanges {
		if p.Contains(ip) {
			return "a special-purpose address"
		}
	}
	if ip.Is6() {
		b := ip.As16()
		var v4 [4]byte
		switch {
		case nat64Prefix.Contains(ip), v4CompatPrefix.Contains(ip):
			copy(v4[:], b[12:16])
		case nat64LocalPrefix.Contains(ip):
			copy(v4[:], b[12:16]) // RFC 8215: the IPv4 address in the last 32 bits, as in 64:ff9b::/96
		case sixToFourPrefix.Contains(ip):
			copy(v4[:], b[2:6])
		default:
			return ""
		}
		if why := RefusedWebhookAddr(netip.AddrFrom4(v4)); why != "" {
			return why + " (inside an IPv6 address)"
		}
	}
	return ""
}

// WebhookContractData is a contract as the data of the contract.* events: the contract as
// /contracts shows it (handlers' contractJSON; a test compares the two), as of today with the
// renewal window of window days.
func WebhookContractData(v *ContractView, today Date, window int) map[string]any {
	status, days := v.Status(today, window)
	c := v.Contract
	out := map[string]any{
		"id": strconv.FormatInt(c.ID, 10), "license_number": v.License.LicenseNumber, "account_id": v.Account.AccountID,
		"account_name": v.Account.Name, "contact": map[string]any{"name": v.Account.ContactName, "email": v.Account.ContactEmail},
		"product": map[string]any{"sku": v.Product.SKU, "name": v.Product.Name}, "program": c.Program, "premier": c.Premier,
		"trial": c.Trial, "starts_on": c.StartsOn, "ends_on": c.EndsOn, "status": status, "days_left": nil,
	}
	if !c.EndsOn.IsZero() {
		out["days_left"] = days
	}
	if !c.GraceUntil.IsZero() {
		out["grace_until"] = c.GraceUntil
	}
	if !c.TerminatedOn.IsZero() {
		out["terminated_on"] = c.TerminatedOn
	}
	notices := []map[string]any{}
	for _, n := range v.Notices {
		notices = append(notices, map[string]any{"offset_days": n.OffsetDays, "ends_on": n.EndsOn, "sent_at": n.SentAt.UTC()})
	}
	terms := []map[string]any{}
	for _, t := range v.Terms {
		actor := map[string]any{"kind": t.ActorKind, "id": nil}
		if t.ActorID != nil {
			actor["id"] = strconv.FormatInt(*t.ActorID, 10)
		}
		if t.ActorEmail != nil {
			actor["email"] = *t.ActorEmail
		}
		term := map[string]any{"seq": t.Seq, "kind": t.Kind, "starts_on": t.StartsOn, "ends_on": t.EndsOn, "program": t.Program,
			"premier": t.Premier, "actor": actor, "at": t.CreatedAt.UTC()}
		if t.Reason != "" {
			term["reason"] = t.Reason
		}
		terms = append(terms, term)
	}
	out["notices_sent"], out["terms"] = notices, terms
	out["renewal"] = RenewalData(v, today, window)
	return out
}

// WebhookOrderData is an order as the data of order.created: the order's answer (handlers'
// orderResponse; a test compares the two), as of today with the renewal window of window days.
func WebhookOrderData(res *OrderResult, today Date, window int) map[string]any {
	a := res.Account
	licenses := []map[string]any{}
	for i := range res.Licenses {
		d := &res.Licenses[i]
		l := map[string]any{"license_number": d.License.LicenseNumber, "account_id": d.Account.AccountID,
			"product": map[string]any{"sku": d.Product.SKU, "name": d.Product.Name}, "quantity": d.License.Quantity, "kind": d.License.Kind,
			"ordered_on": d.License.OrderedOn}
		if d.License.ServiceTag != nil {
			l["service_tag"] = *d.License.ServiceTag
		}
		if !d.License.RegisteredOn.IsZero() {
			l["registered_on"] = d.License.RegisteredOn
		}
		s := d.Summary(today, window)
		support := map[string]any{"status": s.Status, "program": nil, "premier": s.Premier, "starts_on": s.StartsOn, "ends_on": s.EndsOn, "days_left": nil}
		if d.Contract != nil {
			l["contract_id"] = strconv.FormatInt(d.Contract.ID, 10)
			support["program"] = s.Program
			if !s.EndsOn.IsZero() {
				support["days_left"] = s.DaysLeft
			}
		}
		l["support"] = support
		licenses = append(licenses, l)
	}
	return map[string]any{"order_ref": res.OrderRef, "account_id": a.AccountID, "licenses": licenses,
		"account": map[string]any{"account_id": a.AccountID, "name": a.Name, "primary_contact": map[string]any{"name": a.ContactName, "email": a.ContactEmail},
			"created_at": a.CreatedAt.UTC()}}
}

// WebhookDisableAfter is how long an endpoint's deliveries may all fail before it is disabled.
const WebhookDisableAfter = 5 * 24 * time.Hour

// WebhookShouldDisable says whether an endpoint failing since failingSince (nil: not failing) is
// disabled by a failed attempt at at.
func WebhookShouldDisable(failingSince *time.Time, at time.Time) bool {
	return failingSince != nil && !at.Before(failingSince.Add(WebhookDisableAfter))
}

// MaxWebhookURL is the longest webhook URL accepted: longer than any receiver needs, short
// enough for every list, log line and delivery record that carries it.
const MaxWebhookURL = 2048

// WebhookQueue is the River queue of webhook deliveries: a slow or dead receiver (10 s an
// attempt) keeps only this queue's workers waiting, never the letters' or the other jobs'.
const WebhookQueue = "webhooks"
