-- The schema of payops 0.1.0. Every statement is IF NOT EXISTS so that a
-- database created by 0.1.0 (which had no migration table) adopts it as is.
-- Runs unchanged on SQLite and PostgreSQL. Never edit an applied migration:
-- add a new file.
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    provider TEXT NOT NULL,
    operation TEXT NOT NULL,
    idempotency_key TEXT,
    request_sha256 TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    envelope TEXT,
    owner TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    resolution TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS operations_idempotency ON operations (account, idempotency_key);
CREATE INDEX IF NOT EXISTS operations_state ON operations (state);
CREATE INDEX IF NOT EXISTS operations_created ON operations (created_at);
CREATE TABLE IF NOT EXISTS operation_events (
    operation_id TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS operation_events_op ON operation_events (operation_id);
CREATE TABLE IF NOT EXISTS instances (
    id TEXT PRIMARY KEY,
    heartbeat_ms BIGINT NOT NULL
);
