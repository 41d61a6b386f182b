package exprenv

import (
	"testing"

	"github.com/expr-lang/expr"
	"github.com/stretchr/testify/require"
)

// TestStringFuncIsTheHelper: StringFunc gives, for every pure one-string
// helper, the function the compiled programs call (compared with the VM
// on awkward inputs), and refuses the others.
func TestStringFuncIsTheHelper(t *testing.T) {
	inputs := []string{"", "abc", "ÀÉÎ straße", "%41%42", "%zz", "a+b%20c", "%", "%e2%82%ac", "a%2Fb", "\xff\xfe", "İ", " x "}
	env := New(Deps{})
	got := 0
	for _, name := range env.Names() {
		fn, ok := env.StringFunc(name)
		if !ok {
			continue
		}
		got++
		p, err := env.Compile(name+"(x)", map[string]any{"x": ""})
		require.NoError(t, err, name)
		for _, in := range inputs {
			out, err := expr.Run(p, map[string]any{"x": in})
			require.NoError(t, err)
			require.Equal(t, out, fn(in), "%s(%q)", name, in)
		}
	}
	for _, name := range []string{"Upper", "Lower", "PathUnescape", "QueryUnescape", "TrimSpace", "PathEscape", "QueryEscape"} {
		_, ok := env.StringFunc(name)
		require.True(t, ok, name)
	}
	require.Equal(t, 7, got, "the pure helpers of one string")
	for _, name := range []string{"Trim", "File", "LookupHost", "nothere", "SetInStash"} {
		_, ok := env.StringFunc(name)
		require.False(t, ok, name)
	}
}
