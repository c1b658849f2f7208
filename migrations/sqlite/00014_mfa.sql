-- +goose Up
-- A second factor (issue 22). One TOTP factor per user: the secret sealed with ENTITLED_SECRET
-- (AES-256-GCM, bound to the user), pending until confirmed_at is set by a first right code.
-- last_step is the last RFC 6238 time step accepted: a code is taken only for a later step, by a
-- conditional UPDATE, so that a code is used once even by two sign-ins racing with it.
CREATE TABLE mfa_totp (
    user_id       INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret        BLOB NOT NULL,
    confirmed_at  TIMESTAMP,
    last_step     BIGINT NOT NULL DEFAULT 0,
    created_at    TIMESTAMP NOT NULL
);

-- Recovery codes, shown once at confirmation; only their SHA-256 is kept. Each is used once.
CREATE TABLE mfa_recovery_codes (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    used_at     TIMESTAMP
);
CREATE UNIQUE INDEX mfa_recovery_codes_user ON mfa_recovery_codes (user_id, code_hash);

-- The second step of a sign-in: a right password with a factor on gets an mfa_token (only its
-- SHA-256 is kept here, so that any replica can finish the sign-in), good for 5 minutes and 5
-- tries. password_mark is the SHA-256 of the password hash checked: a password changed since
-- makes the token worthless.
CREATE TABLE mfa_challenges (
    id             INTEGER PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash     TEXT NOT NULL UNIQUE,
    password_mark  TEXT NOT NULL,
    tries          INTEGER NOT NULL DEFAULT 0,
    created_at     TIMESTAMP NOT NULL,
    expires_at     TIMESTAMP NOT NULL,
    used_at        TIMESTAMP
);
CREATE INDEX mfa_challenges_expires ON mfa_challenges (expires_at);

-- When a session was last used, written at most once a minute per session.
ALTER TABLE sessions ADD COLUMN last_seen_at TIMESTAMP;

-- +goose Down
ALTER TABLE sessions DROP COLUMN last_seen_at;
DROP INDEX mfa_challenges_expires;
DROP TABLE mfa_challenges;
DROP INDEX mfa_recovery_codes_user;
DROP TABLE mfa_recovery_codes;
DROP TABLE mfa_totp;
