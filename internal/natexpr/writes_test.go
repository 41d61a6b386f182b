package natexpr_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/natexpr"
)

func TestWritesOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src  string
		want natexpr.Writes
	}{
		{`evt.Meta.a == 'x'`, 0},
		{`evt.SetMeta('a', 'b')`, natexpr.WritesMeta},
		{`evt.Meta.a == 'x' && evt.SetParsed('a', 'b')`, natexpr.WritesParsed},
		{`SetMeta('a', 'b') || evt.SetParsed('c', 'd')`, natexpr.WritesMeta | natexpr.WritesParsed},
		{`evt.Meta.a ==`, natexpr.WritesMeta | natexpr.WritesParsed}, // unparsable: may write anything
	} {
		require.Equal(t, tc.want, natexpr.WritesOf(tc.src), tc.src)
	}
	w := natexpr.WritesMeta
	require.True(t, w.Has(natexpr.SrcMeta))
	require.False(t, w.Has(natexpr.SrcParsed))
	require.False(t, w.Has(natexpr.SrcEnriched))
}

// What is read ahead of a filter (index Preds, native pre-checks) reads the
// event as poured: it stops at the first operand that writes the event.
func TestReadAheadStopsAtFirstWrite(t *testing.T) {
	t.Parallel()
	c := natexpr.New(nil, nil)
	for _, tc := range []struct {
		src       string
		preds     int
		exact     bool
		conjuncts int
	}{
		{`evt.Meta.a == 'x' && evt.Meta.b in ['1', '2']`, 2, true, 2},
		{`evt.Meta.a == 'x' && evt.SetMeta('b', 'y') && evt.Meta.b == 'y'`, 1, false, 1},
		{`evt.SetParsed('s', 'v') && evt.Parsed.s == 'v'`, 0, false, 0},
		{`evt.Meta.a == 'x' ? evt.SetMeta('k', 'v') : false`, 0, false, 1},
	} {
		preds, exact := natexpr.Preds(tc.src)
		require.Len(t, preds, tc.preds, tc.src)
		require.Equal(t, tc.exact, exact, tc.src)
		require.Len(t, c.Conjuncts(tc.src), tc.conjuncts, tc.src)
	}
}
