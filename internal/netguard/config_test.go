package netguard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/netguard"
)

func TestConfigYAML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		check   func(t *testing.T, c netguard.Config, g *netguard.Guard)
	}{
		{name: "empty: defaults", yaml: "{}", check: func(t *testing.T, c netguard.Config, g *netguard.Guard) {
			require.Equal(t, 60*time.Second, g.WriteTimeout())
			require.LessOrEqual(t, g.MaxConns(), 3072)
			require.Positive(t, g.MaxConns())
		}},
		{name: "every key", yaml: `
max_header_bytes: 16384
read_header_timeout: 5s
read_timeout: 20s
write_timeout: 2m
idle_timeout: 15s
max_conns: 500
max_conns_per_address: 10
request_rate: 300/m
request_burst: 20
max_addresses: 1000
exempt: [10.0.0.0/8, "::1"]
`, check: func(t *testing.T, c netguard.Config, g *netguard.Guard) {
			require.Equal(t, 2*time.Minute, g.WriteTimeout())
			require.Equal(t, 500, g.MaxConns(), "an explicit max_conns is kept")
			require.InDelta(t, 5.0, float64(c.RequestRate), 1e-9)
		}},
		{name: "limits off", yaml: "max_conns: -1\nmax_conns_per_address: -1\nrequest_rate: off", check: func(t *testing.T, c netguard.Config, g *netguard.Guard) {
			require.Zero(t, g.MaxConns())
			require.Equal(t, netguard.Off, c.RequestRate)
		}},
		{name: "empty exempt list exempts nothing", yaml: "exempt: []", check: func(t *testing.T, c netguard.Config, _ *netguard.Guard) {
			require.NotNil(t, c.Exempt)
			require.Empty(t, c.Exempt)
		}},
		{name: "header limit too small", yaml: "max_header_bytes: 100", wantErr: "max_header_bytes: 100: want 1024 to 1048576"},
		{name: "header limit too large", yaml: "max_header_bytes: 10485760", wantErr: "max_header_bytes"},
		{name: "negative timeout", yaml: "read_timeout: -1s", wantErr: "read_timeout: -1s: must be positive"},
		{name: "header timeout beyond read timeout", yaml: "read_header_timeout: 1m\nread_timeout: 10s", wantErr: "longer than read_timeout"},
		{name: "bad exempt", yaml: "exempt: [not-an-ip]", wantErr: `exempt: "not-an-ip" is not an IP or CIDR`},
		{name: "bad rate unit", yaml: "request_rate: 5/d", wantErr: "unit must be s, m or h"},
		{name: "negative rate", yaml: "request_rate: -5/s", wantErr: "must be positive"},
		{name: "rate not a number", yaml: "request_rate: lots", wantErr: "want N/s"},
		{name: "rate as a list", yaml: "request_rate: [1]", wantErr: "rate: want"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var c netguard.Config
			dec := yaml.NewDecoder(strings.NewReader(tc.yaml))
			dec.KnownFields(true)
			err := dec.Decode(&c)
			if err == nil {
				var g *netguard.Guard
				g, err = netguard.New(c, netguard.Deps{Name: "t"})
				if err == nil {
					require.Empty(t, tc.wantErr)
					tc.check(t, c, g)
					return
				}
			}
			require.NotEmpty(t, tc.wantErr, "unexpected error: %v", err)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestConfigOr(t *testing.T) {
	t.Parallel()
	server := netguard.Config{MaxHeaderBytes: 16 << 10, RequestRate: 50, RequestBurst: 200}
	got := netguard.Config{RequestBurst: 10, Exempt: []string{}}.Or(server)
	require.Equal(t, 16<<10, got.MaxHeaderBytes, "server default")
	require.Equal(t, netguard.Rate(50), got.RequestRate)
	require.Equal(t, 10, got.RequestBurst, "user value wins")
	require.Empty(t, got.Exempt)
	require.Nil(t, netguard.Config{}.Or(server).Exempt, "nil stays nil: the package default applies later")
}

func TestRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want netguard.Rate
		text string
	}{
		{in: "50/s", want: 50, text: "50/s"},
		{in: "300/m", want: 5, text: "5/s"},
		{in: "6/m", want: 0.1, text: "6/m"},
		{in: "3600/h", want: 1, text: "1/s"},
		{in: "2.5", want: 2.5, text: "2.5/s"},
		{in: "off", want: netguard.Off, text: "off"},
		{in: "", want: 0, text: ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			r, err := netguard.ParseRate(tc.in)
			require.NoError(t, err)
			require.InDelta(t, float64(tc.want), float64(r), 1e-12)
			require.Equal(t, tc.text, r.String())
			back, err := netguard.ParseRate(r.String())
			require.NoError(t, err)
			require.InDelta(t, float64(r), float64(back), 1e-9, "the text form reads back")
		})
	}
}
