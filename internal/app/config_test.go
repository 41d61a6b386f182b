package app

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/agent"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/netguard"
)

func TestParseConfig(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, r *resolved)
	}{
		{name: "empty file: defaults", yaml: "", check: func(t *testing.T, r *resolved) {
			require.True(t, r.lapiOn)
			require.True(t, r.agentOn)
			require.Equal(t, "sqlite", r.LAPI.Database.Type)
			require.Equal(t, filepath.Join(r.DataDir, "phalanx.db"), r.LAPI.Database.DBPath)
			require.Equal(t, filepath.Join(r.DataDir, "spool"), r.Agent.SpoolDir)
			require.Equal(t, "127.0.0.1:8080", r.LAPI.ListenURI)
		}},
		{name: "inline lapi keys", yaml: "data_dir: /tmp/x\nlapi:\n  listen_uri: 127.0.0.1:9\n  trusted_ips: [10.0.0.0/8]\n", check: func(t *testing.T, r *resolved) {
			require.Equal(t, "127.0.0.1:9", r.LAPI.ListenURI)
			require.Equal(t, []string{"10.0.0.0/8"}, r.LAPI.TrustedIPs)
			require.Equal(t, "/tmp/x/phalanx.db", r.LAPI.Database.DBPath)
		}},
		{name: "unknown top key", yaml: "data_dir: /x\nbogus: 1\n", wantErr: "cfg.yaml:2: field bogus: unknown field (in Config)"},
		{name: "unknown nested key", yaml: "agent:\n  parse_workers: 2\n  parse_worker: 3\n", wantErr: "cfg.yaml:3: field parse_worker: unknown field (in AgentConfig)"},
		{name: "bad type", yaml: "agent:\n  batch_size: many\n", wantErr: "cfg.yaml:2"},
		{name: "nothing to run", yaml: "lapi: {enabled: false}\nagent: {enabled: false}\n", wantErr: "nothing to run"},
		{name: "agent alone needs a lapi", yaml: "lapi: {enabled: false}\n", wantErr: "agent.lapi.url"},
		{name: "postgres needs a dsn", yaml: "lapi: {database: {type: postgres}}\n", wantErr: "dsn"},
		{name: "bad db type", yaml: "lapi: {database: {type: mysql}}\n", wantErr: "want sqlite or postgres"},
		{name: "collections need a hub", yaml: "agent: {collections: [a/b]}\n", wantErr: "hub_dir"},
		{name: "env expansion", yaml: "data_dir: ${PHALANX_TEST_DIR}\n", check: func(t *testing.T, r *resolved) {
			require.Equal(t, "/tmp/from-env", r.DataDir)
		}},
	}
	t.Setenv("PHALANX_TEST_DIR", "/tmp/from-env")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig("cfg.yaml", []byte(tc.yaml))
			var r *resolved
			if err == nil {
				r, err = c.resolve()
			}
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, r)
		})
	}
}

// The commented example of the README and testdata decodes strictly.
func TestExampleConfig(t *testing.T) {
	c, err := LoadConfig("testdata/phalanx.yaml")
	require.NoError(t, err)
	r, err := c.resolve()
	require.NoError(t, err)
	require.Equal(t, "/etc/phalanx/acquis.yaml", r.Agent.AcquisitionPath)
	require.Equal(t, "7d", r.LAPI.Flush.MaxAge)
	require.True(t, r.capi.Sharing)
	require.Equal(t, filepath.Join(r.DataDir, "online_api_credentials.yaml"), r.capi.CredentialsPath)
	require.Zero(t, r.capi.PullInterval)
	require.Equal(t, RawLinesConfig{MaxLines: 20, MaxBytes: 16384}, r.Agent.RawLines)
	require.Equal(t, 1, r.Agent.PushesInFlight)
}

func TestMemoryLimitConfig(t *testing.T) {
	for _, tc := range []struct {
		yaml     string
		want     int64
		errorHas string
	}{
		{"{}", DefaultMemoryLimitMiB << 20, ""},
		{"{memory_limit_mib: 300}", 300 << 20, ""},
		{"{memory_limit_mib: -1}", 0, ""},
		{"{memory_limit_mib: -2}", 0, "memory_limit_mib"},
	} {
		c, err := ParseConfig("x.yaml", []byte(tc.yaml+"\n"))
		require.NoError(t, err)
		_, err = c.resolve()
		if tc.errorHas != "" {
			require.ErrorContains(t, err, tc.errorHas)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.want, c.GCPolicy().Limit, tc.yaml)
		require.Zero(t, c.GCPolicy().Percent)
	}
}

