package exprenv

import (
	"net/netip"
	"testing"

	"github.com/expr-lang/expr"

	"github.com/stretchr/testify/require"
)

type fakeList map[netip.Addr]bool

func (l fakeList) Listed(a netip.Addr) bool { return l[a] }

func TestIsInCommunityList(t *testing.T) {
	list := fakeList{netip.MustParseAddr("203.0.113.5"): true, netip.MustParseAddr("2001:db8::1"): true}
	cases := []struct {
		name string
		list CommunityList
		expr string
		want bool
	}{
		{"listed v4", list, `IsInCommunityList("203.0.113.5")`, true},
		{"listed v6", list, `IsInCommunityList("2001:db8::1")`, true},
		{"not listed", list, `IsInCommunityList("203.0.113.6")`, false},
		{"not an address", list, `IsInCommunityList("nope")`, false},
		{"no list", nil, `IsInCommunityList("203.0.113.5")`, false},
		{"from an event field", list, `IsInCommunityList(evt.Meta.source_ip) && evt.Meta.source_ip != ""`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(Deps{Community: tc.list})
			env := map[string]any{"evt": map[string]any{"Meta": map[string]string{"source_ip": "203.0.113.5"}}}
			prog, err := e.Compile(tc.expr, env)
			require.NoError(t, err)
			out, err := expr.Run(prog, env)
			require.NoError(t, err)
			require.Equal(t, tc.want, out)
		})
	}
}
