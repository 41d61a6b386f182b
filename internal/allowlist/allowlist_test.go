package allowlist

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/models"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func TestParseValue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want, err string
	}{
		{name: "ipv4", in: "1.2.3.4", want: "1.2.3.4/32"},
		{name: "ipv4 spaces", in: " 1.2.3.4 ", want: "1.2.3.4/32"},
		{name: "ipv6", in: "2001:db8::1", want: "2001:db8::1/128"},
		{name: "mapped ipv4", in: "::ffff:1.2.3.4", want: "1.2.3.4/32"},
		{name: "mapped ipv4 hex", in: "::ffff:102:304", want: "1.2.3.4/32"},
		{name: "cidr v4", in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{name: "cidr v4 host bits masked", in: "10.1.2.3/8", want: "10.0.0.0/8"},
		{name: "cidr v6", in: "2001:db8::/32", want: "2001:db8::/32"},
		{name: "cidr mapped", in: "::ffff:10.0.0.0/104", want: "10.0.0.0/8"},
		{name: "cidr mapped all", in: "::ffff:0.0.0.0/96", want: "0.0.0.0/0"},
		{name: "cidr below mapped stays v6", in: "::ffff:0:0/95", want: "::fffe:0:0/95"},
		{name: "v4 slash 0", in: "0.0.0.0/0", want: "0.0.0.0/0"},
		{name: "empty", in: "", err: "empty value"},
		{name: "garbage", in: "abc", err: "bad address"},
		{name: "bad cidr", in: "1.2.3.4/33", err: "bad range"},
		{name: "zone", in: "fe80::1%eth0", err: "zones are not allowed"},
		{name: "hostname", in: "example.com", err: "bad address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParseValue(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				require.True(t, strings.HasPrefix(err.Error(), "allowlist: "))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, p.String())
		})
	}
}

func testLists() []List {
	return []List{
		{Name: "office", Description: "office ranges", Items: []Item{
			{Value: "192.168.0.0/16", Comment: "lan"},
			{Value: "192.168.10.0/24", Comment: "it"},
			{Value: "10.0.0.1"},
			{Value: "2001:db8::/32", Comment: "v6 office"},
		}},
		{Name: "partners", Items: []Item{
			{Value: "192.168.10.0/24", Comment: "partner it"},
			{Value: "203.0.113.7", Comment: "expired", Expiration: t0.Add(-time.Minute)},
			{Value: "203.0.113.8", Comment: "until now", Expiration: t0},
			{Value: "::ffff:198.51.100.0/120", Comment: "mapped"},
		}},
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	set, err := New(testLists()...)
	require.NoError(t, err)
	cases := []struct {
		name, value string
		ok          bool
		list, item  string
		inside      bool
	}{
		{name: "ip in range", value: "192.168.1.1", ok: true, list: "office", item: "192.168.0.0/16"},
		{name: "most specific wins, first list by name", value: "192.168.10.5", ok: true, list: "office", item: "192.168.10.0/24"},
		{name: "exact ip", value: "10.0.0.1", ok: true, list: "office", item: "10.0.0.1"},
		{name: "neighbour ip", value: "10.0.0.2", ok: false},
		{name: "outside", value: "8.8.8.8", ok: false},
		{name: "v6 in range", value: "2001:db8:1::42", ok: true, list: "office", item: "2001:db8::/32"},
		{name: "v6 outside", value: "2001:db9::1", ok: false},
		{name: "mapped query normalised", value: "::ffff:192.168.1.1", ok: true, list: "office", item: "192.168.0.0/16"},
		{name: "mapped item normalised", value: "198.51.100.77", ok: true, list: "partners", item: "::ffff:198.51.100.0/120"},
		{name: "expired item", value: "203.0.113.7", ok: false},
		{name: "expiration is inclusive", value: "203.0.113.8", ok: true, list: "partners", item: "203.0.113.8"},
		{name: "range inside item", value: "192.168.3.0/24", ok: true, list: "office", item: "192.168.0.0/16"},
		{name: "range containing item", value: "10.0.0.0/8", ok: true, list: "office", item: "10.0.0.1", inside: true},
		{name: "range containing only expired", value: "203.0.113.0/30", ok: false},
		{name: "whole v4", value: "0.0.0.0/0", ok: true, list: "office", item: "10.0.0.1", inside: true},
		{name: "v6 range over the mapped space does not see v4", value: "::ffff:0:0/95", ok: false},
		{name: "whole v6", value: "::/0", ok: true, list: "office", item: "2001:db8::/32", inside: true},
		{name: "garbage", value: "nope", ok: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, ok := set.Check(tc.value, t0)
			require.Equal(t, tc.ok, ok)
			if !ok {
				require.Nil(t, m)
				return
			}
			require.Equal(t, tc.list, m.List)
			require.Equal(t, tc.item, m.Value)
			require.Equal(t, tc.inside, m.Inside)
		})
	}
}

