-- A signal the central refused for what it says (400, 422: it can never be
-- accepted) is set aside (refused_at, refusal) so that it does not hold
-- back the signals queued after it; it is kept for inspection until purged
-- with the sent ones.
ALTER TABLE capi_outbox ADD COLUMN refused_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE capi_outbox ADD COLUMN refusal TEXT NOT NULL DEFAULT '';
