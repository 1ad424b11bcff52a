-- The order guard's reservation: per account and order, what the provider
-- last said was paid (currency, amount, when, by which query), `base` (what
-- the order's ledger counted as returned or at risk that no reservation
-- holds: external returns, returns of earlier versions, the provider's own
-- returned total where it is a floor) and `held` (the sum of the
-- reservations of the order's refunds and cancels that are not `failed`).
-- A refund or cancel passes the guard only by raising `held` with a
-- conditional update (base + held + amount <= paid): the check reads one
-- row whatever the order's history. `operations.reserved` is what one
-- operation holds (NULL: nothing, as a refund still waiting for its turn).
ALTER TABLE operations ADD COLUMN reserved BIGINT;
CREATE TABLE IF NOT EXISTS order_money (
    account TEXT NOT NULL,
    order_ref TEXT NOT NULL,
    currency TEXT NOT NULL,
    paid BIGINT NOT NULL,
    paid_read_ms BIGINT NOT NULL,
    paid_by TEXT NOT NULL,
    base BIGINT NOT NULL,
    held BIGINT NOT NULL,
    PRIMARY KEY (account, order_ref)
);
-- The guard's other read: the order's unresolved refunds and cancels
-- (look-alikes, and the rule for orders whose payment is not known), found
-- without reading the order's history.
CREATE INDEX IF NOT EXISTS operations_order_state ON operations (order_ref, account, state);
