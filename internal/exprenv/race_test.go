//go:build race

package exprenv

// raceStride: under the race detector the single-goroutine hub
// differential tests run on every raceStride-th request only (the detector
// finds nothing in them and slows them ~10x); scripts/test.sh also runs
// this package without it, where they run whole.
const raceStride = 8
