package firewall

import (
	"context"
	"log/slog"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/bouncer"
	"github.com/phalanx-ids/phalanx/internal/bouncer/bouncertest"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// running is a firewall bouncer running against a LAPI behind a proxy.
type running struct {
	fw     *Firewall
	reg    *prometheus.Registry
	lapi   *bouncertest.LAPI
	proxy  *bouncertest.Flaky
	kernel *kernel
	stop   func() error
}

func startFirewall(t *testing.T, tp topo, yaml string) *running {
	t.Helper()
	l := bouncertest.StartLAPI(t, "")
	key := l.BouncerKey(t, "fw")
	proxy := bouncertest.StartFlaky(t, l.URL)
	cfg, err := ParseConfig("test.yaml", []byte(yaml))
	require.NoError(t, err)
	cfg.APIURL = proxy.URL
	cfg.APIKey = apiclient.Secret(key)
	cfg.NetNS = tp.srv
	cfg.UpdateFrequency = 200 * time.Millisecond
	cfg.RetryMaxInterval = 200 * time.Millisecond
	cfg.Timeout = time.Second
	return runFirewall(t, cfg, l, proxy)
}

// runFirewall runs a firewall bouncer configured by cfg until the test
// ends, and waits for its first snapshot in the kernel.
func runFirewall(t *testing.T, cfg Config, l *bouncertest.LAPI, proxy *bouncertest.Flaky, opts ...Option) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	fw, err := New(cfg, append([]Option{WithLogger(testLogger(t)), WithRegisterer(reg)}, opts...)...)
	require.NoError(t, err)
	k := newKernel(t, cfg) // before Run: it only records the LAPI's addresses
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fw.Run(ctx) }()
	r := &running{fw: fw, reg: reg, lapi: l, proxy: proxy, kernel: k}
	var stopped bool
	var runErr error
	r.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(waitDeadline):
				t.Fatal("firewall did not stop")
			}
		}
		return runErr
	}
	t.Cleanup(func() { _ = r.stop() })
	select {
	case <-fw.Applied():
	case <-time.After(waitDeadline):
		t.Fatal("firewall: the first snapshot never reached the kernel")
	}
	return r
}

// eventually waits (in the test's goroutine) until cond holds.
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.True(t, pollUntil(cond), msg)
}

