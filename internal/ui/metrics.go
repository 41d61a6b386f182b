package ui

import (
	"math"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// sampler keeps the last n samples of each metric family of the daemon's
// own (cs_*, phalanx_*), summed over labels.
//
// Concurrency: guarded by UI.samplesMu.
type sampler struct {
	n      int
	at     []time.Time
	series map[string][]float64
	kind   map[string]string
}

func newSampler(n int) *sampler {
	return &sampler{n: n, series: map[string][]float64{}, kind: map[string]string{}}
}

// maxFamilies bounds the families sampled.
const maxFamilies = 128

func ours(name string) bool {
	return strings.HasPrefix(name, "cs_") || strings.HasPrefix(name, "phalanx_")
}

func (u *UI) sample() {
	fams, err := u.gather.Gather()
	if err != nil {
		u.log.Debug("ui: gather metrics", "err", err)
	}
	u.samplesMu.Lock()
	defer u.samplesMu.Unlock()
	s := u.samples
	s.at = append(s.at, u.now())
	if len(s.at) > s.n {
		s.at = s.at[1:]
	}
	for _, f := range fams {
		name := f.GetName()
		if !ours(name) {
			continue
		}
		if _, ok := s.series[name]; !ok && len(s.series) >= maxFamilies {
			continue
		}
		var sum float64
		for _, m := range f.GetMetric() {
			sum += value(f.GetType(), m)
		}
		v := append(s.series[name], sum)
		if len(v) > s.n {
			v = v[1:]
		}
		s.series[name] = v
		s.kind[name] = f.GetType().String()
	}
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	case dto.MetricType_SUMMARY:
		return float64(m.GetSummary().GetSampleCount())
	}
	return 0
}

// plots returns a line per sampled family: counters as the increase per
// sample, gauges as their value.
func (u *UI) plots() []Line {
	u.samplesMu.Lock()
	defer u.samplesMu.Unlock()
	names := make([]string, 0, len(u.samples.series))
	for n := range u.samples.series {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Line, 0, len(names))
	for _, n := range names {
		vals, kind := u.samples.series[n], u.samples.kind[n]
		if kind == "COUNTER" || kind == "HISTOGRAM" || kind == "SUMMARY" {
			d := make([]float64, 0, len(vals))
			for i := 1; i < len(vals); i++ {
				d = append(d, math.Max(0, vals[i]-vals[i-1]))
			}
			out = append(out, line(n, "increase per sample", d))
			continue
		}
		out = append(out, line(n, "value", vals))
	}
	return out
}

// MetricRow is one labelled value of the metrics page's table.
type MetricRow struct {
	Name, Labels string
	Value        float64
}

// current returns the daemon's own metrics now, at most maxRows rows.
func (u *UI) current(maxRows int) []MetricRow {
	if u.gather == nil {
		return nil
	}
	fams, _ := u.gather.Gather()
	var out []MetricRow
	for _, f := range fams {
		if !ours(f.GetName()) {
			continue
		}
		for _, m := range f.GetMetric() {
			if len(out) >= maxRows {
				return out
			}
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			out = append(out, MetricRow{Name: f.GetName(), Labels: strings.Join(ls, ", "), Value: value(f.GetType(), m)})
		}
	}
	return out
}

// SourceLines is the lines read from one acquisition source.
type SourceLines struct {
	Source, Type string
	Lines        float64
}

// Acquisition is the overview's acquisition block.
type Acquisition struct {
	Sources          []SourceLines
	Parsed, Unparsed float64
	Known            bool
}

// acquisition reads the datasources' line counters (every family with
// labels source and datasource_type) and the parsers' ok/ko totals.
func (u *UI) acquisition() Acquisition {
	var a Acquisition
	if u.gather == nil {
		return a
	}
	fams, _ := u.gather.Gather()
	for _, f := range fams {
		switch f.GetName() {
		case "cs_parser_hits_ok_total":
			for _, m := range f.GetMetric() {
				a.Parsed += value(f.GetType(), m)
			}
			a.Known = true
			continue
		case "cs_parser_hits_ko_total":
			for _, m := range f.GetMetric() {
				a.Unparsed += value(f.GetType(), m)
			}
			continue
		}
		for _, m := range f.GetMetric() {
			var src, typ string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "source":
					src = l.GetValue()
				case "datasource_type":
					typ = l.GetValue()
				}
			}
			if src != "" && typ != "" && strings.HasSuffix(f.GetName(), "_hits_total") {
				a.Sources = append(a.Sources, SourceLines{Source: src, Type: typ, Lines: value(f.GetType(), m)})
				a.Known = true
			}
		}
	}
	sort.Slice(a.Sources, func(i, j int) bool { return a.Sources[i].Source < a.Sources[j].Source })
	return a
}
