-- Traces: the W3C traceparent of the operation (or approval) whose change an
-- event reports, sent as the delivery's `traceparent` (NULL with traces off).
ALTER TABLE webhook_deliveries ADD COLUMN traceparent TEXT;
