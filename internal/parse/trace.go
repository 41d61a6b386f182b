package parse

import "github.com/phalanx-ids/phalanx/internal/event"

// StepKind names one action inside a node, as reported to a DetailTracer.
type StepKind int

// Step kinds, in the order a node runs them.
const (
	StepFilter    StepKind = iota // filter evaluated; OK = passed
	StepWhitelist                 // whitelist checked; OK = whitelisted, Detail = reason
	StepGrok                      // grok ran; OK = matched, Target = input, Detail = pattern
	StepStash                     // stash entry stored; Target = cache, Value = key
	StepStatic                    // static applied; OK = written, Target = destination, Value = value
	StepNextStage                 // onsuccess next_stage moved the event; Value = new stage
	StepError                     // runtime error; Detail = message
)

func (k StepKind) String() string {
	switch k {
	case StepFilter:
		return "filter"
	case StepWhitelist:
		return "whitelist"
	case StepGrok:
		return "grok"
	case StepStash:
		return "stash"
	case StepStatic:
		return "static"
	case StepNextStage:
		return "next_stage"
	case StepError:
		return "error"
	}
	return "unknown"
}

// Step is one action inside a node.
type Step struct {
	Kind   StepKind
	OK     bool
	Target string // grok input field, static destination, stash cache name
	Value  string // value written (statics), key (stash), new stage (next_stage)
	Detail string // filter source, grok pattern, whitelist reason, error text
}

// DetailTracer is an optional extension of Tracer for `phalanx explain`: a
// Tracer that also implements it sees every node, children included, and
// each action inside them. Clone evt in NodeStart and NodeEnd to show a
// before/after diff per node.
//
// path is the chain of node names from the top-level node down to the
// current one; it (and evt) is only valid during the call. Calls come from
// the goroutine running Parse, in order: NodeStart, Steps, nested children,
// NodeEnd. NodeDone (Tracer) still follows NodeEnd for top-level nodes,
// except when the node hit a runtime error (then the event is dropped).
type DetailTracer interface {
	Tracer
	NodeStart(stage string, path []string, evt *event.Event)
	Step(stage string, path []string, s Step)
	NodeEnd(stage string, path []string, success bool, evt *event.Event)
}
