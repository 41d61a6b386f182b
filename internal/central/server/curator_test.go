package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
)

// TestSignalSeesEnrollmentBeforeIt: an install that enrolls and then
// reports is judged as a member of its organisation, even when the
// curator read the installs before the enrollment and the signal after
// it (one step of the curator between the two). Before the fix the signal
// was judged with the install's anonymous identity, so the installs of
// one organisation on several /16s, enrolled just before reporting,
// counted as independent clusters and listed an IP with one seed report
// (TestC3 failed so, now and then).
func TestSignalSeesEnrollmentBeforeIt(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Listen: "127.0.0.1:0"}.withDefaults()
	st, err := OpenStore(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	now := time.Now().UTC()
	c := &curator{st: st, cfg: cfg, now: func() time.Time { return now }, log: slog.New(slog.DiscardHandler), wake: make(chan struct{}, 1)}
	require.NoError(t, st.Register(ctx, "install-a-0000000000000001", "x", now))
	require.NoError(t, c.load(ctx)) // the curator knows the install, anonymous
	in, ok := c.eng.Install("install-a-0000000000000001")
	require.True(t, ok)
	require.Empty(t, in.Org)

	org, err := st.AddOrg(ctx, "bigorg", false, "keyhash")
	require.NoError(t, err)
	require.NoError(t, st.Enroll(ctx, "install-a-0000000000000001", org, "a", now))
	_, err = st.InsertSignals(ctx, []centralstore.Signal{{MachineID: "install-a-0000000000000001", UUID: "u1", IP: "1.2.3.4",
		Scenario: "crowdsecurity/ssh-bf", StartAt: now, StopAt: now, CreatedAt: now, ReceivedAt: now}})
	require.NoError(t, err)
	n, err := c.ingest(ctx) // no syncInstalls of a step before it
	require.NoError(t, err)
	require.Equal(t, 1, n)
	in, ok = c.eng.Install("install-a-0000000000000001")
	require.True(t, ok)
	require.NotEmpty(t, in.Org, "the signal was judged with the identity of before the enrollment")
}
