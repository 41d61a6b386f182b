package grok

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEngineChoice runs hub groks on the lines a replay gives them: each
// pattern samples its first lines on the backtracker, then settles on the
// engine its cost calls for, and every answer (sampling or not) is Go's
// regexp's.
func TestEngineChoice(t *testing.T) {
	t.Parallel()
	nginx := benchLines(t, "bench_nginx.log")
	sshd := benchLines(t, "bench_sshd.log")
	nginxLib, nginxGroks := parserGroks(t, "s01-parse/crowdsecurity/nginx-logs.yaml")
	httpLib, httpGroks := parserGroks(t, "s02-enrich/crowdsecurity/http-logs.yaml")
	access := nginxLib.MustCompile(nginxGroks[0])
	var requests []string
	for _, l := range nginx {
		m := map[string]string{}
		require.True(t, access.MatchInto(l, m), l)
		requests = append(requests, m["request"])
	}
	// sshd-success-logs' grok (not start-anchored) on the accepted-login
	// messages of a sshd log.
	successLib, successGroks := parserGroks(t, "s01-parse/crowdsecurity/sshd-success-logs.yaml")
	users := []string{"alice", "bob", "deploy", "monitor", "ci", "jenkins"}
	var accepted []string
	for i := range 2 * chooseSample {
		accepted = append(accepted, fmt.Sprintf("Accepted publickey for %s from %d.%d.%d.%d port %d ssh2: ED25519 SHA256:%s",
			users[i%len(users)], 1+i*37%223, i*91%256, i*53%256, 1+i*29%254, 1024+i*997%60000,
			strings.Repeat("Um6QoCe8c+iIwaG0kWKA4y", 3)[i%8:i%8+43]))
	}
	cases := []struct {
		name  string
		p     *Pattern
		lines []string
		want  int32
	}{
		// Alternations decided by the next byte: ~0.7 steps per byte.
		{"syslog header", hubLibrary(t).MustCompile(`^%{SYSLOGLINE}`), sshd, modeBacktrack},
		// The optional IPORHOST tries branches that fail: ~1.6.
		{"nginx access", withEngine(access, "chosen"), nginx, modeLive},
		// DATA and NOTSPACE runs backtracked into: ~3.2.
		{"http request", httpLib.MustCompile(httpGroks[1]), requests, modeLive},
		// ~0.75, but the steps of the memoised backtracker (the lookahead
		// engine takes only start-anchored patterns) cost twice the
		// two-pass engine's line (unanchoredLiveStepsPerByte).
		{"sshd accepted", successLib.MustCompile(successGroks[0]), accepted, modeLive},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bp := tc.p.bt
			require.NotNil(t, bp.choice)
			for i, l := range tc.lines {
				if i%raceStride != 0 && i > chooseSample {
					continue
				}
				if i < chooseSample {
					require.Equal(t, modeSampling, bp.choice.mode.Load(), "line %d", i)
				}
				got, ok := bp.findIndex(l)
				require.True(t, ok)
				require.Equal(t, tc.p.re.FindStringSubmatchIndex(l), got, l)
			}
			require.Equal(t, tc.want, bp.choice.mode.Load())
			if tc.want == modeBacktrack {
				require.False(t, bp.live.built(), "the two-pass program is built only when chosen")
			}
		})
	}
}

// TestBacktrackStepBound gives the backtracker a line that costs it about
// one step per instruction and byte: bounded, it stops at maxStepsPerByte
// steps per byte and the two-pass engine answers, as Go's regexp does; a
// real line stays under the bound.
func TestBacktrackStepBound(t *testing.T) {
	t.Parallel()
	lib := NewLibrary()
	p := lib.MustCompile(`(?:a{1,10}){1,10}%{WORD:w}!`)
	bp := p.bt
	require.NotNil(t, bp.live)
	hostile := strings.Repeat("a", 4<<10)
	sc := bp.get()
	_, done := bp.runBacktrack(hostile, sc, maxStepsPerByte*(len(hostile)+1))
	steps := sc.steps
	bp.release(sc)
	require.False(t, done, "stops at the bound")
	require.LessOrEqual(t, steps, maxStepsPerByte*(len(hostile)+1)+1)
	got, ok := bp.findIndex(hostile)
	require.True(t, ok)
	require.Equal(t, p.re.FindStringSubmatchIndex(hostile), got)
	sc = bp.get()
	_, done = bp.runBacktrack("aaaa bbb!", sc, maxStepsPerByte*10)
	bp.release(sc)
	require.True(t, done)
}
