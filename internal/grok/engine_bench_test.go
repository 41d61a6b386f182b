package grok

import (
	"testing"
)

// withEngine returns a copy of p that runs on the named engine: "regexp"
// (Go's regexp behind the prefilter and start scan), "backtrack" (the
// memoised backtracker alone), "live" (the two-pass engine, backtracker as
// fallback), "lookahead" (the lookahead engine of a start-anchored
// pattern, then the backtracker) or "chosen" (the production path: the
// engine the pattern chooses, choice.go, the lookahead engine first when
// that is the backtracker; the copy samples afresh). The others turn the
// lookahead engine off.
func withEngine(p *Pattern, engine string) *Pattern {
	c := *p
	if engine != "chosen" && engine != "lookahead" {
		c.la = nil
	}
	if c.bt == nil || engine == "regexp" {
		c.bt = nil
		return &c
	}
	bt := *c.bt
	c.bt = &bt
	switch engine {
	case "lookahead":
		if bt.choice != nil {
			bt.choice = &engineChoice{}
			bt.choice.mode.Store(modeBacktrack)
		}
	case "backtrack":
		bt.live, bt.choice = nil, nil
	case "live":
		bt.choice = &engineChoice{}
		bt.choice.mode.Store(modeLive)
	default:
		if bt.choice != nil {
			bt.choice = &engineChoice{}
		}
	}
	return &c
}

// BenchmarkGrokEngine compares both engines on the same patterns and lines,
// matching and non-matching.
func BenchmarkGrokEngine(b *testing.B) {
	nginxLib, nginxGroks := parserGroks(b, "s01-parse/crowdsecurity/nginx-logs.yaml")
	sshdLib, sshdGroks := parserGroks(b, "s01-parse/crowdsecurity/sshd-logs.yaml")
	nginx := benchLines(b, "bench_nginx.log")
	sshd := benchLines(b, "bench_sshd.log")
	msgs := sshdMessages(b, sshd)
	access := nginxLib.MustCompile(nginxGroks[0])
	syslog := hubLibrary(b).MustCompile(`^%{SYSLOGLINE}`)
	sshdPs := make([]*Pattern, 0, len(sshdGroks))
	for _, g := range sshdGroks {
		sshdPs = append(sshdPs, sshdLib.MustCompile(g))
	}
	for _, engine := range []string{"regexp", "backtrack", "live", "chosen"} {
		a, s := withEngine(access, engine), withEngine(syslog, engine)
		b.Run("nginx/"+engine+"/match", func(b *testing.B) { runMatch(b, a, nginx, true) })
		b.Run("nginx/"+engine+"/nomatch", func(b *testing.B) { runMatch(b, a, sshd, false) })
		b.Run("syslog/"+engine+"/match", func(b *testing.B) { runMatch(b, s, sshd, true) })
		b.Run("syslog/"+engine+"/nomatch", func(b *testing.B) { runMatch(b, s, nginx, false) })
		ps := make([]*Pattern, len(sshdPs))
		for i, p := range sshdPs {
			ps[i] = withEngine(p, engine)
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
		b.Run("sshd/"+engine+"/match", func(b *testing.B) { run(b, msgs) })
		b.Run("sshd/"+engine+"/nomatch", func(b *testing.B) { run(b, nginx) })
	}
}

// BenchmarkLiveFind runs the two-pass engine alone (liveProg.find, no
// prefilter, no map writes) on the hub's nginx access grok over the nginx
// bench lines: the figure to follow when changing live.go. Under
// cachegrind (`go test -c`, then valgrind --tool=cachegrind --cache-sim=no
// on the binary with -test.bench LiveFind -test.benchtime 30000x, and
// cg_annotate on live.go) it splits the instructions between the
// right-to-left scan and the walk.
//
//	go test ./internal/grok/ -run '^$' -bench LiveFind
func BenchmarkLiveFind(b *testing.B) {
	lib, groks := parserGroks(b, "s01-parse/crowdsecurity/nginx-logs.yaml")
	lines := benchLines(b, "bench_nginx.log")
	p := lib.MustCompile(groks[0])
	lp := p.bt.live.get()
	if lp == nil {
		b.Fatal("no two-pass program")
	}
	sc := p.bt.get()
	defer p.bt.release(sc)
	bytes := 0
	for _, l := range lines { // warm up: the DFA grows lazily
		if matched, ok := lp.find(l, sc); !matched || !ok {
			b.Fatalf("no match on %q", l)
		}
		bytes += len(l)
	}
	b.SetBytes(int64(bytes / len(lines)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		lp.find(lines[i%len(lines)], sc)
	}
}

// BenchmarkLookaheadFind runs the lookahead engine alone (laProg.find, no
// prefilter, no captures delivered) on the syslog header grok over the
// sshd bench lines, with one scratch: the figure to follow when changing
// onepass.go. Under cachegrind, read the self instructions of
// laProg.find and what it calls (indexbytebody, emptyAt) over N
// operations; the difference of two whole runs is noisier (the GC).
//
//	go test ./internal/grok/ -run '^$' -bench LookaheadFind
func BenchmarkLookaheadFind(b *testing.B) {
	p := hubLibrary(b).MustCompile(`^%{SYSLOGLINE}`)
	lp := p.la.get()
	if lp == nil {
		b.Fatal("no lookahead program")
	}
	lines := benchLines(b, "bench_sshd.log")
	sc := p.bt.get()
	defer p.bt.release(sc)
	bytes := 0
	for _, l := range lines {
		if matched, decided := lp.find(l, sc); !matched || !decided {
			b.Fatalf("not matched or not decided: %q", l)
		}
		bytes += len(l)
	}
	b.SetBytes(int64(bytes / len(lines)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		lp.find(lines[i%len(lines)], sc)
	}
}
