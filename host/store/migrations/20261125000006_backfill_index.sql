-- Rows of 0.1.0 still waiting for their order_ref backfill (checked at every
-- start): a partial index keeps that check from scanning every operation.
CREATE INDEX IF NOT EXISTS operations_unbackfilled ON operations (id) WHERE order_ref IS NULL AND deadline_ms IS NULL;
