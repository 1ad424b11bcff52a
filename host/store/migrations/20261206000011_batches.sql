-- Batches: each `payops batch` run's id (the root of its rows' idempotency
-- keys), the file it read and the file's SHA-256 when it started. Kept in
-- the store so that a lost journal file beside the batch file cannot start
-- a second batch of the same rows (which would send them again).
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    operation TEXT NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_file ON batches (file, account, operation);
