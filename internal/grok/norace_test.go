//go:build !race

package grok

// raceStride: see race_test.go.
const raceStride = 1

// raceSlowdown scales the time bounds of the hostile-input tests.
const raceSlowdown = 1
