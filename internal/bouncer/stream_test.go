package bouncer_test

import (
	"context"
	"net/netip"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/bouncer"
	"github.com/phalanx-ids/phalanx/internal/bouncer/bouncertest"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/testutil"
)

func values(ds []*bouncer.Decision) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Prefix.String())
	}
	sort.Strings(out)
	return out
}

// next waits for one update.
func next(t *testing.T, ch <-chan bouncer.Update) bouncer.Update {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no update within 10s")
		return bouncer.Update{}
	}
}

// nextWith waits for an update that is not empty.
func nextWith(t *testing.T, ch <-chan bouncer.Update) bouncer.Update {
	t.Helper()
	for {
		if u := next(t, ch); u.Full || len(u.New)+len(u.Deleted) > 0 {
			return u
		}
	}
}

func has(t *testing.T, c bouncer.Checker, addr string) bool {
	t.Helper()
	d, err := c.Check(context.Background(), netip.MustParseAddr(addr))
	require.NoError(t, err)
	return d != nil
}

// TestStream drives a Stream against a real LAPI behind a proxy that
// fails on demand: startup snapshot, deltas, failures keeping the last
// good set, a full snapshot after recovery.
func TestStream(t *testing.T) {
	l := bouncertest.StartLAPI(t, "")
	key := l.BouncerKey(t, "stream")
	proxy := bouncertest.StartFlaky(t, l.URL)
	proxy.Delay = 2 * time.Second
	l.Add(t, "Ip", "192.0.2.10", "ban", "4h")
	l.Add(t, "Range", "198.51.100.0/24", "ban", "4h")
	l.Add(t, "Ip", "2001:db8::10", "captcha", "4h")
	l.Add(t, "Country", "FR", "ban", "4h") // not enforced

	s, err := bouncer.NewStream(bouncer.Config{
		APIURL: proxy.URL, APIKey: apiclient.Secret(key),
		UpdateFrequency: 100 * time.Millisecond, RetryMaxInterval: 200 * time.Millisecond,
		Timeout: 500 * time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan bouncer.Update)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ch) }()
	defer func() {
		cancel()
		require.NoError(t, testutil.Recv(t, done, "the stream stops"))
	}()

	u := next(t, ch)
	require.True(t, u.Full, "the first update is a full snapshot")
	require.Equal(t, []string{"192.0.2.10/32", "198.51.100.0/24", "2001:db8::10/128"}, values(u.New))
	testutil.Recv(t, s.Ready(), "the first snapshot")
	require.True(t, has(t, s, "198.51.100.77"))
	require.True(t, has(t, s, "::ffff:192.0.2.10"))

	l.Add(t, "Ip", "203.0.113.5", "ban", "4h")
	u = nextWith(t, ch)
	require.False(t, u.Full)
	require.Equal(t, []string{"203.0.113.5/32"}, values(u.New))

	l.Delete(t, "192.0.2.10")
	u = nextWith(t, ch)
	require.Equal(t, []string{"192.0.2.10/32"}, values(u.Deleted))
	require.False(t, has(t, s, "192.0.2.10"))

	for _, tc := range []struct {
		name, net string
		mode      int32
	}{
		{"errors", "2001:db8:e::/48", bouncertest.FlakyError},
		{"slow", "2001:db8:5::/48", bouncertest.FlakySlow},
		{"disappears", "2001:db8:d::/48", bouncertest.FlakyDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode := tc.mode
			failures := s.Stats().Failures
			proxy.SetMode(mode)
			require.Eventually(t, func() bool { return s.Stats().Failures >= failures+2 }, 10*time.Second, 20*time.Millisecond)
			// The last good set is still enforced.
			require.True(t, has(t, s, "203.0.113.5"))
			require.True(t, has(t, s, "2001:db8::10"))
			l.Add(t, "Range", tc.net, "ban", "4h")
			proxy.SetMode(bouncertest.FlakyOK)
			u := nextWith(t, ch)
			require.True(t, u.Full, "the first pull after a failure is a full snapshot")
			require.Contains(t, values(u.New), tc.net)
			require.NotContains(t, values(u.New), "192.0.2.10/32")
		})
	}
	st := s.Stats()
	require.Positive(t, st.Pulls)
	require.False(t, st.LastSuccess.IsZero())
}

// TestStreamExpiry: a short decision leaves the set when it ends, also
// while the LAPI is unreachable.
func TestStreamExpiry(t *testing.T) {
	l := bouncertest.StartLAPI(t, "")
	key := l.BouncerKey(t, "expiry")
	proxy := bouncertest.StartFlaky(t, l.URL)
	l.Add(t, "Ip", "192.0.2.20", "ban", "2s")
	s, err := bouncer.NewStream(bouncer.Config{APIURL: proxy.URL, APIKey: apiclient.Secret(key),
		UpdateFrequency: 100 * time.Millisecond, RetryMaxInterval: 100 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx, nil) }()
	testutil.Recv(t, s.Ready(), "the first snapshot")
	require.True(t, has(t, s, "192.0.2.20"))
	proxy.SetMode(bouncertest.FlakyError)
	require.Eventually(t, func() bool { return !has(t, s, "192.0.2.20") }, 5*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool { return s.Set().Len() == 0 }, 5*time.Second, 50*time.Millisecond)
}

