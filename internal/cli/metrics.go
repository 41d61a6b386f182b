package cli

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"
)

// metrics: scrape the daemon's Prometheus endpoint and print it as tables,
// like `cscli metrics`. Metric names are CrowdSec's (inventory section 14).

// metricColumn is one column of a section: the sum of the metric families
// matching name, grouped by the section's key labels.
type metricColumn struct {
	title string
	name  *regexp.Regexp
}

// metricSection is one table.
type metricSection struct {
	name   string // for `metrics show NAME`
	title  string
	keys   []string // label names forming the row key
	keyHdr []string // their column titles
	cols   []metricColumn
	desc   string
}

func col(title, re string) metricColumn {
	return metricColumn{title: title, name: regexp.MustCompile("^(?:" + re + ")$")}
}

// metricSections is the fixed list of tables (built per call: no package state).
func metricSections() []metricSection {
	return []metricSection{
		{name: "acquisition", title: "Acquisition Metrics", keys: []string{"source"}, keyHdr: []string{"Source"},
			desc: "lines read, parsed and poured per datasource",
			cols: []metricColumn{
				col("Lines read", `cs_[a-z0-9_]*source_hits_total|cs_[a-z0-9_]*_stream_hits_total|cs_s3_hits_total|phalanx_acquire_[a-z0-9_]*_hits_total`),
				col("Lines parsed", `cs_parser_hits_ok_total`),
				col("Lines unparsed", `cs_parser_hits_ko_total`),
				col("Lines poured to bucket", `cs_bucket_poured_total`),
				col("Lines whitelisted", `cs_node_wl_hits_ok_total`),
			}},
		{name: "parsers", title: "Parser Metrics", keys: []string{"name"}, keyHdr: []string{"Parsers"},
			desc: "hits, successes and failures per parser node",
			cols: []metricColumn{
				col("Hits", `cs_node_hits_total`),
				col("Parsed", `cs_node_hits_ok_total`),
				col("Unparsed", `cs_node_hits_ko_total`),
			}},
		{name: "scenarios", title: "Scenario Metrics", keys: []string{"name"}, keyHdr: []string{"Scenario"},
			desc: "live buckets, pours and overflows per scenario",
			cols: []metricColumn{
				col("Current Count", `cs_buckets`),
				col("Overflows", `cs_bucket_overflowed_total`),
				col("Instantiated", `cs_bucket_instantiation_total`),
				col("Poured", `cs_bucket_poured_total`),
				col("Expired", `cs_bucket_underflowed_total`),
			}},
		{name: "lapi", title: "Local API Metrics", keys: []string{"route", "method"}, keyHdr: []string{"Route", "Method"},
			desc: "requests per route and method",
			cols: []metricColumn{col("Hits", `cs_lapi_route_requests_total`)}},
		{name: "lapi-machine", title: "Local API Machines Metrics", keys: []string{"machine", "route", "method"},
			keyHdr: []string{"Machine", "Route", "Method"}, desc: "requests per machine",
			cols: []metricColumn{col("Hits", `cs_lapi_machine_requests_total`)}},
		{name: "lapi-bouncer", title: "Local API Bouncers Metrics", keys: []string{"bouncer", "route", "method"},
			keyHdr: []string{"Bouncer", "Route", "Method"}, desc: "requests per bouncer",
			cols: []metricColumn{col("Hits", `cs_lapi_bouncer_requests_total`)}},
		{name: "lapi-decisions", title: "Local API Bouncers Decisions", keys: []string{"bouncer"}, keyHdr: []string{"Bouncer"},
			desc: "live-mode answers with and without decisions",
			cols: []metricColumn{col("Empty answers", `cs_lapi_decisions_ko_total`), col("Non-empty answers", `cs_lapi_decisions_ok_total`)}},
		{name: "decisions", title: "Local API Decisions", keys: []string{"reason", "origin", "action"},
			keyHdr: []string{"Reason", "Origin", "Action"}, desc: "active decisions",
			cols: []metricColumn{col("Count", `cs_active_decisions`)}},
		{name: "alerts", title: "Local API Alerts", keys: []string{"reason"}, keyHdr: []string{"Reason"},
			desc: "alerts per scenario", cols: []metricColumn{col("Count", `cs_alerts`)}},
	}
}

// sectionData is one section's rows: row key -> column title -> value.
type sectionData struct {
	section metricSection
	rows    map[string]map[string]float64
	keys    map[string][]string // row key -> label values
}

func familyValue(mf *dto.MetricFamily, m *dto.Metric) float64 {
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue()
	}
	return math.NaN()
}

