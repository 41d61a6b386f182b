-- The dashboard (internal/ui): its users (bcrypt password hashes, a role),
-- and indexes for its overview over time ranges (alerts by creation time
-- with the columns the charts group by; decisions by creation time).
CREATE TABLE dashboard_users (
  name          TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  role          TEXT NOT NULL,
  created_at    BIGINT NOT NULL,
  updated_at    BIGINT NOT NULL,
  last_login    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX alerts_stats ON alerts (created_at, scenario, simulated, source_cn, source_as_number, source_as_name);
CREATE INDEX decisions_created ON decisions (created_at, origin);
