package parse

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// knownLoadGaps are hub files that cannot load yet because of a gap in
// another package; each must still fail (remove the entry once fixed).
var knownLoadGaps = map[string]string{}

// TestLoadHub loads every parser and postoverflow file of the hub, each kind
// into one pipeline (as CrowdSec would with everything installed), and lists
// the failures.
func TestLoadHub(t *testing.T) {
	t.Parallel()
	hub := testutil.Hub(t)
	for _, kind := range []string{"parsers", "postoverflows"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			files, err := FilesFromDir(filepath.Join(hub, kind))
			require.NoError(t, err)
			require.NotEmpty(t, files)
			// One shared Options, file by file: the same as loading them all
			// at once (pattern_syntax accumulates), but every failure is listed.
			opts := testOptions(t)
			var failures []string
			nodes := 0
			for _, f := range files {
				p, err := Load([]File{f}, opts)
				rel, _ := filepath.Rel(filepath.Join(hub, kind), f.Path)
				if why, ok := knownLoadGaps[filepath.ToSlash(rel)]; ok {
					require.Error(t, err, "%s loads now (%s): remove it from knownLoadGaps", rel, why)
					continue
				}
				if err != nil {
					failures = append(failures, err.Error())
					continue
				}
				nodes += len(p.Nodes())
			}
			require.Empty(t, failures, "%d of %d files failed:\n%s", len(failures), len(files), strings.Join(failures, "\n"))
			require.GreaterOrEqual(t, nodes, len(files))
		})
	}
}

// TestLoadHubTestLocalParsers loads the parsers the hubtest cases carry.
func TestLoadHubTestLocalParsers(t *testing.T) {
	t.Parallel()
	hub := testutil.Hub(t)
	dirs, err := filepath.Glob(filepath.Join(hub, "tests", "*", "parsers"))
	require.NoError(t, err)
	for _, d := range dirs {
		files, err := FilesFromDir(d)
		require.NoError(t, err)
		_, err = Load(files, testOptions(t))
		require.NoError(t, err, d)
	}
}

func TestHubStack(t *testing.T) {
	t.Parallel()
	p := hubStack(t)
	require.Equal(t, []string{"s00-raw", "s01-parse", "s02-enrich"}, p.Stages())
	cases := []struct {
		name, raw, typ string
		ok             bool
		meta           map[string]string
		parsed         map[string]string
		trace          []string
	}{
		{
			name: "nginx access", typ: "nginx", ok: true,
			raw: `220.142.51.74 - - [01/Mar/2024:00:00:00 +0000] "GET /favicon.ico HTTP/1.1" 200 4658 "-" "Mozilla/5.0 Firefox/122.0"`,
			meta: map[string]string{"log_type": "http_access-log", "service": "http", "source_ip": "220.142.51.74",
				"http_status": "200", "http_path": "/favicon.ico", "http_verb": "GET", "http_user_agent": "Mozilla/5.0 Firefox/122.0",
				"datasource_path": "/var/log/test.log", "datasource_type": "file", "timestamp": "2024-03-01T00:00:00Z"},
			parsed: map[string]string{"program": "nginx", "target_fqdn": "", "remote_user": "-", "request_length": ""},
			trace:  []string{"s00-raw/crowdsecurity/syslog-logs=false", "s00-raw/crowdsecurity/non-syslog=true", "s01-parse/crowdsecurity/nginx-logs=true", "s02-enrich/crowdsecurity/dateparse-enrich=true"},
		},
		{
			name: "sshd failed password over syslog", typ: "syslog", ok: true,
			raw: `Mar  1 00:00:05 web01 sshd[1234]: Failed password for invalid user admin from 1.2.3.4 port 4242 ssh2`,
			meta: map[string]string{"log_type": "ssh_failed-auth", "service": "ssh", "source_ip": "1.2.3.4", "target_user": "admin",
				"machine": "web01", "datasource_type": "file"},
			parsed: map[string]string{"program": "sshd", "logsource": "syslog", "pid": "1234"},
			trace: []string{"s00-raw/crowdsecurity/syslog-logs=true", "s01-parse/crowdsecurity/nginx-logs=false",
				"s01-parse/crowdsecurity/sshd-logs=true", "s02-enrich/crowdsecurity/dateparse-enrich=true"},
		},
		{
			name: "syslog line no s01 parser takes", typ: "syslog", ok: false,
			raw:   `Mar  1 00:00:05 web01 cron[1]: hello`,
			trace: []string{"s00-raw/crowdsecurity/syslog-logs=true", "s01-parse/crowdsecurity/nginx-logs=false", "s01-parse/crowdsecurity/sshd-logs=false"},
		},
		{
			name: "garbage syslog", typ: "syslog", ok: false, raw: "\x00\xff not syslog",
			trace: []string{"s00-raw/crowdsecurity/syslog-logs=false", "s00-raw/crowdsecurity/non-syslog=false"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evt := logEvent(tc.raw, tc.typ)
			rec := &recorder{}
			require.Equal(t, tc.ok, p.Parse(evt, rec))
			for k, v := range tc.meta {
				require.Equal(t, v, evt.Map(event.Meta)[k], "Meta[%q]", k)
			}
			for k, v := range tc.parsed {
				got, ok := evt.Lookup(event.Parsed, k)
				require.True(t, ok, "Parsed[%q] missing", k)
				require.Equal(t, v, got, "Parsed[%q]", k)
			}
			var trace []string
			for _, r := range rec.got {
				trace = append(trace, r.Stage+"/"+r.Node+"="+map[bool]string{true: "true", false: "false"}[r.Success])
			}
			require.Equal(t, tc.trace, trace)
		})
	}
}

