package lapi

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the LAPI's Prometheus metrics (CrowdSec's names where they
// exist). Concurrency: safe for concurrent use.
type metrics struct {
	requests    *prometheus.CounterVec   // route, method, code
	duration    *prometheus.HistogramVec // route, method
	machineReqs *prometheus.CounterVec   // route, method, machine
	bouncerReqs *prometheus.CounterVec   // route, method, bouncer
	liveOK      *prometheus.CounterVec   // bouncer
	liveKO      *prometheus.CounterVec   // bouncer
	pulls       *prometheus.CounterVec   // bouncer, startup
	allowlisted prometheus.Counter
	refused     *prometheus.CounterVec // reason
	active      *activeCollector
}

func newMetrics(ix *index) *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cs_lapi_route_requests_total", Help: "LAPI requests per route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "cs_lapi_request_duration_seconds", Help: "LAPI request duration per route and method.",
			Buckets: []float64{0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5},
		}, []string{"route", "method"}),
		machineReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cs_lapi_machine_requests_total", Help: "LAPI requests per machine.",
		}, []string{"route", "method", "machine"}),
		bouncerReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cs_lapi_bouncer_requests_total", Help: "LAPI requests per bouncer.",
		}, []string{"route", "method", "bouncer"}),
		liveOK: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cs_lapi_decisions_ok_total", Help: "Live-mode decision queries that found decisions.",
		}, []string{"bouncer"}),
		liveKO: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cs_lapi_decisions_ko_total", Help: "Live-mode decision queries that found none.",
		}, []string{"bouncer"}),
		pulls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cs_lapi_bouncer_pulls_total", Help: "Decision stream pulls per bouncer.",
		}, []string{"bouncer", "startup"}),
		allowlisted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cs_lapi_alerts_allowlisted_total", Help: "Alerts dropped because their source is allowlisted.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cs_lapi_decisions_refused_total", Help: "Decisions refused (allowlist, never_ban, prefix) and not stored.",
		}, []string{"reason"}),
		active: &activeCollector{ix: ix, desc: prometheus.NewDesc("cs_active_decisions",
			"Active (non-simulated) decisions per origin and action.", []string{"origin", "action"}, nil)},
	}
}

func (m *metrics) register(r prometheus.Registerer) error {
	var errs []error
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.machineReqs, m.bouncerReqs,
		m.liveOK, m.liveKO, m.pulls, m.allowlisted, m.refused, m.active} {
		errs = append(errs, r.Register(c))
	}
	return errors.Join(errs...)
}

func (m *metrics) observe(route, method string, code int, c *caller, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
	if c.machine != "" {
		m.machineReqs.WithLabelValues(route, method, c.machine).Inc()
	}
	if c.bouncer != "" {
		m.bouncerReqs.WithLabelValues(route, method, c.bouncer).Inc()
	}
}

func (m *metrics) pull(bouncer string, startup bool) {
	m.pulls.WithLabelValues(bouncer, strconv.FormatBool(startup)).Inc()
}

func (m *metrics) live(bouncer string, found bool) {
	if found {
		m.liveOK.WithLabelValues(bouncer).Inc()
	} else {
		m.liveKO.WithLabelValues(bouncer).Inc()
	}
}

// activeCollector reads the active decision counts from the index at
// scrape time.
type activeCollector struct {
	ix   *index
	desc *prometheus.Desc
}

func (a *activeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- a.desc }

func (a *activeCollector) Collect(ch chan<- prometheus.Metric) {
	for k, n := range a.ix.countsSnapshot() {
		ch <- prometheus.MustNewConstMetric(a.desc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}
