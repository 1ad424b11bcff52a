-- Money-safe outcomes: the order an operation is about (indexed, for the
-- per-order guard and for reconciliation's siblings), the store-clock
-- deadline of an in-flight operation, who acted, and exclusive claims of
-- provider transactions (two reconcilers can never credit one row twice).
ALTER TABLE operations ADD COLUMN order_ref TEXT;
ALTER TABLE operations ADD COLUMN deadline_ms BIGINT;
ALTER TABLE operations ADD COLUMN actor TEXT;
ALTER TABLE operation_events ADD COLUMN actor TEXT;
CREATE INDEX IF NOT EXISTS operations_order ON operations (account, order_ref);
CREATE TABLE IF NOT EXISTS claims (
    scope TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    PRIMARY KEY (scope, transaction_id)
);
CREATE INDEX IF NOT EXISTS claims_operation ON claims (operation_id);
