package natexpr_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
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
		{`evt.Meta.a == 'x' ? evt.SetMeta('k', 'v') : false`, 1, false, 1},
		{`evt.Meta.a == 'x' ? evt.Meta.b in ['1', '2'] : false`, 2, true, 2},
		// Through top-level lets of plain values (the let is one conjunct,
		// compiled when its helpers are: none here).
		{`let r = Lower(evt.Meta.c); evt.Meta.a == 'x' && evt.Meta.b in ['1'] && r contains 'z'`, 2, false, 0},
		{`let r = Upper(evt.Meta.c + 'x'); let s = 'k'; evt.Meta.a == 'x' && r == s`, 1, false, 0},
		{`let r = int(evt.Meta.c); evt.Meta.a == 'x' && r > 1`, 0, false, 0},                 // may fail
		{`let r = evt.SetMeta('a', 'y'); evt.Meta.a == 'x' && r`, 0, false, 0},               // writes
		{`let r = Trim(evt.Meta.c); evt.Meta.a == 'x' && r == 'z'`, 0, false, 0},             // not a plain helper
		{`let Lower = evt.Meta.c; evt.Meta.a == 'x' && Lower == 'z'`, 0, false, 1},           // shadows one
		{`let r = evt.Meta.c; let s = Upper(r); evt.Meta.a == 'x' && s == 'Z'`, 0, false, 0}, // r is no field
	} {
		preds, exact := natexpr.Preds(tc.src)
		require.Len(t, preds, tc.preds, tc.src)
		require.Equal(t, tc.exact, exact, tc.src)
		require.Len(t, c.Conjuncts(tc.src), tc.conjuncts, tc.src)
	}
}

// Residual is what a scenario index leaves to check: on every event that
// meets the filter's positive Preds, it answers as the whole filter does.
func TestResidual(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src string
		always    bool // nothing left: the Preds are the filter
		none      bool // no residual form
		left      int  // events meeting the positive Preds (of 27)
	}{
		{"preds only", `evt.Meta.a == 'x' && evt.Meta.b in ['1', '2']`, true, false, 6},
		{"one left", `evt.Meta.a == 'x' and evt.Meta.c contains 'z'`, false, false, 9},
		{"two left", `evt.Meta.c != '' && evt.Meta.a in ['x', 'y'] && evt.Meta.b startsWith '1'`, false, false, 18},
		{"negative pred kept", `evt.Meta.a != 'x' && evt.Meta.b == '1'`, false, false, 9},
		{"ternary", `evt.Meta.a == 'x' ? evt.Meta.c endsWith 'z' : false`, false, false, 9},
		{"or is one operand", `evt.Meta.a == 'x' or evt.Meta.b == '1'`, false, false, 27},
		{"writes", `evt.Meta.a == 'x' && evt.SetMeta('b', 'y')`, false, true, 9},
		{"let", `let r = evt.Meta.c + 'Z'; evt.Meta.a == 'x' && r contains 'zZ'`, false, false, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := natexpr.New(nil, nil)
			rest, always := c.Residual(tc.src)
			require.Equal(t, tc.always, always)
			require.Equal(t, tc.none || tc.always, rest == nil)
			if tc.none {
				return
			}
			full := c.Bool(tc.src)
			require.NotNil(t, full)
			preds, _ := natexpr.Preds(tc.src)
			left := 0
			for _, a := range []string{"x", "y", ""} {
				for _, b := range []string{"1", "2", "3"} {
					for _, cv := range []string{"az", "za", ""} {
						e := event.New(event.Line{})
						e.SetMeta("b", b)
						e.SetMeta("c", cv)
						if a != "" {
							e.SetMeta("a", a)
						}
						meets := true
						for i := range preds {
							meets = meets && (!preds[i].Positive() || preds[i].Eval(e))
						}
						if !meets {
							continue
						}
						left++
						var ctx natexpr.Ctx
						ctx.Reset(e, nil)
						want, err := full(&ctx)
						require.NoError(t, err)
						got := true
						if !always {
							got, err = rest(&ctx)
							require.NoError(t, err)
						}
						require.Equal(t, want, got, "a=%q b=%q c=%q", a, b, cv)
					}
				}
			}
			require.Equal(t, tc.left, left)
		})
	}
}
