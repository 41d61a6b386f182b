-- Phalanx store schema, PostgreSQL. Times are int64 Unix nanoseconds (0 = unset);
-- addresses are 16-byte big-endian blobs (IPv4 mapped), compared bytewise.
CREATE TABLE machines (
  machine_id     TEXT PRIMARY KEY,
  password_hash  TEXT NOT NULL DEFAULT '',
  ip_address     TEXT NOT NULL DEFAULT '',
  version        TEXT NOT NULL DEFAULT '',
  scenarios      TEXT NOT NULL DEFAULT '',
  is_validated   BOOLEAN NOT NULL DEFAULT FALSE,
  auth_type      TEXT NOT NULL DEFAULT 'password',
  os_name        TEXT NOT NULL DEFAULT '',
  os_version     TEXT NOT NULL DEFAULT '',
  feature_flags  TEXT NOT NULL DEFAULT '',
  created_at     BIGINT NOT NULL,
  updated_at     BIGINT NOT NULL,
  last_push      BIGINT NOT NULL DEFAULT 0,
  last_heartbeat BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE bouncers (
  name          TEXT PRIMARY KEY,
  api_key_hash  TEXT NOT NULL DEFAULT '',
  ip_address    TEXT NOT NULL DEFAULT '',
  type          TEXT NOT NULL DEFAULT '',
  version       TEXT NOT NULL DEFAULT '',
  auth_type     TEXT NOT NULL DEFAULT 'api-key',
  auto_created  BOOLEAN NOT NULL DEFAULT FALSE,
  os_name       TEXT NOT NULL DEFAULT '',
  os_version    TEXT NOT NULL DEFAULT '',
  feature_flags TEXT NOT NULL DEFAULT '',
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL,
  last_pull     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX bouncers_key ON bouncers (api_key_hash);
CREATE TABLE alerts (
  id               BIGSERIAL PRIMARY KEY,
  uuid             TEXT NOT NULL,
  machine_id       TEXT NOT NULL DEFAULT '',
  created_at       BIGINT NOT NULL,
  scenario         TEXT NOT NULL DEFAULT '',
  scenario_hash    TEXT NOT NULL DEFAULT '',
  scenario_version TEXT NOT NULL DEFAULT '',
  message          TEXT NOT NULL DEFAULT '',
  events_count     BIGINT NOT NULL DEFAULT 0,
  started_at       BIGINT NOT NULL DEFAULT 0,
  stopped_at       BIGINT NOT NULL DEFAULT 0,
  capacity         BIGINT NOT NULL DEFAULT 0,
  leakspeed        TEXT NOT NULL DEFAULT '',
  simulated        BOOLEAN NOT NULL DEFAULT FALSE,
  remediation      BOOLEAN NOT NULL DEFAULT FALSE,
  kind             TEXT NOT NULL DEFAULT '',
  source_scope     TEXT NOT NULL DEFAULT '',
  source_value     TEXT NOT NULL DEFAULT '',
  source_ip        TEXT NOT NULL DEFAULT '',
  source_range     TEXT NOT NULL DEFAULT '',
  source_as_number TEXT NOT NULL DEFAULT '',
  source_as_name   TEXT NOT NULL DEFAULT '',
  source_cn        TEXT NOT NULL DEFAULT '',
  source_latitude  DOUBLE PRECISION NOT NULL DEFAULT 0,
  source_longitude DOUBLE PRECISION NOT NULL DEFAULT 0,
  source_start_ip  BYTEA,
  source_end_ip    BYTEA,
  labels           TEXT NOT NULL DEFAULT 'null',
  meta             TEXT NOT NULL DEFAULT 'null',
  events           TEXT NOT NULL DEFAULT 'null'
);
CREATE INDEX alerts_created ON alerts (created_at);
CREATE INDEX alerts_started ON alerts (started_at);
CREATE INDEX alerts_value ON alerts (source_value);
CREATE INDEX alerts_scenario ON alerts (scenario);
CREATE INDEX alerts_range ON alerts (source_start_ip, source_end_ip);
CREATE TABLE decisions (
  id         BIGSERIAL PRIMARY KEY,
  uuid       TEXT NOT NULL,
  alert_id   BIGINT REFERENCES alerts (id) ON DELETE SET NULL,
  change_seq BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  until_at   BIGINT NOT NULL,
  origin     TEXT NOT NULL,
  type       TEXT NOT NULL,
  scope      TEXT NOT NULL,
  value      TEXT NOT NULL,
  scenario   TEXT NOT NULL,
  simulated  BOOLEAN NOT NULL DEFAULT FALSE,
  start_ip   BYTEA,
  end_ip     BYTEA
);
CREATE UNIQUE INDEX decisions_seq ON decisions (change_seq);
CREATE INDEX decisions_until ON decisions (until_at);
CREATE INDEX decisions_alert ON decisions (alert_id);
CREATE INDEX decisions_value ON decisions (value);
CREATE INDEX decisions_range ON decisions (start_ip, end_ip);
-- The decision change sequence: a database sequence, allocated under a
-- transaction-scoped advisory lock so that numbers become visible in order.
CREATE SEQUENCE decision_change_seq AS BIGINT;
CREATE TABLE allowlists (
  id          BIGSERIAL PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL
);
CREATE TABLE allowlist_items (
  id           BIGSERIAL PRIMARY KEY,
  allowlist_id BIGINT NOT NULL REFERENCES allowlists (id) ON DELETE CASCADE,
  value        TEXT NOT NULL,
  comment      TEXT NOT NULL DEFAULT '',
  created_at   BIGINT NOT NULL,
  expires_at   BIGINT NOT NULL DEFAULT 0,
  start_ip     BYTEA NOT NULL,
  end_ip       BYTEA NOT NULL,
  UNIQUE (allowlist_id, value)
);
CREATE INDEX allowlist_items_range ON allowlist_items (start_ip, end_ip);
