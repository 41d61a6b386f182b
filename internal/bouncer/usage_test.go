package bouncer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// TestUsageReport: a stream bouncer's report names its type and version
// (from the user agent), counts its active decisions by origin and family
// as they are, and its own counters as what each window added.
func TestUsageReport(t *testing.T) {
	s := NewSet(func() time.Time { return t0 })
	for _, d := range []struct{ value, origin string }{
		{"192.0.2.1", "CAPI"}, {"192.0.2.2", "CAPI"}, {"2001:db8::1", "CAPI"}, {"198.51.100.7", "cscli"},
	} {
		x := dec(t, "Ip", d.value, "ban", time.Hour)
		x.Origin = d.origin
		s.Add(x)
	}
	dropped := 10.0
	u := newUsageReport("phalanx-firewall-bouncer/v1.2.3", t0, s, func() []UsageCounter {
		return []UsageCounter{{Name: "dropped", Unit: "packet", Labels: map[string]string{"origin": "CAPI"}, Value: dropped}}
	})
	items := func(m *models.AllMetrics) map[string]float64 {
		t.Helper()
		require.Len(t, m.RemediationComponents, 1)
		rc := m.RemediationComponents[0]
		require.Equal(t, "phalanx-firewall-bouncer", rc.Type)
		require.Equal(t, "v1.2.3", *rc.Version)
		require.Len(t, rc.Metrics, 1)
		require.Equal(t, int64(900), *rc.Metrics[0].Meta.WindowSizeSeconds)
		out := map[string]float64{}
		for _, it := range rc.Metrics[0].Items {
			out[*it.Name+"/"+*it.Unit+"/"+it.Labels["origin"]+"/"+it.Labels["ip_type"]] = *it.Value
		}
		return out
	}
	first := items(u.build(t0.Add(15*time.Minute), 15*time.Minute))
	require.Equal(t, map[string]float64{
		"active_decisions/ip/CAPI/ipv4": 2, "active_decisions/ip/CAPI/ipv6": 1, "active_decisions/ip/cscli/ipv4": 1,
		"dropped/packet/CAPI/": 10,
	}, first)
	dropped = 16
	second := items(u.build(t0.Add(30*time.Minute), 15*time.Minute))
	require.Equal(t, 6.0, second["dropped/packet/CAPI/"], "what the window added")
	require.Equal(t, 2.0, second["active_decisions/ip/CAPI/ipv4"], "a gauge, as it is")
}
