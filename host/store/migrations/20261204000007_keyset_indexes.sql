-- Keyset pages: the list indexes end with the listing's order (created_at,
-- id), so a page (ORDER BY created_at DESC, id DESC LIMIT n, after a
-- cursor) is read in index order, without sorting what matches. Measured:
-- PostgreSQL, 1M operations, `account = … AND state = …` took 0.3 s with the
-- old indexes (it scanned by time and filtered).
DROP INDEX IF EXISTS operations_account_state;
DROP INDEX IF EXISTS operations_state;
DROP INDEX IF EXISTS operations_created;
CREATE INDEX IF NOT EXISTS operations_account_state_page ON operations (account, state, created_at, id);
CREATE INDEX IF NOT EXISTS operations_account_page ON operations (account, created_at, id);
CREATE INDEX IF NOT EXISTS operations_state_page ON operations (state, created_at, id);
CREATE INDEX IF NOT EXISTS operations_created_page ON operations (created_at, id);
-- The order guard's lookup (account and order_ref, oldest first) gets its
-- order from its own index too: with only (account, order_ref), SQLite
-- preferred (account, created_at, id) for the ORDER BY and scanned every
-- operation of the account (measured: refunds 3x slower on one account).
DROP INDEX IF EXISTS operations_order;
CREATE INDEX IF NOT EXISTS operations_order_page ON operations (account, order_ref, created_at, id);
