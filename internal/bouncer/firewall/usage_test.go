package firewall

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
)

// TestUsageCounters: the firewall reports what its rules dropped, in
// packets and bytes, from the kernel counters it reads.
func TestUsageCounters(t *testing.T) {
	f := &Firewall{}
	f.met = newMetrics(f)
	f.met.packets.Store(12)
	f.met.bytes.Store(3456)
	require.Equal(t, []bouncer.UsageCounter{
		{Name: "dropped", Unit: "packet", Value: 12},
		{Name: "dropped", Unit: "byte", Value: 3456},
	}, f.usageCounters())
}
