-- Alerts counted per hour of arrival (created_at) and the columns the
-- dashboard's overview groups by, kept by CreateAlerts, so that the
-- overview of days of alerts reads hours, not alerts. Counts are of
-- alerts received: deleting alerts does not lower them.
CREATE TABLE alert_rollup (
  hour             BIGINT NOT NULL,
  scenario         TEXT NOT NULL,
  source_cn        TEXT NOT NULL,
  source_as_number TEXT NOT NULL,
  source_as_name   TEXT NOT NULL,
  simulated        BOOLEAN NOT NULL,
  n                BIGINT NOT NULL,
  PRIMARY KEY (hour, scenario, source_cn, source_as_number, source_as_name, simulated)
);
INSERT INTO alert_rollup (hour, scenario, source_cn, source_as_number, source_as_name, simulated, n)
  SELECT (created_at / 3600000000000) * 3600000000000, scenario, source_cn, source_as_number, source_as_name, simulated, COUNT(*)
  FROM alerts GROUP BY 1, 2, 3, 4, 5, 6;
