//go:build !race

package grok

// raceStride: see race_test.go.
const raceStride = 1
