package datafile

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

func write(t *testing.T, dir, name, body string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "s.txt", "# comment\na\r\n\n  \n b #x\r\nlast")
	write(t, dir, "r.txt", "^/admin\n# c\n(?i)bot$\n")
	write(t, dir, "bad.regex", "ok\n(unclosed\n")
	write(t, dir, "m.json", "## header\n\n"+
		`{"pattern":"/x","tag":"eq","type":"equals"}`+"\n"+
		`{"pattern":"/wp-","tag":"wp","type":"contains"}`+"\n"+
		`{"pattern":"admin","tag":"adm","type":"contains"}`+"\n"+
		`{"pattern":"^/api/v[0-9]+","tag":"api","type":"regex"}`+"\n")
	write(t, dir, "nomap.json", `{"pattern":"a","tag":"b"}`)
	write(t, dir, "badjson.json", `{"pattern":1}`)
	write(t, dir, "db.mmdb", "\x00bin")

	for _, c := range []struct {
		name    string
		spec    Spec
		wantErr string
	}{
		{"string", Spec{DestFile: "s.txt", Type: "string"}, ""},
		{"regexp", Spec{DestFile: "r.txt", Type: "regexp"}, ""},
		{"regex alias", Spec{DestFile: "r.txt", Type: "regex"}, ""},
		{"bad regexp names the line", Spec{DestFile: "bad.regex", Type: "regexp"}, "bad.regex:2"},
		{"map", Spec{DestFile: "m.json", Type: "map"}, ""},
		{"map missing type", Spec{DestFile: "nomap.json", Type: "map"}, `missing mandatory "type"`},
		{"map bad json", Spec{DestFile: "badjson.json", Type: "map"}, "badjson.json:1"},
		{"binary only checked", Spec{DestFile: "db.mmdb"}, ""},
		{"missing", Spec{DestFile: "nope.txt", Type: "string"}, "not found"},
		{"unknown type", Spec{DestFile: "s.txt", Type: "csv"}, "unknown type"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := NewStore(dir)
			err := s.Load(c.spec)
			if c.wantErr != "" {
				require.ErrorContains(t, err, c.wantErr)
				require.False(t, s.Loaded(c.spec.DestFile))
				return
			}
			require.NoError(t, err)
			require.True(t, s.Loaded(c.spec.DestFile))
		})
	}

	s := NewStore(dir)
	require.Equal(t, dir, s.Dir())
	require.NoError(t, s.Load(Spec{DestFile: "s.txt", Type: "string"}))
	require.Equal(t, []string{"a", "  ", " b #x", "last"}, s.Strings("s.txt"))
	require.NoError(t, s.Load(Spec{DestFile: "r.txt", Type: "regexp"}))
	require.Len(t, s.Regexps("r.txt"), 2)
	require.NoError(t, s.Load(Spec{DestFile: "m.json", Type: "map"}))
	require.Len(t, s.MapRows("m.json"), 4)
	require.Nil(t, s.Strings("nope"))
	require.Nil(t, s.Regexps("nope"))
	require.Nil(t, s.MapRows("nope"))
	require.Equal(t, filepath.Join(dir, "s.txt"), s.Path("s.txt"))
	sp, ok := s.Spec("m.json")
	require.True(t, ok)
	require.Equal(t, "map", sp.Type)

	// Loading again is a no-op, even if the file changed.
	write(t, dir, "s.txt", "other")
	require.NoError(t, s.Load(Spec{DestFile: "s.txt", Type: "string"}))
	require.Equal(t, "a", s.Strings("s.txt")[0])

	err := s.Load(Spec{DestFile: "zzz", Type: "string"})
	require.True(t, errors.Is(err, ErrNotFound))
}

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "m.json", ""+
		`{"pattern":"/x","tag":"eq","type":"equals"}`+"\n"+
		`{"pattern":"/x","tag":"eq2","type":"equals"}`+"\n"+
		`{"pattern":"admin","tag":"adm","type":"contains"}`+"\n"+
		`{"pattern":"/wp-","tag":"wp","type":"contains"}`+"\n"+
		`{"pattern":"/wp-admin","tag":"wpadm","type":"contains"}`+"\n"+
		`{"pattern":"^/api/v[0-9]+","tag":"api","type":"regex"}`+"\n"+
		`{"pattern":"/x","tag":"re","type":"regex"}`+"\n")
	s := NewStore(dir)
	require.NoError(t, s.Load(Spec{DestFile: "m.json", Type: "map"}))
	for _, c := range []struct{ in, tag string }{
		{"/x", "eq"},                // equals wins, first row
		{"/x/y", "re"},              // not equal: regex
		{"/wp-admin/x", "wp"},       // leftmost match; tie goes to the first row
		{"/site/admin/wp-x", "adm"}, // leftmost start wins over file order
		{"/api/v2/users", "api"},
		{"/nothing", ""},
	} {
		tag, ok := s.Lookup("m.json", c.in)
		require.Equal(t, c.tag, tag, c.in)
		require.Equal(t, c.tag != "", ok, c.in)
	}
	_, ok := s.Lookup("unknown", "/x")
	require.False(t, ok)
}

