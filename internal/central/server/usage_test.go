package server

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConsoleOptionsShapes: the central lists the enabled console options
// whether a LAPI joins them in one entry (CrowdSec's and Phalanx's shape)
// or sends one entry per option.
func TestConsoleOptionsShapes(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"joined", []string{"custom,tainted,manual"}, []string{"custom", "tainted", "manual"}},
		{"none enabled", []string{""}, []string{}},
		{"absent", nil, []string{}},
		{"one per entry", []string{"custom", "context"}, []string{"custom", "context"}},
		{"spaces and repeats", []string{"custom, tainted", "custom"}, []string{"custom", "tainted"}},
		{"bounded", []string{strings.Repeat("x,", 100) + "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s"},
			[]string{"x", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, consoleOptions(tc.in))
		})
	}
}
