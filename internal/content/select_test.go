package content

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Installed content: nothing installed means the embedded defaults; files
// are ordered by stage then name; an edited scenario reports version "?";
// a broken link is an error.
func TestSelectInstalled(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, ok, err := SelectInstalled(dir, true)
	require.NoError(t, err)
	require.False(t, ok)

	write := func(rel, content string) string {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	write("parsers/s02-enrich/a.yaml", "name: me/a\n")
	write("parsers/s01-parse/z.yaml", "name: me/z\n")
	write("parsers/s01-parse/b.yaml", "name: me/b\n")
	scen := write("scenarios/mine.yaml", "name: me/mine\ntype: trigger\n")
	write("postoverflows/s01-whitelist/w.yaml", "name: me/w\n")
	write("hub/patterns/x", "X .*\n")

	cfg, ok, err := SelectInstalled(dir, true)
	require.NoError(t, err)
	require.True(t, ok)
	var got []string
	for _, f := range cfg.Parsers {
		got = append(got, f.Stage+"/"+filepath.Base(f.Path))
	}
	require.Equal(t, []string{"s01-parse/b.yaml", "s01-parse/z.yaml", "s02-enrich/a.yaml"}, got)
	require.Len(t, cfg.PostOverflows, 1)
	require.Equal(t, scen, cfg.Scenarios[0].Name)
	require.Equal(t, "", cfg.ScenarioInfo["me/mine"].Version, "a local scenario has no hub version")
	require.Equal(t, []string{filepath.Join(dir, "hub/patterns")}, cfg.PatternDirs)

	parsersOnly, _, err := SelectInstalled(dir, false)
	require.NoError(t, err)
	require.Empty(t, parsersOnly.Scenarios)
	require.Empty(t, parsersOnly.PostOverflows)

	require.NoError(t, os.Symlink("../../hub/parsers/s01-parse/gone/x.yaml", filepath.Join(dir, "parsers/s01-parse/x.yaml")))
	_, _, err = SelectInstalled(dir, true)
	require.ErrorContains(t, err, "leads to no file")
}