func TestCheckAll(t *testing.T) {
	t.Parallel()
	set, err := New(testLists()...)
	require.NoError(t, err)
	cases := []struct {
		name, value string
		want        []string
		err         string
	}{
		{name: "nested and shared", value: "192.168.10.9", want: []string{
			"192.168.0.0/16 from office (lan)", "192.168.10.0/24 from office (it)", "192.168.10.0/24 from partners (partner it)"}},
		{name: "range sees inside items", value: "203.0.113.0/24", want: []string{"203.0.113.8 from partners (until now)"}},
		{name: "none", value: "1.1.1.1"},
		{name: "bad value", value: "1.1.1", err: "bad address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ms, err := set.CheckAll(tc.value, t0)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			var got []string
			for _, m := range ms {
				got = append(got, m.Reason())
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestUpdates(t *testing.T) {
	t.Parallel()
	set, err := New()
	require.NoError(t, err)
	_, ok := set.Check("1.2.3.4", t0)
	require.False(t, ok)

	require.NoError(t, set.Put(List{Name: "a", Items: []Item{{Value: "1.2.3.0/24"}}}))
	require.NoError(t, set.Put(List{Name: "b", Items: []Item{{Value: "5.6.7.8"}}}))
	m, ok := set.Check("1.2.3.4", t0)
	require.True(t, ok)
	require.Equal(t, "a", m.List)
	require.Equal(t, 2, set.Len())

	// Replacing a list by name.
	require.NoError(t, set.Put(List{Name: "a", Items: []Item{{Value: "9.9.9.9"}}}))
	_, ok = set.Check("1.2.3.4", t0)
	require.False(t, ok)
	require.Len(t, set.Lists(), 2)

	// A bad list leaves the content unchanged.
	err = set.Put(List{Name: "c", Items: []Item{{Value: "9.9.9.9"}, {Value: "bad"}}})
	require.ErrorContains(t, err, `allowlist: list "c": item 2: bad address "bad"`)
	require.Len(t, set.Lists(), 2)
	err = set.Replace([]List{{Name: "x"}, {Name: "x"}})
	require.ErrorContains(t, err, "duplicate name")
	err = set.Replace([]List{{}})
	require.ErrorContains(t, err, "empty name")
	require.Len(t, set.Lists(), 2)

	require.True(t, set.Delete("b"))
	require.False(t, set.Delete("b"))
	_, ok = set.Check("5.6.7.8", t0)
	require.False(t, ok)
	l, ok := set.Get("a")
	require.True(t, ok)
	require.Equal(t, "9.9.9.9", l.Items[0].Value)

	// Callers own their copies.
	l.Items[0].Value = "1.1.1.1"
	l2, _ := set.Get("a")
	require.Equal(t, "9.9.9.9", l2.Items[0].Value)
}

// TestConcurrentSwap checks readers against writers under -race: every
// reader sees either the old or the new content.
func TestConcurrentSwap(t *testing.T) {
	t.Parallel()
	old := []List{{Name: "l", Items: []Item{{Value: "10.0.0.0/8"}}}}
	neu := []List{{Name: "l", Items: []Item{{Value: "10.0.0.0/8"}, {Value: "172.16.0.0/12"}}}}
	set, err := New(old...)
	require.NoError(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, ok := set.Check("10.1.1.1", t0); !ok {
					errs <- "10.1.1.1 lost during a swap"
					return
				}
				set.Check("172.16.1.1", t0)
			}
		})
	}
	for i := range 200 {
		if i%2 == 0 {
			require.NoError(t, set.Replace(neu))
		} else {
			require.NoError(t, set.Put(old[0]))
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// brute is the reference: a linear scan with netip.
func brute(lists []List, v netip.Prefix, now time.Time) []string {
	var out []string
	for _, l := range lists {
		for _, it := range l.Items {
			p, err := ParseValue(it.Value)
			if err != nil || !it.Active(now) || p.Addr().Is4() != v.Addr().Is4() {
				continue
			}
			if (p.Bits() <= v.Bits() && p.Contains(v.Addr())) || (v.Bits() <= p.Bits() && v.Contains(p.Addr())) {
				out = append(out, l.Name+"|"+it.Value)
			}
		}
	}
	slices.Sort(out)
	return out
}

func randPrefix(r *rand.Rand, v6 bool) string {
	if v6 {
		// Few distinct high bits so that prefixes nest often.
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(r.IntN(4)), byte(r.IntN(4)), 15: byte(r.IntN(256))})
		return netip.PrefixFrom(a, 32+r.IntN(97)).Masked().String()
	}
	a := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(8)), byte(r.IntN(256))})
	return netip.PrefixFrom(a, 8+r.IntN(25)).Masked().String()
}