func TestRawLinesConfig(t *testing.T) {
	for _, tc := range []struct {
		yaml     string
		want     RawLinesConfig
		errorHas string
	}{
		{"{}", RawLinesConfig{MaxLines: DefaultRawLines, MaxBytes: DefaultRawLineBytes}, ""},
		{"{max_lines: -1}", RawLinesConfig{MaxLines: -1, MaxBytes: DefaultRawLineBytes}, ""},
		{"{max_lines: 5, max_bytes: 100}", RawLinesConfig{MaxLines: 5, MaxBytes: 100}, ""},
		{"{max_lines: -2}", RawLinesConfig{}, "agent.raw_lines"},
		{"{max_bytes: -1}", RawLinesConfig{}, "agent.raw_lines"},
	} {
		c, err := ParseConfig("x.yaml", []byte("agent: {raw_lines: "+tc.yaml+"}\n"))
		require.NoError(t, err)
		r, err := c.resolve()
		if tc.errorHas != "" {
			require.ErrorContains(t, err, tc.errorHas, tc.yaml)
			continue
		}
		require.NoError(t, err, tc.yaml)
		require.Equal(t, tc.want, r.Agent.RawLines, tc.yaml)
	}
}

func TestCAPIConfig(t *testing.T) {
	c, err := ParseConfig("x.yaml", []byte("data_dir: /d\ncapi: {pull_interval: 10s, sharing: false}\n"))
	require.NoError(t, err)
	r, err := c.resolve()
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, r.capi.PullInterval)
	require.False(t, r.capi.Sharing)
	require.True(t, r.capi.PullCommunity)
	require.True(t, r.capi.SendMetrics, "metrics by default, as CrowdSec")
	c, err = ParseConfig("x.yaml", []byte("capi: {metrics: false}\n"))
	require.NoError(t, err)
	r, err = c.resolve()
	require.NoError(t, err)
	require.False(t, r.capi.SendMetrics)
	c, err = ParseConfig("x.yaml", []byte("capi: {pull_interval: 100ms}\n"))
	require.NoError(t, err)
	_, err = c.resolve()
	require.ErrorContains(t, err, "pull_interval")
	_, err = ParseConfig("x.yaml", []byte("capi: {pul_interval: 10s}\n"))
	require.ErrorContains(t, err, "pul_interval")
}

func TestOverrides(t *testing.T) {
	var c Config
	Overrides{DataDir: "/d", Listen: "127.0.0.1:1", NoAgent: true}.Apply(&c)
	r, err := c.resolve()
	require.NoError(t, err)
	require.Equal(t, "/d", r.DataDir)
	require.Equal(t, "127.0.0.1:1", r.LAPI.ListenURI)
	require.False(t, r.agentOn)
	require.True(t, r.lapiOn)
}

