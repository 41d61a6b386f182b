package exprenv

import (
	"fmt"
	"hash/maphash"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

func ptr[T any](v T) *T { return &v }

func dataStore(t testing.TB) *datafile.Store {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"ua.regex": "(?i)sqlmap\n^curl/\n",
		"bots.json": `{"name":"g","user_agent":"googlebot","rdns":["(^|\\.)googlebot\\.com$"]}` + "\n" +
			`{"name":"r","ranges":["10.0.0.0/8"]}` + "\n",
	}
	for n, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644))
	}
	s := datafile.NewStore(dir)
	s.SetMirror(filepath.Join(testutil.Hub(t), "data"))
	for _, sp := range []datafile.Spec{
		{DestFile: "ua.regex", Type: "regexp", Size: ptr(10), TTL: "10s"},
		{DestFile: "bots.json", Type: "bots"},
		{SourceURL: "https://hub-data.crowdsec.net/web/path_traversal.txt", DestFile: "http_path_traversal.txt", Type: "string"},
		{SourceURL: "https://hub-data.crowdsec.net/web/technology_probing.json", DestFile: "technology_probing.json", Type: "map"},
		{SourceURL: "https://hub-data.crowdsec.net/web/bad_user_agents.regex.txt", DestFile: "bad_user_agents.regex.txt", Type: "regexp"},
	} {
		require.NoError(t, s.Load(sp), sp.DestFile)
	}
	return s
}

func TestDataHelpers(t *testing.T) {
	s := dataStore(t)
	dns := fakeDNS{
		ptr:   map[string][]string{"66.249.66.1": {"crawl-66-249-66-1.googlebot.com."}, "6.6.6.6": {"fake.googlebot.com."}},
		hosts: map[string][]string{"crawl-66-249-66-1.googlebot.com": {"66.249.66.1"}, "fake.googlebot.com": {"7.7.7.7"}},
	}
	runCases(t, New(Deps{Data: s, Resolver: dns}), []exprCase{
		{"file", `"../" in File("http_path_traversal.txt")`, true, false},
		{"file any", `any(File("http_path_traversal.txt"), {"/a/%2e%2e%2fetc" contains #})`, true, false},
		{"file unknown", `File("nope.txt")`, []string{}, false},
		{"regexp in file", `RegexpInFile("SQLMap/1.0", "ua.regex")`, true, false},
		{"regexp in file no", `RegexpInFile("Mozilla", "ua.regex")`, false, false},
		{"regexp hub file", `RegexpInFile("Mozilla/5.0 (compatible; Nmap Scripting Engine)", "bad_user_agents.regex.txt")`, true, false},
		{"regexp unknown", `RegexpInFile("x", "nope")`, false, false},
		{"filemap", `len(FileMap("technology_probing.json")) > 10`, true, false},
		{"filemap unknown", `FileMap("nope")`, []map[string]string{}, false},
		{"lookup", `LookupFile("/ampps-admin/index.php", "technology_probing.json")`, "ampps-admin-login-panel-probing", false},
		{"lookup none", `LookupFile("/nothing/here", "technology_probing.json")`, "", false},
		{"bot by range", `MatchKnownBot("10.1.1.1", "x", "/", "bots.json")`, true, false},
		{"bot by fcrdns", `MatchKnownBot("66.249.66.1", "Googlebot/2.1", "/", "bots.json")`, true, false},
		{"bot rdns not confirmed", `MatchKnownBot("6.6.6.6", "Googlebot/2.1", "/", "bots.json")`, false, false},
		{"bot ua mismatch", `MatchKnownBot("66.249.66.1", "curl", "/", "bots.json")`, false, false},
		{"bot bad ip", `MatchKnownBot("x", "Googlebot", "/", "bots.json")`, false, false},
		{"bot unknown file", `MatchKnownBot("10.1.1.1", "x", "/", "nope.json")`, false, false},
	})
	runCases(t, New(Deps{}), []exprCase{
		{"no store file", `File("x")`, []string{}, false},
		{"no store regexp", `RegexpInFile("x", "y")`, false, false},
		{"no store lookup", `LookupFile("x", "y")`, "", false},
		{"no store bots", `MatchKnownBot("10.0.0.1", "", "", "b")`, false, false},
		{"no resolver", `MatchKnownBot("66.249.66.1", "Googlebot", "/", "bots.json")`, false, false},
	})
}

func TestRegexpInFileCache(t *testing.T) {
	s := dataStore(t)
	var now atomic.Int64
	e := New(Deps{Data: s, Now: func() time.Time { return time.Unix(now.Load(), 0) }})
	c := e.regexpCache("ua.regex")
	require.NotNil(t, c, "spec with size/ttl has a cache")
	require.Nil(t, e.regexpCache("bad_user_agents.regex.txt"), "spec without cache settings has none")
	for range 3 {
		got, err := e.regexpInFile("curl/8.0", "ua.regex")
		require.NoError(t, err)
		require.Equal(t, true, got)
	}
	require.Equal(t, 1, c.Len())
}

