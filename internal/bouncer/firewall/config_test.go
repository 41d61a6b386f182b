package firewall

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseConfig(t *testing.T) {
	cases := map[string]struct {
		yaml  string
		err   string
		check func(t *testing.T, c Config)
	}{
		"minimal": {yaml: "api_url: http://127.0.0.1:8080/\napi_key: k\n", check: func(t *testing.T, c Config) {
			require.Equal(t, BackendAuto, c.Backend)
			require.Equal(t, ActionDrop, c.DenyAction)
			require.Equal(t, []string{HookInput}, c.Chains)
			require.Equal(t, "phalanx", c.Table)
			require.Equal(t, []string{"ban"}, c.SupportedDecisionsTypes)
			require.Equal(t, 10*time.Second, c.UpdateFrequency)
			require.Equal(t, "stream", c.Mode)
			require.Equal(t, "open", c.FailMode)
		}},
		"ipset alias, reject, chains": {yaml: "api_url: http://x/\napi_key: k\nmode: ipset\ndeny_action: reject\niptables_chains: [INPUT, FORWARD]\nfail_mode: closed\n",
			check: func(t *testing.T, c Config) {
				require.Equal(t, BackendIptables, c.Backend)
				require.Equal(t, ActionReject, c.DenyAction)
				require.Equal(t, []string{HookInput, HookForward}, c.Chains)
				require.Equal(t, "closed", c.FailMode)
			}},
		"mtls without key": {yaml: "api_url: https://x/\ncert_path: c.pem\nkey_path: k.pem\nca_cert_path: ca.pem\n", check: func(t *testing.T, c Config) {
			require.Equal(t, "c.pem", c.CertPath)
			require.Equal(t, "ca.pem", c.CACertPath)
		}},
		"unknown key":       {yaml: "api_url: http://x/\napi_key: k\nbogus: 1\n", err: "field bogus not found"},
		"no credentials":    {yaml: "api_url: http://x/\n", err: "api_key or cert_path"},
		"bad mode":          {yaml: "api_url: http://x/\napi_key: k\nmode: pf\n", err: `mode "pf"`},
		"bad action":        {yaml: "api_url: http://x/\napi_key: k\ndeny_action: tarpit\n", err: "deny_action"},
		"bad chain":         {yaml: "api_url: http://x/\napi_key: k\nchains: [output]\n", err: `chain "output"`},
		"bad fail mode":     {yaml: "api_url: http://x/\napi_key: k\nfail_mode: maybe\n", err: "fail_mode"},
		"bad scope":         {yaml: "api_url: http://x/\napi_key: k\nscopes: [Country]\n", err: "only Ip and Range"},
		"bad duration":      {yaml: "api_url: http://x/\napi_key: k\nupdate_frequency: often\n", err: "into time.Duration"},
		"not yaml":          {yaml: "api_url: [\n", err: "firewall: config"},
		"table with spaces": {yaml: "api_url: http://x/\napi_key: k\ntable: a b\n", err: "table"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := ParseConfig(name, []byte(tc.yaml))
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

// TestCrowdSecConfig: CrowdSec's own firewall bouncer config is accepted.
func TestCrowdSecConfig(t *testing.T) {
	c, err := LoadConfig(filepath.Join("testdata", "crowdsec-firewall-bouncer.yaml"))
	require.NoError(t, err)
	require.Equal(t, BackendNftables, c.Backend)
	require.Equal(t, []string{HookInput, HookForward}, c.Chains)
	require.Equal(t, "0123456789abcdef", string(c.APIKey))
	_, err = LoadConfig(filepath.Join(t.TempDir(), "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
