-- The outbox carries more than signals: decision deletions to tell the
-- central (kind 'deletion', uuid = the decision's) and usage metrics
-- (kind 'usage'). A uuid is unique within its kind.
ALTER TABLE capi_outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'signal';
DROP INDEX capi_outbox_uuid;
CREATE UNIQUE INDEX capi_outbox_kind_uuid ON capi_outbox (kind, uuid);
DROP INDEX capi_outbox_pending;
CREATE INDEX capi_outbox_pending ON capi_outbox (kind, sent_at, id);
