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
	lbl := []string{"notification"}
	m := &metrics{
		queued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_notification_alerts_queued_total", Help: "Alerts accepted into a notification's queue.",
		}, lbl),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_notification_deliveries_total", Help: "Messages delivered to the receiver.",
		}, lbl),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_notification_delivered_alerts_total", Help: "Alerts in the messages delivered.",
		}, lbl),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_notification_failures_total", Help: "Delivery attempts that failed (retryable or not).",
		}, lbl),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_notification_retries_total", Help: "Delivery attempts after the first for a message.",
		}, lbl),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_notification_dropped_alerts_total", Help: "Alerts given up, by reason.",
		}, []string{"notification", "reason"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "phalanx_notification_queue_depth", Help: "Alerts waiting for delivery (queued or being delivered).",
		}, lbl),
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
