-- +goose Up
-- License keys: compact JWSs (typ lic+jwt) bound to a machine (fingerprint) and a major version.
-- A seat is a machine: the distinct fingerprints of a license's unreleased keys, never more than
-- its quantity (counted under the license's row lock). kids lists every signing key that signed
-- this key (a re-issue may be signed by a newer one): a retiring license signing key stays
-- published while an unreleased, unexpired key lists it.
CREATE TABLE license_keys (
    id               INTEGER PRIMARY KEY,
    license_id       INTEGER NOT NULL REFERENCES licenses (id),
    fingerprint      TEXT NOT NULL,
    hostname         TEXT NOT NULL,
    version          TEXT NOT NULL,
    ver_major        INTEGER NOT NULL,
    kids             TEXT NOT NULL DEFAULT '',
    issued_by        INTEGER REFERENCES users (id),
    issued_at        TIMESTAMP NOT NULL,
    reissued_at      TIMESTAMP,
    expires_at       TIMESTAMP,
    support_ends_on  DATE,
    released_at      TIMESTAMP,
    released_by      INTEGER REFERENCES users (id),
    release_reason   TEXT NOT NULL DEFAULT ''
);
-- One key per machine and major version.
CREATE UNIQUE INDEX license_keys_one_per_machine_major ON license_keys (license_id, fingerprint, ver_major) WHERE released_at IS NULL;
CREATE INDEX license_keys_license ON license_keys (license_id, released_at);

-- +goose Down
DROP TABLE license_keys;