func TestBots(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b.json", "# bots\n"+
		`{"name":"g","user_agent":"googlebot","rdns":["(^|\\.)googlebot\\.com$"]}`+"\n"+
		`{"name":"r","ranges":["10.0.0.0/8"],"paths":["^/robots"]}`+"\n"+
		`{"name":"i","ips":["::ffff:1.2.3.4"]}`+"\n")
	s := NewStore(dir)
	require.NoError(t, s.Load(Spec{DestFile: "b.json", Type: "bots"}))
	bots := s.Bots("b.json")
	require.Len(t, bots, 3)
	g, r, i := bots[0], bots[1], bots[2]
	require.True(t, g.Preconditions("Mozilla GoogleBot/2.1", "/"))
	require.False(t, g.Preconditions("curl", "/"))
	require.True(t, g.NeedsRDNS())
	require.True(t, g.MatchName("crawl-1.googlebot.com"))
	require.False(t, g.MatchName("googlebot.com.evil.net"))
	a, ok := ParseBotAddr("10.1.2.3:443")
	require.True(t, ok)
	require.True(t, r.Preconditions("", "/ROBOTS.txt"))
	require.False(t, r.Preconditions("", "/"))
	require.True(t, r.MatchAddr(a))
	a, ok = ParseBotAddr("1.2.3.4")
	require.True(t, ok)
	require.True(t, i.MatchAddr(a))
	_, ok = ParseBotAddr("nope")
	require.False(t, ok)

	for name, line := range map[string]string{
		"no identity": `{"name":"x","user_agent":"a"}`,
		"no name":     `{"ips":["1.1.1.1"]}`,
		"bad cidr":    `{"name":"x","ranges":["1.1.1.1/99"]}`,
		"bad regex":   `{"name":"x","ips":["1.1.1.1"],"user_agent":"("}`,
		"unknown key": `{"name":"x","ips":["1.1.1.1"],"foo":1}`,
		"empty rdns":  `{"name":"x","rdns":[""]}`,
	} {
		write(t, dir, "bad.json", line)
		err := NewStore(dir).Load(Spec{DestFile: "bad.json", Type: "bots"})
		require.Error(t, err, name)
	}
}

func TestMirror(t *testing.T) {
	hub := testutil.Hub(t)
	dataDir := t.TempDir()
	s := NewStore(dataDir)
	spec := Spec{SourceURL: "https://hub-data.crowdsec.net/web/path_traversal.txt", DestFile: "http_path_traversal.txt", Type: "string"}
	require.ErrorIs(t, s.Load(spec), ErrNotFound, "no mirror yet")
	s.SetMirror(filepath.Join(hub, "data"))
	require.NoError(t, s.Load(spec))
	require.NotEmpty(t, s.Strings("http_path_traversal.txt"))
	require.Equal(t, filepath.Join(hub, "data", "web", "path_traversal.txt"), s.Path("http_path_traversal.txt"))

	// The data dir wins over the mirror.
	write(t, dataDir, "sensitive_data.txt", "only-local\n")
	require.NoError(t, s.Load(Spec{SourceURL: "https://hub-data.crowdsec.net/web/sensitive_data.txt", DestFile: "sensitive_data.txt", Type: "string"}))
	require.Equal(t, []string{"only-local"}, s.Strings("sensitive_data.txt"))

	// A source_url cannot climb out of the mirror.
	_, err := s.Resolve(Spec{SourceURL: "https://x/../../etc/passwd", DestFile: "p"})
	require.ErrorIs(t, err, ErrNotFound)
}

