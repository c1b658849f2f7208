-- +goose Up
-- People: customers and the vendor's staff alike. Emails are stored lower-cased, so the unique
-- index is the case-insensitive one. staff_roles is a comma-separated subset of
-- ops,renewals,support,superadmin ('' for customers).
CREATE TABLE users (
    id                INTEGER PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL,
    password_hash     TEXT NOT NULL,
    email_verified_at TIMESTAMP,
    staff_roles       TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);

-- Bearer sessions; only the SHA-256 of the token is stored.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMP NOT NULL,
    expires_at   TIMESTAMP NOT NULL,
    revoked_at   TIMESTAMP,
    ip           TEXT NOT NULL DEFAULT '',
    user_agent   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Single-use tokens sent by letter (email verification, password reset); hashed like sessions.
CREATE TABLE user_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL,               -- verify_email | reset_password
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP
);
CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose);
CREATE INDEX user_tokens_expires ON user_tokens (expires_at);

-- API keys for machine clients: ek_<secret>. prefix is the first characters of the key, shown in
-- lists and used to find the row; key_hash is the SHA-256 of the whole key.
CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL UNIQUE,
    key_hash      TEXT NOT NULL,
    scopes        TEXT NOT NULL,               -- comma-separated
    created_at    TIMESTAMP NOT NULL,
    created_by    INTEGER,
    last_used_at  TIMESTAMP,
    revoked_at    TIMESTAMP
);

-- Failed attempts, counted in the database so that a throttle holds across replicas. Only
-- failures are written; rows older than the longest window are pruned.
CREATE TABLE auth_failures (
    id     INTEGER PRIMARY KEY,
    scope  TEXT NOT NULL,   -- login_account | login_address | lookup_user | lookup_address
    key    TEXT NOT NULL,
    at     TIMESTAMP NOT NULL
);
CREATE INDEX auth_failures_key ON auth_failures (scope, key, at);
CREATE INDEX auth_failures_at ON auth_failures (at);

-- Letters sent to an address, by kind, to cap how many of a kind one address receives an hour.
CREATE TABLE letter_log (
    id         INTEGER PRIMARY KEY,
    recipient  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    at         TIMESTAMP NOT NULL
);
CREATE INDEX letter_log_recipient ON letter_log (recipient, kind, at);
CREATE INDEX letter_log_at ON letter_log (at);

-- +goose Down
DROP TABLE letter_log;
DROP TABLE auth_failures;
DROP TABLE api_keys;
DROP TABLE user_tokens;
DROP TABLE sessions;
DROP TABLE users;
