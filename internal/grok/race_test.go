//go:build race

package grok

// raceStride: under the race detector the single-goroutine hub
// differential tests run on every raceStride-th grok only (the detector
// finds nothing in them and slows them ~10x); scripts/test.sh also runs
// this package without it, where they run whole.
const raceStride = 24

// raceSlowdown scales the time bounds of the hostile-input tests.
const raceSlowdown = 10
