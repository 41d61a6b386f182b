//go:build !race

package exprenv

// raceStride: see race_test.go.
const raceStride = 1
