package yamlerr_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

var update = flag.Bool("update", false, "rewrite testdata/errors.golden")

type inner struct {
	Port int `yaml:"port"`
}

type Config struct {
	Name  string   `yaml:"name"`
	Inner inner    `yaml:"inner"`
	List  []string `yaml:"list"`
}

// TestNew decodes each case strictly and compares the message with
// testdata/errors.golden ("go test -update" rewrites it).
func TestNew(t *testing.T) {
	cases := []struct{ name, yaml string }{
		{"unknown top field", "name: a\nnmae: b\n"},
		{"unknown nested field", "name: a\ninner:\n  port: 1\n  prot: 2\n"},
		{"two errors", "nmae: a\ninner:\n  port: x\n"},
		{"wrong type", "list: 3\n"},
		{"syntax error", "name: a\n  b: c\n"},
		{"unclosed flow list", "name: [a\n"},
		{"tab", "name: a\n\tinner: 1\n"},
	}
	var got strings.Builder
	for _, tc := range cases {
		dec := yaml.NewDecoder(strings.NewReader(tc.yaml))
		dec.KnownFields(true)
		var c Config
		err := dec.Decode(&c)
		require.Error(t, err, tc.name)
		e := yamlerr.New("comp", "/etc/x.yaml", err, "yamlerr_test.")
		require.True(t, errors.Is(e, err), "unwraps to the yaml error")
		var ye *yamlerr.Error
		require.True(t, errors.As(error(e), &ye))
		got.WriteString(tc.name + ": " + e.Error() + "\n")
	}
	// Not a yaml error: kept whole, with the file.
	got.WriteString("other: " + yamlerr.New("comp", "f.yaml", errors.New("boom"), "").Error() + "\n")
	golden := filepath.Join("testdata", "errors.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), got.String())
	for _, l := range bytes.Split(bytes.TrimSpace(want), []byte("\n")) {
		require.Contains(t, string(l), "comp: ", "every message names its component")
	}
}