// TestFirewallEnforces is the end-to-end test, for each backend: traffic
// from an attacker namespace to a server namespace stops once a decision
// on its address (IPv4, a range containing it, IPv6) is added at a real
// LAPI and flows again once it is deleted or expires; the last good set is
// kept while the LAPI is unreachable; drift is repaired; counters move;
// the table goes away on exit.
//
// It waits for what it can observe (the kernel's sets read back through a
// backend of its own, the rules' counters, the stream's counters), never
// for a fixed time: a loaded machine makes it slower, not wrong.
func TestFirewallEnforces(t *testing.T) {
	cases := []struct {
		name, yaml, backend string
		sabotage            []string // commands (in the server ns) that remove enforcement
		listTable           []string
	}{
		{
			name: "nftables drop", backend: "nftables",
			yaml:      "api_url: http://x/\napi_key: k\nmode: nftables\ndeny_action: DROP\nchains: [input, forward]\nresync_interval: 500ms\n",
			sabotage:  []string{"nft", "delete", "table", "inet", "phalanx"},
			listTable: []string{"nft", "list", "tables"},
		},
		{
			name: "iptables reject", backend: "iptables",
			yaml:      "api_url: http://x/\napi_key: k\nmode: iptables\ndeny_action: REJECT\niptables_chains: [INPUT]\nresync_interval: 500ms\n",
			sabotage:  []string{"ipset", "flush", "phalanx-v4"},
			listTable: []string{"ipset", "list", "-n"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tp := newTopo(t)
			tp.serve(t)
			require.True(t, tp.reachable(t, false), "no firewall yet: IPv4 flows")
			require.True(t, tp.reachable(t, true), "no firewall yet: IPv6 flows")

			r := startFirewall(t, tp, tc.yaml)
			k := r.kernel
			require.Equal(t, tc.backend, r.fw.Backend())
			require.True(t, tp.reachable(t, false))
			att4, att6 := attV4+"/32", attV6+"/128"

			// An address decision.
			r.lapi.Add(t, "Ip", attV4, "ban", "4h")
			k.waitFor(t, func(st State) bool { return holds(st, att4) }, "the Ip decision reaches the kernel")
			require.True(t, tp.dropped(t, k, false), "an Ip ban stops IPv4 traffic")
			require.True(t, tp.reachable(t, true), "IPv6 is not banned")
			r.lapi.Delete(t, attV4)
			k.waitFor(t, func(st State) bool { return !holds(st, att4) }, "the deletion reaches the kernel")
			require.True(t, tp.reachable(t, false), "deleting the decision lets traffic flow")

			// A range containing it, and a nested one that must survive
			// the outer one's deletion.
			r.lapi.Add(t, "Range", "10.99.0.0/16", "ban", "4h")
			r.lapi.Add(t, "Range", "10.99.0.0/24", "ban", "4h")
			k.waitFor(t, func(st State) bool { return holds(st, "10.99.0.0/16") && !holds(st, "10.99.0.0/24") },
				"the outer range is installed, the nested one held back")
			require.True(t, tp.dropped(t, k, false), "a Range ban stops traffic")
			r.lapi.Delete(t, "10.99.0.0/16")
			k.waitFor(t, func(st State) bool { return !holds(st, "10.99.0.0/16") && holds(st, "10.99.0.0/24") },
				"the nested range replaces the outer one")
			require.True(t, tp.dropped(t, k, false), "the nested range still applies")
			r.lapi.Delete(t, "10.99.0.0/24")
			k.waitFor(t, func(st State) bool { return len(st.Elems) == 0 }, "the ranges leave the kernel")
			require.True(t, tp.reachable(t, false), "deleting the ranges lets traffic flow")

			// IPv6, then the LAPI disappears: the ban stays.
			r.lapi.Add(t, "Ip", attV6, "ban", "4h")
			k.waitFor(t, func(st State) bool { return holds(st, att6) }, "the IPv6 decision reaches the kernel")
			require.True(t, tp.dropped(t, k, true), "an IPv6 ban stops IPv6 traffic")
			require.True(t, tp.reachable(t, false))
			fails := r.fw.Stream().Stats().Failures
			r.proxy.SetMode(bouncertest.FlakyDown)
			eventually(t, func() bool { return r.fw.Stream().Stats().Failures >= fails+3 }, "pulls fail")
			require.True(t, holds(k.state(t), att6), "the set is kept while the LAPI is unreachable")
			require.True(t, tp.dropped(t, k, true), "enforcement is kept while the LAPI is unreachable")
			r.proxy.SetMode(bouncertest.FlakyOK)
			r.lapi.Delete(t, attV6)
			k.waitFor(t, func(st State) bool { return !holds(st, att6) }, "the LAPI back, the deletion applies")
			require.True(t, tp.reachable(t, true))

			// Expiry: the element leaves the kernel with no deletion.
			r.lapi.Add(t, "Ip", attV4, "ban", "5s")
			k.waitFor(t, func(st State) bool { return holds(st, att4) }, "a short ban applies")
			k.waitFor(t, func(st State) bool { return !holds(st, att4) }, "the ban expires")
			require.True(t, tp.reachable(t, false), "traffic flows once the ban expired")

			// Drift: someone removes the enforcement; the resync repairs it.
			r.lapi.Add(t, "Ip", attV4, "ban", "4h")
			k.waitFor(t, func(st State) bool { return holds(st, att4) }, "ban again")
			require.True(t, tp.dropped(t, k, false))
			tp.inSrv(t, tc.sabotage...)
			eventually(t, func() bool {
				return promtest.ToFloat64(r.fw.met.drift.WithLabelValues("table"))+
					promtest.ToFloat64(r.fw.met.drift.WithLabelValues("missing")) > 0
			}, "the resync notices the drift")
			k.waitFor(t, func(st State) bool { return st.Intact && holds(st, att4) }, "the resync restores the ban")
			require.True(t, tp.dropped(t, k, false), "the restored ban stops traffic")

			// Counters (read by the Run loop every second).
			eventually(t, func() bool { return r.fw.met.packets.Load() > 0 }, "dropped packets are counted")
			require.Equal(t, 3, promtest.CollectAndCount(r.reg, "fw_bouncer_dropped_packets", "fw_bouncer_dropped_bytes", "fw_bouncer_banned_ips"))

			require.NoError(t, r.stop())
			require.NotContains(t, tp.inSrv(t, tc.listTable...), "phalanx", "the table is removed on exit")
			require.True(t, tp.reachable(t, false))
		})
	}
}

