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
