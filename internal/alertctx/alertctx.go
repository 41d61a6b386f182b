// Package alertctx computes alert context: the hub's `contexts/` items name,
// per key, expressions evaluated on the events of an overflow; the distinct
// values found go into the alert's meta as a JSON list (what CrowdSec's
// console shows: the paths probed, the users tried...).
//
// Concurrency: a Set is immutable after Load and safe for concurrent use.
package alertctx

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// DefaultMaxValueLen bounds the JSON list of one key, as upstream's default.
const DefaultMaxValueLen = 4000

// Source is one context file (Data nil: read Name from disk).
type Source struct {
	Name string
	Data []byte
}

// Compiler compiles expressions (an *exprenv.Env fits).
type Compiler interface {
	Compile(src string, env any, extra ...expr.Option) (*vm.Program, error)
}

type fileConfig struct {
	Context map[string][]string `yaml:"context"`
}

type key struct {
	name  string
	progs []*vm.Program
	srcs  []string
}

// Set is the merged context of every loaded file.
type Set struct {
	keys   []key
	maxLen int
}

// Env is the expression environment of context expressions.
type Env struct {
	Evt *event.Event `expr:"evt"`
}

// Load compiles context files. Keys met in several files merge their
// expressions. Expressions that need WAF request data (`req`, `match`) do
// not compile in this environment: they are skipped and listed in the
// returned warnings.
func Load(srcs []Source, c Compiler, maxLen int) (*Set, []error, error) {
	if maxLen <= 0 {
		maxLen = DefaultMaxValueLen
	}
	merged := map[string][]string{}
	for _, s := range srcs {
		data := s.Data
		if data == nil {
			var err error
			if data, err = os.ReadFile(s.Name); err != nil {
				return nil, nil, fmt.Errorf("alertctx: %w", err)
			}
		}
		var fc fileConfig
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&fc); err != nil {
			return nil, nil, yamlerr.New("alertctx", s.Name, err, "alertctx.")
		}
		for k, exprs := range fc.Context {
			merged[k] = append(merged[k], exprs...)
		}
	}
	names := make([]string, 0, len(merged))
	for k := range merged {
		names = append(names, k)
	}
	sort.Strings(names)
	set := &Set{maxLen: maxLen}
	var warns []error
	for _, n := range names {
		k := key{name: n}
		for _, src := range merged[n] {
			p, err := c.Compile(src, Env{})
			if err != nil {
				warns = append(warns, fmt.Errorf("alertctx: key %s: %q: %w", n, src, err))
				continue
			}
			k.progs = append(k.progs, p)
			k.srcs = append(k.srcs, src)
		}
		if len(k.progs) > 0 {
			set.keys = append(set.keys, k)
		}
	}
	return set, warns, nil
}

// Len returns the number of context keys.
func (s *Set) Len() int { return len(s.keys) }

// Meta evaluates the context over events and returns the alert meta: one
// item per key that found a value, keys sorted, value a JSON list of the
// distinct values in order of appearance (trimmed to the length bound).
// It exposes the events' views (event.Event.ExposeAll) for the VM.
func (s *Set) Meta(events []*event.Event) models.Meta {
	var out models.Meta
	for _, ev := range events {
		ev.ExposeAll()
	}
	for _, k := range s.keys {
		seen := map[string]bool{}
		var vals []string
		for _, ev := range events {
			env := Env{Evt: ev}
			for _, p := range k.progs {
				v, err := expr.Run(p, env)
				if err != nil {
					continue
				}
				for _, sv := range stringify(v) {
					if sv != "" && !seen[sv] {
						seen[sv] = true
						vals = append(vals, sv)
					}
				}
			}
		}
		if len(vals) == 0 {
			continue
		}
		out = append(out, &models.MetaItem{Key: k.name, Value: s.encode(vals)})
	}
	return out
}

// encode writes vals as a JSON list no longer than maxLen, dropping the last
// values first and cutting a lone value if it is still too long.
func (s *Set) encode(vals []string) string {
	for len(vals) > 0 {
		b, _ := json.Marshal(vals)
		if len(b) <= s.maxLen {
			return string(b)
		}
		if len(vals) == 1 {
			v := vals[0]
			for len(v) > 0 {
				v = v[:len(v)/2]
				if b, _ := json.Marshal([]string{v}); len(b) <= s.maxLen {
					return string(b)
				}
			}
			return "[]"
		}
		vals = vals[:len(vals)-1]
	}
	return "[]"
}

func stringify(v any) []string {
	switch t := v.(type) {
	case nil:
		return nil
	case string:
		return []string{t}
	case []string:
		return t
	case []any:
		var out []string
		for _, x := range t {
			out = append(out, stringify(x)...)
		}
		return out
	case int:
		return []string{strconv.Itoa(t)}
	case float64:
		return []string{strconv.FormatFloat(t, 'f', -1, 64)}
	case bool:
		return []string{strconv.FormatBool(t)}
	}
	return []string{fmt.Sprint(v)}
}

// FromAlert rebuilds, from an alert's events, the minimal events context
// expressions read (their Meta).
func FromAlert(a *models.Alert) []*event.Event {
	out := make([]*event.Event, 0, len(a.Events))
	for _, e := range a.Events {
		if e == nil {
			continue
		}
		ev := event.New(event.Line{})
		for _, m := range e.Meta {
			if m != nil {
				ev.SetMeta(m.Key, m.Value)
			}
		}
		out = append(out, ev)
	}
	return out
}
