-- +goose Up
-- The renewal desk's letters. One row per (contract, ends_on, offset): a renewal notice
-- offset_days before ends_on, or the lapse notice (offset_days = -1). The row is written in the
-- same transaction as the letter's job, so the unique key makes a notice exactly-once: two
-- replicas or a re-run of the sweep find it taken and queue nothing; a crash loses neither.
-- A renewal moves ends_on, so the next term gets notices of its own.
CREATE TABLE renewal_notices (
    id           INTEGER PRIMARY KEY,
    contract_id  INTEGER NOT NULL REFERENCES contracts (id),
    ends_on      DATE NOT NULL,
    offset_days  INTEGER NOT NULL CHECK (offset_days >= -1),
    sent_at      TIMESTAMP NOT NULL,
    UNIQUE (contract_id, ends_on, offset_days)
);

-- The staff digest: at most one a day, by the same rule.
CREATE TABLE renewal_digests (
    day         DATE PRIMARY KEY,
    sent_at     TIMESTAMP NOT NULL,
    recipients  INTEGER NOT NULL DEFAULT 0
);

-- Status is computed from dates (never stored), so the filters on it are date ranges. These
-- indexes serve them: what is current or expiring by ends_on (keyset order ends_on, id), what
-- is future by starts_on, grace by grace_until, terminated by terminated_on.
CREATE INDEX contracts_open_ends_on ON contracts (ends_on, id) WHERE terminated_on IS NULL;
CREATE INDEX contracts_starts_on ON contracts (starts_on);
CREATE INDEX contracts_grace_until ON contracts (grace_until) WHERE grace_until IS NOT NULL;
CREATE INDEX contracts_terminated_on ON contracts (terminated_on) WHERE terminated_on IS NOT NULL;

-- +goose Down
DROP INDEX contracts_terminated_on;
DROP INDEX contracts_grace_until;
DROP INDEX contracts_starts_on;
DROP INDEX contracts_open_ends_on;
DROP TABLE renewal_digests;
DROP TABLE renewal_notices;
