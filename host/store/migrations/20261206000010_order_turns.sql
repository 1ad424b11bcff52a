-- Operations on one order take turns: the holder of an order's turn is the
-- one refund or cancel of that order that may pass the order guard and
-- call the provider; the others wait. A turn passes on once its holder is
-- no longer in flight (answered, refused, or declared unknown by the
-- watchdog), or at until_ms (store clock) at the latest.
CREATE TABLE IF NOT EXISTS order_turns (
    account TEXT NOT NULL,
    order_ref TEXT NOT NULL,
    holder TEXT NOT NULL,
    until_ms BIGINT NOT NULL,
    PRIMARY KEY (account, order_ref)
);
