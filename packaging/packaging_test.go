package packaging

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/acquire"
	"github.com/phalanx-ids/phalanx/internal/acquire/builtin"
	daemon "github.com/phalanx-ids/phalanx/internal/app"
	"github.com/phalanx-ids/phalanx/internal/bouncer/httpbouncer"
)

// The default config and the compose example's configs load as the
// daemon and the bouncers load them (no Docker engine runs here: this is
// what can be checked of the example without one).
func TestConfigsLoad(t *testing.T) {
	t.Parallel()
	cfg, err := daemon.ParseConfig("phalanx.yaml", Config())
	require.NoError(t, err)
	require.Equal(t, DataDir, cfg.DataDir)
	require.Equal(t, AcquisDir, cfg.Agent.AcquisitionDir)

	_, err = daemon.LoadConfig("compose/phalanx.yaml")
	require.NoError(t, err)
	b, err := os.ReadFile("compose/acquis.d/nginx.yaml")
	require.NoError(t, err)
	srcs, err := builtin.NewRegistry().LoadBytes("nginx.yaml", b, acquire.Deps{})
	require.NoError(t, err)
	require.Len(t, srcs, 1)

	// The HTTP bouncer's config that register-bouncer.sh writes.
	sh, err := os.ReadFile("compose/register-bouncer.sh")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?s)<<CONF\n(.*?)\nCONF\n`).FindSubmatch(sh)
	require.NotNil(t, m, "the heredoc of the bouncer's config")
	conf := strings.NewReplacer("$key", "0123456789abcdef0123456789abcdef", "$cfg", "/etc/phalanx/bouncers/http.yaml").Replace(string(m[1]))
	_, err = httpbouncer.ParseProxyConfig("http.yaml", []byte(conf))
	require.NoError(t, err)

	var compose struct {
		Services map[string]struct {
			Image   string   `yaml:"image"`
			Command []string `yaml:"command"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	b, err = os.ReadFile("compose/compose.yaml")
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(b, &compose))
	for name, s := range compose.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				_, err := os.Stat(filepath.Join("compose", src))
				require.NoError(t, err, "%s mounts %s", name, src)
			} else {
				require.Contains(t, compose.Volumes, src, "%s mounts the volume %s", name, src)
			}
		}
	}
	require.Equal(t, []string{"bouncer", "http", "-c", "/etc/phalanx/bouncers/http.yaml"}, compose.Services["bouncer"].Command)
}

// The units keep the sandbox the README promises; the packages and setup
// ship these bytes.
func TestUnits(t *testing.T) {
	t.Parallel()
	d, err := Unit("phalanx.service")
	require.NoError(t, err)
	f, err := Unit("phalanx-firewall-bouncer.service")
	require.NoError(t, err)
	for _, l := range []string{"ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes", "WantedBy=multi-user.target"} {
		require.Contains(t, string(d), l+"\n")
		require.Contains(t, string(f), l+"\n")
	}
	require.Contains(t, string(d), "ReadWritePaths="+DataDir+"\n")
	require.Contains(t, string(d), "ExecStart="+BinaryPath+" run -c "+ConfigPath+"\n")
	require.Contains(t, string(f), "ExecStart="+BinaryPath+" bouncer firewall -c "+FirewallConfig+"\n")
	require.Contains(t, string(f), "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW\n")
	require.NotContains(t, string(d), "CAP_NET_ADMIN", "only the firewall bouncer gets CAP_NET_ADMIN")
	for _, u := range Units() {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		require.NoError(t, err)
		got, _ := Unit(u)
		require.True(t, bytes.Equal(b, got))
	}
}
