package httpbouncer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
)

// Outcome label values of phalanx_http_bouncer_requests_total.
const (
	OutcomeAllowed         = "allowed"
	OutcomeBanned          = "banned"
	OutcomeChallenged      = "challenged"
	OutcomeChallengeSolved = "challenge_solved"
	OutcomeChallengeFailed = "challenge_failed"
	OutcomePassed          = "passed"
)

// Metric names.
const (
	MetricRequests  = "phalanx_http_bouncer_requests_total"
	MetricDecisions = "phalanx_http_bouncer_active_decisions"
)

// sizer is the optional interface of a DecisionSource that knows how many
// decisions it holds (SetSource does).
type sizer interface{ Len() int }

// metrics exposes the middleware's atomic counters at scrape time: the
// request path pays one atomic add, never a label lookup.
type metrics struct {
	b         *Bouncer
	requests  *prometheus.Desc
	decisions *prometheus.Desc
}

func newMetrics(b *Bouncer) *metrics {
	return &metrics{
		b: b,
		requests: prometheus.NewDesc(MetricRequests,
			"Requests seen by the HTTP bouncer, by outcome (allowed, banned, challenged, challenge_solved, challenge_failed, passed: a captcha decision with a valid pass).",
			[]string{"outcome"}, nil),
		decisions: prometheus.NewDesc(MetricDecisions, "Active decisions (addresses and ranges) the HTTP bouncer enforces.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.requests
	if _, ok := m.b.src.(sizer); ok {
		ch <- m.decisions
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	st := m.b.Stats()
	for _, o := range []struct {
		name string
		v    uint64
	}{
		{OutcomeAllowed, st.Allowed}, {OutcomeBanned, st.Banned}, {OutcomeChallenged, st.Challenged},
		{OutcomeChallengeSolved, st.Solved}, {OutcomeChallengeFailed, st.Failed}, {OutcomePassed, st.Passed},
	} {
		ch <- prometheus.MustNewConstMetric(m.requests, prometheus.CounterValue, float64(o.v), o.name)
	}
	if s, ok := m.b.src.(sizer); ok {
		ch <- prometheus.MustNewConstMetric(m.decisions, prometheus.GaugeValue, float64(s.Len()))
	}
}

// streamMetrics exposes a decision stream's pull statistics.
type streamMetrics struct {
	s                     *bouncer.Stream
	pulls, fails, lastRun *prometheus.Desc
}

func newStreamMetrics(s *bouncer.Stream) *streamMetrics {
	return &streamMetrics{
		s:       s,
		pulls:   prometheus.NewDesc("phalanx_http_bouncer_lapi_pulls_total", "Decision stream pulls from the LAPI.", nil, nil),
		fails:   prometheus.NewDesc("phalanx_http_bouncer_lapi_pull_failures_total", "Failed decision stream pulls.", nil, nil),
		lastRun: prometheus.NewDesc("phalanx_http_bouncer_lapi_last_success_timestamp_seconds", "Time of the last successful pull (0: none yet).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *streamMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.pulls
	ch <- m.fails
	ch <- m.lastRun
}

// Collect implements prometheus.Collector.
func (m *streamMetrics) Collect(ch chan<- prometheus.Metric) {
	st := m.s.Stats()
	ch <- prometheus.MustNewConstMetric(m.pulls, prometheus.CounterValue, float64(st.Pulls))
	ch <- prometheus.MustNewConstMetric(m.fails, prometheus.CounterValue, float64(st.Failures))
	last := 0.0
	if !st.LastSuccess.IsZero() {
		last = float64(st.LastSuccess.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(m.lastRun, prometheus.GaugeValue, last)
}
