-- Webhooks: the outbox. One row per event and webhook, written in the same
-- transaction as the status change it reports; delivered at least once.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    event_id TEXT NOT NULL,
    webhook TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    account TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    lease_until_ms BIGINT NOT NULL DEFAULT 0,
    last_status BIGINT,
    last_error TEXT,
    delivered_ms BIGINT,
    PRIMARY KEY (event_id, webhook)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (state, next_attempt_ms);
CREATE INDEX IF NOT EXISTS webhook_deliveries_operation ON webhook_deliveries (operation_id);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    event_id TEXT NOT NULL,
    webhook TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    status BIGINT,
    error TEXT,
    PRIMARY KEY (event_id, webhook, attempt)
);
