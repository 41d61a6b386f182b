package capi_test

import (
	"context"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/allowlist"
	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/capi/capitest"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

func values(ds models.GetDecisionsResponse) []string {
	var out []string
	for _, d := range ds {
		out = append(out, *d.Origin+":"+*d.Value)
	}
	sort.Strings(out)
	return out
}

// The community list and a linked blocklist become decisions of origin
// CAPI and lists that a bouncer receives; the local allowlist drops what
// it covers; durations are the central's; a delisting expires the
// decision; the origins filter works.
func TestPullBecomesDecisions(t *testing.T) {
	central := capitest.New(t)
	central.List("Ip", "203.0.113.20", "crowdsecurity/ssh-bf", "24h")
	central.List("ip", "203.0.113.21", "crowdsecurity/http-probing", "4h")
	central.List("Range", "198.51.100.0/24", "crowdsecurity/ssh-bf", "24h")
	central.List("Ip", "192.0.2.44", "crowdsecurity/ssh-bf", "24h") // allowlisted locally
	central.SetBlocklist("tor-exits", "Ip", "ban", "12h", "203.0.113.30", "203.0.113.31", "not-an-ip")
	in := newInstall(t, central, false, nil)
	ctx := context.Background()
	// In the store (a restart loads it) and in the running LAPI's set.
	require.NoError(t, in.st.CreateAllowlist(ctx, &store.Allowlist{Name: "partners", Items: []store.AllowlistItem{{Value: "192.0.2.0/24"}}}))
	require.NoError(t, in.srv.Allowlists().Put(allowlist.List{Name: "partners", Items: []allowlist.Item{{Value: "192.0.2.0/24"}}}))

	res, err := in.svc.PullNow(ctx, true)
	require.NoError(t, err)
	require.Equal(t, 3, res.Added)
	require.Equal(t, 1, res.Refused)
	require.Equal(t, map[string]int{"tor-exits": 2}, res.Lists)
	require.Equal(t, capi.DefaultPullInterval, res.Interval, "no header: CrowdSec's 2 h")
	require.True(t, central.Pulls()[0].Startup)

	b := in.bouncer()
	st, err := b.DecisionsStream(ctx, apiclient.StreamFilter{Startup: true})
	require.NoError(t, err)
	require.Equal(t, []string{"CAPI:198.51.100.0/24", "CAPI:203.0.113.20", "CAPI:203.0.113.21",
		"lists:203.0.113.30", "lists:203.0.113.31"}, values(st.New))
	for _, d := range st.New {
		dur, err := time.ParseDuration(*d.Duration)
		require.NoError(t, err)
		switch *d.Value {
		case "203.0.113.21":
			require.InDelta(t, 4*time.Hour, dur, float64(time.Minute), "the central's duration")
			require.Equal(t, "crowdsecurity/http-probing", *d.Scenario)
		case "203.0.113.30":
			require.InDelta(t, 12*time.Hour, dur, float64(time.Minute))
			require.Equal(t, "tor-exits", *d.Scenario)
		}
	}
	only, err := in.bouncer().DecisionsStream(ctx, apiclient.StreamFilter{Startup: true, Origins: []string{"lists"}})
	require.NoError(t, err)
	require.Equal(t, []string{"lists:203.0.113.30", "lists:203.0.113.31"}, values(only.New))

	// Detection's view.
	require.True(t, in.comm.Listed(netip.MustParseAddr("203.0.113.20")))
	require.True(t, in.comm.Listed(netip.MustParseAddr("198.51.100.77")))
	require.True(t, in.comm.Listed(netip.MustParseAddr("203.0.113.31")))
	require.False(t, in.comm.Listed(netip.MustParseAddr("192.0.2.44")))
	require.False(t, in.comm.Listed(netip.MustParseAddr("203.0.113.99")))

	// Delisting, and a new entry: the next pull.
	central.Delist("203.0.113.20")
	central.List("Ip", "203.0.113.22", "crowdsecurity/ssh-bf", "24h")
	res, err = in.svc.PullNow(ctx, false)
	require.NoError(t, err)
	require.Equal(t, 1, res.Added)
	require.Equal(t, 1, res.Deleted)
	_, notModified := res.Lists["tor-exits"]
	require.False(t, notModified, "the list was not modified: not fetched again (304)")
	st, err = b.DecisionsStream(ctx, apiclient.StreamFilter{})
	require.NoError(t, err)
	require.Equal(t, []string{"CAPI:203.0.113.22"}, values(st.New))
	require.Equal(t, []string{"CAPI:203.0.113.20"}, values(st.Deleted))
	require.False(t, in.comm.Listed(netip.MustParseAddr("203.0.113.20")))

	active, err := in.st.ListDecisions(ctx, store.DecisionFilter{Origins: []string{"CAPI"}, ActiveAt: time.Now()})
	require.NoError(t, err)
	require.Len(t, active, 3)

	// Replace on pull: a value listed again (new duration) keeps one decision.
	central.List("Ip", "203.0.113.22", "crowdsecurity/ssh-bf", "48h")
	_, err = in.svc.PullNow(ctx, false)
	require.NoError(t, err)
	active, err = in.st.ListDecisions(ctx, store.DecisionFilter{Origins: []string{"CAPI"}, Value: "203.0.113.22", ActiveAt: time.Now()})
	require.NoError(t, err)
	require.Len(t, active, 1)
	require.InDelta(t, 48*time.Hour, time.Until(active[0].Until), float64(time.Minute))

	// A restart pulls the whole list (startup): what it no longer holds goes.
	in.restart(false)
	central.Delist("203.0.113.21")
	_, err = in.svc.PullNow(ctx, true)
	require.NoError(t, err)
	active, err = in.st.ListDecisions(ctx, store.DecisionFilter{Origins: []string{"CAPI"}, ActiveAt: time.Now()})
	require.NoError(t, err)
	var got []string
	for _, d := range active {
		got = append(got, d.Value)
	}
	sort.Strings(got)
	require.Equal(t, []string{"198.51.100.0/24", "203.0.113.22"}, got)
}

// A Phalanx central asks for a short interval: a new listing reaches the
// LAPI's bouncers within seconds, not 2 hours.
func TestPullIntervalFromCentral(t *testing.T) {
	central := capitest.New(t)
	central.SetPullInterval("1s")
	in := newInstall(t, central, true, nil)
	require.Eventually(t, func() bool { return len(central.Pulls()) >= 1 }, 5*time.Second, 10*time.Millisecond)
	start := time.Now()
	central.List("Ip", "203.0.113.40", "crowdsecurity/ssh-bf", "4h")
	b := in.bouncer()
	require.Eventually(t, func() bool {
		st, err := b.DecisionsStream(context.Background(), apiclient.StreamFilter{Startup: true})
		return err == nil && len(st.New) == 1
	}, 5*time.Second, 50*time.Millisecond)
	t.Logf("listing -> bouncer stream: %v", time.Since(start))
	for _, p := range central.Pulls()[1:] {
		require.False(t, p.Startup, "only the first pull asks for the whole list")
	}
}

// A fixed pull_interval wins over the central's.
func TestPullIntervalFixed(t *testing.T) {
	central := capitest.New(t)
	central.SetPullInterval("1s")
	in := newInstall(t, central, false, func(s *capi.Settings) { s.PullInterval = 10 * time.Second })
	res, err := in.svc.PullNow(context.Background(), true)
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, res.Interval)
}
