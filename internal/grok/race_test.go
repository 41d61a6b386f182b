//go:build race

package grok

// raceStride: the race stage of scripts/test.sh runs the single-goroutine
// hub differential tests on every raceStride-th grok only (the race
// detector finds nothing in them and slows them ~10x); the normal stage
// runs them whole.
const raceStride = 6

// raceSlowdown scales the time bounds of the hostile-input tests.
const raceSlowdown = 10
