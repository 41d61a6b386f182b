-- Decisions counted per hour of creation and origin, kept by CreateAlerts,
-- so that the dashboard's overview of days of decisions reads hours, not
-- decisions. Counts are of decisions made: Flush does not lower them.
CREATE TABLE decision_rollup (
  hour   BIGINT NOT NULL,
  origin TEXT NOT NULL,
  n      BIGINT NOT NULL,
  PRIMARY KEY (hour, origin)
);
INSERT INTO decision_rollup (hour, origin, n)
  SELECT (created_at / 3600000000000) * 3600000000000, origin, COUNT(*) FROM decisions GROUP BY 1, 2;
-- The same per minute, for ranges shorter than a day; Flush keeps the
-- last 48 hours only.
CREATE TABLE alert_rollup_minute (
  minute           BIGINT NOT NULL,
  scenario         TEXT NOT NULL,
  source_cn        TEXT NOT NULL,
  source_as_number TEXT NOT NULL,
  source_as_name   TEXT NOT NULL,
  simulated        BOOLEAN NOT NULL,
  n                BIGINT NOT NULL,
  PRIMARY KEY (minute, scenario, source_cn, source_as_number, source_as_name, simulated)
);
INSERT INTO alert_rollup_minute (minute, scenario, source_cn, source_as_number, source_as_name, simulated, n)
  SELECT (created_at / 60000000000) * 60000000000, scenario, source_cn, source_as_number, source_as_name, simulated, COUNT(*)
  FROM alerts WHERE created_at >= (SELECT COALESCE(MAX(created_at), 0) FROM alerts) - 172800000000000
  GROUP BY 1, 2, 3, 4, 5, 6;
CREATE TABLE decision_rollup_minute (
  minute BIGINT NOT NULL,
  origin TEXT NOT NULL,
  n      BIGINT NOT NULL,
  PRIMARY KEY (minute, origin)
);
INSERT INTO decision_rollup_minute (minute, origin, n)
  SELECT (created_at / 60000000000) * 60000000000, origin, COUNT(*)
  FROM decisions WHERE created_at >= (SELECT COALESCE(MAX(created_at), 0) FROM decisions) - 172800000000000
  GROUP BY 1, 2;
