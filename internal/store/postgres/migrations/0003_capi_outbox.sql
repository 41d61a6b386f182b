-- The central API outbox: one row per signal to push (the alert's uuid),
-- kept after it was sent (sent_at) so that the same alert pushed again
-- (an agent retrying) is not sent twice; sent rows are purged later.
CREATE TABLE capi_outbox (
  id         BIGSERIAL PRIMARY KEY,
  uuid       TEXT NOT NULL,
  payload    TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  sent_at    BIGINT NOT NULL DEFAULT 0,
  attempts   INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX capi_outbox_uuid ON capi_outbox (uuid);
CREATE INDEX capi_outbox_pending ON capi_outbox (sent_at, id);
