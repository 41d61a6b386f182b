// Package usagemetrics reports a component's usage metrics to its LAPI
// (POST /v1/usage-metrics) the way CrowdSec's components do: a log
// processor every 30 minutes, the first report as it starts; a bouncer
// every 15 minutes, the first after one interval. A report carries what
// the component says of itself (version, OS, start time, feature flags)
// and one metric window: what its counters added since the last report,
// with the window's length and end. The LAPI keeps the reports for the
// central's usage report (see internal/capi).
//
// A report that fails is logged and not sent again, as CrowdSec does:
// usage figures are statistics, and the next window carries on from where
// this one ended.
package usagemetrics

import (
	"bufio"
	"context"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// Sender sends one report; *apiclient.Client implements it.
type Sender interface {
	SendUsageMetrics(ctx context.Context, m *models.AllMetrics) error
}

// Schedule is when reports go: the first after First (0: at once), then
// every Interval.
type Schedule struct {
	First, Interval time.Duration
}

// CrowdSec's cadences.
var (
	// LogProcessor: at start, then every 30 min.
	LogProcessor = Schedule{First: 0, Interval: 30 * time.Minute}
	// Bouncer: every 15 min, the first after 15 min.
	Bouncer = Schedule{First: 15 * time.Minute, Interval: 15 * time.Minute}
)

// Build returns the report of the window of length window that ends at
// now (nil: nothing to send this time).
type Build func(now time.Time, window time.Duration) *models.AllMetrics

// sendTimeout bounds one report (CrowdSec's is 10 s). Longer here: a
// report sent at start may carry the component's first login, which its
// other calls wait for and share; cutting it short on a loaded LAPI (a
// slow bcrypt) wastes the login for all of them.
const sendTimeout = 30 * time.Second

// Run sends build's reports to s on sched until ctx ends. It returns
// when ctx ends; it never fails. now nil: time.Now.
func Run(ctx context.Context, s Sender, sched Schedule, build Build, now func() time.Time, log *slog.Logger) {
	if sched.Interval <= 0 {
		return
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wait := sched.First
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = sched.Interval
		m := build(now(), sched.Interval)
		if m == nil {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		err := s.SendUsageMetrics(sctx, m)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("usage metrics not sent", "err", textsafe.Log(err.Error()))
		default:
			log.Debug("usage metrics sent")
		}
	}
}

// Identity is what a component says of itself in every report.
type Identity struct {
	Version           string
	OSName, OSVersion string
	Startup           time.Time
	FeatureFlags      []string
}

// NewIdentity is the identity of a component of version started at
// startup on this host.
func NewIdentity(version string, startup time.Time) Identity {
	name, ver := DetectOS()
	return Identity{Version: version, OSName: name, OSVersion: ver, Startup: startup, FeatureFlags: []string{}}
}

// Base is the component's block with one metric window of items, of
// length window, ending at now.
func (id Identity) Base(now time.Time, window time.Duration, items []*models.MetricsDetailItem) models.BaseMetrics {
	v, osName, osVersion := id.Version, id.OSName, id.OSVersion
	start, end, size := id.Startup.UTC().Unix(), now.UTC().Unix(), int64(window/time.Second)
	if items == nil {
		items = []*models.MetricsDetailItem{}
	}
	flags := slices.Clone(id.FeatureFlags)
	if flags == nil {
		flags = []string{}
	}
	return models.BaseMetrics{Version: &v, Os: &models.OSversion{Name: &osName, Version: &osVersion},
		FeatureFlags: flags, UtcStartupTimestamp: &start,
		Metrics: []*models.DetailedMetrics{{Meta: &models.MetricsMeta{WindowSizeSeconds: &size, UtcNowTimestamp: &end}, Items: items}}}
}

// DetectOS names this host's OS from /etc/os-release (ID and VERSION_ID,
// as CrowdSec reports it), else Go's GOOS.
func DetectOS() (name, version string) {
	f, err := os.Open("/etc/os-release")
	if err != nil {
		return runtime.GOOS, "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			name = v
		case "VERSION_ID":
			version = v
		}
	}
	if name == "" {
		name = runtime.GOOS
	}
	if version == "" {
		version = "?"
	}
	return textsafe.Terminal(name), textsafe.Terminal(version)
}

// Counters turns cumulative counters into what each window added.
//
// Concurrency: not safe for concurrent use (one report loop owns it).
type Counters struct {
	last map[string]float64
}

// Item is the item for a counter (name, unit, labels) whose cumulative
// value is now v: what it added since the last call (all of v the first
// time, or after the counter went back to a lower value); nil when it
// added nothing.
func (c *Counters) Item(name, unit string, labels map[string]string, v float64) *models.MetricsDetailItem {
	if c.last == nil {
		c.last = map[string]float64{}
	}
	k := key(name, unit, labels)
	d := v
	if prev, ok := c.last[k]; ok && v >= prev {
		d = v - prev
	}
	c.last[k] = v
	return Gauge(name, unit, labels, d)
}

func key(name, unit string, labels map[string]string) string {
	ks := make([]string, 0, len(labels))
	for k := range labels {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte(0)
	b.WriteString(unit)
	for _, k := range ks {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
	}
	return b.String()
}

// Family maps the series of a Prometheus counter to report items.
type Family struct {
	// Metric is the Prometheus counter's name.
	Metric string
	// Name and Unit of the items ("read", "line").
	Name, Unit string
	// Labels: series label -> item label (labels not named are dropped).
	Labels map[string]string
	// Skip, when set, leaves out the series whose labels it accepts.
	Skip func(labels map[string]string) bool
}

// Gather reads the counters of fams from g and returns the items of what
// they added since the last call, in a stable order.
func (c *Counters) Gather(g prometheus.Gatherer, fams []Family) ([]*models.MetricsDetailItem, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	items := []*models.MetricsDetailItem{}
	for _, f := range fams {
		i := slices.IndexFunc(mfs, func(mf *dto.MetricFamily) bool { return mf.GetName() == f.Metric })
		if i < 0 {
			continue
		}
		for _, m := range mfs[i].GetMetric() {
			series := map[string]string{}
			for _, lp := range m.GetLabel() {
				series[lp.GetName()] = lp.GetValue()
			}
			if f.Skip != nil && f.Skip(series) {
				continue
			}
			labels := map[string]string{}
			for from, to := range f.Labels {
				if v, ok := series[from]; ok {
					labels[to] = v
				}
			}
			v := m.GetCounter().GetValue()
			if m.GetCounter() == nil && m.GetUntyped() != nil {
				v = m.GetUntyped().GetValue()
			}
			if it := c.Item(f.Name, f.Unit, labels, v); it != nil {
				items = append(items, it)
			}
		}
	}
	return items, nil
}

// Gauge is the item of a gauge (a figure reported as it is, such as the
// active decisions); nil when v is 0 or less.
func Gauge(name, unit string, labels map[string]string, v float64) *models.MetricsDetailItem {
	if v <= 0 {
		return nil
	}
	n, u := name, unit
	var ls models.MetricsLabels
	if len(labels) > 0 {
		ls = models.MetricsLabels{}
		for k, v := range labels {
			ls[k] = v
		}
	}
	return &models.MetricsDetailItem{Name: &n, Unit: &u, Value: &v, Labels: ls}
}
