package notify

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons an alert is dropped (label `reason` of
// phalanx_notification_dropped_alerts_total).
const (
	DropQueueFull = "queue_full"        // the notification's queue was at queue_size
	DropRejected  = "rejected"          // the receiver refused the message (not retryable)
	DropRender    = "render"            // the format failed on these alerts
	DropRetries   = "retries_exhausted" // max_retry attempts failed
	DropShutdown  = "shutdown"          // still queued when the drain deadline passed
	DropUnknown   = "unknown"           // no notification of that name is configured
	DropClosed    = "closed"            // the dispatcher was closed
)

type metrics struct {
	queued, deliveries, delivered, failures, retries *prometheus.CounterVec
	dropped                                          *prometheus.CounterVec
	depth                                            *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phalanx_notification_" + name, Help: help},
			append([]string{"notification"}, labels...))
	}
	m := &metrics{
		queued:     counter("alerts_queued_total", "Alerts accepted into a notification's queue."),
		deliveries: counter("deliveries_total", "Messages delivered to the receiver."),
		delivered:  counter("delivered_alerts_total", "Alerts in the messages delivered."),
		failures:   counter("failures_total", "Delivery attempts that failed (retryable or not)."),
		retries:    counter("retries_total", "Delivery attempts after the first for a message."),
		dropped:    counter("dropped_alerts_total", "Alerts given up, by reason.", "reason"),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "phalanx_notification_queue_depth", Help: "Alerts waiting for delivery (queued or being delivered).",
		}, []string{"notification"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.queued, m.deliveries, m.delivered, m.failures, m.retries, m.dropped, m.depth} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			return nil, errors.New("notify: metrics: a dispatcher is already registered on this registry")
		}
	}
	return m, nil
}