// TestRegexpInFileMatch: the native form answers as the helper, shares its
// result cache, and answers false until its file is loaded, then matches.
func TestRegexpInFileMatch(t *testing.T) {
	s := dataStore(t)
	e := New(Deps{Data: s})
	for _, c := range []struct{ file, in string }{
		{"ua.regex", "curl/8.0"}, {"ua.regex", "SQLMAP"}, {"ua.regex", "Mozilla"}, {"ua.regex", ""},
		{"bad_user_agents.regex.txt", "Mozilla/5.0 (compatible; Nmap Scripting Engine)"},
		{"bad_user_agents.regex.txt", "Mozilla/5.0 (X11; Linux x86_64)"}, {"nope", "x"},
	} {
		m := e.RegexpInFileMatch(c.file)
		want, err := e.regexpInFile(c.in, c.file)
		require.NoError(t, err)
		require.Equal(t, want, m(c.in), "%s on %q", c.file, c.in)
		require.Equal(t, want, m(c.in), "%s on %q, again", c.file, c.in)
		if c.file == "ua.regex" {
			// The native form fills the helper's cache. Checked per value
			// just after its call: the table is direct-mapped under a
			// random seed, so two of the values may share a slot.
			got, ok := e.regexpCache("ua.regex").Get(maphash.String(e.seed, c.in))
			require.True(t, ok, "%q in the helper's cache", c.in)
			require.Equal(t, want, got, "%q's cached result", c.in)
		}
	}

	dir := t.TempDir()
	late := datafile.NewStore(dir)
	e = New(Deps{Data: late})
	m := e.RegexpInFileMatch("late.regex")
	require.False(t, m("abc"), "not loaded yet")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "late.regex"), []byte("^ab\n"), 0o644))
	require.NoError(t, late.Load(datafile.Spec{DestFile: "late.regex", Type: "regexp"}))
	require.True(t, m("abc"), "loaded since")
	require.False(t, m("xabc"))
}

// BenchmarkRegexpInFileMatch: RegexpInFile on a user agent, as the
// helper (looks the file and its cache up per call) and in its native
// form (looked up once), with and without a result cache.
//
//	go test ./internal/exprenv -run '^$' -bench RegexpInFileMatch
func BenchmarkRegexpInFileMatch(b *testing.B) {
	e := New(Deps{Data: dataStore(b)})
	const ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
	for _, file := range []string{"ua.regex", "bad_user_agents.regex.txt"} {
		b.Run(file+"/helper", func(b *testing.B) {
			for b.Loop() {
				e.regexpMatch(ua, file)
			}
		})
		m := e.RegexpInFileMatch(file)
		b.Run(file+"/native", func(b *testing.B) {
			for b.Loop() {
				m(ua)
			}
		})
	}
	// Values that seldom repeat (request paths, as thinkphp-cve-2018-20062
	// matches them): the cache mostly misses.
	paths := make([]string, 1000)
	for i := range paths {
		paths[i] = fmt.Sprintf("/products/%d?page=%d", i, i%7)
	}
	m := e.RegexpInFileMatch("ua.regex")
	b.Run("ua.regex/native-many", func(b *testing.B) {
		i := 0
		for b.Loop() {
			m(paths[i])
			i = (i + 1) % len(paths)
		}
	})
}

// TestResultCache: a result is found under its hash only; a hash mapped
// to the same slot replaces it; the table has room for four entries per
// result asked for, within its bounds.
func TestResultCache(t *testing.T) {
	for _, c := range []struct {
		name       string
		size, want int
	}{
		{"small", 10, rcMinLen},
		{"size 20", 20, 128},
		{"size 40", 40, 256},
		{"huge", 1 << 20, rcMaxLen},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Len(t, newResultCache(c.size).slots, c.want)
		})
	}
	rc := newResultCache(16)
	const h = 0x1234_5678_9abc_def0
	_, ok := rc.Get(h)
	require.False(t, ok, "empty")
	rc.Set(h, true)
	r, ok := rc.Get(h)
	require.True(t, ok)
	require.True(t, r)
	_, ok = rc.Get(h ^ 1<<40)
	require.False(t, ok, "another hash in the same slot")
	rc.Set(h^1<<40, false)
	r, ok = rc.Get(h ^ 1<<40)
	require.True(t, ok)
	require.False(t, r)
	_, ok = rc.Get(h)
	require.False(t, ok, "replaced")
	rc.Set(h+1, true)
	require.Equal(t, 2, rc.Len())
}
