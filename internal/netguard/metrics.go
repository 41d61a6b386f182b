package netguard

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a Guard's counters, labelled with its server name. Several
// guards on one registry share the collectors.
//
// Concurrency: safe for concurrent use.
type metrics struct {
	open     prometheus.Gauge
	refusedG prometheus.Counter
	refusedP prometheus.Counter
	limited  prometheus.Counter
	panics   prometheus.Counter
}

type collectors struct {
	open    *prometheus.GaugeVec
	refused *prometheus.CounterVec
	limited *prometheus.CounterVec
	panics  *prometheus.CounterVec
}

func newCollectors() collectors {
	return collectors{
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "phalanx_http_connections_open", Help: "Connections open on a guarded server.",
		}, []string{"server"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_http_connections_refused_total", Help: "Connections closed at accept by a connection limit.",
		}, []string{"server", "reason"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_http_requests_limited_total", Help: "Requests answered 429 by the per-address rate limit.",
		}, []string{"server"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phalanx_http_panics_total", Help: "Handler panics recovered (answered 500).",
		}, []string{"server"}),
	}
}

// register registers c on r, reusing the collectors another guard already
// registered there.
func (c *collectors) register(r prometheus.Registerer) error {
	var errs []error
	reuse := func(col prometheus.Collector) prometheus.Collector {
		err := r.Register(col)
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return are.ExistingCollector
		}
		errs = append(errs, err)
		return col
	}
	var ok bool
	if c.open, ok = reuse(c.open).(*prometheus.GaugeVec); !ok {
		errs = append(errs, errors.New("phalanx_http_connections_open registered with another type"))
	}
	if c.refused, ok = reuse(c.refused).(*prometheus.CounterVec); !ok {
		errs = append(errs, errors.New("phalanx_http_connections_refused_total registered with another type"))
	}
	if c.limited, ok = reuse(c.limited).(*prometheus.CounterVec); !ok {
		errs = append(errs, errors.New("phalanx_http_requests_limited_total registered with another type"))
	}
	if c.panics, ok = reuse(c.panics).(*prometheus.CounterVec); !ok {
		errs = append(errs, errors.New("phalanx_http_panics_total registered with another type"))
	}
	return errors.Join(errs...)
}

func newMetrics(server string, r prometheus.Registerer) (*metrics, error) {
	c := newCollectors()
	if r != nil {
		if err := c.register(r); err != nil {
			return nil, err
		}
	}
	return &metrics{
		open:     c.open.WithLabelValues(server),
		refusedG: c.refused.WithLabelValues(server, reasonGlobal),
		refusedP: c.refused.WithLabelValues(server, reasonPerAddr),
		limited:  c.limited.WithLabelValues(server),
		panics:   c.panics.WithLabelValues(server),
	}, nil
}

func (m *metrics) opened() { m.open.Inc() }
func (m *metrics) closed() { m.open.Dec() }

func (m *metrics) refused(reason string) {
	if reason == reasonGlobal {
		m.refusedG.Inc()
	} else {
		m.refusedP.Inc()
	}
}
