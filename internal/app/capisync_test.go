package app

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/central/server"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// TestDaemonSyncsWithCentral: a LAPI daemon registered with a real
// central (loopback) and consenting to share manual decisions sends its
// inventory at start and the uuids of the decisions its operator deletes;
// its LAPI wiring (the Deleted hook) is the daemon's own.
func TestDaemonSyncsWithCentral(t *testing.T) {
	ctx := context.Background()
	cfg := lapiOnly(t)
	central, creds := registerWithCentral(t, cfg)
	require.NoError(t, capi.WriteConsole(filepath.Join(cfg.DataDir, capi.ConsoleFile), capi.Consent{ShareManualDecisions: true, ShareCustom: true, ShareTainted: true}))
	a, err := New(cfg, WithLogger(testLogger(t)))
	require.NoError(t, err)
	addMachine(t, a.Store(), "ops", "ops-password-123")
	startApp(t, a)

	cst := central.Store()
	require.Eventually(t, func() bool {
		r, err := cst.GetReport(ctx, creds.Login)
		return err == nil && r.Machines == 1 && !r.MetricsAt.IsZero()
	}, 10*time.Second, 50*time.Millisecond, "metrics at start: one machine")

	cl, err := apiclient.New(apiclient.Config{URL: a.LAPIURL(), MachineID: "ops", Password: "ops-password-123", UserAgent: "crowdsec/v1.7.5",
		Retry: apiclient.RetryConfig{MaxAttempts: 1}})
	require.NoError(t, err)
	t.Cleanup(cl.Close)
	a1 := testAlert(1)
	a1.Source.Value, a1.Source.IP = ptr("45.1.2.3"), "45.1.2.3"
	d := "4h"
	a1.Decisions = []*models.Decision{{Origin: ptr("cscli"), Type: ptr("ban"), Scope: ptr("Ip"), Value: ptr("45.1.2.3"), Duration: &d, Scenario: ptr("manual")}}
	_, err = cl.PushAlerts(ctx, []*models.Alert{a1})
	require.NoError(t, err)
	n, err := cl.DeleteDecisions(ctx, apiclient.DecisionFilter{IP: "45.1.2.3"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Eventually(t, func() bool {
		r, err := cst.GetReport(ctx, creds.Login)
		return err == nil && r.Deletions == 1
	}, 20*time.Second, 100*time.Millisecond, "the deletion reaches the central (every 10 s)")

	// Usage metrics an agent sends wait in the outbox for the next report
	// (the Usage hook is the daemon's own; the report itself is 15 to 45
	// min away: internal/capi tests it).
	now := time.Now().Unix()
	require.NoError(t, cl.SendUsageMetrics(ctx, &models.AllMetrics{LogProcessors: []*models.LogProcessorsMetrics{{
		BaseMetrics: models.BaseMetrics{Version: ptr("v1.7.5"), UtcStartupTimestamp: &now}, Datasources: map[string]int64{"file": 1}}}}))
	q, err := a.Store().OutboxPending(ctx, store.OutboxUsage, 0)
	require.NoError(t, err)
	require.Len(t, q, 1)
	require.Contains(t, string(q[0].Payload), `"machine":"ops"`)
}

func ptr(s string) *string { return &s }

// registerWithCentral starts a central (loopback, SQLite) and registers
// the LAPI of cfg with it, as `phalanx capi register` does: the daemon
// started on cfg then shares, forwards its usage metrics, etc.
func registerWithCentral(t *testing.T, cfg Config) (*server.Server, capi.Credentials) {
	t.Helper()
	central := startCentral(t, server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Poll: 100 * time.Millisecond})
	creds, err := capi.Register(context.Background(), "http://"+central.Addr(), filepath.Join(cfg.DataDir, capi.CredentialsFile), false, capi.ClientOptions{})
	require.NoError(t, err)
	return central, creds
}
