package hub

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

const digest = "0000000000000000000000000000000000000000000000000000000000000001"

func TestParseIndex(t *testing.T) {
	t.Parallel()
	item := func(path, extra string) string {
		return `{"path": "` + path + `", "version": "0.2", "versions": {"0.1": {"digest": "` + digest + `"}, "0.2": {"digest": "` + strings.Replace(digest, "1", "2", 1) + `"}}` + extra + `}`
	}
	cases := []struct {
		name, index, err string
	}{
		{name: "good", index: `{"parsers": {"a/b": ` + item("parsers/s01-parse/a/b.yaml", `, "stage": "s01-parse"`) + `}, "collections": {"a/c": ` + item("collections/a/c.yaml", `, "parsers": ["a/b"]`) + `}}`},
		{name: "not json", index: `{"parsers": `, err: "decode index"},
		{name: "empty", index: `{}`, err: "no item"},
		{name: "name without author", index: `{"parsers": {"b": ` + item("parsers/s01-parse/a/b.yaml", "") + `}}`, err: `"author/name"`},
		{name: "path out of the hub", index: `{"parsers": {"a/b": ` + item("parsers/s01-parse/../b.yaml", "") + `}}`, err: "bad segment"},
		{name: "absolute path", index: `{"scenarios": {"a/b": ` + item("/etc/a/b.yaml", "") + `}}`, err: "want scenarios/"},
		{name: "path of another type", index: `{"scenarios": {"a/b": ` + item("parsers/a/b.yaml", "") + `}}`, err: "want scenarios/"},
		{name: "parser without stage dir", index: `{"parsers": {"a/b": ` + item("parsers/a/b.yaml", "") + `}}`, err: "want parsers/<stage>/"},
		{name: "stage mismatch", index: `{"parsers": {"a/b": ` + item("parsers/s01-parse/a/b.yaml", `, "stage": "s02-enrich"`) + `}}`, err: "does not match"},
		{name: "not yaml", index: `{"scenarios": {"a/b": ` + item("scenarios/a/b.sh", "") + `}}`, err: "not a .yaml"},
		{name: "unknown version", index: `{"scenarios": {"a/b": {"path": "scenarios/a/b.yaml", "version": "9", "versions": {}}}}`, err: "not among the published"},
		{name: "bad digest", index: `{"scenarios": {"a/b": {"path": "scenarios/a/b.yaml", "version": "1", "versions": {"1": {"digest": "abc"}}}}}`, err: "not a sha256"},
		{name: "bad dependency name", index: `{"collections": {"a/c": ` + item("collections/a/c.yaml", `, "parsers": ["../x"]`) + `}}`, err: "bad name"},
		{name: "null item", index: `{"scenarios": {"a/b": null}}`, err: "empty entry"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idx, err := ParseIndex([]byte(tc.index))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			it, ok := idx.Get(Parsers, "a/b")
			require.True(t, ok)
			require.Equal(t, filepath.FromSlash("parsers/s01-parse/b.yaml"), it.InstallPath())
			require.Equal(t, "0.1", it.VersionOf(digest))
			require.Equal(t, "", it.VersionOf(strings.Repeat("f", 64)))
			got, ok := idx.ByPath("parsers/s01-parse/a/b.yaml")
			require.True(t, ok)
			require.Same(t, it, got)
		})
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"0.9", "0.10", -1}, {"1.0", "0.10", 1}, {"1.0", "1.0", 0}, {"1", "1.0", -1}, {"1.a", "1.b", -1},
	} {
		require.Equal(t, tc.want, CompareVersions(tc.a, tc.b), "%s vs %s", tc.a, tc.b)
	}
}

// The shared hub's index parses, and installing its items would never
// write two items to one place.
func TestSharedIndex(t *testing.T) {
	t.Parallel()
	idx, err := Open(testutil.Hub(t))
	require.NoError(t, err)
	require.Greater(t, idx.Len(), 1000)
	seen := map[string]string{}
	for _, typ := range Types {
		for _, n := range idx.Names(typ) {
			it, _ := idx.Get(typ, n)
			p := it.InstallPath()
			require.Empty(t, seen[p], "%s and %s both install as %s", seen[p], n, p)
			seen[p] = n
		}
	}
	items, err := idx.Closure(Ref{Collections, "crowdsecurity/linux"})
	require.NoError(t, err)
	require.Equal(t, "crowdsecurity/linux", items[0].Name)
}

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte(`{"parsers": {"a/b": {"path": "parsers/s01-parse/a/b.yaml", "version": "0.1", "versions": {"0.1": {"digest": "` + digest + `"}}}}}`))
	f.Add([]byte(`{"collections": {"a/c": {"path": "collections/a/c.yaml", "version": "1", "parsers": ["x/y"], "versions": {"1": {"digest": "` + digest + `"}}}}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, err := ParseIndex(b)
		if err != nil {
			return
		}
		for _, typ := range Types {
			for _, n := range idx.Names(typ) {
				it, _ := idx.Get(typ, n)
				for _, p := range []string{it.Path, it.InstallPath()} {
					if !filepath.IsLocal(filepath.FromSlash(p)) {
						t.Fatalf("%s %s: path %q leaves the tree", typ, n, p)
					}
				}
			}
		}
	})
}
