package grok

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkHubPattern measures, one sub-benchmark per pattern, the hub
// groks a replay of the genlogs corpora runs on every line, each on the
// input the parser gives it: nginx-logs' groks on the nginx lines (the
// access grok matches them, the others are tried on none of them but are
// measured on them too), http-logs' groks on the access grok's request,
// syslog's SYSLOGLINE on sshd lines and sshd-logs' groks on their message
// (tried in order until one matches, as the node list does).
//
//	go test ./internal/grok/ -run '^$' -bench HubPattern
func BenchmarkHubPattern(b *testing.B) {
	nginxLib, nginxGroks := parserGroks(b, "s01-parse/crowdsecurity/nginx-logs.yaml")
	httpLib, httpGroks := parserGroks(b, "s02-enrich/crowdsecurity/http-logs.yaml")
	nginx := benchLines(b, "bench_nginx.log")
	access := nginxLib.MustCompile(nginxGroks[0])
	var requests []string
	for _, l := range nginx {
		m := map[string]string{}
		require.True(b, access.MatchInto(l, m), l)
		requests = append(requests, m["request"])
	}
	run := func(b *testing.B, p *Pattern, lines []string) {
		dst := make(map[string]string, 32)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p.MatchInto(lines[i%len(lines)], dst)
		}
	}
	for i, g := range nginxGroks {
		p := nginxLib.MustCompile(g)
		b.Run(fmt.Sprintf("nginx-logs/%d", i), func(b *testing.B) { run(b, p, nginx) })
	}
	for i, g := range httpGroks {
		p := httpLib.MustCompile(g)
		b.Run(fmt.Sprintf("http-logs/%d", i), func(b *testing.B) { run(b, p, requests) })
	}
	sshd := benchLines(b, "bench_sshd.log")
	syslog := hubLibrary(b).MustCompile(`^%{SYSLOGLINE}`)
	b.Run("syslog-logs/SYSLOGLINE", func(b *testing.B) { run(b, syslog, sshd) })
	sshdLib, sshdGroks := parserGroks(b, "s01-parse/crowdsecurity/sshd-logs.yaml")
	msgs := sshdMessages(b, sshd)
	ps := make([]*Pattern, 0, len(sshdGroks))
	for _, g := range sshdGroks {
		ps = append(ps, sshdLib.MustCompile(g))
	}
	b.Run("sshd-logs/in-order", func(b *testing.B) {
		dst := make(map[string]string, 32)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			for _, p := range ps {
				if p.MatchInto(msgs[i%len(msgs)], dst) {
					break
				}
			}
		}
	})
}
