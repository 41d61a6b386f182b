package scenario

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

func hubScenarioFiles(t testing.TB, match func(string) bool) []string {
	t.Helper()
	var files []string
	for _, p := range testutil.HubYAMLs(t, filepath.Join(testutil.Hub(t), "scenarios")) {
		if match == nil || match(p) {
			files = append(files, p)
		}
	}
	return files
}

// TestLoadHubScenarios loads every scenario of the hub copy one file at a
// time. Known failures are listed with their reason.
func TestLoadHubScenarios(t *testing.T) {
	files := hubScenarioFiles(t, nil)
	require.Greater(t, len(files), 700)
	c := testCompiler()
	var failed []string
	docs := 0
	for _, f := range files {
		set, err := Load([]string{f}, Options{Compiler: c})
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		docs += set.Len()
	}
	for _, f := range failed {
		t.Logf("FAIL %s", f)
	}
	t.Logf("loaded %d scenarios from %d files, %d files failed", docs, len(files), len(failed))
	require.Empty(t, failed)
	require.GreaterOrEqual(t, docs, 840)
}

// webScenarios loads the hub's http-* and ssh-* scenarios (the benchmark
// and equivalence set).
func webScenarios(t testing.TB) *Set {
	files := hubScenarioFiles(t, func(p string) bool {
		b := filepath.Base(p)
		return strings.Contains(p, "/crowdsecurity/") && (strings.HasPrefix(b, "http-") || strings.HasPrefix(b, "ssh") ||
			strings.HasPrefix(b, "nginx") || strings.HasPrefix(b, "CVE-") || strings.Contains(b, "cve"))
	})
	// The hub's data files, as in production: filters over File() data
	// then run on real lists (and exprenv's data-file fast paths apply).
	store := datafile.NewStore(t.TempDir())
	store.SetMirror(filepath.Join(testutil.Hub(t), "data"))
	set, err := Load(files, Options{Compiler: exprenv.New(exprenv.Deps{Data: store}), Data: store})
	require.NoError(t, err)
	require.Empty(t, set.Warnings)
	return set
}

var (
	paths    = []string{"/", "/index.html", "/wp-login.php", "/admin", "/.env", "/api/v1/items", "/static/app.js", "/img/logo.png", "/phpmyadmin/", "/login"}
	statuses = []string{"200", "200", "200", "301", "404", "404", "403", "401", "500", "400"}
	agents   = []string{"Mozilla/5.0", "curl/8.0", "sqlmap/1.7", "Nikto", "Go-http-client/1.1"}
)

// nginxStream makes n nginx/ssh-like events over ips addresses, one event
// per millisecond from base, deterministic for a seed.
func nginxStream(n, ips int, seed uint64) []*event.Event {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]*event.Event, n)
	for i := range out {
		e := event.New(event.Line{Raw: "x", Labels: map[string]string{"type": "nginx"}})
		ip := r.IntN(ips)
		e.SetMeta("source_ip", fmt.Sprintf("%d.%d.%d.%d", 1+ip>>16&0xff, ip>>8&0xff, ip&0xff, 7))
		ts := base.Add(time.Duration(i) * time.Millisecond)
		e.MarshaledTime = ts.Format(time.RFC3339)
		e.Time = ts
		if r.IntN(20) == 0 {
			e.SetMeta("log_type", "ssh_failed-auth")
			e.SetMeta("service", "ssh")
			e.SetMeta("target_user", fmt.Sprintf("user%d", r.IntN(8)))
			out[i] = e
			continue
		}
		p := paths[r.IntN(len(paths))]
		e.SetMeta("log_type", "http_access-log")
		e.SetMeta("service", "http")
		e.SetMeta("http_path", p)
		e.SetMeta("http_status", statuses[r.IntN(len(statuses))])
		e.SetMeta("http_verb", "GET")
		e.SetMeta("http_user_agent", agents[r.IntN(len(agents))])
		e.SetParsed("request", p)
		e.SetParsed("file_name", filepath.Base(p))
		e.SetParsed("target_fqdn", "example.org")
		e.SetParsed("http_user_agent", e.Map(event.Meta)["http_user_agent"])
		e.SetParsed("verb", "GET")
		e.SetParsed("http_version", "1.1")
		if strings.Contains(p, ".") && !strings.HasSuffix(p, ".php") {
			e.SetParsed("static_ressource", "true")
		} else {
			e.SetParsed("static_ressource", "false")
		}
		out[i] = e
	}
	return out
}

