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
