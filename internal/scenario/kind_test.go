package scenario

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseKind(t *testing.T) {
	for _, name := range []string{TypeLeaky, TypeTrigger, TypeCounter, TypeConditional, TypeBayesian} {
		k, err := ParseKind(name)
		require.NoError(t, err)
		require.NotZero(t, k)
		require.Equal(t, name, k.String())
	}
	_, err := ParseKind("")
	require.EqualError(t, err, "type: missing")
	_, err = ParseKind("leaking")
	require.EqualError(t, err, `type: unknown bucket type "leaking"`)
	require.Equal(t, "kind(0)", Kind(0).String())
}
