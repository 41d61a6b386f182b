package hubtest

import (
	"math"
	"sync"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// ParserResult is one run of one top-level parser node on one event, as the
// upstream dump records it.
type ParserResult struct {
	Idx     int
	Success bool
	Evt     event.Event
}

// ParserResults is results[stage][node] in processing order, plus the
// "success" pseudo-stage that upstream always writes (empty).
type ParserResults map[string]map[string][]ParserResult

// recorder implements parse.Tracer, keeping a normalised copy of the event
// after each top-level node.
type recorder struct {
	mu      sync.Mutex
	results ParserResults
	order   map[string]int // stage -> nodes seen so far
	idx     map[string]int // stage/node -> Idx
}

func newRecorder() *recorder {
	return &recorder{
		results: ParserResults{"success": {"": {}}},
		order:   map[string]int{},
		idx:     map[string]int{},
	}
}

func (r *recorder) NodeDone(stage, node string, success bool, evt *event.Event) {
	c := evt.Clone()
	c.Unmarshaled = normaliseMap(c.Unmarshaled)
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.results[stage]
	if st == nil {
		st = map[string][]ParserResult{}
		r.results[stage] = st
	}
	key := stage + "\x00" + node
	i, ok := r.idx[key]
	if !ok {
		r.order[stage]++
		i = r.order[stage]
		r.idx[key] = i
	}
	st[node] = append(st[node], ParserResult{Idx: i, Success: success, Evt: *c})
}

// normaliseMap gives Unmarshaled the value kinds that upstream's assertions
// see after its YAML round trip: a float64 is written with strconv's 'g'
// shortest form, so a whole number below 1e6 reads back as an int, larger
// ones (written as 1e+06...) stay float64.
func normaliseMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	for k, v := range m {
		m[k] = normalise(v)
	}
	return m
}

func normalise(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return normaliseMap(t)
	case []any:
		for i := range t {
			t[i] = normalise(t[i])
		}
		return t
	case float64:
		if t == math.Trunc(t) && !math.IsInf(t, 0) && math.Abs(t) < 1e6 {
			return int(t)
		}
		return t
	case float32:
		return normalise(float64(t))
	case int64:
		return int(t)
	}
	return v
}