// TestIndexNeverChangesResults runs the same stream with and without the
// index and native pre-checks, and with 1 or 2 workers: the overflows
// must be identical. Run it with -race to check the workers.
func TestIndexNeverChangesResults(t *testing.T) {
	set := webScenarios(t)
	require.Greater(t, set.Len(), 30)
	evs := nginxStream(6000, 200, 42)
	type variant struct {
		name       string
		cfg        Config
		readFields bool
	}
	variants := []variant{
		{"plain", Config{Workers: 1, DisableIndex: true, DisableNative: true}, false},
		{"index", Config{Workers: 1}, false},
		{"index-noprefilter", Config{Workers: 1, DisablePrefilter: true}, false},
		{"index-2workers", Config{Workers: 2}, false},
		{"noindex-native-2workers", Config{Workers: 2, DisableIndex: true}, false},
		{"index-2workers-readfields", Config{Workers: 2}, true},
		{"noindex-native-readfields", Config{Workers: 1, DisableIndex: true}, true},
	}
	var ref []string
	for _, v := range variants {
		v.cfg.Mode = event.TIMEMACHINE
		got, eng := runStreamFields(t, set, v.cfg, evs, true, v.readFields)
		s := summary(got)
		if ref == nil {
			ref = s
			require.NotEmpty(t, ref)
			t.Logf("%d overflows; stats sample: %+v", len(ref), eng.Stats().Scenarios["crowdsecurity/http-probing"])
			continue
		}
		require.Equal(t, ref, s, v.name)
	}
}

// TestNativeMatchesVM compares the native pre-check of every hub filter
// that is fully native with the VM on random events.
func TestNativeMatchesVM(t *testing.T) {
	set := webScenarios(t)
	evs := nginxStream(3000, 50, 7)
	w := newWorker(NewEngine(set, Config{Mode: event.TIMEMACHINE}), set.scens)
	exact := 0
	for _, sc := range set.scens {
		if !sc.filterExact || sc.mutates {
			continue
		}
		exact++
		for _, e := range evs {
			want, err := w.runBool(sc.filter.prog, FilterEnv{Evt: e})
			require.NoError(t, err)
			got := true
			for i := range sc.preds {
				got = got && sc.preds[i].Eval(e)
			}
			require.Equal(t, want, got, "%s on %v", sc.spec.Name, e.Map(event.Meta))
			if sc.groupby != nil && sc.groupby.nat != nil {
				out, err := w.vm.Run(sc.groupby.prog, FilterEnv{Evt: e})
				require.NoError(t, err)
				w.sx.Reset(e, nil)
				got, err := sc.groupby.nat.Eval(&w.sx)
				require.NoError(t, err)
				require.Equal(t, out, got, sc.spec.Name)
			}
		}
	}
	require.Greater(t, exact, 5)
}

func BenchmarkPour(b *testing.B) {
	set := webScenarios(b)
	evs := nginxStream(200000, 50000, 1)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d/scenarios=%d", workers, set.Len()), func(b *testing.B) {
			b.ReportAllocs()
			overflows := 0
			eng := NewEngine(set, Config{Workers: workers, Mode: event.TIMEMACHINE, OnOverflow: func(*Overflow) { overflows++ }})
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				e := evs[i%len(evs)]
				if i >= len(evs) {
					// keep time moving forward on later rounds
					c := *e
					c.MarshaledTime = base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339)
					e = &c
				}
				eng.Pour(e)
			}
			eng.Flush()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			_ = eng.Close()
		})
	}
}
