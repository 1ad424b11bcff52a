-- The order guard's lookup leads with the order reference: (order_ref,
-- account, created_at, id) instead of (account, order_ref, created_at, id).
-- PostgreSQL's batched read of the guard's orders filters the account
-- outside the index on purpose, so that the only index it can probe is this
-- one, whatever the table's statistics (a server without autovacuum has
-- none: a plan made while the table was small had picked the account's
-- index and read every operation of the account for each refund). SQLite
-- uses it for both columns, oldest first, as before.
DROP INDEX IF EXISTS operations_order_page;
CREATE INDEX IF NOT EXISTS operations_order_ref_page ON operations (order_ref, account, created_at, id);
