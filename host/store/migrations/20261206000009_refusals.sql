-- Refusals: requests payops refused before anything was sent to the
-- provider (an invalid document, the provider's own checks, the order
-- guard, an amount limit, the provider unreachable). They are not
-- operations: they bind no idempotency key and are kept, for the audit,
-- up to a bound (the daemon deletes the oldest beyond `store.refusals_kept`).
CREATE TABLE IF NOT EXISTS refusals (
    id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    account TEXT NOT NULL,
    provider TEXT NOT NULL,
    operation TEXT NOT NULL,
    idempotency_key TEXT,
    order_ref TEXT,
    actor TEXT,
    reason TEXT NOT NULL,
    error TEXT NOT NULL,
    request TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS refusals_page ON refusals (at, id);
CREATE INDEX IF NOT EXISTS refusals_account_page ON refusals (account, at, id);
-- Earlier versions of payops stored such refusals as `failed` operations under
-- their idempotency key: with the message "refused before sending: …" and
-- the refusal under details.refused, or (the provider unreachable, nothing
-- sent) with reason `unreachable` and details {"transport_error":"connect"}.
-- They are marked here (portable SQL); opening the store moves every marked
-- row into `refusals`, which frees its key.
UPDATE operations SET state = 'refused'
 WHERE state = 'failed'
   AND ((envelope LIKE '%"provider_message":"refused before sending: %'
         AND envelope LIKE '%"details":{"refused":{"error":{%')
     OR (envelope LIKE '%"reason":"unreachable"%'
         AND envelope LIKE '%"details":{"transport_error":"connect"}%'));
