package grok

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkHubPattern measures, one sub-benchmark per pattern, the hub
// groks a replay of the genlogs corpora runs on every line, each on the
// input the parser gives it: nginx-logs' groks on the nginx lines (the
// access grok matches them, the others are tried on none of them but are
// measured on them too), http-logs' groks on the access grok's request,
// syslog's SYSLOGLINE on sshd lines and sshd-logs' groks on their message
// (tried in order until one matches, as the node list does). Each runs on
// the backtracker alone (the baseline of the same run), on the two-pass
// engine ("live") and on the production path ("chosen": the engine the
// pattern picks after sampling its first lines, choice.go).
//
// Besides ns/op (wall clock), each reports cpu-ns/op: the CPU time of the
// benchmark's thread per line, which the other processes of a shared
// machine move much less.
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
		for _, l := range lines { // warm up: the two-pass DFA grows lazily, the choice samples
			p.MatchInto(l, dst)
		}
		b.ReportAllocs()
		cpu := startCPU()
		for i := 0; b.Loop(); i++ {
			p.MatchInto(lines[i%len(lines)], dst)
		}
		cpu.report(b)
	}
	engines := []string{"backtrack", "live", "lookahead", "chosen"}
	for i, g := range nginxGroks {
		p := nginxLib.MustCompile(g)
		for _, e := range engines {
			b.Run(fmt.Sprintf("nginx-logs/%d/%s", i, e), func(b *testing.B) { run(b, withEngine(p, e), nginx) })
		}
	}
	for i, g := range httpGroks {
		p := httpLib.MustCompile(g)
		for _, e := range engines {
			b.Run(fmt.Sprintf("http-logs/%d/%s", i, e), func(b *testing.B) { run(b, withEngine(p, e), requests) })
		}
	}
	sshd := benchLines(b, "bench_sshd.log")
	syslog := hubLibrary(b).MustCompile(`^%{SYSLOGLINE}`)
	for _, e := range engines {
		b.Run("syslog-logs/SYSLOGLINE/"+e, func(b *testing.B) { run(b, withEngine(syslog, e), sshd) })
	}
	sshdLib, sshdGroks := parserGroks(b, "s01-parse/crowdsecurity/sshd-logs.yaml")
	msgs := sshdMessages(b, sshd)
	ps := make([]*Pattern, 0, len(sshdGroks))
	for _, g := range sshdGroks {
		ps = append(ps, sshdLib.MustCompile(g))
	}
	for _, e := range engines {
		eps := make([]*Pattern, len(ps))
		for i, p := range ps {
			eps[i] = withEngine(p, e)
		}
		b.Run("sshd-logs/in-order/"+e, func(b *testing.B) {
			dst := make(map[string]string, 32)
			for _, m := range msgs {
				for _, p := range eps {
					if p.MatchInto(m, dst) {
						break
					}
				}
			}
			b.ReportAllocs()
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				for _, p := range eps {
					if p.MatchInto(msgs[i%len(msgs)], dst) {
						break
					}
				}
			}
			cpu.report(b)
		})
	}
}

// cpuClock measures the CPU time of a benchmark loop on its locked thread.
type cpuClock struct {
	start time.Duration
	ok    bool
}

// startCPU locks the goroutine to its thread and starts the clock; report
// stops both.
func startCPU() cpuClock {
	runtime.LockOSThread()
	t, ok := threadCPU()
	return cpuClock{start: t, ok: ok}
}

// report adds the cpu-ns/op metric and unlocks the thread.
func (c cpuClock) report(b *testing.B) {
	t, ok := threadCPU()
	runtime.UnlockOSThread()
	if c.ok && ok && b.N > 0 {
		b.ReportMetric(float64(t-c.start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkHubMatchEach measures the two groks every replayed line of the
// bench corpora runs, called as the parser calls them: MatchEach writing
// each capture by index (no map), on the engine the pattern chooses. Under
// cachegrind (`go test -c`, then valgrind --tool=cachegrind on the test
// binary with -test.bench HubMatchEach -test.benchtime 30000x) its
// instruction count is a figure the machine's load does not move.
//
//	go test ./internal/grok/ -run '^$' -bench HubMatchEach
func BenchmarkHubMatchEach(b *testing.B) {
	nginxLib, nginxGroks := parserGroks(b, "s01-parse/crowdsecurity/nginx-logs.yaml")
	cases := []struct {
		name  string
		p     *Pattern
		lines []string
	}{
		{"syslog-logs/SYSLOGLINE", hubLibrary(b).MustCompile(`^%{SYSLOGLINE}`), benchLines(b, "bench_sshd.log")},
		{"nginx-logs/access", nginxLib.MustCompile(nginxGroks[0]), benchLines(b, "bench_nginx.log")},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			vals := make([]string, len(tc.p.Names()))
			set := func(i int, v string) { vals[i] = v }
			for _, l := range tc.lines { // warm up: the engine choice samples
				require.True(b, tc.p.MatchEach(l, set), l)
			}
			b.ReportAllocs()
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				tc.p.MatchEach(tc.lines[i%len(tc.lines)], set)
			}
			cpu.report(b)
		})
	}
}
