package grok

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// benchLines returns 300 genlogs lines ("bench_nginx.log" or
// "bench_sshd.log"), generated at test time by shared/bench/genlogs.
func benchLines(b testing.TB, name string) []string {
	b.Helper()
	kind := "nginx"
	if strings.Contains(name, "sshd") {
		kind = "sshd"
	}
	path, _ := testutil.GenLogs(b, kind, 20000, 1)
	raw, err := os.ReadFile(path)
	require.NoError(b, err)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	return lines[:300]
}

// parserGroks loads one hub parser file and returns its library and groks.
func parserGroks(b testing.TB, rel string) (*Library, []string) {
	b.Helper()
	lib := hubLibrary(b)
	syntaxes, groks := hubGroks(b, filepath.Join(testutil.Hub(b), "parsers", rel))
	for _, s := range syntaxes {
		lib.AddIfMissing(s[0], s[1])
	}
	out := make([]string, 0, len(groks))
	for _, g := range groks {
		out = append(out, g.pattern)
	}
	return lib, out
}

// sshdMessages strips the syslog header as the syslog-logs parser would.
func sshdMessages(b testing.TB, lines []string) []string {
	b.Helper()
	p := hubLibrary(b).MustCompile(`^%{SYSLOGLINE}`)
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		m := map[string]string{}
		require.True(b, p.MatchInto(l, m), l)
		out = append(out, m["message"])
	}
	return out
}

// runMatch runs p over lines (cycling) and checks the expected outcome.
func runMatch(b *testing.B, p *Pattern, lines []string, want bool) {
	b.Helper()
	dst := make(map[string]string, 32)
	for _, l := range lines {
		require.Equal(b, want, p.MatchInto(l, dst), l)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.MatchInto(lines[i%len(lines)], dst)
	}
}

// engines returns the production pattern and variants used to justify the
// design: without prefilter, and the unpruned regexp (every group captures).
func engines(b *testing.B, lib *Library, pattern string) map[string]*Pattern {
	b.Helper()
	p, err := lib.Compile(pattern)
	require.NoError(b, err)
	noPre := *p
	noPre.literals, noPre.checked = nil, nil
	return map[string]*Pattern{"prod": p, "noprefilter": &noPre}
}

func BenchmarkGrokNginxAccess(b *testing.B) {
	lib, groks := parserGroks(b, "s01-parse/crowdsecurity/nginx-logs.yaml")
	access := groks[0]
	nginx := benchLines(b, "bench_nginx.log")
	sshd := benchLines(b, "bench_sshd.log")
	for _, name := range []string{"prod", "noprefilter"} {
		p := engines(b, lib, access)[name]
		b.Run(name+"/match", func(b *testing.B) { runMatch(b, p, nginx, true) })
		b.Run(name+"/nomatch", func(b *testing.B) { runMatch(b, p, sshd, false) })
	}
}

func BenchmarkGrokSyslogLine(b *testing.B) {
	lib := hubLibrary(b)
	nginx := benchLines(b, "bench_nginx.log")
	sshd := benchLines(b, "bench_sshd.log")
	for _, name := range []string{"prod", "noprefilter"} {
		p := engines(b, lib, `^%{SYSLOGLINE}`)[name]
		b.Run(name+"/match", func(b *testing.B) { runMatch(b, p, sshd, true) })
		b.Run(name+"/nomatch", func(b *testing.B) { runMatch(b, p, nginx, false) })
	}
}

// BenchmarkGrokSSHDParser tries the sshd parser's groks in order until one
// matches, as the parser node list does, on sshd messages.
func BenchmarkGrokSSHDParser(b *testing.B) {
	lib, groks := parserGroks(b, "s01-parse/crowdsecurity/sshd-logs.yaml")
	msgs := sshdMessages(b, benchLines(b, "bench_sshd.log"))
	nginx := benchLines(b, "bench_nginx.log")
	for _, name := range []string{"prod", "noprefilter"} {
		ps := make([]*Pattern, 0, len(groks))
		for _, g := range groks {
			ps = append(ps, engines(b, lib, g)[name])
		}
		run := func(b *testing.B, lines []string) {
			dst := make(map[string]string, 32)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				l := lines[i%len(lines)]
				for _, p := range ps {
					if p.MatchInto(l, dst) {
						break
					}
				}
			}
		}
		b.Run(name+"/sshd", func(b *testing.B) { run(b, msgs) })
		b.Run(name+"/nginx", func(b *testing.B) { run(b, nginx) })
	}
}
