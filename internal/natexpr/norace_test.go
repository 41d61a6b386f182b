//go:build !race

package natexpr_test

// raceStride: see race_test.go.
const raceStride = 1
