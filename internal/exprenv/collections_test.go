package exprenv

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCollectionHelpers(t *testing.T) {
	runCases(t, New(Deps{}), []exprCase{
		{"flatten", `Flatten([1, [2, [3, "a"]]], 4)`, []any{1, 2, 3, "a", 4}, false},
		{"distinct", `Distinct([1, 2, 1, "a", "a"])`, []any{1, 2, "a"}, false},
		{"distinct strings", `Distinct(Split("a,b,a", ","))`, []any{"a", "b"}, false},
		{"distinct not a list", `Distinct(1)`, nil, false},
		{"flatten distinct", `FlattenDistinct([1, [1, 2]], [2, 3])`, []any{1, 2, 3}, false},
	})
	got, err := distinct([]any{map[string]any{}, 1, 1})
	require.NoError(t, err)
	require.Len(t, got, 2, "non-comparable kept, duplicates dropped")
}