func randomLists(r *rand.Rand, nLists, nItems int) []List {
	lists := make([]List, nLists)
	for i := range lists {
		lists[i].Name = fmt.Sprintf("list%d", r.IntN(1000)*10+i)
		for range nItems {
			it := Item{Value: randPrefix(r, r.IntN(3) == 0)}
			if r.IntN(4) == 0 {
				it.Expiration = t0.Add(time.Duration(r.IntN(7)-3) * time.Minute)
			}
			lists[i].Items = append(lists[i].Items, it)
		}
	}
	return lists
}

func TestAgainstLinearScan(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 30 {
		lists := randomLists(r, 1+r.IntN(4), r.IntN(60))
		set, err := New(lists...)
		require.NoError(t, err)
		for range 200 {
			q, err := ParseValue(randPrefix(r, r.IntN(3) == 0))
			require.NoError(t, err)
			if r.IntN(2) == 0 {
				q = netip.PrefixFrom(q.Addr(), q.Addr().BitLen())
			}
			want := brute(lists, q, t0)
			ms, err := set.CheckAll(q.String(), t0)
			require.NoError(t, err)
			var got []string
			for _, m := range ms {
				got = append(got, m.List+"|"+m.Value)
			}
			slices.Sort(got)
			require.Equal(t, want, got, "round %d query %s", round, q)
			_, ok := set.Check(q.String(), t0)
			require.Equal(t, len(want) > 0, ok, "round %d query %s", round, q)
		}
	}
}

