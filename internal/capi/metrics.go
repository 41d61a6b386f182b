package capi

import "github.com/prometheus/client_golang/prometheus"

// metrics are the service's counters (one set per Service, registered on
// Deps.Registerer when given).
type metrics struct {
	queued, pushed, pushFailures, refused prometheus.Counter
	skipped                               *prometheus.CounterVec
	pulls                                 *prometheus.CounterVec
	community                             prometheus.GaugeFunc
}

func newMetrics(c *Community) *metrics {
	m := &metrics{
		queued: prometheus.NewCounter(prometheus.CounterOpts{Name: "phalanx_capi_signals_queued_total",
			Help: "Signals queued in the central API outbox."}),
		pushed: prometheus.NewCounter(prometheus.CounterOpts{Name: "phalanx_capi_signals_pushed_total",
			Help: "Signals the central API accepted."}),
		pushFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "phalanx_capi_push_failures_total",
			Help: "Failed signal pushes (the signals stay in the outbox)."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "phalanx_capi_signals_refused_total",
			Help: "Signals the central refused for their content, set aside in the outbox (never sent again)."}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phalanx_capi_signals_skipped_total",
			Help: "Alerts not shared, by reason (simulated, community, consent)."}, []string{"reason"}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phalanx_capi_pulls_total",
			Help: "Community list pulls, by result."}, []string{"result"}),
		community: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "phalanx_capi_community_entries",
			Help: "Addresses and ranges of the community list detection sees."}, func() float64 {
			if c == nil {
				return 0
			}
			return float64(c.Len())
		}),
	}
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.queued, m.pushed, m.pushFailures, m.refused, m.skipped, m.pulls, m.community} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
