-- +goose Up
-- Passkeys (WebAuthn) as a second factor (issue 22). credential is the library's record of the
-- credential as JSON (public key, sign count, flags, transports); credential_id is its id, unique.
CREATE TABLE passkeys (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    credential_id  BLOB NOT NULL UNIQUE,
    credential     TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    last_used_at   TIMESTAMP
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- A WebAuthn ceremony in progress: its challenge (the library's session data, JSON) where any
-- replica finds it. key is the SHA-256 of what it belongs to: the user's session for a
-- registration, the mfa_token for a sign-in. Used once.
CREATE TABLE webauthn_ceremonies (
    id            INTEGER PRIMARY KEY,
    key_hash      TEXT NOT NULL UNIQUE,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_data  TEXT NOT NULL,
    expires_at    TIMESTAMP NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);

-- +goose Down
DROP INDEX webauthn_ceremonies_expires;
DROP TABLE webauthn_ceremonies;
DROP INDEX passkeys_user;
DROP TABLE passkeys;