// TestHubDataFiles loads every data file that hub items declare and the
// mirror holds, with the declared type.
func TestHubDataFiles(t *testing.T) {
	hub := testutil.Hub(t)
	s := NewStore(t.TempDir())
	s.SetMirror(filepath.Join(hub, "data"))
	for _, spec := range []Spec{
		{SourceURL: "https://hub-data.crowdsec.net/web/bad_user_agents.regex.txt", DestFile: "bad_user_agents.regex.txt", Type: "regexp"},
		{SourceURL: "https://hub-data.crowdsec.net/web/thinkphp_cve_2018-20062.txt", DestFile: "thinkphp_cve_2018-20062.txt", Type: "regexp"},
		{SourceURL: "https://hub-data.crowdsec.net/web/technology_probing.json", DestFile: "technology_probing.json", Type: "map"},
		{SourceURL: "https://hub-data.crowdsec.net/web/trendy_cves_uris.json", DestFile: "trendy_cves_uris.json", Type: "string"},
		{SourceURL: "https://hub-data.crowdsec.net/web/admin_interfaces.txt", DestFile: "admin_interfaces.txt", Type: "string"},
		{SourceURL: "https://hub-data.crowdsec.net/web/backdoors.txt", DestFile: "backdoors.txt", Type: "string"},
		{SourceURL: "https://hub-data.crowdsec.net/web/sqli_probe_patterns.txt", DestFile: "sqli_probe_patterns.txt", Type: "string"},
		{SourceURL: "https://hub-data.crowdsec.net/whitelists/benign_bots/search_engine_crawlers/rnds_seo_bots.regex", DestFile: "rdns_seo_bots.regex", Type: "regexp"},
		{SourceURL: "https://hub-data.crowdsec.net/whitelists/benign_bots/search_engine_crawlers/ip_seo_bots.txt", DestFile: "ip_seo_bots.txt", Type: "string"},
		{SourceURL: "https://hub-data.crowdsec.net/whitelists/benign_bots/legit_bots/googlebot.json", DestFile: "googlebot.json", Type: "bots"},
	} {
		t.Run(spec.DestFile, func(t *testing.T) {
			require.NoError(t, s.Load(spec))
			switch spec.Type {
			case "string":
				require.NotEmpty(t, s.Strings(spec.DestFile))
			case "regexp":
				require.NotEmpty(t, s.Regexps(spec.DestFile))
			case "map":
				require.NotEmpty(t, s.MapRows(spec.DestFile))
			case "bots":
				require.NotEmpty(t, s.Bots(spec.DestFile))
			}
		})
	}
	tag, ok := s.Lookup("technology_probing.json", "/ampps-admin/index.php")
	require.True(t, ok)
	require.Equal(t, "ampps-admin-login-panel-probing", tag)
	for _, line := range s.Strings("admin_interfaces.txt") {
		require.NotEqual(t, '#', rune(line[0]))
	}
}

func TestConcurrentLoadAndRead(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "s.txt", "a\nb\n")
	s := NewStore(dir)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, s.Load(Spec{DestFile: "s.txt", Type: "string"}))
			_ = s.Strings("s.txt")
		}()
	}
	wg.Wait()
	require.Equal(t, []string{"a", "b"}, s.Strings("s.txt"))
}

func FuzzLoadMap(f *testing.F) {
	f.Add(`{"pattern":"a","tag":"b","type":"contains"}`, "xxa")
	f.Add(`{"pattern":"(","tag":"b","type":"regex"}`, "x")
	f.Fuzz(func(t *testing.T, line, hay string) {
		l := &loaded{spec: Spec{Type: "map"}}
		if err := l.read(stringsReader(line), "f"); err != nil {
			return
		}
		_, _ = l.index.lookup(hay)
	})
}
