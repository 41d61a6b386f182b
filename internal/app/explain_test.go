package app

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/explain"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// TestExplainer: parsers compiled on first use, released when idle and
// compiled again on the next use, refused for good after close.
func TestExplainer(t *testing.T) {
	cfg, err := content.Select("", nil, true)
	require.NoError(t, err)
	cfg.DataDir = t.TempDir()
	x := newExplainer(cfg, testLogger(t))
	x.idle = 100 * time.Millisecond
	ctx := context.Background()
	lines := []*models.RawLine{
		{Raw: "Jan  2 03:04:05 host sshd[12]: Failed password for root from 192.0.2.7 port 22 ssh2", Labels: map[string]string{"type": "syslog"},
			Time: "2026-01-02T03:04:05Z", Source: "/var/log/auth.log"},
		{Raw: "garbage", Labels: map[string]string{"type": "syslog"}},
	}
	res, err := x.lines(ctx, lines)
	require.NoError(t, err)
	require.Len(t, res, 2)
	require.Equal(t, explain.Parsed, res[0].Outcome, "%+v", res[0])
	require.Equal(t, explain.Dropped, res[1].Outcome)
	require.Equal(t, map[string]string{"type": "syslog"}, lines[0].Labels, "the caller's labels are not changed")

	require.Eventually(t, func() bool {
		x.mu.Lock()
		defer x.mu.Unlock()
		return x.rt == nil
	}, 5*time.Second, 20*time.Millisecond, "released when idle")
	res, err = x.lines(ctx, lines[:1])
	require.NoError(t, err)
	require.Equal(t, explain.Parsed, res[0].Outcome, "compiled again")

	require.NoError(t, x.close())
	_, err = x.lines(ctx, lines)
	require.ErrorIs(t, err, errExplainClosed)
}
