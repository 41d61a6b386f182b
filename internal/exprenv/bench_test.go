package exprenv

import (
	"testing"

	"github.com/expr-lang/expr"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

func BenchmarkHelpers(b *testing.B) {
	s := dataStore(b)
	e := New(Deps{Data: s})
	evt := event.New(event.Line{Raw: winEvent})
	evt.Parsed["json"] = `{"req":{"uri":"/wp-login.php","ua":"curl/8"}}`
	evt.Meta["source_ip"] = "10.1.2.3"
	for _, c := range []struct{ name, src string }{
		{"Lower+in", `Lower(evt.Parsed.json) contains "wp-login"`},
		{"IpInRange", `IpInRange(evt.Meta.source_ip, "10.0.0.0/8")`},
		{"Match", `Match("*cmd.exe /c*", evt.Line.Raw)`},
		{"JsonExtract", `JsonExtract(evt.Parsed.json, "req.uri")`},
		{"RegexpInFile", `RegexpInFile(JsonExtract(evt.Parsed.json, "req.ua"), "bad_user_agents.regex.txt")`},
		{"XMLGetNodeValue", `XMLGetNodeValue(evt.Line.Raw, "/Event/System[1]/EventID")`},
	} {
		env := map[string]any{"evt": evt}
		prog, err := e.Compile(c.src, env)
		require.NoError(b, err)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := expr.Run(prog, env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFilter runs the hub's data-file filters on a benign request,
// plain (every entry tried) and fast (patched / prefiltered), same run.
func BenchmarkFilter(b *testing.B) {
	s, _ := hubDataStore(b)
	r := httpReq{
		path:    "/products/397?ref=home&page=2",
		ua:      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
		referer: "https://www.example.com/", status: "404", rdns: "host-1-2-3-4.isp.example.net",
	}
	cases := []struct{ name, src string }{
		{"RegexpInFile_bad_user_agents", `RegexpInFile(evt.Parsed.http_user_agent, "bad_user_agents.regex.txt")`},
		{"admin_interfaces", `any(File("admin_interfaces.txt"), { Lower(evt.Meta.http_path) contains #})`},
		{"backdoors", `any(File("backdoors.txt"), { evt.Parsed.file_name == #})`},
		{"path_traversal", `any(File('http_path_traversal.txt'),{evt.Meta.http_path contains #})`},
		{"sensitive_data", `any(File("sensitive_data.txt"), { evt.Parsed.request endsWith #})`},
		{"sqli_probe", `any(File('sqli_probe_patterns.txt'), {Upper(evt.Parsed.http_args) contains Upper(#)})`},
		{"xss_probe", `any(File('xss_probe_patterns.txt'), {Upper(evt.Parsed.http_args) contains Upper(#)})`},
		{"trendy_cves", `any(File("trendy_cves_uris.json"), { evt.Meta.http_path contains JsonExtract(#, "uri") ? evt.SetMeta("cve", JsonExtract(#, "cve")) : false })`},
		{"log4j_ua", `any(File("log4j2_cve_2021_44228.txt"), { Upper(evt.Parsed.http_user_agent) contains Upper(#)})`},
		{"seo_rdns", `any(File('rdns_seo_bots.txt'), { len(#) > 0 && evt.Enriched.reverse_dns endsWith #})`},
		{"LookupFile_technology", `LookupFile(evt.Meta.http_path, "technology_probing.json")`},
	}
	for _, c := range cases {
		for _, mode := range []struct {
			name  string
			plain bool
		}{{"plain", true}, {"fast", false}} {
			e := New(Deps{Data: s, PlainFilters: mode.plain})
			prog, err := e.Compile(c.src, evtEnv{})
			require.NoError(b, err)
			env := evtEnv{Evt: r.newEvent()}
			b.Run(c.name+"/"+mode.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := expr.Run(prog, env); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
