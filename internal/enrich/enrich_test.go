package enrich

import (
	"log/slog"
	"net/netip"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// results runs m and gives what it sets as a map (nil: nothing), as
// evt.Enriched would receive it.
func results(m Method, value string, evt *event.Event) (map[string]string, error) {
	out := make([]string, len(m.Outputs))
	set, err := m.Run(value, evt, out)
	if !set {
		return nil, err
	}
	res := make(map[string]string, len(out))
	for i, k := range m.Outputs {
		res[k] = out[i]
	}
	return res, err
}

func TestSetMethodRegistry(t *testing.T) {
	t.Parallel()
	set, err := New(Config{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, set.Close()) })
	for _, name := range []string{"ParseDate", "GeoIpCity", "GeoIpASN", "IpToRange", "reverse_dns", "UnmarshalJSON", "CommunityList"} {
		m, ok := set.Method(name)
		require.True(t, ok, name)
		require.NotNil(t, m.Run, name)
	}
	for _, name := range []string{"", "parsedate", "GeoIPCity", "Unknown"} {
		_, ok := set.Method(name)
		require.False(t, ok, name)
	}
	names := set.Names()
	sort.Strings(names)
	require.Equal(t, []string{"CommunityList", "GeoIpASN", "GeoIpCity", "IpToRange", "ParseDate", "UnmarshalJSON", "reverse_dns"}, names)
	require.NotNil(t, set.GeoIP())
}

func TestUnmarshalJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		raw     string
		before  map[string]any
		want    map[string]any
		wantErr string
	}{
		{name: "object", raw: `{"a":"b","n":42,"f":1.5,"t":true,"z":null,"arr":[1,"x"],"o":{"k":"v"}}`,
			want: map[string]any{"a": "b", "n": float64(42), "f": 1.5, "t": true, "z": nil,
				"arr": []any{float64(1), "x"}, "o": map[string]any{"k": "v"}}},
		{name: "merges into existing keys", raw: `{"a":"new","o":{"k2":"v2"}}`,
			before: map[string]any{"keep": "me", "a": "old", "o": map[string]any{"k1": "v1"}},
			want:   map[string]any{"keep": "me", "a": "new", "o": map[string]any{"k2": "v2"}}},
		{name: "invalid json", raw: `{"a":`, before: map[string]any{"keep": "me"},
			want: map[string]any{"keep": "me"}, wantErr: "enrich: unmarshal json"},
		{name: "not an object", raw: `[1,2]`, before: map[string]any{"keep": "me"},
			want: map[string]any{"keep": "me"}, wantErr: "enrich: unmarshal json"},
		{name: "trailing garbage", raw: `{"a":1} x`, before: map[string]any{},
			want: map[string]any{}, wantErr: "enrich: unmarshal json"},
		{name: "null changes nothing", raw: `null`, before: map[string]any{"keep": "me"},
			want: map[string]any{"keep": "me"}},
		{name: "nil map is created", raw: `{"a":"b"}`, want: map[string]any{"a": "b"}},
	}
	set, err := New(Config{})
	require.NoError(t, err)
	m, ok := set.Method(MethodUnmarshalJSON)
	require.True(t, ok)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			evt := &event.Event{Line: event.Line{Raw: tc.raw}, Unmarshaled: tc.before}
			out, err := results(m, "ignored", evt)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Nil(t, out)
			require.Equal(t, tc.want, evt.Unmarshaled)
		})
	}
}

func FuzzUnmarshalJSON(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":{"b":[1,2,{"c":null}]}}`, `[]`, `null`, `{`, `"x"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		evt := event.New(event.Line{Raw: raw})
		evt.Unmarshaled["sentinel"] = "kept"
		_, err := unmarshalJSON("", evt, nil)
		if err != nil {
			require.Equal(t, map[string]any{"sentinel": "kept"}, evt.Unmarshaled, "a failed decode leaves evt untouched")
			return
		}
		require.NotNil(t, evt.Unmarshaled)
		require.Contains(t, evt.Unmarshaled, "sentinel")
	})
}

type listed map[netip.Addr]bool

func (l listed) Listed(a netip.Addr) bool { return l[a] }

func TestCommunityListMethod(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		list  CommunityList
		value string
		want  map[string]string
	}{
		{"listed", listed{netip.MustParseAddr("203.0.113.5"): true}, "203.0.113.5", map[string]string{"community_listed": "true"}},
		{"mapped form", listed{netip.MustParseAddr("203.0.113.5"): true}, "::ffff:203.0.113.5", map[string]string{"community_listed": "true"}},
		{"not listed", listed{netip.MustParseAddr("203.0.113.5"): true}, "203.0.113.6", map[string]string{"community_listed": "false"}},
		{"no list", nil, "203.0.113.5", map[string]string{"community_listed": "false"}},
		{"not an address", listed{}, "example.org", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set, err := New(Config{Community: tc.list})
			require.NoError(t, err)
			m, ok := set.Method(MethodCommunityList)
			require.True(t, ok)
			got, err := results(m, tc.value, nil)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}
