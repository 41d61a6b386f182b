package app

import (
	"fmt"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/parse"
	"github.com/phalanx-ids/phalanx/internal/scenario"
)

// TestPipelineCollectorSeries: a node's or a scenario's series exist once
// it counted something (as CrowdSec's counter vectors); the global parser
// counters always do.
func TestPipelineCollectorSeries(t *testing.T) {
	t.Parallel()
	type series = string // family{label}
	cases := []struct {
		name    string
		nodes   []parse.NodeStats
		scens   map[string]scenario.ScenarioStats
		want    []series
		wantNot []series
	}{
		{
			name: "nothing counted",
			nodes: []parse.NodeStats{
				{Stage: "s01-parse", Name: "a/nginx-logs"},
			},
			scens: map[string]scenario.ScenarioStats{"a/ssh-bf": {}},
			want:  []series{"cs_parser_hits_total", "cs_parser_hits_ok_total", "cs_parser_hits_ko_total"},
			wantNot: []series{`cs_node_hits_total{a/nginx-logs}`, `cs_node_hits_ko_total{a/nginx-logs}`,
				`cs_bucket_poured_total{a/ssh-bf}`, `cs_bucket_canceled_total{a/ssh-bf}`},
		},
		{
			name: "a node that only failed",
			nodes: []parse.NodeStats{
				{Stage: "s01-parse", Name: "a/nginx-logs", Hits: 3, KO: 3},
				{Stage: "s01-parse", Name: "a/sshd-logs"},
			},
			want: []series{`cs_node_hits_total{a/nginx-logs}`, `cs_node_hits_ok_total{a/nginx-logs}`,
				`cs_node_hits_ko_total{a/nginx-logs}`},
			wantNot: []series{`cs_node_hits_total{a/sshd-logs}`},
		},
		{
			name: "a scenario with live buckets only",
			scens: map[string]scenario.ScenarioStats{
				"a/http-probing": {Live: 2},
				"a/ssh-bf":       {},
			},
			want: []series{`cs_bucket_poured_total{a/http-probing}`, `cs_bucket_overflowed_total{a/http-probing}`,
				`cs_bucket_canceled_total{a/http-probing}`},
			wantNot: []series{`cs_bucket_poured_total{a/ssh-bf}`},
		},
		{
			name: "a scenario that poured",
			scens: map[string]scenario.ScenarioStats{
				"a/http-probing": {Poured: 10, Instantiated: 1},
			},
			want: []series{`cs_bucket_poured_total{a/http-probing}`, `cs_bucket_instantiation_total{a/http-probing}`,
				`cs_bucket_underflowed_total{a/http-probing}`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newPipelineCollector()
			for _, n := range tc.nodes {
				c.nodes[[2]string{n.Stage, n.Name}] = n
			}
			for k, v := range tc.scens {
				c.scens[k] = v
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(c)
			fams, err := reg.Gather()
			require.NoError(t, err)
			var got []series
			for _, f := range fams {
				for _, m := range f.GetMetric() {
					s := f.GetName()
					if len(m.GetLabel()) > 0 {
						s += "{" + m.GetLabel()[0].GetValue() + "}"
					}
					got = append(got, s)
				}
			}
			for _, w := range tc.want {
				require.Contains(t, got, w)
			}
			for _, w := range tc.wantNot {
				require.NotContains(t, got, w)
			}
		})
	}
}

// BenchmarkScrapePipeline is one scrape of the pipeline counters of
// bench/live's nginx content (60 scenarios, 12 of them poured into; 22
// parser nodes, 8 of them hit), gathered and written as text: what every
// /metrics request costs the daemon on top of the runtime's own metrics.
func BenchmarkScrapePipeline(b *testing.B) {
	c := newPipelineCollector()
	for i := range 22 {
		n := parse.NodeStats{Stage: "s01-parse", Name: fmt.Sprintf("hub/node-%02d", i)}
		if i < 8 {
			n.Hits, n.OK = 1000000, 999000
		}
		c.nodes[[2]string{n.Stage, n.Name}] = n
	}
	for i := range 60 {
		s := scenario.ScenarioStats{}
		if i < 12 {
			s.Poured, s.Instantiated, s.Overflowed = 500000, 40000, 70
		}
		c.scens[fmt.Sprintf("hub/scenario-%02d", i)] = s
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	b.ReportAllocs()
	for b.Loop() {
		fams, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range fams {
			if _, err := expfmt.MetricFamilyToText(io.Discard, f); err != nil {
				b.Fatal(err)
			}
		}
	}
}
