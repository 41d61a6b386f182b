package firewall

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
)

// metrics are the firewall bouncer's Prometheus metrics. The kernel
// counters are read by the Run loop every second and served from memory,
// so a scrape never touches the backend.
type metrics struct {
	f *Firewall

	packets, bytes atomic.Uint64
	installed      atomic.Int64

	applyErrors  prometheus.Counter
	batches      prometheus.Counter
	applySeconds prometheus.Histogram
	drift        *prometheus.CounterVec
	protected    *prometheus.CounterVec

	descPackets, descBytes, descBanned, descPulls, descPullFail, descLastPull *prometheus.Desc
}

func newMetrics(f *Firewall) *metrics {
	return &metrics{
		f:            f,
		applyErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "phalanx_firewall_apply_errors_total", Help: "Batches the kernel refused (each followed by a resync)."}),
		batches:      prometheus.NewCounter(prometheus.CounterOpts{Name: "phalanx_firewall_batches_total", Help: "Transactions applied to the firewall."}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "phalanx_firewall_apply_seconds", Help: "Time to bring the kernel in step after a change.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}),
		drift:        prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phalanx_firewall_drift_total", Help: "Drift found and repaired by resyncs, by kind (table, missing, extra)."}, []string{"kind"}),
		protected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phalanx_firewall_protected_decisions_total",
			Help: "Decisions covering a loopback or LAPI address, which the sets leave out (an Ip decision is skipped, a Range one installed around them), by reason (loopback, lapi)."}, []string{"reason"}),
		descPackets:  prometheus.NewDesc("fw_bouncer_dropped_packets", "Packets dropped or rejected by the bouncer's rules.", nil, nil),
		descBytes:    prometheus.NewDesc("fw_bouncer_dropped_bytes", "Bytes dropped or rejected by the bouncer's rules.", nil, nil),
		descBanned:   prometheus.NewDesc("fw_bouncer_banned_ips", "Elements (addresses and networks) in the firewall sets.", nil, nil),
		descPulls:    prometheus.NewDesc("phalanx_firewall_lapi_pulls_total", "Decision stream pulls.", nil, nil),
		descPullFail: prometheus.NewDesc("phalanx_firewall_lapi_pull_failures_total", "Failed decision stream pulls.", nil, nil),
		descLastPull: prometheus.NewDesc("phalanx_firewall_lapi_last_success_timestamp_seconds", "Time of the last successful pull.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.descPackets, m.descBytes, m.descBanned, m.descPulls, m.descPullFail, m.descLastPull} {
		ch <- d
	}
	m.applyErrors.Describe(ch)
	m.batches.Describe(ch)
	m.applySeconds.Describe(ch)
	m.drift.Describe(ch)
	m.protected.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(m.descPackets, prometheus.CounterValue, float64(m.packets.Load()))
	ch <- prometheus.MustNewConstMetric(m.descBytes, prometheus.CounterValue, float64(m.bytes.Load()))
	ch <- prometheus.MustNewConstMetric(m.descBanned, prometheus.GaugeValue, float64(m.installed.Load()))
	st := m.f.stream.Stats()
	ch <- prometheus.MustNewConstMetric(m.descPulls, prometheus.CounterValue, float64(st.Pulls))
	ch <- prometheus.MustNewConstMetric(m.descPullFail, prometheus.CounterValue, float64(st.Failures))
	last := 0.0
	if !st.LastSuccess.IsZero() {
		last = float64(st.LastSuccess.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(m.descLastPull, prometheus.GaugeValue, last)
	m.applyErrors.Collect(ch)
	m.batches.Collect(ch)
	m.applySeconds.Collect(ch)
	m.drift.Collect(ch)
	m.protected.Collect(ch)
}

// usageCounters are the firewall's own figures in its usage reports (the
// stream adds the active decisions): what its rules dropped, in packets
// and bytes, as CrowdSec's firewall bouncer reports them. The kernel
// counts the drops of every origin and family together, so they carry no
// origin or ip_type label.
func (f *Firewall) usageCounters() []bouncer.UsageCounter {
	return []bouncer.UsageCounter{
		{Name: "dropped", Unit: "packet", Value: float64(f.met.packets.Load())},
		{Name: "dropped", Unit: "byte", Value: float64(f.met.bytes.Load())},
	}
}
