-- +goose Up
-- The audit log: every registration, grant, revocation, approval, renewal, termination and key
-- issue writes one row, in the same transaction as the change it records. Append-only.
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    at            TIMESTAMP NOT NULL,
    actor_kind    TEXT NOT NULL,            -- user | staff | api_key | system
    actor_id      INTEGER,
    actor_email   TEXT,
    action        TEXT NOT NULL,            -- e.g. registration.claimed, member.granted
    subject_type  TEXT NOT NULL,            -- license | contract | user | api_key | product | …
    subject_id    TEXT NOT NULL,
    license_id    INTEGER,                  -- set when the change concerns a license, for its audit trail
    details       TEXT NOT NULL DEFAULT '{}', -- JSON object
    ip            TEXT NOT NULL DEFAULT '',
    request_id    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_license ON audit_log (license_id, id) WHERE license_id IS NOT NULL;
CREATE INDEX audit_log_action ON audit_log (action, id);

-- +goose Down
DROP TABLE audit_log;