// genLines reads a genlogs output file, or returns nil.
func genLines(tb testing.TB, path string, max int) []string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() && len(out) < max {
		out = append(out, sc.Text())
	}
	return out
}

// sample lines (fuzz seeds).
var (
	nginxSample = []string{
		`220.142.51.74 - - [01/Mar/2024:00:00:00 +0000] "GET /favicon.ico HTTP/1.1" 200 4658 "-" "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0"`,
		`123.54.156.39 - - [01/Mar/2024:00:00:00 +0000] "GET /careers HTTP/1.1" 404 36444 "https://www.example.com/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36"`,
	}
	sshSample = []string{
		`Mar  1 00:00:00 web01 sshd[35770]: pam_unix(sshd:session): session closed for user alice`,
		`Mar  1 00:00:05 web01 sshd[1234]: Failed password for invalid user admin from 1.2.3.4 port 4242 ssh2`,
	}
)

// benchLines returns 20k-line genlogs corpora (seed 1), as the replay
// benchmarks use.
func benchLines(tb testing.TB) ([]string, []string) {
	n, _ := testutil.GenLogs(tb, "nginx", 20000, 1)
	s, _ := testutil.GenLogs(tb, "sshd", 20000, 1)
	return genLines(tb, n, 20000), genLines(tb, s, 20000)
}

func BenchmarkParseHubStack(b *testing.B) {
	p := hubStack(b)
	nginx, ssh := benchLines(b)
	for _, bc := range []struct {
		name, typ string
		lines     []string
	}{{"nginx", "nginx", nginx}, {"sshd", "syslog", ssh}} {
		b.Run(bc.name, func(b *testing.B) {
			labels := map[string]string{"type": bc.typ}
			b.ReportAllocs()
			ok := 0
			for i := 0; b.Loop(); i++ {
				evt := event.New(event.Line{Raw: bc.lines[i%len(bc.lines)], Src: "/var/log/x.log", Module: "file", Labels: labels})
				evt.ExpectMode = event.TIMEMACHINE
				if p.Parse(evt, nil) {
					ok++
				}
			}
			b.ReportMetric(float64(ok)/float64(b.N), "parsed/op")
		})
	}
}

func FuzzParse(f *testing.F) {
	p := hubStack(f)
	for _, s := range append(append([]string{}, nginxSample...), sshSample...) {
		f.Add(s, "syslog")
		f.Add(s, "nginx")
	}
	f.Add(strings.Repeat("A", 70000), "syslog")
	f.Add("Mar  1 00:00:05 web01 sshd[1]: \xff\xfe\x00 from 1.2.3.4", "syslog")
	f.Add(`<13>1 2024-03-01T00:00:00Z host nginx 1 - - `+strings.Repeat(`"`, 5000), "syslog")
	f.Fuzz(func(t *testing.T, raw, typ string) {
		evt := event.New(event.Line{Raw: raw, Module: "file", Labels: map[string]string{"type": typ}})
		ok := p.Parse(evt, nil)
		require.Equal(t, ok, evt.Process)
	})
}

// TestParseConcurrent runs the hub stack from several goroutines (run with
// -race to check the concurrency contract).
func TestParseConcurrent(t *testing.T) {
	t.Parallel()
	p := hubStack(t)
	lines := append(append([]string{}, nginxSample...), sshSample...)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				typ := "nginx"
				if (i+g)%2 == 1 {
					typ = "syslog"
				}
				p.Parse(logEvent(lines[(i+g)%len(lines)], typ), &recorder{})
			}
		}()
	}
	wg.Wait()
	st := p.Stats()
	require.Equal(t, uint64(200), st.Parsed+st.Unparsed)
}

// BenchmarkWhitelists checks a log event against the hub's two parser
// whitelists of the linux collection (whitelists: 1 ip, 4 cidrs;
// public-dns-allowlist: 62 ips, 4 cidrs), as every line of a replay
// is, with a source listed by neither (the common case):
//
//	go test -run X -bench Whitelists -benchmem ./internal/parse
func BenchmarkWhitelists(b *testing.B) {
	p, err := Load(hubFiles(b, "s02-enrich/crowdsecurity/whitelists.yaml",
		"s02-enrich/crowdsecurity/public-dns-allowlist.yaml"), testOptions(b))
	require.NoError(b, err)
	var wls []*whitelist
	for _, n := range p.nodes[0] {
		require.NotNil(b, n.wl)
		wls = append(wls, n.wl)
	}
	require.Len(b, wls, 2)
	k := p.Schema().Key(event.Meta, "source_ip") // as nginx-logs' statics intern it
	evt := p.Schema().New(event.Line{})
	evt.Set(k, "203.0.113.77")
	rs := &runState{p: p}
	b.ReportAllocs()
	for b.Loop() {
		for _, w := range wls {
			if w.check(rs, evt) {
				b.Fatal("whitelisted")
			}
		}
	}
}
