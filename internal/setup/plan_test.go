package setup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/testutil"
)

func planFor(t *testing.T, root, hubURL string, force bool) *Plan {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "phalanx")
	require.NoError(t, os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755))
	p, err := NewPlan(context.Background(), Options{Machine: NewMachine(root), Rules: rules(t), HubURL: hubURL, Force: force, Executable: exe})
	require.NoError(t, err)
	return p
}

func apply(t *testing.T, p *Plan) {
	t.Helper()
	_, err := p.Apply(context.Background())
	require.NoError(t, err)
}

// A file the user changed is left alone (and said so); --force replaces
// it. Sources another acquisition file reads are not read twice.
func TestPlanKeepsUserFiles(t *testing.T) {
	t.Parallel()
	srv := testutil.NewHubServer(t)
	root := tree(t, map[string]string{
		"etc/ssh/sshd_config": "", "var/log/auth.log": "",
		"etc/nginx/nginx.conf": "", "var/log/nginx/access.log": "",
		// The user already reads nginx's logs in a file of their own.
		"etc/phalanx/acquis.d/web.yaml": "filenames: [/var/log/nginx/*.log]\nlabels: {type: nginx}\n",
	})
	p := planFor(t, root, srv.URL, false)
	require.Contains(t, strings.Join(p.Detection.Services[2].Warnings, "\n"), "/var/log/nginx/*.log is already read by /etc/phalanx/acquis.d/web.yaml")
	apply(t, p)
	require.NoFileExists(t, filepath.Join(root, "etc/phalanx/acquis.d/nginx.yaml"))
	require.True(t, planFor(t, root, srv.URL, false).Empty(), "set up")

	sshd := filepath.Join(root, "etc/phalanx/acquis.d/sshd.yaml")
	orig, err := os.ReadFile(sshd)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(sshd, append(orig, "# mine\n"...), 0o644))
	p = planFor(t, root, srv.URL, false)
	require.True(t, p.Empty())
	require.Contains(t, strings.Join(p.Notes, "\n"), "/etc/phalanx/acquis.d/sshd.yaml differs from what setup writes: left as it is")

	p = planFor(t, root, srv.URL, true)
	require.Len(t, p.Files, 1)
	require.True(t, p.Files[0].Replace)
	apply(t, p)
	got, err := os.ReadFile(sshd)
	require.NoError(t, err)
	require.Equal(t, orig, got)
}

// An existing config is kept; without acquisition_dir setup says the
// daemon will not read its files.
func TestPlanExistingConfig(t *testing.T) {
	t.Parallel()
	srv := testutil.NewHubServer(t)
	root := tree(t, map[string]string{
		"etc/phalanx/phalanx.yaml": "data_dir: /srv/phalanx\nagent:\n  acquisition_path: /etc/phalanx/acquis.yaml\n",
		"usr/bin/phalanx":          "#!/bin/sh\n",
		"var/log/auth.log":         "",
	})
	p := planFor(t, root, srv.URL, false)
	require.False(t, p.CopyBinary, "the package's binary is used")
	require.Equal(t, "/usr/bin/phalanx", p.Binary)
	require.Equal(t, "/srv/phalanx", p.DataDir)
	require.Contains(t, strings.Join(p.Notes, "\n"), "does not set agent.acquisition_dir")
	for _, f := range p.Files {
		require.NotEqual(t, "/etc/phalanx/phalanx.yaml", f.Path, "the config is kept")
	}
	apply(t, p)
	require.DirExists(t, filepath.Join(root, "srv/phalanx/hub"))
	b, err := os.ReadFile(filepath.Join(root, "etc/systemd/system/phalanx.service"))
	require.NoError(t, err)
	require.Contains(t, string(b), "ExecStart=/usr/bin/phalanx run")
	require.Contains(t, string(b), "ReadWritePaths=/srv/phalanx\n", "the sandbox opens the data dir of the config")
}