// TestStreamBadKey: a refused key at the first pull ends Run.
func TestStreamBadKey(t *testing.T) {
	l := bouncertest.StartLAPI(t, "")
	s, err := bouncer.NewStream(bouncer.Config{APIURL: l.URL, APIKey: "wrong-key-0123456789"})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.Run(ctx, nil)
	require.ErrorContains(t, err, "refused the credentials")
	require.ErrorIs(t, err, apiclient.ErrForbidden)
	require.ErrorContains(t, s.Run(ctx, nil), "twice")
}

// TestLive: per-address queries with a TTL cache; a failed query serves
// the cached answer; no answer at all is an error.
func TestLive(t *testing.T) {
	l := bouncertest.StartLAPI(t, "")
	key := l.BouncerKey(t, "live")
	proxy := bouncertest.StartFlaky(t, l.URL)
	l.Add(t, "Ip", "192.0.2.30", "ban", "4h")
	l.Add(t, "Range", "2001:db8:30::/48", "captcha", "4h")
	now := time.Now()
	clock := func() time.Time { return now }
	c, err := bouncer.New(bouncer.Config{APIURL: proxy.URL, APIKey: apiclient.Secret(key), Mode: "live",
		CacheExpiration: time.Minute, Timeout: time.Second}, bouncer.WithClock(clock))
	require.NoError(t, err)
	live := c.(*bouncer.Live)
	defer live.Close()
	ctx := context.Background()

	cases := map[string]struct{ addr, want string }{
		"ip":          {"192.0.2.30", "ban"},
		"mapped":      {"::ffff:192.0.2.30", "ban"},
		"ipv6 range":  {"2001:db8:30::99", "captcha"},
		"no decision": {"192.0.2.31", ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d, err := live.Check(ctx, netip.MustParseAddr(tc.addr))
			require.NoError(t, err)
			if tc.want == "" {
				require.Nil(t, d)
				return
			}
			require.NotNil(t, d)
			require.Equal(t, tc.want, d.Type)
		})
	}
	hits := proxy.Hits()
	_, err = live.Check(ctx, netip.MustParseAddr("192.0.2.30"))
	require.NoError(t, err)
	require.Equal(t, hits, proxy.Hits(), "a fresh answer comes from the cache")

	l.Delete(t, "192.0.2.30")
	require.True(t, has(t, live, "192.0.2.30"), "cached until it expires")
	now = now.Add(2 * time.Minute)
	require.False(t, has(t, live, "192.0.2.30"), "a stale entry is asked again")

	l.Add(t, "Ip", "192.0.2.32", "ban", "4h")
	require.True(t, has(t, live, "192.0.2.32"))
	now = now.Add(2 * time.Minute)
	proxy.SetMode(bouncertest.FlakyError)
	require.True(t, has(t, live, "192.0.2.32"), "the LAPI down: the last answer is served")
	_, err = live.Check(ctx, netip.MustParseAddr("192.0.2.33"))
	require.ErrorContains(t, err, "bouncer: live query 192.0.2.33")
}

// TestMappedValuesAgree: IPv4-mapped values read the same at the LAPI
// (what it stores and streams) and in a bouncer reading the raw value (as
// it does from a LAPI that stores values verbatim, like CrowdSec's).
func TestMappedValuesAgree(t *testing.T) {
	l := bouncertest.StartLAPI(t, "")
	key := l.BouncerKey(t, "mapped")
	raw := []bouncertest.Dec{
		{Scope: "Ip", Value: "::ffff:192.0.2.40"},
		{Scope: "Range", Value: "::ffff:10.0.0.0/104"},
		{Scope: "Range", Value: "::ffff:0:0/80"},
		{Scope: "Range", Value: "::ffff:192.0.2.0/90"},
	}
	l.AddMany(t, raw)
	s, err := bouncer.NewStream(bouncer.Config{APIURL: l.URL, APIKey: apiclient.Secret(key), UpdateFrequency: 100 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx, nil) }()
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot")
	}
	var direct []string
	for _, d := range raw {
		m := &models.Decision{Scope: &d.Scope, Value: &d.Value, Duration: ptr("1h")}
		got, err := bouncer.FromModel(m, time.Now())
		require.NoError(t, err, "the bouncer reads %s", d.Value)
		direct = append(direct, got.Prefix.String())
	}
	sort.Strings(direct)
	require.Equal(t, []string{"10.0.0.0/8", "192.0.2.40/32", "::/80", "::ffc0:0:0/90"}, direct)
	require.Equal(t, direct, values(s.Set().Snapshot()), "the LAPI streams what the bouncer reads")
}

func ptr(s string) *string { return &s }
