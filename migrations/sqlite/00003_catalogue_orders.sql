-- +goose Up
-- The catalogue: products and their versions. A version's sort_key orders it numerically
-- (1.10 after 1.9) and makes 1.2 and 1.2.0 the same version.
CREATE TABLE products (
    id          INTEGER PRIMARY KEY,
    sku         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE product_versions (
    id           INTEGER PRIMARY KEY,
    product_id   INTEGER NOT NULL REFERENCES products (id),
    version      TEXT NOT NULL,
    sort_key     TEXT NOT NULL,
    major        INTEGER NOT NULL,
    released_on  DATE NOT NULL,
    phase        TEXT NOT NULL,             -- full | limited | discontinued
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL,
    UNIQUE (product_id, sort_key)
);

-- Accounts: the organisations that buy. account_id is the 7-digit number customers see.
CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY,
    account_id     TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    contact_name   TEXT NOT NULL,
    contact_email  TEXT NOT NULL,
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL
);
CREATE INDEX accounts_contact_email ON accounts (contact_email);

CREATE TABLE orders (
    id          INTEGER PRIMARY KEY,
    order_ref   TEXT NOT NULL UNIQUE,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    actor_kind  TEXT NOT NULL,
    actor_id    INTEGER,
    created_at  TIMESTAMP NOT NULL
);

-- Licenses: one purchased asset each.
CREATE TABLE licenses (
    id              INTEGER PRIMARY KEY,
    license_number  TEXT NOT NULL UNIQUE,      -- canonical LN-XXXX-XXXX-XXXX-XXXX
    account_id      INTEGER NOT NULL REFERENCES accounts (id),
    product_id      INTEGER NOT NULL REFERENCES products (id),
    order_id        INTEGER NOT NULL REFERENCES orders (id),
    quantity        INTEGER NOT NULL CHECK (quantity >= 1),
    kind            TEXT NOT NULL,              -- perpetual | subscription | trial
    service_tag     TEXT UNIQUE,                -- appliances: 7 alphanumerics, upper-case
    ordered_on      DATE NOT NULL,
    registered_on   DATE,                       -- the day the first admin registered
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX licenses_account ON licenses (account_id);

-- Support contracts: at most one per license. The current program, premier and dates are kept
-- on the contract for querying; contract_terms is the append-only history they come from.
-- A trial's dates are empty until its first admin registers. Status is never stored: it is
-- computed from these dates and the clock.
CREATE TABLE contracts (
    id              INTEGER PRIMARY KEY,
    license_id      INTEGER NOT NULL UNIQUE REFERENCES licenses (id),
    program         TEXT NOT NULL,              -- standard | 24x7
    premier         BOOLEAN NOT NULL DEFAULT 0,
    trial           BOOLEAN NOT NULL DEFAULT 0,
    starts_on       DATE,
    ends_on         DATE,
    grace_until     DATE,
    terminated_on   DATE,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX contracts_ends_on ON contracts (ends_on);

CREATE TABLE contract_terms (
    id           INTEGER PRIMARY KEY,
    contract_id  INTEGER NOT NULL REFERENCES contracts (id),
    seq          INTEGER NOT NULL,
    kind         TEXT NOT NULL,                 -- initial | trial | renewal | upgrade | grace | termination
    starts_on    DATE,
    ends_on      DATE,
    program      TEXT NOT NULL,
    premier      BOOLEAN NOT NULL DEFAULT 0,
    order_id     INTEGER REFERENCES orders (id),
    actor_kind   TEXT NOT NULL,
    actor_id     INTEGER,
    actor_email  TEXT,
    reason       TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL,
    UNIQUE (contract_id, seq)
);

-- Idempotency-Key: the first answer to a (caller, method, path, key), replayed to repeats.
CREATE TABLE idempotency_keys (
    id               INTEGER PRIMARY KEY,
    scope            TEXT NOT NULL,             -- the caller: user:ID or api_key:ID
    method           TEXT NOT NULL,
    path             TEXT NOT NULL,
    key              TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    response_status  INTEGER NOT NULL DEFAULT 0, -- 0 while the first request runs
    response_body    TEXT NOT NULL DEFAULT '',
    response_type    TEXT NOT NULL DEFAULT '',
    created_at       TIMESTAMP NOT NULL,
    completed_at     TIMESTAMP,
    UNIQUE (scope, method, path, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE contract_terms;
DROP TABLE contracts;
DROP TABLE licenses;
DROP TABLE orders;
DROP TABLE accounts;
DROP TABLE product_versions;
DROP TABLE products;
