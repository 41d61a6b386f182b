package scenario

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// TestReadsWhole: which queue expressions may read more of a queued event
// than an item's view carries (Meta, Enriched, Time, MarshaledTime, Type).
func TestReadsWhole(t *testing.T) {
	c := testCompiler()
	for _, tc := range []struct {
		name, env, src string
		whole          bool
	}{
		{"queue length", "cond", `len(queue.Queue) > 3`, false},
		{"hub time-based", "cond", "let failedAuths = filter(queue.Queue, {#.Meta.log_type == 'ssh_failed-auth'});\nlen(failedAuths) >= 4 && MedianInterval(map(failedAuths[-4:], {#.Time})) > duration(\"10m\")", false},
		{"meta of last", "cond", `last(queue.Queue).Meta.user == 'x'`, false},
		{"index then meta", "cond", `queue.Queue[0].Meta.user == 'x'`, false},
		{"GetQueue", "cond", `any(queue.GetQueue(), {#.Enriched.IsoCode == 'FR'})`, false},
		{"GetMeta", "cond", `all(queue.Queue, {#.GetMeta('a') != ''})`, false},
		{"current event parsed", "cond", `evt.Parsed.x == 'y' && len(queue.Queue) > 1`, false},
		{"queued parsed", "cond", `any(queue.Queue, {#.Parsed.x == 'y'})`, true},
		{"queued line", "cond", `last(queue.Queue).Line.Raw contains 'x'`, true},
		{"queued unmarshaled", "cond", `len(queue.Queue[0].Unmarshaled) > 0`, true},
		{"event to a function", "cond", `len(toJSON(queue.Queue)) > 2`, true},
		{"events compared", "cond", `first(queue.Queue) == last(queue.Queue)`, true},
		{"ovfl meta", "ovfl", `queue.Queue[0].Meta.x == 'y' && leaky.Total_count > 2`, false},
		{"ovfl signal", "ovfl", `len(signal.Sources) > 1`, false},
		{"ovfl parsed", "ovfl", `queue.Queue[0].Parsed.x == 'y'`, true},
		{"scope meta", "scope", `evt.Meta.source_ip + '/24'`, false},
		{"scope parsed", "scope", `evt.Parsed.remote_addr`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var env any
			current := false
			opts := []expr.Option{}
			switch tc.env {
			case "cond":
				env, current = ConditionEnv{}, true
				opts = append(opts, expr.AsBool())
			case "ovfl":
				env = OverflowEnv{}
				opts = append(opts, expr.AsBool())
			case "scope":
				env = FilterEnv{}
			}
			p, err := c.Compile(tc.src, env, opts...)
			require.NoError(t, err)
			require.Equal(t, tc.whole, readsWhole(p, current))
		})
	}
}

// TestReadsViews: the parts of the event a VM program reads as maps, which
// the worker then builds views of (forVM, scratchForWrite).
func TestReadsViews(t *testing.T) {
	c := testCompiler()
	const (
		P = event.PartSet(1 << event.Parsed)
		M = event.PartSet(1 << event.Meta)
		E = event.PartSet(1 << event.Enriched)
	)
	for _, tc := range []struct {
		name, src string
		want      event.PartSet
	}{
		{"meta", `evt.Meta.log_type == 'x'`, M},
		{"meta and parsed", `evt.Meta.log_type == 'x' && evt.Parsed.verb == 'GET'`, M | P},
		{"enriched key", `'IsoCode' in evt.Enriched`, E},
		{"methods read fields", `evt.GetMeta('a') == 'b' && evt.SetMeta('c', 'd')`, 0},
		{"plain members", `evt.Line.Raw contains 'x' && evt.StrTime != ''`, 0},
		{"event to a function", `len(toJSON(evt)) > 2`, event.AllParts},
		{"let binding", `let m = evt.Meta; m.x == 'y'`, M},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.Compile(tc.src, FilterEnv{}, expr.AsBool())
			require.NoError(t, err)
			require.Equal(t, tc.want, readsViews(p))
		})
	}
}

// TestHubQueueViews: the hub scenarios with queue expressions mostly do
// with views; ssh-time-based-bf (the sshd replay's largest queues) does.
func TestHubQueueViews(t *testing.T) {
	files := hubScenarioFiles(t, nil)
	store := datafile.NewStore(t.TempDir())
	store.SetMirror(filepath.Join(testutil.Hub(t), "data"))
	set, err := Load(files, Options{Compiler: exprenv.New(exprenv.Deps{Data: store}), Data: store})
	require.NoError(t, err)
	withQueue, whole := 0, 0
	for _, sc := range set.scens {
		if sc.condition == nil && sc.ovflFilter == nil && len(sc.bayes) == 0 && sc.scopeExpr == nil {
			continue
		}
		withQueue++
		if sc.needFull {
			whole++
			if !strings.HasPrefix(sc.spec.Name, "sigmahq/") { // Sigma rules: scope expressions on Unmarshaled
				t.Logf("keeps whole events: %s", sc.spec.Name)
			}
		}
		if sc.spec.Name == "crowdsecurity/ssh-time-based-bf" {
			require.False(t, sc.needFull, sc.spec.Name)
		}
	}
	t.Logf("%d scenarios with queue expressions, %d keep whole events", withQueue, whole)
	require.Greater(t, withQueue, 5)
	require.Less(t, whole, withQueue)
}

