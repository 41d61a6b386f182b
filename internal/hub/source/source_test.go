package source

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

func TestNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name, url, base, err string
		public, isDir        bool
	}{
		{name: "default", url: "", base: DefaultURL, public: true},
		{name: "public with slash", url: DefaultURL + "/", base: DefaultURL, public: true},
		{name: "mirror", url: "http://127.0.0.1:9/hub/", base: "http://127.0.0.1:9/hub"},
		{name: "directory", url: dir, base: dir, isDir: true},
		{name: "file url", url: "file://" + dir, base: dir, isDir: true},
		{name: "missing directory", url: filepath.Join(dir, "nope"), err: "not a directory"},
		{name: "query", url: "https://h/x?y=1", err: "no query"},
		{name: "other scheme", url: "ftp://h/x", err: "want http://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := New(tc.url)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.base, s.String())
			require.Equal(t, tc.public, s.Public())
			require.Equal(t, tc.isDir, s.dir)
		})
	}
}

// Data files come from their source_url on the public hub, from data/<the
// URL's path> on a mirror.
func TestDataURL(t *testing.T) {
	t.Parallel()
	pub, err := New("")
	require.NoError(t, err)
	mirror, err := New("http://127.0.0.1:9/m")
	require.NoError(t, err)
	const u = "https://hub-data.crowdsec.net/web/bad_user_agents.txt"
	got, err := pub.DataURL(u)
	require.NoError(t, err)
	require.Equal(t, u, got)
	got, err = mirror.DataURL(u)
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9/m/data/web/bad_user_agents.txt", got)
	got, err = mirror.DataURL("https://h/a/../../../x.txt")
	require.NoError(t, err)
	require.Equal(t, "http://127.0.0.1:9/m/data/x.txt", got, "the path is cleaned, never above data/")
	for _, bad := range []string{"file:///etc/passwd", "https://h/", "not a url"} {
		_, err := mirror.DataURL(bad)
		require.Error(t, err, bad)
	}
}

// Pattern files are checked against the manifest, which is the shared
// copy's set.
func TestPatterns(t *testing.T) {
	t.Parallel()
	s, err := New(testutil.Hub(t))
	require.NoError(t, err)
	for name, want := range Patterns() {
		b, err := s.Pattern(context.Background(), name)
		require.NoError(t, err, name)
		require.Equal(t, want, hub.HashBytes(b))
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("X .*\n")) }))
	t.Cleanup(bad.Close)
	s, err = New(bad.URL)
	require.NoError(t, err)
	_, err = s.Pattern(context.Background(), "nginx")
	require.ErrorContains(t, err, "download refused")
	_, err = s.Pattern(context.Background(), "../../etc/passwd")
	require.ErrorContains(t, err, "not in Phalanx's pattern manifest")
}
