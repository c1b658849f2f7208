-- +goose Up
-- The renewal pipeline (issue 21). One renewal record per term of a contract: who owns the
-- renewal, where it stands, the next step and what it is worth. The open record (closed_at IS
-- NULL, at most one per contract) is the current term's; recording a renewal closes it as won
-- and opens a fresh one for the new term, so the closed ones are the history the renewal rate is
-- computed from. A value is integer hundredths and a currency, so that sums are exact.
-- renewed_on and covered_until are written when the record closes: the day the renewal was
-- recorded and the ended term's last covered day (ends_on, or the grace granted past it), so that
-- the renewal rate can tell a renewal in time from one recorded after a lapse.
-- stage_set_on is the day staff last chose the stage: a lapse makes the record read as lost
-- unless staff chose a stage after it (computed at read time, see models.EffectiveStage).
CREATE TABLE renewal_records (
    id            INTEGER PRIMARY KEY,
    contract_id   INTEGER NOT NULL REFERENCES contracts (id),
    term_ends_on  DATE,
    owner_id      INTEGER REFERENCES users (id),
    stage         TEXT NOT NULL DEFAULT 'untouched',
    stage_set_on  DATE,
    next_step_on  DATE,
    value_minor   BIGINT,
    currency      TEXT,
    renewed_on    DATE,
    covered_until DATE,
    closed_at     TIMESTAMP,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX renewal_records_open ON renewal_records (contract_id) WHERE closed_at IS NULL;
CREATE INDEX renewal_records_contract ON renewal_records (contract_id, id);
CREATE INDEX renewal_records_term_ends_on ON renewal_records (term_ends_on);
CREATE INDEX renewal_records_owner ON renewal_records (owner_id, next_step_on) WHERE closed_at IS NULL;

-- Notes of renewal staff on a contract, a timeline across its terms.
CREATE TABLE contract_notes (
    id            INTEGER PRIMARY KEY,
    contract_id   INTEGER NOT NULL REFERENCES contracts (id),
    author_id     INTEGER REFERENCES users (id),
    author_email  TEXT NOT NULL,
    text          TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX contract_notes_contract ON contract_notes (contract_id, id);

-- Every existing contract's current term starts untouched, as of the contract's last change.
INSERT INTO renewal_records (contract_id, term_ends_on, stage, created_at, updated_at)
SELECT id, ends_on, 'untouched', updated_at, updated_at FROM contracts;

-- +goose Down
DROP INDEX contract_notes_contract;
DROP TABLE contract_notes;
DROP INDEX renewal_records_owner;
DROP INDEX renewal_records_term_ends_on;
DROP INDEX renewal_records_contract;
DROP INDEX renewal_records_open;
DROP TABLE renewal_records;