// sshSlowStream: failed ssh logins from a few addresses, minutes apart,
// with some successes (cancel_on), so that the hub's time-based
// conditional scenarios overflow.
func sshSlowStream(n, ips int, seed uint64) []*event.Event {
	next := sshGen(ips, 240*time.Second, seed)
	out := make([]*event.Event, n)
	for i := range out {
		out[i] = next()
	}
	return out
}

// sshGen returns a generator of sshd-like events (the Meta, Parsed and
// Enriched keys the hub's sshd parsers and dateparse write) from ips
// addresses, at random intervals up to maxGap.
func sshGen(ips int, maxGap time.Duration, seed uint64) func() *event.Event {
	r := rand.New(rand.NewPCG(seed, 2))
	at := base
	i := 0
	return func() *event.Event {
		i++
		at = at.Add(time.Duration(r.Int64N(int64(maxGap))))
		e := event.New(event.Line{Raw: fmt.Sprintf("Mar  1 00:00:00 web01 sshd[%d]: Failed password for bob from 98.128.82.64 port 16451 ssh2", i),
			Labels: map[string]string{"type": "syslog"}})
		ip := r.IntN(ips)
		e.SetMeta("source_ip", fmt.Sprintf("10.0.%d.%d", ip>>8, ip&0xff))
		e.SetMeta("service", "ssh")
		e.SetMeta("log_type", "ssh_failed-auth")
		if r.IntN(30) == 0 {
			e.SetMeta("log_type", "auth_success")
		}
		e.SetMeta("target_user", fmt.Sprintf("user%d", r.IntN(5)))
		e.SetMeta("machine", "web01")
		e.SetMeta("datasource_type", "file")
		e.SetMeta("datasource_path", "/var/log/auth.log")
		for _, k := range []string{"facility", "logsource", "message", "pid", "priority", "program", "timestamp",
			"timestamp8601", "sshd_auth_type", "sshd_client_ip", "sshd_port", "sshd_protocol"} {
			e.SetParsed(k, fmt.Sprint(k, i))
		}
		e.SetParsed("sshd_invalid_user", e.Map(event.Meta)["target_user"])
		e.Put(event.Enriched, "IsoCode", []string{"FR", "US", "CN"}[ip%3])
		e.Time = at
		e.MarshaledTime = at.Format(time.RFC3339)
		e.SetMeta("timestamp", e.MarshaledTime)
		return e
	}
}

// BenchmarkQueueMemory pours 100k sshd-like events (1,000 addresses, up to
// 1 s apart) into the hub's web and ssh scenarios and reports the heap the
// engine retains at the end (buckets and their queues; the events are
// made on the fly and dropped): with whole events kept for every scenario
// (CrowdSec's way, and Phalanx's before queue views) and with views.
//
//	go test ./internal/scenario/ -run '^$' -bench QueueMemory -benchtime 3x
func BenchmarkQueueMemory(b *testing.B) {
	for _, whole := range []bool{true, false} {
		name := "views"
		if whole {
			name = "whole"
		}
		b.Run(name, func(b *testing.B) {
			set := webScenarios(b)
			if whole {
				for _, sc := range set.scens {
					sc.needFull = true
				}
			}
			var retained float64
			for b.Loop() {
				eng := NewEngine(set, Config{Mode: event.TIMEMACHINE, Workers: 1})
				next := sshGen(1000, time.Second, 9)
				var m0, m1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m0)
				for range 100000 {
					eng.Pour(next())
				}
				eng.Flush()
				runtime.GC()
				runtime.ReadMemStats(&m1)
				retained += float64(m1.HeapAlloc) - float64(m0.HeapAlloc)
				st := eng.Stats()
				require.NoError(b, eng.Close())
				require.Positive(b, st.Scenarios["crowdsecurity/ssh-time-based-bf"].Live)
			}
			b.ReportMetric(retained/float64(b.N)/(1<<20), "retained-MB")
		})
	}
}

// TestViewsNeverChangeResults runs the web and ssh scenarios with queue
// views and with whole events kept for every scenario (CrowdSec's way):
// the overflows must be identical, raw lines included.
func TestViewsNeverChangeResults(t *testing.T) {
	views, whole := webScenarios(t), webScenarios(t)
	for _, sc := range whole.scens {
		sc.needFull = true
	}
	evs := append(nginxStream(4000, 100, 3), sshSlowStream(3000, 12, 4)...)
	for i, e := range evs[4000:] { // after the web stream
		ts := base.Add(5*time.Second + e.Time.Sub(base))
		e.Time, e.MarshaledTime = ts, ts.Format(time.RFC3339)
		evs[4000+i] = e
	}
	cfg := Config{Mode: event.TIMEMACHINE, Workers: 2, RawLines: RawLineLimit{MaxLines: 5, MaxBytes: 1000}}
	got, eng := runStream(t, views, cfg, evs, true)
	want, _ := runStream(t, whole, cfg, evs, true)
	require.Equal(t, summary(want), summary(got))
	st := eng.Stats().Scenarios["crowdsecurity/ssh-time-based-bf"]
	t.Logf("%d overflows; ssh-time-based-bf: %+v", len(got), st)
	require.Positive(t, st.Overflowed, "the time-based conditional must overflow for the comparison to mean something")
}
