package firewall

import (
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/bouncer"
	"github.com/phalanx-ids/phalanx/internal/bouncer/bouncertest"
)

// lapiV4 is the LAPI's address as the server namespace reaches it: on the
// attacker's side of the veth pair, so that the bouncer's own rules sit
// on the path of its pulls.
const lapiV4 = "10.99.0.3"

// TestFirewallProtectsLAPI performs the self-inflicted outage for each
// backend: decisions on the LAPI's own address, on 127.0.0.1 and on a
// range holding the LAPI (and the attacker) must not cut the bouncer's
// pulls, its established connection to the LAPI, nor loopback traffic,
// while the range still stops the attacker. Then the same addresses are
// put into the sets by hand (defence in depth): the accept rules keep the
// LAPI's traffic, new connections included, and loopback flowing.
func TestFirewallProtectsLAPI(t *testing.T) {
	for _, tc := range []struct {
		backend string
		inject  [][]string // put the LAPI's and loopback's addresses in the drop sets
	}{
		{backend: "nftables", inject: [][]string{{"nft", "add", "element", "inet", "phalanx", "v4-addrs", "{ " + lapiV4 + " timeout 1h, 127.0.0.1 timeout 1h }"}}},
		{backend: "iptables", inject: [][]string{{"ipset", "add", "phalanx-v4", lapiV4, "timeout", "3600"}, {"ipset", "add", "phalanx-v4", "127.0.0.1", "timeout", "3600"}}},
	} {
		t.Run(tc.backend, func(t *testing.T) {
			tp := newTopo(t)
			tp.serve(t)
			serveOn(t, tp.srv, "127.0.0.1:8080")
			sh(t, "ip", "netns", "exec", tp.att, "ip", "addr", "add", lapiV4+"/24", "dev", tp.attIf)
			l := bouncertest.StartLAPI(t, "")
			key := l.BouncerKey(t, "fw")
			u, err := url.Parse(l.URL)
			require.NoError(t, err)
			rl := startRelay(t, tp.att, lapiV4+":8080", u.Host)

			cfg, err := ParseConfig("t", []byte("api_url: http://"+lapiV4+":8080/\napi_key: "+key+"\nmode: "+tc.backend+
				"\nnetns: "+tp.srv+"\nupdate_frequency: 200ms\nretry_max_interval: 200ms\ntimeout: 30s\nresync_interval: 1h\n"))
			require.NoError(t, err)
			// The bouncer's connections to the LAPI start from the
			// namespace it filters, as they would on a real host.
			tr := &http.Transport{DialContext: dialIn(tp.srv), IdleConnTimeout: time.Hour}
			t.Cleanup(tr.CloseIdleConnections)
			r := runFirewall(t, cfg, l, nil, WithBouncerOptions(bouncer.WithClientOptions(apiclient.WithTransport(tr))))
			k := r.kernel
			conns, ended := rl.accepted.Load(), rl.ended.Load()
			require.Positive(t, conns)

			l.AddMany(t, []bouncertest.Dec{{Scope: "Ip", Value: lapiV4}, {Scope: "Ip", Value: "127.0.0.1"}, {Scope: "Range", Value: "10.99.0.0/24"}})
			eventually(t, func() bool { return tp.dropped(t, k, false) }, "the range stops the attacker")
			r.pullsGoOn(t, rl, ended, "decisions on the LAPI")
			require.True(t, connectFrom(t, tp.srv, "127.0.0.1:8080", 15*time.Second), "loopback flows")
			// The sets leave the LAPI and loopback out, and hold the rest.
			require.True(t, holds(k.state(t), "10.99.0.2/32", "10.99.0.128/25"), "the range is installed around the LAPI")
			for p := range k.state(t).Elems {
				require.False(t, p.Contains(netip.MustParseAddr(lapiV4)), "%v covers the LAPI", p)
				require.False(t, p.Contains(netip.MustParseAddr("127.0.0.1")), "%v covers loopback", p)
			}
			require.Equal(t, 2.0, promtest.ToFloat64(r.fw.met.protected.WithLabelValues(reasonLAPI)))
			require.Equal(t, 1.0, promtest.ToFloat64(r.fw.met.protected.WithLabelValues(reasonLoopback)))

			// The addresses in the drop sets anyway: the rules before
			// the drops keep them flowing.
			for _, c := range tc.inject {
				tp.inSrv(t, c...)
			}
			k.waitFor(t, func(st State) bool { return holds(st, lapiV4+"/32", "127.0.0.1/32") }, "injected")
			r.pullsGoOn(t, rl, ended, "the LAPI's address in a drop set")
			require.True(t, connectFrom(t, tp.srv, "127.0.0.1:8080", 15*time.Second), "loopback flows past a drop set holding it")
			rl.cut()
			cut := time.Now()
			eventually(t, func() bool {
				return rl.accepted.Load() > conns && r.fw.Stream().Stats().LastSuccess.After(cut)
			}, "a new connection to the LAPI works: its answers are established traffic")
		})
	}
}

// pullsGoOn checks that five more pulls succeed, none fails, and no
// connection to the LAPI ended since ended was read (the established one
// was not cut: a reset one would end, a silently dropped one would fail
// its pull). A new connection alone proves nothing: the client's
// transport dials one when a pull starts before the last answer's
// connection is back in its pool, which a loaded machine makes happen
// (a -race run at load ~30 saw a second connection, no pull failed).
func (r *running) pullsGoOn(t *testing.T, rl *relay, ended int64, why string) {
	t.Helper()
	s0 := r.fw.Stream().Stats()
	eventually(t, func() bool { return r.fw.Stream().Stats().Pulls >= s0.Pulls+5 }, why+": pulls go on")
	require.Equal(t, s0.Failures, r.fw.Stream().Stats().Failures, why+": no pull failed")
	require.Equal(t, ended, rl.ended.Load(), why+": the established connection was not cut")
}
