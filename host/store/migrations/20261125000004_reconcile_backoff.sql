-- Per-operation backoff of the periodic reconciliation: an operation whose
-- query proved nothing is looked at again later, and later still, instead
-- of every operation at every pass.
ALTER TABLE operations ADD COLUMN reconcile_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE operations ADD COLUMN next_reconcile_ms BIGINT NOT NULL DEFAULT 0;
