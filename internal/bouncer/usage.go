package bouncer

import (
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/usagemetrics"
)

// UsageCounter is one figure of a remediation component's usage metrics,
// as CrowdSec's bouncers report them: a name ("dropped", "processed"), a
// unit ("packet", "byte", "request"), labels (origin, ip_type) and the
// value since the component started. A counter is reported as what it
// added in each window; a Gauge as it is.
type UsageCounter struct {
	Name, Unit string
	Labels     map[string]string
	Value      float64
	Gauge      bool
}

// WithUsage gives a stream the component's own counters for its usage
// metrics (what it dropped and processed); it is called from the report
// loop, so it must be safe for concurrent use with the component. Without
// it, a stream reports its active decisions only.
func WithUsage(counters func() []UsageCounter) Option {
	return func(d *deps) { d.usage = counters }
}

// usageReport builds a stream bouncer's usage reports: its type and
// version (from the user agent, "type/version"), OS and start, and one
// window of items: the active decisions by origin and address family
// (unit ip), and the component's counters.
//
// Concurrency: build is called by the one report loop.
type usageReport struct {
	typ      string
	id       usagemetrics.Identity
	set      *Set
	counters func() []UsageCounter
	deltas   usagemetrics.Counters
}

func newUsageReport(userAgent string, start time.Time, set *Set, counters func() []UsageCounter) *usageReport {
	typ, version, _ := strings.Cut(userAgent, "/")
	return &usageReport{typ: typ, id: usagemetrics.NewIdentity(version, start), set: set, counters: counters}
}

func (u *usageReport) build(now time.Time, window time.Duration) *models.AllMetrics {
	cs := ActiveDecisions(u.set)
	if u.counters != nil {
		cs = append(cs, u.counters()...)
	}
	items := []*models.MetricsDetailItem{}
	for _, c := range cs {
		var it *models.MetricsDetailItem
		if c.Gauge {
			it = usagemetrics.Gauge(c.Name, c.Unit, c.Labels, c.Value)
		} else {
			it = u.deltas.Item(c.Name, c.Unit, c.Labels, c.Value)
		}
		if it != nil {
			items = append(items, it)
		}
	}
	rc := &models.RemediationComponentsMetrics{BaseMetrics: u.id.Base(now, window, items), Type: u.typ}
	return &models.AllMetrics{RemediationComponents: []*models.RemediationComponentsMetrics{rc}}
}

// ActiveDecisions counts the decisions of s by origin and address family
// (ip_type ipv4 or ipv6): CrowdSec's active_decisions gauge, unit ip.
func ActiveDecisions(s *Set) []UsageCounter {
	type k struct{ origin, family string }
	n := map[k]float64{}
	for _, d := range s.Snapshot() {
		n[k{d.Origin, IPType(d.Prefix.Addr())}]++
	}
	out := make([]UsageCounter, 0, len(n))
	for key, v := range n {
		out = append(out, UsageCounter{Name: "active_decisions", Unit: "ip", Gauge: true, Value: v,
			Labels: map[string]string{"origin": key.origin, "ip_type": key.family}})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Labels, out[j].Labels
		if a["origin"] != b["origin"] {
			return a["origin"] < b["origin"]
		}
		return a["ip_type"] < b["ip_type"]
	})
	return out
}

// IPType is CrowdSec's ip_type label of an address: ipv4 or ipv6.
func IPType(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	return "ipv6"
}
