package cli

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBouncerFirewallCmdErrors(t *testing.T) {
	cases := map[string]struct {
		args []string
		err  string
	}{
		"no config":      {args: nil, err: "-c FILE is required"},
		"missing config": {args: []string{"-c", filepath.Join(t.TempDir(), "nope.yaml")}, err: "no such file"},
		"extra argument": {args: []string{"-c", "x", "y"}, err: "unknown command"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out, errw bytes.Buffer
			a := &app{out: &out, err: &errw}
			c := newBouncerFirewallCmd(a)
			c.SetArgs(tc.args)
			c.SetOut(&out)
			c.SetErr(&errw)
			err := c.Execute()
			require.Error(t, err)
			require.Contains(t, err.Error()+errw.String(), tc.err)
		})
	}
}
