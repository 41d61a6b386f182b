-- Alert uuids are unique, so that a repeated POST /v1/alerts of the same
-- alert (an agent retrying after an ambiguous timeout) stores it once.
-- Duplicates already stored keep their rows: all but the oldest of each
-- uuid get a suffixed uuid ("<uuid>-dup-<id>").
UPDATE alerts SET uuid = uuid || '-dup-' || CAST(id AS TEXT)
  WHERE id NOT IN (SELECT MIN(id) FROM alerts GROUP BY uuid);
CREATE UNIQUE INDEX alerts_uuid ON alerts (uuid);
