package grok

import "sync/atomic"

// The engine choice.
//
// Neither engine is the cheaper one on every pattern. The two-pass engine
// reads the whole line twice (one dependent table load per byte, right to
// left, then the walk) and its DFA table competes for the cache with the
// rest of the pipeline; the backtracker costs what its search explores:
// about one step per byte on a pattern whose alternations are decided by
// the next byte or two (the syslog header grok: 0.7 steps per byte), many
// on one that tries long branches that fail (the nginx access grok's
// optional IPORHOST: 1.6; http-logs' request grok: 3.2). Both return Go's
// submatches exactly, so the choice changes only the cost.
//
// Whichever runs first, the backtracker is bounded (maxStepsPerByte, in
// backtrack.go) when the two-pass engine can take the line over: a hostile
// line that would cost it a step per instruction and byte goes to the
// linear engine instead.
//
// A pattern starts on the backtracker and counts its steps per input byte
// over the first chooseSample lines it searches; from then on it runs on
// the two-pass engine when that ratio is at least liveStepsPerByte (or
// unanchoredLiveStepsPerByte), else
// on the backtracker (the two-pass program is then never built). The
// counters are written only while sampling; afterwards the choice is one
// atomic load of a read-only word. Whoever writes the first lines steers
// the choice, but only within a constant factor: both engines run in time
// linear in the line (the backtracker memoises, the DFA has a budget).

// chooseSample is the number of lines a pattern samples before choosing.
const chooseSample = 64

// liveStepsPerByte is the backtracker cost (steps per input byte) from
// which the two-pass engine runs instead; measured on the hub's hot groks
// in a replay (see BenchmarkHubPattern).
const liveStepsPerByte = 1.2

// unanchoredLiveStepsPerByte is liveStepsPerByte for a pattern that is not
// start-anchored. The backtracker mode of an anchored pattern runs it on
// the lookahead engine (onepass.go), whose steps cost a table load; that
// of an unanchored one on the memoised backtracker, whose steps (visited
// bits, the alternatives a switch pushes and pops) cost more:
// sshd-success-logs' "Accepted ..." grok takes ~0.75 steps a byte on the
// backtracker, ~9,700 instructions a line, and ~4,800 on the two-pass
// engine.
const unanchoredLiveStepsPerByte = 0.6

// Engine modes.
const (
	modeSampling int32 = iota
	modeBacktrack
	modeLive
)

// engineChoice is a pattern's engine choice. Safe for concurrent use.
type engineChoice struct {
	mode  atomic.Int32
	lines atomic.Int32
	steps atomic.Int64
	bytes atomic.Int64
}

// record adds one sampled line's cost and, on the line that completes the
// sample, sets the mode: the two-pass engine when the steps per byte are
// at least live.
func (c *engineChoice) record(steps, n int, live float64) {
	c.steps.Add(int64(steps))
	c.bytes.Add(int64(n + 1))
	if c.lines.Add(1) != chooseSample {
		return
	}
	mode := modeBacktrack
	if float64(c.steps.Load()) >= live*float64(c.bytes.Load()) {
		mode = modeLive
	}
	c.mode.Store(mode)
}