// TestFirewallSlowLAPI: a LAPI that answers slower than the bouncer's
// request timeout (1s here) makes pulls fail without crashing anything:
// the last good set stays enforced, decisions made meanwhile apply once
// the LAPI answers in time again, and the bouncer stops promptly with a
// pull hanging.
func TestFirewallSlowLAPI(t *testing.T) {
	tp := newTopo(t)
	tp.serve(t)
	r := startFirewall(t, tp, "api_url: http://x/\napi_key: k\nmode: nftables\ndeny_action: DROP\n")
	k := r.kernel
	r.lapi.Add(t, "Ip", attV4, "ban", "4h")
	k.waitFor(t, func(st State) bool { return holds(st, attV4+"/32") }, "the Ip decision reaches the kernel")
	require.True(t, tp.dropped(t, k, false), "an Ip ban stops IPv4 traffic")

	// Written before the mode switch that makes the proxy read it.
	r.proxy.Delay = 1500 * time.Millisecond
	fails := r.fw.Stream().Stats().Failures
	r.proxy.SetMode(bouncertest.FlakySlow)
	r.lapi.Add(t, "Ip", attV6, "ban", "4h")
	eventually(t, func() bool { return r.fw.Stream().Stats().Failures >= fails+2 }, "slow pulls time out")
	require.True(t, tp.dropped(t, k, false), "the last good set is kept while the LAPI is slow")
	require.False(t, holds(k.state(t), attV6+"/128"), "the IPv6 ban is not seen while every pull times out")
	require.True(t, tp.reachable(t, true))

	r.proxy.SetMode(bouncertest.FlakyOK)
	k.waitFor(t, func(st State) bool { return holds(st, attV6+"/128") }, "the LAPI answering in time, the IPv6 ban applies")
	require.True(t, tp.dropped(t, k, true))
	require.True(t, tp.dropped(t, k, false))

	r.proxy.SetMode(bouncertest.FlakySlow)
	hits := r.proxy.Hits()
	eventually(t, func() bool { return r.proxy.Hits() > hits }, "a slow pull is in flight")
	start := time.Now()
	require.NoError(t, r.stop())
	// A bouncer that kept pulling from the slow LAPI after the cancel
	// (a pull timing out every second, retried) would never stop; one
	// that let the pull in flight end would stop within its 1 s timeout,
	// which no wall-clock bound can tell from a loaded machine's pauses.
	// The bound is generous (stopping takes well under a second here,
	// removing the table included) so that only a hang fails it.
	took := time.Since(start)
	t.Logf("stopped in %v with a slow pull in flight", took)
	require.Less(t, took, 20*time.Second, "stopping does not wait for the slow LAPI")
}

// TestFirewallFailClosed: with fail_mode closed and the LAPI unreachable
// at start, new inbound connections are refused until the first snapshot.
func TestFirewallFailClosed(t *testing.T) {
	for _, backend := range []string{"nftables", "iptables"} {
		t.Run(backend, func(t *testing.T) {
			tp := newTopo(t)
			tp.serve(t)
			l := bouncertest.StartLAPI(t, "")
			key := l.BouncerKey(t, "fw")
			proxy := bouncertest.StartFlaky(t, l.URL)
			proxy.SetMode(bouncertest.FlakyError)
			cfg, err := ParseConfig("t", []byte("api_url: "+proxy.URL+"\napi_key: "+key+"\nmode: "+backend+
				"\nfail_mode: closed\nupdate_frequency: 200ms\nretry_max_interval: 200ms\nnetns: "+tp.srv+"\n"))
			require.NoError(t, err)
			fw, err := New(cfg, WithLogger(testLogger(t)))
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- fw.Run(ctx) }()
			defer func() { cancel(); require.NoError(t, testutil.Recv(t, done, "the bouncer stops")) }()
			eventually(t, func() bool { return fw.Stream().Stats().Failures >= 2 }, "pulls fail")
			// The rule is in place since before the first pull.
			require.False(t, tp.connect(t, false, time.Second), "fail closed: nothing gets in before the first snapshot")
			require.False(t, tp.connect(t, true, time.Second))
			proxy.SetMode(bouncertest.FlakyOK)
			eventually(t, func() bool {
				select {
				case <-fw.Applied():
					return true
				default:
					return false
				}
			}, "the first snapshot is applied")
			require.True(t, tp.reachable(t, false), "the snapshot lifts the rule")
			require.True(t, tp.reachable(t, true))
		})
	}
}

