package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// DuplicateUUIDsV1 is SQL for a database at schema version 1 (the backend's
// 0001 migration applied and recorded in schema_version): two alerts
// sharing a uuid (as retried pushes left them before uuids were unique),
// the second with an active decision.
func DuplicateUUIDsV1(now time.Time) string {
	until := now.Add(time.Hour).UnixNano()
	return strings.NewReplacer("NOW", itoa(now.UnixNano()), "UNTIL", itoa(until)).Replace(`
INSERT INTO machines (machine_id, created_at, updated_at) VALUES ('agent1', NOW, NOW);
INSERT INTO alerts (uuid, machine_id, created_at, scenario, source_scope, source_value) VALUES ('dup-uuid', 'agent1', NOW, 's', 'Ip', '192.0.2.1');
INSERT INTO alerts (uuid, machine_id, created_at, scenario, source_scope, source_value) VALUES ('dup-uuid', 'agent1', NOW, 's', 'Ip', '192.0.2.1');
INSERT INTO decisions (uuid, alert_id, change_seq, created_at, until_at, origin, type, scope, value, scenario)
  SELECT 'd-1', MAX(id), 1000000, NOW, UNTIL, 'crowdsec', 'ban', 'Ip', '192.0.2.1', 's' FROM alerts;
`)
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// CheckUUIDMigration checks a store opened (and so migrated) on a
// database seeded with DuplicateUUIDsV1: no row was lost, the uuids became
// unique (the oldest alert keeps its uuid), and pushing that uuid again is
// idempotent.
func CheckUUIDMigration(t *testing.T, s store.Store) {
	ctx := context.Background()
	all, err := s.ListAlerts(ctx, store.AlertFilter{IncludeSimulated: true, SortAsc: true})
	require.NoError(t, err)
	require.Len(t, all, 2, "the migration keeps every alert")
	require.Equal(t, "dup-uuid", all[0].UUID)
	require.Equal(t, "dup-uuid-dup-"+itoa(all[1].ID), all[1].UUID)
	require.Len(t, all[1].Decisions, 1, "and their decisions")

	a := Alert("s", "Ip", "192.0.2.1", time.Now(), Dec{})
	a.UUID = "dup-uuid"
	ids, err := s.CreateAlerts(ctx, "agent1", []*models.Alert{a})
	require.NoError(t, err)
	require.Equal(t, all[0].ID, ids[0])
	after, err := s.ListAlerts(ctx, store.AlertFilter{IncludeSimulated: true})
	require.NoError(t, err)
	require.Len(t, after, 2)
}
