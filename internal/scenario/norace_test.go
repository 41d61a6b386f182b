//go:build !race

package scenario

// raceScale: see race_test.go.
const raceScale = 1
