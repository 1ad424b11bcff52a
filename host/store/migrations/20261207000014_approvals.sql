-- Approvals: a request over an approval threshold waits here, with nothing
-- sent, until someone other than its requester approves or rejects it, or
-- it expires. It binds its (account, idempotency_key) from the start: a
-- repeat joins it; once approved, a sender claims it (claimed_until_ms, on
-- the store's clock) and sends it as an operation under that same key, so
-- the money moves once whoever sends. A refusal at send time (the order
-- guard, the order's turn) leaves it approved and tries again at
-- next_try_ms.
CREATE TABLE IF NOT EXISTS approvals (
    approval_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    provider TEXT NOT NULL,
    operation TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    request TEXT NOT NULL,
    order_ref TEXT,
    amount BIGINT,
    override_open TEXT,
    requested_by TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    why TEXT NOT NULL,
    state TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    note TEXT,
    expires_ms BIGINT NOT NULL,
    operation_id TEXT,
    claimed_by TEXT,
    claimed_until_ms BIGINT NOT NULL DEFAULT 0,
    next_try_ms BIGINT NOT NULL DEFAULT 0,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_refusal TEXT,
    created_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS approvals_key ON approvals (account, idempotency_key);
CREATE INDEX IF NOT EXISTS approvals_state ON approvals (state, next_try_ms);
CREATE INDEX IF NOT EXISTS approvals_order ON approvals (account, order_ref);
