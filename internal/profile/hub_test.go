package profile

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

// TestHubTemplates loads the hubtest runner's profiles and simulation
// templates from the shared hub copy.
func TestHubTemplates(t *testing.T) {
	t.Parallel()
	hub := testutil.Hub(t)
	set, err := LoadFile(filepath.Join(hub, "tests", "template_profiles.yaml"), Options{})
	require.NoError(t, err)
	decs, _, err := set.Decide(newAlert("Ip", "192.0.2.1", ssh))
	require.NoError(t, err)
	require.Equal(t, []string{"ban Ip:192.0.2.1 4h crowdsec " + ssh}, show(decs))

	data, err := os.ReadFile(filepath.Join(hub, "tests", "template_simulation.yaml"))
	require.NoError(t, err)
	sim, err := ParseSimulation("template_simulation.yaml", data)
	require.NoError(t, err)
	require.Equal(t, Simulation{}, sim)
}

var yamlBlockRe = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestHubDocProfiles loads every profiles.yaml example found in the hub's
// documentation (a yaml block with top-level name, filters and decisions)
// and checks what the examples are for.
func TestHubDocProfiles(t *testing.T) {
	t.Parallel()
	hub := testutil.Hub(t)
	var srcs []Source
	err := filepath.WalkDir(hub, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range yamlBlockRe.FindAllSubmatch(data, -1) {
			b := string(m[1])
			if strings.Contains(b, "\nfilters:") && strings.Contains(b, "\ndecisions:") {
				rel, _ := filepath.Rel(hub, path)
				srcs = append(srcs, Source{Name: rel, Data: m[1]})
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(srcs), 5, "hub documentation profile examples")
	for _, src := range srcs {
		_, err := Load([]Source{src}, Options{})
		require.NoError(t, err, src.Name)
	}
	set, err := Load(srcs, Options{})
	require.NoError(t, err)

	cases := []struct {
		name, scope, value string
		want, notify       []string
	}{
		{name: "username temp ban", scope: "username", value: "root",
			want: []string{"tempban username:root 12h crowdsec " + ssh}},
		{name: "pid notification only", scope: "pid", value: "4242", notify: []string{"slack_default"}},
		{name: "range ban", scope: "Range", value: "198.51.100.0/24",
			want: []string{"ban Range:198.51.100.0/24 4h crowdsec " + ssh}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			decs, notify, err := set.Decide(newAlert(tc.scope, tc.value, ssh))
			require.NoError(t, err)
			require.Equal(t, tc.want, show(decs))
			require.Equal(t, tc.notify, notify)
		})
	}
}
