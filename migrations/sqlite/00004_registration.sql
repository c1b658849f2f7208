-- +goose Up
-- The first admin's claim on a license: set once, by one conditional update, so that exactly one
-- of many simultaneous registrants wins.
ALTER TABLE licenses ADD COLUMN claimed_by INTEGER REFERENCES users (id);

-- A user's place on a license. A removed member keeps the row with no role, so that its
-- grant_version keeps counting up and an old token never matches a later grant.
CREATE TABLE members (
    id             INTEGER PRIMARY KEY,
    license_id     INTEGER NOT NULL REFERENCES licenses (id),
    user_id        INTEGER NOT NULL REFERENCES users (id),
    role_admin     BOOLEAN NOT NULL DEFAULT 0,
    role_support   BOOLEAN NOT NULL DEFAULT 0,
    role_license   BOOLEAN NOT NULL DEFAULT 0,
    grant_version  INTEGER NOT NULL DEFAULT 1,
    since          TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL,
    UNIQUE (license_id, user_id)
);
CREATE INDEX members_user ON members (user_id);

-- Registrations that wait for an admin: for one license, or for an account (any of its licenses).
CREATE TABLE join_requests (
    id                  INTEGER PRIMARY KEY,
    user_id             INTEGER NOT NULL REFERENCES users (id),
    license_id          INTEGER REFERENCES licenses (id),
    account_id          INTEGER REFERENCES accounts (id),
    status              TEXT NOT NULL,          -- pending | approved | rejected | withdrawn
    created_at          TIMESTAMP NOT NULL,
    decided_at          TIMESTAMP,
    decided_by          INTEGER,
    decided_license_id  INTEGER REFERENCES licenses (id),
    roles               TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX join_requests_pending_license ON join_requests (user_id, license_id) WHERE status = 'pending' AND license_id IS NOT NULL;
CREATE UNIQUE INDEX join_requests_pending_account ON join_requests (user_id, account_id) WHERE status = 'pending' AND account_id IS NOT NULL;
CREATE INDEX join_requests_license ON join_requests (license_id, status);
CREATE INDEX join_requests_account ON join_requests (account_id, status);

-- Grants to addresses that have no user yet: they take effect when that address signs up and
-- verifies.
CREATE TABLE invitations (
    id           INTEGER PRIMARY KEY,
    license_id   INTEGER NOT NULL REFERENCES licenses (id),
    email        TEXT NOT NULL,
    roles        TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    invited_by   INTEGER,
    created_at   TIMESTAMP NOT NULL,
    accepted_at  TIMESTAMP
);
CREATE UNIQUE INDEX invitations_pending ON invitations (license_id, email) WHERE accepted_at IS NULL;
CREATE INDEX invitations_email ON invitations (email);

-- "Trouble registering": requests for help from anyone, worked by staff support.
CREATE TABLE help_requests (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    email           TEXT NOT NULL,
    company         TEXT NOT NULL DEFAULT '',
    license_number  TEXT,
    account_id      TEXT,
    message         TEXT NOT NULL,
    status          TEXT NOT NULL,              -- open | resolved
    created_at      TIMESTAMP NOT NULL,
    resolved_at     TIMESTAMP,
    resolved_by     INTEGER,
    note            TEXT
);
CREATE INDEX help_requests_status ON help_requests (status, id);

-- +goose Down
DROP TABLE help_requests;
DROP TABLE invitations;
DROP TABLE join_requests;
DROP TABLE members;
ALTER TABLE licenses DROP COLUMN claimed_by;
