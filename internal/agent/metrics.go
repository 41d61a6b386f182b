package agent

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	received, pushed, rejected prometheus.Counter
	pushErrors, setAside       prometheus.Counter
	pushSeconds                prometheus.Histogram
	delivery                   prometheus.Histogram
}

// newMetrics registers the agent's metrics; the spool gauges read sp at
// scrape time.
func newMetrics(reg prometheus.Registerer, sp *Spool) (*metrics, error) {
	m := &metrics{
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phalanx_agent_alerts_received_total", Help: "Alerts handed to the agent by the pipeline."}),
		pushed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phalanx_agent_alerts_pushed_total", Help: "Alerts acknowledged by the LAPI."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phalanx_agent_alerts_rejected_total", Help: "Alerts the LAPI refused for good (dropped)."}),
		pushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phalanx_agent_push_errors_total", Help: "Failed pushes of an alert batch."}),
		setAside: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phalanx_agent_spool_set_aside_alerts_total", Help: "Alerts of spooled batches set aside, not sent, because the batch was not a JSON array."}),
		pushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "phalanx_agent_push_duration_seconds", Help: "Duration of alert batch pushes.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}),
		delivery: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "phalanx_agent_alert_delivery_seconds", Help: "Time from an alert being handed to the agent to the LAPI acknowledging it.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}),
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{m.received, m.pushed, m.rejected, m.pushErrors, m.setAside, m.pushSeconds, m.delivery,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "phalanx_agent_spool_bytes", Help: "Size of the alert spool on disk."},
			func() float64 { return float64(sp.Stats().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "phalanx_agent_spool_alerts", Help: "Alerts waiting in the spool."},
			func() float64 { return float64(sp.Stats().Items) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "phalanx_agent_spool_dropped_alerts_total", Help: "Alerts dropped because the spool was full."},
			func() float64 { return float64(sp.Stats().DroppedItems) }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				continue
			}
			return nil, fmt.Errorf("agent: metrics: %w", err)
		}
	}
	return m, nil
}
