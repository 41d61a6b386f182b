//go:build race

package natexpr_test

// raceStride: under the race detector the single-goroutine hub
// differential tests run on a raceStride-th of their inputs only (the detector
// finds nothing in them and slows them ~10x); scripts/test.sh also runs
// this package without it, where they run whole.
const raceStride = 8
