package scenario

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
)

func testCompiler() Compiler { return exprenv.New(exprenv.Deps{}) }

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// caseFile is a timed-input test case (promtool-style): scenarios, a
// sequence of events at offsets from `base`, the expected overflows in
// emission order and optional counters.
type caseFile struct {
	Scenarios string      `yaml:"scenarios"`
	Mode      string      `yaml:"mode"`
	Events    []caseEvent `yaml:"events"`
	Expect    []caseAlert `yaml:"expect"`
	Stats     map[string]map[string]int64
	NoTime    int64 `yaml:"no_time"`
	Reprocess bool  `yaml:"reprocess"`
	// Lateness is Config.Lateness (Go duration; negative turns collection
	// by event time off).
	Lateness string `yaml:"lateness"`
}

// wallClock is Config.Now in the timed cases: events without a time reach
// trigger scenarios at this instant.
var wallClock = base.Add(100 * time.Hour)

type caseEvent struct {
	At       string            `yaml:"at"` // offset from base (Go duration)
	Every    string            `yaml:"every"`
	Repeat   int               `yaml:"repeat"`
	NoTime   bool              `yaml:"no_time"`
	Meta     map[string]string `yaml:"meta"`
	Parsed   map[string]string `yaml:"parsed"`
	Enriched map[string]string `yaml:"enriched"`
	// Vary: meta key that gets a "-<i>" suffix per repetition.
	Vary string `yaml:"vary"`
}

type caseAlert struct {
	Scenario string   `yaml:"scenario"`
	Sources  []string `yaml:"sources"`
	Count    int32    `yaml:"count"`
	Start    string   `yaml:"start"`
	Stop     string   `yaml:"stop"`
	Events   *int     `yaml:"events"`
	Scope    string   `yaml:"scope"`
}

func mustDur(t testing.TB, s string) time.Duration {
	t.Helper()
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	require.NoError(t, err)
	return d
}

// expand makes the case's events. Their fields are slotted (a schema of
// the names the case sets, as a parser pipeline's events are), so that
// the VM reads them through the views the engine builds.
func (c caseFile) expand(t testing.TB) []*event.Event {
	var out []*event.Event
	schema := event.NewSchema()
	for _, ce := range c.Events {
		for k := range ce.Parsed {
			schema.Key(event.Parsed, k)
		}
		for k := range ce.Meta {
			schema.Key(event.Meta, k)
		}
		for k := range ce.Enriched {
			schema.Key(event.Enriched, k)
		}
	}
	for _, ce := range c.Events {
		n := ce.Repeat
		if n == 0 {
			n = 1
		}
		at := mustDur(t, ce.At)
		every := mustDur(t, ce.Every)
		for i := 0; i < n; i++ {
			e := schema.New(event.Line{Raw: "x"})
			for k, v := range ce.Meta {
				e.SetMeta(k, v)
			}
			for k, v := range ce.Parsed {
				e.SetParsed(k, v)
			}
			for k, v := range ce.Enriched {
				e.Put(event.Enriched, k, v)
			}
			if ce.Vary != "" {
				e.SetMeta(ce.Vary, fmt.Sprintf("%s-%d", e.Map(event.Meta)[ce.Vary], i))
			}
			ts := base.Add(at + time.Duration(i)*every)
			e.Time = ts
			if !ce.NoTime {
				e.MarshaledTime = ts.Format(time.RFC3339Nano)
			}
			e.ExpectMode = event.TIMEMACHINE
			out = append(out, e)
		}
	}
	return out
}

// runStream pours events through an engine and returns the overflows in
// emission order, re-pouring reprocess overflows when asked.
func runStream(t testing.TB, set *Set, cfg Config, events []*event.Event, reprocess bool) ([]*event.Event, *Engine) {
	t.Helper()
	return runStreamFields(t, set, cfg, events, reprocess, false)
}

// runStreamFields is runStream; readFields: events are poured with
// PourFields after ReadFields, as the detect pipeline does.
func runStreamFields(t testing.TB, set *Set, cfg Config, events []*event.Event, reprocess, readFields bool) ([]*event.Event, *Engine) {
	t.Helper()
	var got, pending []*event.Event
	cfg.OnOverflow = func(o *Overflow) {
		e := o.Event()
		got = append(got, e)
		if reprocess && e.Overflow.Reprocess {
			pending = append(pending, e)
		}
	}
	eng := NewEngine(set, cfg)
	for _, e := range events {
		if readFields {
			vals := make([]string, eng.FieldCount())
			eng.ReadFields(e, vals)
			eng.PourFields(e, vals)
		} else {
			eng.Pour(e)
		}
		for guard := 0; reprocess && guard < 100; guard++ {
			eng.Flush()
			if len(pending) == 0 {
				break
			}
			p := pending
			pending = nil
			for _, x := range p {
				eng.Pour(x)
			}
		}
	}
	require.NoError(t, eng.Close())
	return got, eng
}

// summary renders overflows in a comparable, order-insensitive form.
func summary(evs []*event.Event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		a := e.Overflow.Alert
		srcs := e.Overflow.GetSources()
		sort.Strings(srcs)
		var metas []string
		for _, ae := range a.Events {
			var kv []string
			for _, m := range ae.Meta {
				kv = append(kv, m.Key+"="+m.Value)
			}
			metas = append(metas, *ae.Timestamp+"{"+strings.Join(kv, ",")+"}")
		}
		out = append(out, fmt.Sprintf("%s|%s|%d|%s|%s|%s|%s", a.GetScenario(), strings.Join(srcs, "@"),
			a.GetEventsCount(), *a.StartAt, *a.StopAt, *a.Message, strings.Join(metas, ";")))
	}
	sort.Strings(out)
	return out
}

func loadCases(t *testing.T, path string) map[string]caseFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var cases map[string]caseFile
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&cases))
	require.NotEmpty(t, cases)
	return cases
}
