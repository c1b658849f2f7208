-- +goose Up
-- Token status lists (issue 20; draft-ietf-oauth-status-list): every entitlement-token grant
-- version and every license key owns one index of one list, and that index's bit turns 1 when
-- what it stands for is revoked. A verifier downloads a whole list (GET /v1/status-lists/{id}).
--
-- An index is a row of status_list_entries rather than a bit of a bitset column on the list:
-- a flip is then an UPDATE of its own row, and an allocation an INSERT of its own (list_id, idx)
-- key, so that neither locks anything shared until its transaction commits. With a bitset (or a
-- "used" counter) on the list row, every grant change of the fleet would queue on that one row,
-- and a transaction that allocates and then locks a license could deadlock with one that locked
-- the license first. The served bits are built from the revoked rows only (the partial index),
-- about 1,300 rows for a list of 2^17 with 1% flipped. Flips only go from 0 to 1, so the count of
-- a list's revoked rows says whether it changed.
--
-- size is fixed when the list is made (2^17 in production): a list is full when every index
-- below size has a row, and the next allocation starts a new list. Indexes are drawn at random
-- from a list's free positions, so that neighbouring indexes say nothing about who got them when.
CREATE TABLE status_lists (
    id          INTEGER PRIMARY KEY,
    size        INTEGER NOT NULL,
    created_at  TIMESTAMP NOT NULL
);

CREATE TABLE status_list_entries (
    list_id     INTEGER NOT NULL REFERENCES status_lists (id),
    idx         INTEGER NOT NULL,
    revoked     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMP NOT NULL,
    revoked_at  TIMESTAMP,
    PRIMARY KEY (list_id, idx)
);
CREATE INDEX status_list_entries_revoked ON status_list_entries (list_id, idx) WHERE revoked;

-- The index of a member's current grant version (NULL while the member holds no role, and for
-- grants made before status lists, whose tokens carry no status claim), and a license key's.
ALTER TABLE members ADD COLUMN status_list_id INTEGER REFERENCES status_lists (id);
ALTER TABLE members ADD COLUMN status_idx INTEGER;
ALTER TABLE license_keys ADD COLUMN status_list_id INTEGER REFERENCES status_lists (id);
ALTER TABLE license_keys ADD COLUMN status_idx INTEGER;

-- +goose Down
ALTER TABLE license_keys DROP COLUMN status_idx;
ALTER TABLE license_keys DROP COLUMN status_list_id;
ALTER TABLE members DROP COLUMN status_idx;
ALTER TABLE members DROP COLUMN status_list_id;
DROP TABLE status_list_entries;
DROP TABLE status_lists;
