// Package explain says what each parser of each stage did to a log line:
// for every top-level parser node, whether it matched and what it changed
// in the event (a before/after diff of Parsed, Meta, Enriched and the time
// fields), then whether the line came out parsed, whitelisted or dropped,
// and why. `phalanx explain` prints it; the dashboard shows it under the
// raw log lines of an alert.
package explain

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/content"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/grok"
	"github.com/phalanx-ids/phalanx/internal/hub/lint"
	"github.com/phalanx-ids/phalanx/internal/parse"
)

// Outcome is how a line came out of the parsers.
type Outcome int

// Outcomes.
const (
	Dropped Outcome = iota
	Parsed
	Whitelisted
)

func (o Outcome) String() string {
	switch o {
	case Parsed:
		return "parsed"
	case Whitelisted:
		return "whitelisted"
	}
	return "dropped"
}

// Step is what one top-level parser node did to the line.
type Step struct {
	Stage, Node string
	Success     bool
	// Changes are the diff lines: "+ Meta.x = \"v\"", "- Parsed.y",
	// "~ Parsed.z = \"new\" (was \"old\")", "~ StrTime = ...".
	Changes []string
	// InjectionRisks counts the node's patterns open to log injection
	// (hubtest lint), from the risks map given to Line.
	InjectionRisks int
}

// Result is the trace of one line.
type Result struct {
	Line    string
	Steps   []Step
	Outcome Outcome
	// Reason: for Parsed a summary of the main meta (log_type, service,
	// source_ip, timestamp: "k=v ..."), for Whitelisted the whitelist's
	// reason, for Dropped where and why the line stopped.
	Reason string
}

// Line runs l through the parsers with a tracer and returns the trace.
// risks (may be nil) is InjectionRisks' map. The event is in time-machine
// mode (the line's own timestamp), as a replay sees it.
//
// Concurrency: p.Parse's; Line keeps nothing.
func Line(p *parse.Pipeline, l event.Line, risks map[string]int) Result {
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	if l.Time.IsZero() {
		l.Time = time.Now()
	}
	evt := p.Schema().New(l)
	evt.ExpectMode = event.TIMEMACHINE
	tr := &tracer{prev: evt.Clone(), risks: risks}
	ok := p.Parse(evt, tr)
	res := Result{Line: l.Raw, Steps: tr.steps}
	switch {
	case ok && evt.Whitelisted:
		res.Outcome, res.Reason = Whitelisted, evt.WhitelistReason
	case ok:
		res.Outcome, res.Reason = Parsed, summaryMeta(evt)
	default:
		res.Outcome, res.Reason = Dropped, dropReason(tr.steps, p.Stages())
	}
	return res
}

// tracer records, for each top-level node, its outcome and what it
// changed in the event.
type tracer struct {
	risks map[string]int
	prev  *event.Event
	steps []Step
}

func (t *tracer) NodeDone(stage, node string, success bool, evt *event.Event) {
	cur := evt.Clone()
	t.steps = append(t.steps, Step{Stage: stage, Node: node, Success: success, Changes: diffEvents(t.prev, cur),
		InjectionRisks: t.risks[node]})
	t.prev = cur
}

// dropReason names the stage where the event stopped and the parsers tried there.
func dropReason(steps []Step, stages []string) string {
	if len(steps) == 0 {
		if len(stages) == 0 {
			return "no parser loaded"
		}
		return fmt.Sprintf("no parser of stage %s applies to it", stages[0])
	}
	lastStage := steps[len(steps)-1].Stage
	var tried []string
	for _, s := range steps {
		if s.Stage == lastStage {
			if s.Success {
				return fmt.Sprintf("stage %s: %s matched but did not move the line to the next stage", lastStage, s.Node)
			}
			tried = append(tried, s.Node)
		}
	}
	return fmt.Sprintf("no parser of stage %s matched (tried %s)", lastStage, strings.Join(tried, ", "))
}

// InjectionRisks counts, per parser node, the grok patterns of the content
// that hubtest lint warns about (an address taken from text the client
// wrote).
func InjectionRisks(cfg content.Config) (map[string]int, error) {
	lib := grok.NewLibrary()
	for _, d := range cfg.PatternDirs {
		if err := lib.LoadDir(d); err != nil {
			return nil, err
		}
	}
	fs, err := lint.Files(lib, append(append([]parse.File{}, cfg.Parsers...), cfg.PostOverflows...))
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, f := range fs {
		out[f.Node]++
	}
	return out, nil
}

func diffEvents(a, b *event.Event) []string {
	var out []string
	for _, p := range []event.Part{event.Parsed, event.Meta, event.Enriched} {
		out = append(out, diffMap(p.String(), a.Map(p), b.Map(p))...)
	}
	if fmt.Sprint(a.Unmarshaled) != fmt.Sprint(b.Unmarshaled) {
		out = append(out, fmt.Sprintf("~ Unmarshaled = %v", b.Unmarshaled))
	}
	for _, f := range []struct{ name, x, y string }{
		{"StrTime", a.StrTime, b.StrTime},
		{"MarshaledTime", a.MarshaledTime, b.MarshaledTime},
		{"WhitelistReason", a.WhitelistReason, b.WhitelistReason},
	} {
		if f.x != f.y {
			out = append(out, fmt.Sprintf("~ %s = %q", f.name, f.y))
		}
	}
	if a.Whitelisted != b.Whitelisted {
		out = append(out, fmt.Sprintf("~ Whitelisted = %v", b.Whitelisted))
	}
	return out
}

func diffMap(name string, a, b map[string]string) []string {
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		av, inA := a[k]
		bv, inB := b[k]
		switch {
		case !inA && inB:
			out = append(out, fmt.Sprintf("+ %s.%s = %q", name, k, bv))
		case inA && !inB:
			out = append(out, fmt.Sprintf("- %s.%s", name, k))
		case av != bv:
			out = append(out, fmt.Sprintf("~ %s.%s = %q (was %q)", name, k, bv, av))
		}
	}
	return out
}

func summaryMeta(evt *event.Event) string {
	var parts []string
	for _, k := range []string{"log_type", "service", "source_ip", "timestamp"} {
		if v, _ := evt.Lookup(event.Meta, k); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}
