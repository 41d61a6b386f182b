package testutil

import (
	"testing"
	"time"
)

// WaitLimit bounds a test's wait for something that must happen (a Run
// returning after its ctx ended, a first snapshot): long enough for a
// loaded machine under -race, far below the CI run's budget, so that a
// hang fails its test with a message instead of stalling the whole run.
const WaitLimit = 30 * time.Second

// Recv receives from ch, failing t (what says what was awaited) when
// nothing comes within WaitLimit. A closed ch counts as received.
func Recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(WaitLimit)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("%s: nothing within %s", what, WaitLimit)
		var zero T
		return zero
	}
}
