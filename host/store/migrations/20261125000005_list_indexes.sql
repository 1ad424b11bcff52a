-- Indexes for every list filter: by account and state (newest first), by
-- state alone (the unresolved operations), by time.
CREATE INDEX IF NOT EXISTS operations_account_state ON operations (account, state, created_at);
CREATE INDEX IF NOT EXISTS operations_state ON operations (state, created_at);
CREATE INDEX IF NOT EXISTS operations_created ON operations (created_at);
