-- The dashboard's alert page: the profile whose decisions the LAPI
-- attached to an alert, and the raw log lines a Phalanx agent pushed with
-- it (JSON, bounded by the LAPI; local only: never sent anywhere), one row
-- per alert that has some, gone with its alert.
ALTER TABLE alerts ADD COLUMN profile TEXT NOT NULL DEFAULT '';
CREATE TABLE alert_raw_lines (
  alert_id INTEGER PRIMARY KEY REFERENCES alerts (id) ON DELETE CASCADE,
  lines    TEXT NOT NULL
);
