// Package gcpolicy sets the Go garbage collector's policy of a process:
// one place for the replay command and the daemon, which are processes of
// their own (an embedded daemon, as in tests, leaves the policy alone).
//
// A soft memory limit (runtime/debug.SetMemoryLimit) is what bounds a
// burst: the live heap of the daemon grows with its buckets (a million
// lines appended at once keep every source's buckets alive on the wall
// clock), and with GOGC alone the heap, and so the RSS, would be twice the
// live heap plus what was allocated while the collector marked. Under the
// limit the collector runs more often as the heap nears it; the runtime
// caps its CPU at about half, so a heap that outgrows the limit goes over
// it (and the pipeline slows down, reading the burst more slowly) rather
// than failing. The GOGC and GOMEMLIMIT environment variables take
// precedence over the policy.
package gcpolicy

import (
	"os"
	"runtime/debug"
)

// Policy is a GC percentage and a soft memory limit.
type Policy struct {
	// Percent is GOGC (0: leave it).
	Percent int
	// Limit is the soft memory limit in bytes, the Go runtime's memory
	// (heap, stacks, metadata; not the program's text): 0 leaves it.
	Limit int64
}

// Apply sets p, but for what GOGC and GOMEMLIMIT set in the environment,
// and returns what restores the previous policy.
func Apply(p Policy) (restore func()) {
	gc, lim := -2, int64(-1)
	if p.Percent != 0 && os.Getenv("GOGC") == "" {
		gc = debug.SetGCPercent(p.Percent)
	}
	if p.Limit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		lim = debug.SetMemoryLimit(p.Limit)
	}
	return func() {
		if gc != -2 {
			debug.SetGCPercent(gc)
		}
		if lim >= 0 {
			debug.SetMemoryLimit(lim)
		}
	}
}
