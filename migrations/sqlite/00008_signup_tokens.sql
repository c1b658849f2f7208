-- +goose Up
-- A verification token issued by a signup carries that signup's password hash (argon2id) and
-- name: following the link sets them, so that whoever signed up first with someone else's address
-- gains nothing. NULL on other tokens (reset links, and verification links issued before this).
ALTER TABLE user_tokens ADD COLUMN password_hash TEXT;
ALTER TABLE user_tokens ADD COLUMN name TEXT;
-- Verification links issued before this carry no password: following one would verify the
-- account with whatever password its first signup chose, which is the hole this closes. They die
-- here; their owners sign up again (same address) for a fresh link.
DELETE FROM user_tokens WHERE purpose = 'verify_email' AND used_at IS NULL;

-- +goose Down
ALTER TABLE user_tokens DROP COLUMN name;
ALTER TABLE user_tokens DROP COLUMN password_hash;
