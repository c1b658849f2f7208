-- +goose Up
-- Ed25519 signing keys for entitlement tokens and license keys. The private half is sealed with
-- AES-256-GCM under a key derived from ENTITLED_SECRET (never stored); kid is the RFC 7638
-- thumbprint. A key is published while next, active or retiring, and signs only while active.
CREATE TABLE signing_keys (
    id            INTEGER PRIMARY KEY,
    kid           TEXT NOT NULL UNIQUE,
    purpose       TEXT NOT NULL CHECK (purpose IN ('entitlement', 'license')),
    state         TEXT NOT NULL CHECK (state IN ('next', 'active', 'retiring', 'retired')),
    public_key    BLOB NOT NULL,
    private_key   BLOB NOT NULL,
    created_at    TIMESTAMP NOT NULL,     -- published from then on
    activates_at  TIMESTAMP NOT NULL,     -- signs from then on
    activated_at  TIMESTAMP,
    retiring_at   TIMESTAMP,              -- stopped signing
    retire_after  TIMESTAMP,              -- entitlement keys: unpublished after the last token expired
    retired_at    TIMESTAMP
);
-- One active and at most one waiting key per purpose, whatever replicas race to create them.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (purpose) WHERE state = 'active';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (purpose) WHERE state = 'next';

-- +goose Down
DROP TABLE signing_keys;
