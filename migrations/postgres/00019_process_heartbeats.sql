-- +goose Up
-- Which server processes are alive (issue 25). Each serving process writes its row every few
-- seconds. An idempotency key names the process running its first request (owner), so that when
-- that process dies (a replica killed mid-request) a repeat on another replica takes the key over
-- as soon as the owner's heartbeat is stale, instead of answering 409 idempotency_in_progress for
-- 5 minutes. A key with no owner (a process that does not beat: the CLI, an older server) keeps
-- the 5-minute rule.
CREATE TABLE process_heartbeats (
    id       TEXT PRIMARY KEY,
    seen_at  TIMESTAMPTZ NOT NULL
);
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN owner;
DROP TABLE process_heartbeats;
