//go:build race

package scenario

// raceScale divides the size of the tests that are big only to be big
// (TestHugeDistinct: 200,000 events took 110 s under the race detector on
// a loaded machine); without the detector they run whole.
const raceScale = 10