func TestParseCSV(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in string
		want     []Item
		err      string
	}{
		{name: "cscli example", in: "value,expiration,comment\n1.2.3.4,24h,my comment\n2.3.4.5,,another comment\n10.0.0.0/8,1d,\n",
			want: []Item{
				{Value: "1.2.3.4", Comment: "my comment", CreatedAt: t0, Expiration: t0.Add(24 * time.Hour)},
				{Value: "2.3.4.5", Comment: "another comment", CreatedAt: t0},
				{Value: "10.0.0.0/8", CreatedAt: t0, Expiration: t0.Add(24 * time.Hour)},
			}},
		{name: "value only, columns reordered", in: "comment,value\nx,::1\n",
			want: []Item{{Value: "::1", Comment: "x", CreatedAt: t0}}},
		{name: "no value column", in: "ip\n1.2.3.4\n", err: "line 1: no value column"},
		{name: "bad value", in: "value\n1.2.3.4\nfoo\n", err: "line 3: bad address"},
		{name: "bad expiration", in: "value,expiration\n1.2.3.4,soon\n", err: "line 2: expiration"},
		{name: "negative expiration", in: "value,expiration\n1.2.3.4,-5h\n", err: `line 2: expiration: duration: "-5h": not positive`},
		{name: "zero expiration", in: "value,expiration\n1.2.3.4,0s\n", err: `line 2: expiration: duration: "0s": not positive`},
		{name: "NaN expiration", in: "value,expiration\n1.2.3.4,NaNd\n", err: `line 2: expiration: duration: "NaNd": not a duration`},
		{name: "overflowing expiration", in: "value,expiration\n1.2.3.4,9999999999d\n", err: `line 2: expiration: duration: "9999999999d": out of range`},
		{name: "empty", in: "", err: "empty input"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseCSV(strings.NewReader(tc.in), t0)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestModelRoundTrip(t *testing.T) {
	t.Parallel()
	l := List{Name: "l", ID: "42", Description: "d", CreatedAt: t0, UpdatedAt: t0.Add(time.Hour),
		Items: []Item{{Value: "1.2.3.4", Comment: "c", CreatedAt: t0, Expiration: t0.Add(time.Hour)}, {Value: "::/0"}}}
	m := ToModel(l, true)
	require.Equal(t, "2025-06-01T12:00:00.000Z", m.CreatedAt)
	require.Equal(t, "", m.Items[1].Expiration)
	back, err := FromModel(m)
	require.NoError(t, err)
	require.Equal(t, l, back)
	require.NotNil(t, ToModel(l, false).Items)
	require.Empty(t, ToModel(l, false).Items)

	_, err = FromModel(&models.GetAllowlistResponse{Name: "y", Items: []*models.AllowlistItem{{Value: "10.0.0.1", Expiration: "9999-12-31T00:00:00.000Z"}}})
	require.ErrorContains(t, err, `allowlist: "y": item 1: expiration: store: time 9999-12-31T00:00:00Z is out of range`)
	_, err = FromModel(&models.GetAllowlistResponse{Name: "x", Items: []*models.AllowlistItem{{Value: "x"}}})
	require.ErrorContains(t, err, `allowlist: "x": item 1: bad address`)
	zero, err := FromModel(&models.GetAllowlistResponse{Name: "z", CreatedAt: "0001-01-01T00:00:00.000Z"})
	require.NoError(t, err)
	require.True(t, zero.CreatedAt.IsZero())
}

func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "::ffff:1.2.3.4", "10.0.0.0/8", "::ffff:10.0.0.0/104", "2001:db8::/32", "fe80::1%lo", "", "1.2.3.4/", "/8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseValue(s)
		if err != nil {
			return
		}
		require.True(t, p.IsValid())
		require.Equal(t, p, p.Masked(), "not masked: %s", s)
		require.False(t, p.Addr().Is4In6() && p.Bits() >= 96, "mapped not normalised: %s", s)
		// Normalised values are stable.
		q, err := ParseValue(p.String())
		require.NoError(t, err)
		require.Equal(t, p, q)
		// And the index agrees with netip on the prefix itself.
		set, err := New(List{Name: "f", Items: []Item{{Value: s}}})
		require.NoError(t, err)
		_, ok := set.CheckPrefix(netip.PrefixFrom(p.Addr(), p.Addr().BitLen()), t0)
		require.True(t, ok)
	})
}

// FuzzCheck compares the index with the linear scan on fuzzed items.
func FuzzCheck(f *testing.F) {
	f.Add("10.0.0.0/8,10.1.0.0/16,::1", "10.1.2.3")
	f.Add("2001:db8::/32,::ffff:1.2.3.4", "1.2.3.0/24")
	f.Fuzz(func(t *testing.T, items, query string) {
		var l List
		l.Name = "f"
		for v := range strings.SplitSeq(items, ",") {
			if _, err := ParseValue(v); err == nil {
				l.Items = append(l.Items, Item{Value: v})
			}
		}
		q, err := ParseValue(query)
		if err != nil {
			return
		}
		set, err := New(l)
		require.NoError(t, err)
		want := brute([]List{l}, q, t0)
		ms, err := set.CheckAll(query, t0)
		require.NoError(t, err)
		got := make([]string, 0, len(ms))
		for _, m := range ms {
			got = append(got, m.List+"|"+m.Value)
		}
		slices.Sort(got)
		if len(want) == 0 {
			want = []string{}
		}
		require.Equal(t, want, got)
	})
}