// aggregate builds the sections from scraped families.
func aggregate(fams map[string]*dto.MetricFamily, sections []metricSection) []sectionData {
	names := make([]string, 0, len(fams))
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]sectionData, 0, len(sections))
	for _, s := range sections {
		sd := sectionData{section: s, rows: map[string]map[string]float64{}, keys: map[string][]string{}}
		for _, c := range s.cols {
			for _, n := range names {
				if !c.name.MatchString(n) {
					continue
				}
				mf := fams[n]
				for _, m := range mf.GetMetric() {
					v := familyValue(mf, m)
					if math.IsNaN(v) {
						continue
					}
					labels := map[string]string{}
					for _, lp := range m.GetLabel() {
						labels[lp.GetName()] = lp.GetValue()
					}
					kv := make([]string, len(s.keys))
					for i, k := range s.keys {
						kv[i] = labels[k]
					}
					if strings.Join(kv, "") == "" {
						continue // a total without the section's labels
					}
					rk := strings.Join(kv, "\x00")
					if sd.rows[rk] == nil {
						sd.rows[rk] = map[string]float64{}
						sd.keys[rk] = kv
					}
					sd.rows[rk][c.title] += v
				}
			}
		}
		out = append(out, sd)
	}
	return out
}

func fmtMetric(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func (sd sectionData) sortedKeys() []string {
	rks := make([]string, 0, len(sd.rows))
	for rk := range sd.rows {
		rks = append(rks, rk)
	}
	sort.Strings(rks)
	return rks
}

func printMetrics(w io.Writer, output string, data []sectionData) error {
	switch output {
	case "json":
		out := map[string]map[string]map[string]float64{}
		for _, sd := range data {
			m := map[string]map[string]float64{}
			for rk, cols := range sd.rows {
				m[strings.Join(sd.keys[rk], "/")] = cols
			}
			out[sd.section.name] = m
		}
		return writeJSON(w, out)
	case "raw":
		var rows [][]string
		for _, sd := range data {
			for _, rk := range sd.sortedKeys() {
				for _, c := range sd.section.cols {
					if v, ok := sd.rows[rk][c.title]; ok {
						rows = append(rows, []string{sd.section.name, strings.Join(sd.keys[rk], "/"), c.title, fmtMetric(v, true)})
					}
				}
			}
		}
		return writeCSV(w, []string{"section", "key", "metric", "value"}, rows)
	}
	for _, sd := range data {
		if len(sd.rows) == 0 {
			continue
		}
		t := &table{title: sd.section.title, header: append(slices.Clone(sd.section.keyHdr), titles(sd.section.cols)...)}
		for _, rk := range sd.sortedKeys() {
			row := slices.Clone(sd.keys[rk])
			for _, c := range sd.section.cols {
				v, ok := sd.rows[rk][c.title]
				row = append(row, fmtMetric(v, ok))
			}
			t.add(row...)
		}
		t.render(w)
		fmt.Fprintln(w)
	}
	return nil
}

func titles(cs []metricColumn) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.title
	}
	return out
}

// scrape fetches and parses the Prometheus text exposition at url.
func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: scrape %s: %w (is the daemon running with metrics enabled?)", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: scrape %s: HTTP %d", url, resp.StatusCode)
	}
	fams, err := parseExposition(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("metrics: parse %s: %w", url, err)
	}
	return fams, nil
}

// parseExposition parses the Prometheus text format.
func parseExposition(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

func newMetricsCmd(a *app) *cobra.Command {
	f := &localFlags{}
	var url string
	var noUnit bool
	show := func(cmd *cobra.Command, args []string) error {
		e, err := f.resolve()
		if err != nil {
			return err
		}
		all := metricSections()
		sections := all
		if len(args) > 0 {
			sections = nil
			for _, name := range args {
				i := slices.IndexFunc(all, func(s metricSection) bool { return s.name == name })
				if i < 0 {
					return &usageError{fmt.Errorf("metrics: unknown section %q (see 'phalanx metrics list')", name)}
				}
				sections = append(sections, all[i])
			}
		}
		if url == "" {
			url = e.MetricsURL
		}
		fams, err := scrape(cmd.Context(), url)
		if err != nil {
			return err
		}
		return printMetrics(a.out, e.Output, aggregate(fams, sections))
	}
	c := &cobra.Command{
		Use:   "metrics",
		Short: "Show the daemon's Prometheus metrics as tables",
		Example: `  phalanx metrics
  phalanx metrics show acquisition parsers
  phalanx metrics --url http://127.0.0.1:6060/metrics -o json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: show,
	}
	f.register(c)
	c.PersistentFlags().StringVarP(&url, "url", "u", "", "Prometheus URL of the daemon (default: /metrics on the LAPI listener, or metrics.listen_addr of -c)")
	c.PersistentFlags().BoolVar(&noUnit, "no-unit", false, "print numbers without units (numbers are always printed in full)")
	c.AddCommand(&cobra.Command{
		Use:   "show [SECTION...]",
		Short: "Show some sections (all by default)",
		RunE:  show,
	}, &cobra.Command{
		Use:   "list",
		Short: "List the sections",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := f.resolve()
			if err != nil {
				return err
			}
			secs := metricSections()
			if e.Output == "json" {
				out := make([]map[string]string, len(secs))
				for i, s := range secs {
					out[i] = map[string]string{"type": s.name, "title": s.title, "description": s.desc}
				}
				return writeJSON(a.out, out)
			}
			t := &table{header: []string{"Type", "Title", "Description"}}
			for _, s := range secs {
				t.add(s.name, s.title, s.desc)
			}
			t.render(a.out)
			return nil
		},
	})
	return c
}
