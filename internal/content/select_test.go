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
	require.Equal(t, []Item{
		{Type: "parsers", Name: "me/a", Status: StatusCustom}, {Type: "parsers", Name: "me/b", Status: StatusCustom},
		{Type: "parsers", Name: "me/z", Status: StatusCustom}, {Type: "postoverflows", Name: "me/w", Status: StatusCustom},
		{Type: "scenarios", Name: "me/mine", Status: StatusCustom},
	}, cfg.Items, "local items are custom (usage metrics' hub_items)")

	parsersOnly, _, err := SelectInstalled(dir, false)
	require.NoError(t, err)
	require.Empty(t, parsersOnly.Scenarios)
	require.Empty(t, parsersOnly.PostOverflows)

	require.NoError(t, os.Symlink("../../hub/parsers/s01-parse/gone/x.yaml", filepath.Join(dir, "parsers/s01-parse/x.yaml")))
	_, _, err = SelectInstalled(dir, true)
	require.ErrorContains(t, err, "leads to no file")
}

// The hub items of a hub tree are reported as official, with their
// version, sorted by type and name; the embedded defaults report their
// scenarios.
func TestSelectItems(t *testing.T) {
	t.Parallel()
	hubDir := filepath.Join("..", "..", "..", "shared", "hub")
	if _, err := os.Stat(filepath.Join(hubDir, "index.json")); err != nil {
		t.Fatalf("the shared hub is missing: %v", err)
	}
	cfg, err := Select(hubDir, []string{"crowdsecurity/sshd"}, true)
	require.NoError(t, err)
	byType := map[string][]Item{}
	for _, it := range cfg.Items {
		require.Equal(t, StatusOfficial, it.Status)
		require.NotEmpty(t, it.Version, it.Name)
		byType[it.Type] = append(byType[it.Type], it)
	}
	require.Equal(t, []Item{byType["collections"][0]}, byType["collections"])
	require.Equal(t, "crowdsecurity/sshd", byType["collections"][0].Name)
	require.Len(t, byType["scenarios"], len(cfg.Scenarios))
	require.Len(t, byType["parsers"], len(cfg.Parsers))

	def, err := Select("", nil, true)
	require.NoError(t, err)
	require.NotEmpty(t, def.Items)
	require.Len(t, def.Items, len(def.ScenarioInfo))
	for _, it := range def.Items {
		require.Equal(t, "scenarios", it.Type)
		require.Equal(t, def.ScenarioInfo[it.Name].Version, it.Version)
	}
}
