-- +goose Up
-- Webhooks (issue 19): endpoints that staff superadmin register, and the deliveries of events to
-- them. An endpoint's secret is sealed with a key derived from ENTITLED_SECRET (AES-256-GCM, as
-- the signing keys are); after a rotation the previous secret stays valid until
-- previous_secret_until, and deliveries are signed with both. events is the comma-separated list
-- of event types (or "*"); account_id (the 7-digit account number) limits the endpoint to that
-- account's events. A delivery is one event to one endpoint: its body is fixed when the event is
-- recorded (in the transaction of the change), attempts is a JSON array of
-- {at, status_code?, error?, duration_ms}; its River job sends it.
CREATE TABLE webhook_endpoints (
    id                     INTEGER PRIMARY KEY,
    url                    TEXT NOT NULL,
    events                 TEXT NOT NULL,
    description            TEXT NOT NULL DEFAULT '',
    account_id             TEXT,
    enabled                BOOLEAN NOT NULL DEFAULT TRUE,
    secret                 BLOB NOT NULL,
    previous_secret        BLOB,
    previous_secret_until  TIMESTAMP,
    created_at             TIMESTAMP NOT NULL,
    updated_at             TIMESTAMP NOT NULL,
    last_delivery_at       TIMESTAMP,
    failing_since          TIMESTAMP,
    deleted_at             TIMESTAMP
);
CREATE INDEX webhook_endpoints_enabled ON webhook_endpoints (enabled, deleted_at);

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    endpoint_id      INTEGER NOT NULL REFERENCES webhook_endpoints (id),
    event_id         TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         TEXT NOT NULL DEFAULT '[]',
    next_attempt_at  TIMESTAMP,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

-- +goose Down
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
