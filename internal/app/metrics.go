package app

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-ids/phalanx/internal/parse"
	"github.com/phalanx-ids/phalanx/internal/scenario"
)

// pipelineCollector exposes the detection counters with CrowdSec's names.
// Counters survive reloads: a finished pipeline's final counts are added
// to a base, and the running pipeline's are read at scrape time.
//
// Concurrency: safe for concurrent use (Collect runs on scrape goroutines,
// absorb and setCurrent on the App's pipeline goroutine, countAlert on the
// detect goroutine).
type pipelineCollector struct {
	mu        sync.Mutex
	cur       *pipeline
	parsed    uint64
	unparsed  uint64
	nodes     map[[2]string]parse.NodeStats
	scens     map[string]scenario.ScenarioStats
	liveOvfl  map[string]int64 // alerts of the running pipeline, by scenario
	lines     int64
	curLines0 int64

	parserOK, parserKO, parserHits *prometheus.Desc
	nodeHits, nodeOK, nodeKO       *prometheus.Desc
	poured, overflowed, underflow  *prometheus.Desc
	canceled, instantiated         *prometheus.Desc
	buckets, lineCount             *prometheus.Desc
}

func newPipelineCollector() *pipelineCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &pipelineCollector{
		nodes:        map[[2]string]parse.NodeStats{},
		scens:        map[string]scenario.ScenarioStats{},
		liveOvfl:     map[string]int64{},
		parserHits:   d("cs_parser_hits_total", "Lines handed to the parsers."),
		parserOK:     d("cs_parser_hits_ok_total", "Lines that went through every parser stage."),
		parserKO:     d("cs_parser_hits_ko_total", "Lines no parser took."),
		nodeHits:     d("cs_node_hits_total", "Lines handed to a parser node.", "name", "stage"),
		nodeOK:       d("cs_node_hits_ok_total", "Lines a parser node parsed.", "name", "stage"),
		nodeKO:       d("cs_node_hits_ko_total", "Lines a parser node did not parse.", "name", "stage"),
		poured:       d("cs_bucket_poured_total", "Events poured into the buckets of a scenario.", "name"),
		overflowed:   d("cs_bucket_overflowed_total", "Overflows of a scenario's buckets.", "name"),
		underflow:    d("cs_bucket_underflowed_total", "Buckets of a scenario that expired without overflowing.", "name"),
		canceled:     d("cs_bucket_canceled_total", "Buckets of a scenario killed by cancel_on.", "name"),
		instantiated: d("cs_bucket_instantiation_total", "Buckets created for a scenario.", "name"),
		buckets:      d("cs_buckets", "Buckets alive now.", "name"),
		lineCount:    d("phalanx_pipeline_lines_total", "Lines read by the detection pipeline."),
	}
}

// Describe sends nothing: the collector is unchecked (its label values
// depend on the content loaded).
func (c *pipelineCollector) Describe(chan<- *prometheus.Desc) {}

func (c *pipelineCollector) setCurrent(p *pipeline) {
	c.mu.Lock()
	c.cur = p
	c.liveOvfl = map[string]int64{}
	c.mu.Unlock()
}

func (c *pipelineCollector) countAlert(scenario string) {
	c.mu.Lock()
	c.liveOvfl[scenario]++
	c.mu.Unlock()
}

// absorb adds a finished pipeline's final counters to the base.
func (c *pipelineCollector) absorb(p *pipeline) {
	ps := p.rt.Parsers.Stats()
	es, _ := p.scenarioStats()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.parsed += ps.Parsed
	c.unparsed += ps.Unparsed
	for _, n := range ps.Nodes {
		k := [2]string{n.Stage, n.Name}
		b := c.nodes[k]
		b.Stage, b.Name = n.Stage, n.Name
		b.Hits += n.Hits
		b.OK += n.OK
		b.KO += n.KO
		c.nodes[k] = b
	}
	for name, s := range es.Scenarios {
		b := c.scens[name]
		b.Poured += s.Poured
		b.Overflowed += max(s.Overflowed, c.liveOvfl[name])
		b.Underflowed += s.Underflowed
		b.Canceled += s.Canceled
		b.Instantiated += s.Instantiated
		c.scens[name] = b
	}
	c.lines += p.linesRead()
	if c.cur == p {
		c.cur = nil
		c.liveOvfl = map[string]int64{}
	}
}

