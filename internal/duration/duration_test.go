package duration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]time.Duration{"1h": time.Hour, "2d": 48 * time.Hour, "1d12h": 36 * time.Hour, "90s": 90 * time.Second} {
		got, err := Parse(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := Parse("1dx")
	require.Error(t, err)
}