func TestDiscover(t *testing.T) {
	noJournal := func(string) (string, error) { return "", os.ErrNotExist }
	journal := func(string) (string, error) { return "/usr/bin/journalctl", nil }
	cases := []struct {
		name     string
		files    []string
		lookPath func(string) (string, error)
		want     []string
	}{
		{name: "bare machine", lookPath: noJournal, want: nil},
		{name: "journald only", lookPath: journal, want: []string{"sshd: journald _SYSTEMD_UNIT=ssh.service + _SYSTEMD_UNIT=sshd.service (type syslog)"}},
		{name: "nginx and auth.log", files: []string{"/var/log/nginx/access.log", "/var/log/nginx/site-access.log", "/var/log/auth.log"}, lookPath: journal,
			want: []string{"nginx: ROOT/var/log/nginx/access.log, ROOT/var/log/nginx/site-access.log (type nginx)", "sshd: ROOT/var/log/auth.log (type syslog)"}},
		{name: "rhel", files: []string{"/var/log/httpd/access_log", "/var/log/secure"}, lookPath: noJournal,
			want: []string{"apache2: ROOT/var/log/httpd/access_log (type apache2)", "sshd: ROOT/var/log/secure (type syslog)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range tc.files {
				require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(root, f), nil, 0o644))
			}
			var got []string
			for _, w := range Discover(root, tc.lookPath) {
				got = append(got, w.String())
			}
			for i := range tc.want {
				tc.want[i] = strings.ReplaceAll(tc.want[i], "ROOT", root)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// A fresh machine with no config: the App discovers the logs under its
// root, loads them through the acquisition registry, and says what it
// watches.
func TestFreshMachineDiscovery(t *testing.T) {
	root := t.TempDir()
	log := filepath.Join(root, "var/log/nginx/access.log")
	require.NoError(t, os.MkdirAll(filepath.Dir(log), 0o755))
	require.NoError(t, os.WriteFile(log, nil, 0o644))
	var c Config
	c.DataDir = filepath.Join(root, "data")
	c.LAPI.ListenURI = "127.0.0.1:0"
	a, err := New(c, WithLogger(testLogger(t)), WithDiscovery(root, nil))
	require.NoError(t, err)
	defer a.Close()
	require.Equal(t, []string{"file " + log + " (type nginx)"}, a.Watching())
}

// readmeConfig is the YAML block of the README's "Running the daemon"
// section, with its commented-out keys ("  # key: value") uncommented, and
// how many lines were uncommented.
func readmeConfig(t *testing.T) (string, int) {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	s := string(b)
	i := strings.Index(s, "\n## Running the daemon")
	require.NotEqual(t, -1, i, "README: no 'Running the daemon' section")
	s = s[i:]
	if j := strings.Index(s[1:], "\n## "); j >= 0 {
		s = s[:j+1]
	}
	i = strings.Index(s, "\n```yaml\n")
	require.NotEqual(t, -1, i, "README: no yaml block in 'Running the daemon'")
	s = s[i+len("\n```yaml\n"):]
	j := strings.Index(s, "\n```")
	require.NotEqual(t, -1, j, "README: unterminated yaml block")
	commented := regexp.MustCompile(`^(\s*)# ([a-z_]+: .*)$`)
	lines := strings.Split(s[:j+1], "\n")
	n := 0
	for k, l := range lines {
		if m := commented.FindStringSubmatch(l); m != nil {
			lines[k] = m[1] + m[2]
			n++
		}
	}
	return strings.Join(lines, "\n"), n
}

// The README's config block names only keys the daemon knows (strict
// decoding, the commented-out ones included), and the defaults it shows
// are the code's.
func TestReadmeConfig(t *testing.T) {
	y, uncommented := readmeConfig(t)
	require.Positive(t, uncommented, "the commented-out keys were not found")
	c, err := ParseConfig("README.md", []byte(y))
	require.NoError(t, err)
	r, err := c.resolve()
	require.NoError(t, err)
	require.Equal(t, DefaultMemoryLimitMiB, c.MemoryLimitMiB)
	require.Equal(t, lapi.DefaultListen, c.LAPI.ListenURI)
	require.Equal(t, lapi.DefaultFlushMaxAge, c.LAPI.Flush.MaxAge)
	require.Equal(t, lapi.DefaultFlushMaxItems, c.LAPI.Flush.MaxItems)
	require.Equal(t, lapi.DefaultMaxAlertsPerRequest, c.LAPI.MaxAlertsPerRequest)
	require.Equal(t, lapi.DefaultMaxEventsPerAlert, c.LAPI.MaxEventsPerAlert)
	require.Equal(t, lapi.DefaultMaxRawLinesPerAlert, c.LAPI.MaxRawLinesPerAlert)
	require.Equal(t, lapi.DefaultMaxRawBytesPerAlert, c.LAPI.MaxRawBytesPerAlert)
	require.Equal(t, lapi.DefaultMaxAlertsLimit, c.LAPI.MaxAlertsLimit)
	require.Equal(t, lapi.DefaultMinPrefixV4, *c.LAPI.MinDecisionPrefix.IPv4)
	require.Equal(t, lapi.DefaultMinPrefixV6, *c.LAPI.MinDecisionPrefix.IPv6)
	require.Equal(t, lapi.DefaultMaxPending, c.LAPI.Registration.MaxPending)
	require.Equal(t, lapi.DefaultRegistrationRate, c.LAPI.Registration.Rate)
	require.Equal(t, lapi.DefaultLoginFreeFailures, c.LAPI.Login.FreeFailures)
	require.Equal(t, lapi.DefaultLoginMaxBackoff, c.LAPI.Login.MaxBackoff)
	require.Equal(t, int64(agent.DefaultSpoolBytes), c.Agent.SpoolMaxBytes)
	require.Equal(t, RawLinesConfig{MaxLines: DefaultRawLines, MaxBytes: DefaultRawLineBytes}, c.Agent.RawLines)
	g := netguard.Defaults()
	require.Equal(t, g.ReadTimeout, c.LAPI.Limits.ReadTimeout)
	require.Equal(t, g.MaxConns, c.LAPI.Limits.MaxConns)
	require.Equal(t, g.MaxConnsPerAddress, c.LAPI.Limits.MaxConnsPerAddress)
	require.Equal(t, filepath.Join(r.DataDir, "phalanx.db"), r.LAPI.Database.DBPath)
}