func (c *pipelineCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	parsed, unparsed, lines := c.parsed, c.unparsed, c.lines
	nodes := make(map[[2]string]parse.NodeStats, len(c.nodes))
	for k, v := range c.nodes {
		nodes[k] = v
	}
	scens := make(map[string]scenario.ScenarioStats, len(c.scens))
	for k, v := range c.scens {
		scens[k] = v
	}
	live := map[string]bool{}
	if p := c.cur; p != nil {
		ps := p.rt.Parsers.Stats()
		parsed += ps.Parsed
		unparsed += ps.Unparsed
		for _, n := range ps.Nodes {
			k := [2]string{n.Stage, n.Name}
			b := nodes[k]
			b.Stage, b.Name = n.Stage, n.Name
			b.Hits += n.Hits
			b.OK += n.OK
			b.KO += n.KO
			nodes[k] = b
		}
		lines += p.linesRead()
		if es, _ := p.scenarioStats(); es.Scenarios != nil {
			for name, s := range es.Scenarios {
				b := scens[name]
				b.Poured += s.Poured
				b.Overflowed += s.Overflowed
				b.Underflowed += s.Underflowed
				b.Canceled += s.Canceled
				b.Instantiated += s.Instantiated
				b.Live = s.Live
				scens[name] = b
				live[name] = true
			}
		} else if p.rt.Scenarios != nil {
			for _, name := range p.rt.Scenarios.Names() {
				b := scens[name]
				b.Overflowed += c.liveOvfl[name]
				scens[name] = b
			}
		}
	}
	c.mu.Unlock()

	cnt := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	cnt(c.parserHits, float64(parsed+unparsed))
	cnt(c.parserOK, float64(parsed))
	cnt(c.parserKO, float64(unparsed))
	cnt(c.lineCount, float64(lines))
	// As CrowdSec's counter vectors: a node's or a scenario's series
	// exist once it counted something. The content loads tens of scenarios
	// and nodes that a host's logs never reach, and their zeros were most
	// of a scrape (two thirds of the series on bench/live's nginx burst,
	// and as much of the allocations a scrape costs the daemon).
	for _, n := range nodes {
		if n.Hits == 0 && n.OK == 0 && n.KO == 0 {
			continue
		}
		cnt(c.nodeHits, float64(n.Hits), n.Name, n.Stage)
		cnt(c.nodeOK, float64(n.OK), n.Name, n.Stage)
		cnt(c.nodeKO, float64(n.KO), n.Name, n.Stage)
	}
	for name, s := range scens {
		if s == (scenario.ScenarioStats{}) {
			continue
		}
		cnt(c.poured, float64(s.Poured), name)
		cnt(c.overflowed, float64(s.Overflowed), name)
		cnt(c.underflow, float64(s.Underflowed), name)
		cnt(c.canceled, float64(s.Canceled), name)
		cnt(c.instantiated, float64(s.Instantiated), name)
		if live[name] {
			ch <- prometheus.MustNewConstMetric(c.buckets, prometheus.GaugeValue, float64(s.Live), name)
		}
	}
}

// latencyMetrics are where a live line's time goes on its way to an alert
// (the agent's phalanx_agent_alert_delivery_seconds is the last leg).
//
// Concurrency: prometheus histograms, safe for concurrent use.
type latencyMetrics struct {
	// lineWait: from a batch's first line being read by its source to the
	// batch being poured into the scenarios (queues and parsing).
	lineWait prometheus.Histogram
	// alertWait: from an overflow to its alerts being handed to the agent
	// (the overflow queue, postoverflows, alert context).
	alertWait prometheus.Histogram
}

// latencyBuckets span a millisecond to a minute.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newLatencyMetrics(reg prometheus.Registerer) *latencyMetrics {
	m := &latencyMetrics{
		lineWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "phalanx_pipeline_line_wait_seconds",
			Help:    "Time from a batch's first line being read to the batch being poured into the scenarios.",
			Buckets: latencyBuckets}),
		alertWait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "phalanx_pipeline_alert_wait_seconds",
			Help:    "Time from an overflow to its alerts being handed to the agent.",
			Buckets: latencyBuckets}),
	}
	reg.MustRegister(m.lineWait, m.alertWait)
	return m
}

// poured observes a poured batch whose first line was read at read.
func (m *latencyMetrics) poured(read time.Time) {
	if !read.IsZero() {
		m.lineWait.Observe(time.Since(read).Seconds())
	}
}

// alerted observes an overflow (at its time, RFC 3339) handed to the agent.
func (m *latencyMetrics) alerted(at string) {
	if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
		m.alertWait.Observe(time.Since(t).Seconds())
	}
}
