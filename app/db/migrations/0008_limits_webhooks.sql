-- Webhook replay protection: the signed timestamp of each delivery, so rows past the tolerance
-- window (whose requests would be refused as stale anyway) can be pruned by it.
ALTER TABLE webhook_deliveries ADD COLUMN signed_at timestamptz;
CREATE INDEX webhook_deliveries_signed_at ON webhook_deliveries (signed_at);

-- Fixed-window rate limits shared by every replica: one row per (key, window), counted with an
-- atomic upsert.
CREATE TABLE rate_limits (
  key           text NOT NULL,
  window_start  timestamptz NOT NULL,
  count         integer NOT NULL,
  PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_window_start ON rate_limits (window_start);
