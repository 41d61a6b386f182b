package gcpolicy

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// The tests change the process's GC settings: not parallel.

func TestApplyAndRestore(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	gc0 := debug.SetGCPercent(-1)
	debug.SetGCPercent(gc0)
	lim0 := debug.SetMemoryLimit(-1)

	restore := Apply(Policy{Percent: 250, Limit: 123 << 20})
	require.Equal(t, 250, debug.SetGCPercent(250))
	require.Equal(t, int64(123<<20), debug.SetMemoryLimit(-1))
	restore()
	require.Equal(t, gc0, debug.SetGCPercent(gc0))
	require.Equal(t, lim0, debug.SetMemoryLimit(-1))

	// The zero policy changes nothing.
	Apply(Policy{})()
	require.Equal(t, gc0, debug.SetGCPercent(gc0))
	require.Equal(t, lim0, debug.SetMemoryLimit(-1))
}

func TestEnvironmentWins(t *testing.T) {
	t.Setenv("GOGC", "100")
	t.Setenv("GOMEMLIMIT", "1GiB")
	gc0 := debug.SetGCPercent(-1)
	debug.SetGCPercent(gc0)
	lim0 := debug.SetMemoryLimit(-1)
	restore := Apply(Policy{Percent: 250, Limit: 123 << 20})
	defer restore()
	require.Equal(t, gc0, debug.SetGCPercent(gc0))
	require.Equal(t, lim0, debug.SetMemoryLimit(-1))
}
