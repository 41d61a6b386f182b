package cli

import (
	"strings"
	"testing"
)

// FuzzParseImport feeds untrusted `decisions import` input in every format:
// parseImport must not panic, and what it accepts must be complete.
func FuzzParseImport(f *testing.F) {
	for _, s := range []string{
		"value,duration,type,scope,reason\n1.2.3.4,1h,ban,ip,x\n",
		"value\n10.0.0.0/8\n",
		`[{"value":"1.2.3.4","duration":"1d"},{"value":"FR","scope":"country"}]`,
		"1.2.3.4\n::1\n",
		"\ufeffvalue,scope\n\"a,b\",as\n",
	} {
		for _, format := range []string{"csv", "json", "values"} {
			f.Add(format, s)
		}
	}
	def := importDefaults{duration: "4h", scope: "ip", typ: "ban", reason: "manual", origin: "cscli-import"}
	f.Fuzz(func(t *testing.T, format, in string) {
		recs, err := parseImport(strings.NewReader(in), format, def)
		if err != nil {
			return
		}
		if len(recs) == 0 {
			t.Fatal("no error and no decisions")
		}
		for _, r := range recs {
			if r.Value == "" || r.Duration == "" || r.Type == "" || r.Scope == "" || r.Reason == "" || r.Origin == "" {
				t.Fatalf("incomplete decision %+v", r)
			}
		}
	})
}

// FuzzMetricsParse feeds arbitrary exposition text to the aggregation.
func FuzzMetricsParse(f *testing.F) {
	f.Add("# TYPE cs_buckets gauge\ncs_buckets{name=\"a\"} 1\n")
	f.Add("cs_lapi_route_requests_total{route=\"/v1/alerts\",method=\"GET\",code=\"200\"} 3\n")
	f.Fuzz(func(t *testing.T, in string) {
		fams, err := parseExposition(strings.NewReader(in))
		if err != nil {
			return
		}
		var b strings.Builder
		for _, o := range []string{"human", "json", "raw"} {
			if err := printMetrics(&b, o, aggregate(fams, metricSections())); err != nil {
				t.Fatal(err)
			}
		}
	})
}
