package sim

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHTTPEndToEnd: 20 installs speak CAPI to a real central over
// loopback; every attacker pushed by 3 trusted installs of independent
// clusters reaches every install's pulled stream, within the 15 s the
// issue asks of a Phalanx central (pull interval 1 s here).
func TestHTTPEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := RunHTTP(ctx, HTTPConfig{DataDir: t.TempDir(), Seed: 1, Installs: 20, Seeds: 2, Attackers: 10, Rate: 10, Poll: 50 * time.Millisecond})
	require.NoError(t, err)
	var b bytes.Buffer
	PrintHTTP(&b, r)
	t.Log("\n" + b.String())
	require.Equal(t, 10, r.Listed)
	require.Equal(t, 10*20, r.Pairs)
	// The bound, kept as the test's: a wall-clock figure, but a
	// generous one (max ~1 s under -race at load ~10, the pull interval
	// being 1 s), so that only a central or client that misses pulls
	// fails it, not a loaded machine's pauses.
	require.Less(t, r.Max, 15*time.Second)
}
