package detect_test

import (
	"testing"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// BenchmarkReplay replays 20k-line genlogs corpora through the whole
// pipeline with a real install's content; lines/s is the figure of
// issue 3 (bench/run measures the 1M-line corpora).
//
//	go test ./internal/detect/ -run '^$' -bench Replay -benchtime 3x -cpuprofile /tmp/cpu.prof
func BenchmarkReplay(b *testing.B) {
	for _, tc := range []struct {
		kind, typ   string
		collections []string
	}{
		{"nginx", "nginx", []string{"crowdsecurity/linux", "crowdsecurity/nginx"}},
		{"sshd", "syslog", []string{"crowdsecurity/linux"}},
	} {
		b.Run(tc.kind, func(b *testing.B) {
			logPath, _ := testutil.GenLogs(b, tc.kind, 20000, 1)
			rt := hubRuntime(b, tc.collections...)
			b.ReportAllocs()
			b.ResetTimer()
			var lines int64
			for b.Loop() {
				_, st := run(b, rt, logPath, tc.typ, 0)
				lines += st.Lines
			}
			b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
