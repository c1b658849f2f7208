-- +goose Up
-- The token last signed for each license key, so that the portal answers a key request with a
-- redirect to the key's own page (a reload sends nothing again) and a machine's key can be shown
-- again from the list without signing it anew. A key is bound to its machine's fingerprint and
-- carries no secret of the server; keys issued before this migration have '' until re-issued.
ALTER TABLE license_keys ADD COLUMN token TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE license_keys DROP COLUMN token;