// TestBackendBatches drives a backend directly: elements with timeouts,
// intervals, read back, atomic batches.
func TestBackendBatches(t *testing.T) {
	for _, backend := range []string{"nftables", "iptables"} {
		t.Run(backend, func(t *testing.T) {
			tp := newTopo(t)
			cfg := Config{Backend: backend, NetNS: tp.srv, Config: bouncer.Config{APIURL: "http://x/", APIKey: "k"}}.WithDefaults()
			be, err := NewBackend(cfg, testLogger(t))
			require.NoError(t, err)
			defer func() { require.NoError(t, be.Close(true)) }()
			require.NoError(t, be.Init(false))
			st, err := be.Read()
			require.NoError(t, err)
			require.True(t, st.Intact)
			require.Empty(t, st.Elems)
			add := []Elem{
				{Prefix: mustPrefix("192.0.2.1/32"), Timeout: time.Hour},
				{Prefix: mustPrefix("198.51.100.0/24"), Timeout: time.Hour},
				{Prefix: mustPrefix("2001:db8::1/128"), Timeout: time.Hour},
				{Prefix: mustPrefix("2001:db8:1::/48"), Timeout: time.Hour},
				{Prefix: mustPrefix("203.0.113.7/32"), Timeout: 1500 * time.Millisecond},
				{Prefix: mustPrefix("203.0.113.128/25"), Timeout: 1500 * time.Millisecond},
				{Prefix: mustPrefix("2001:db8:2::/64"), Timeout: 1500 * time.Millisecond},
			}
			require.NoError(t, be.Apply(Batch{Add: add}))
			st, err = be.Read()
			require.NoError(t, err)
			require.Len(t, st.Elems, len(add))
			for _, e := range add {
				require.Contains(t, st.Elems, e.Prefix)
			}
			require.NoError(t, be.Apply(Batch{Del: []netipPrefix{mustPrefix("198.51.100.0/24"), mustPrefix("2001:db8::1/128")}}))
			// pollUntil, not 5 s: each Read is an ipset/nft run in the
			// namespace, seconds apiece on a loaded machine under -race.
			ok := pollUntil(func() bool {
				st, err = be.Read()
				return err == nil && len(st.Elems) == 2
			})
			require.True(t, ok, "deleted and expired elements are gone: the backend holds %v (err %v)", st.Elems, err)
			require.Contains(t, st.Elems, mustPrefix("192.0.2.1/32"))
			require.Contains(t, st.Elems, mustPrefix("2001:db8:1::/48"))
		})
	}
}

func TestNftablesMissingTableIsDrift(t *testing.T) {
	tp := newTopo(t)
	cfg := Config{Backend: "nftables", NetNS: tp.srv, Config: bouncer.Config{APIURL: "http://x/", APIKey: "k"}}.WithDefaults()
	be, err := NewBackend(cfg, testLogger(t))
	require.NoError(t, err)
	defer be.Close(false)
	st, err := be.Read()
	require.NoError(t, err)
	require.False(t, st.Intact, "no table yet")
	require.NoError(t, be.Init(false))
	out, err := exec.Command("ip", "netns", "exec", tp.srv, "nft", "list", "table", "inet", "phalanx").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "flags interval,timeout")
	require.Contains(t, string(out), "ip saddr @v4-addrs counter packets 0 bytes 0 drop")
	require.Contains(t, string(out), "ip6 saddr @v6-nets counter packets 0 bytes 0 drop")
	// Loopback and the LAPI's established traffic come first.
	require.Regexp(t, `(?s)iifname "lo" accept\s+ip saddr @lapi-v4 ct state established,related accept\s+`+
		`ip6 saddr @lapi-v6 ct state established,related accept\s+jump failclosed\s+ip saddr @v4-addrs`, string(out))
}

type netipPrefix = netip.Prefix

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
