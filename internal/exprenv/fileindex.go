package exprenv

// The data-file indexes behind natexpr's data-file patch (natexpr.FilePatch,
// installed on every program this Env compiles unless Deps.PlainFilters)
// and natexpr's native any(File(...)) lookups (FileMatch): each index
// answers one comparison over the entries of a string data file, with the
// transform and guard evaluated once per entry by the registered helpers.

import (
	"fmt"
	"reflect"
	"slices"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/conf"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
)

// pureHelpers are the registered helpers without side effects whose result
// depends on their arguments only.
var pureHelperNames = map[string]bool{
	"Upper": true, "Lower": true, "TrimSpace": true, "Trim": true, "TrimLeft": true,
	"TrimRight": true, "TrimPrefix": true, "TrimSuffix": true, "ToString": true,
	"Replace": true, "ReplaceAll": true, "JsonExtract": true,
	"PathUnescape": true, "QueryUnescape": true, "PathEscape": true, "QueryEscape": true,
}

// Pure reports whether the helper name has no side effects and a result
// that depends on its arguments only (natexpr.DataIndex).
func (e *Env) Pure(name string) bool { return pureHelperNames[name] }

// Registered reports whether name is this Env's helper in c (not
// overridden by a later option) (natexpr.DataIndex).
func (e *Env) Registered(c *conf.Config, name string) bool {
	f, ok := c.Functions[name]
	if !ok {
		return false
	}
	want, ok := e.helperPtrs[name]
	return ok && reflect.ValueOf(f.Func).Pointer() == want
}

// FileStrings returns the entries of a loaded string data file
// (natexpr.DataIndex).
func (e *Env) FileStrings(name string) []string {
	if e.d.Data == nil {
		return nil
	}
	return e.d.Data.Strings(name)
}

// FileIndex returns the (cached) index of file (natexpr.DataIndex).
func (e *Env) FileIndex(file string, strs []string, op, tsrc, gsrc string) (natexpr.FileIndex, error) {
	idx, err := e.fileIndex(file, strs, op, tsrc, gsrc)
	if err != nil {
		return nil, err
	}
	return idx, nil
}

// entriesVar is the variable holding the entries when a transform or guard
// is evaluated over a file at compile time.
const entriesVar = "__phx_entries"

// entryIndex answers one comparison over the transformed, guarded entries
// of a file. Immutable.
type entryIndex struct {
	entries []string // the file's entries
	kept    []int    // indexes (into entries) that passed the guard
	vals    []string // T(entries[kept[i]])
	op      string
	match   func(string) bool
	set     *datafile.Set
	sub     *datafile.Substrings
	byVal   map[string][]int // for == narrowing: value -> kept positions
}

// Match reports whether the comparison holds for some kept entry.
func (x *entryIndex) Match(s string) bool { return x.match(s) }

// Kept is the number of entries that passed the guard.
func (x *entryIndex) Kept() int { return len(x.kept) }

// Candidates returns the entries (in file order) whose comparison holds.
func (x *entryIndex) Candidates(s string) []string {
	var ids []int
	switch x.op {
	case "contains":
		x.sub.Each(s, func(id, _ int) bool {
			ids = append(ids, id)
			return true
		})
	case "==":
		ids = x.byVal[s]
	}
	if len(ids) == 0 {
		return []string{}
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = x.entries[x.kept[id]]
	}
	return out
}

// indexKey identifies an index: file, operator, transform, guard.
type indexKey struct{ file, op, t, g string }

type indexSlot struct {
	once sync.Once
	idx  *entryIndex
	err  error
}

// fileIndex returns the (cached) index of file for op over T(#) (source
// tsrc) restricted to the entries where G(#) (source gsrc, "" for none) is
// true.
func (e *Env) fileIndex(file string, strs []string, op, tsrc, gsrc string) (*entryIndex, error) {
	v, _ := e.indexes.LoadOrStore(indexKey{file, op, tsrc, gsrc}, &indexSlot{})
	slot := v.(*indexSlot)
	slot.once.Do(func() { slot.idx, slot.err = e.buildIndex(strs, op, tsrc, gsrc) })
	return slot.idx, slot.err
}

func (e *Env) buildIndex(strs []string, op, tsrc, gsrc string) (*entryIndex, error) {
	x := &entryIndex{entries: strs, op: op}
	keep := make([]bool, len(strs))
	for i := range keep {
		keep[i] = true
	}
	if gsrc != "" {
		gs, err := e.mapEntries(strs, gsrc)
		if err != nil {
			return nil, err
		}
		for i, g := range gs {
			b, ok := g.(bool)
			if !ok {
				return nil, fmt.Errorf("exprenv: guard %q: not a bool", gsrc)
			}
			keep[i] = b
		}
	}
	vals := strs
	if tsrc != "" && tsrc != "#" {
		ts, err := e.mapEntries(strs, tsrc)
		if err != nil {
			return nil, err
		}
		vals = make([]string, len(ts))
		for i, v := range ts {
			s, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("exprenv: transform %q: not a string", tsrc)
			}
			vals[i] = s
		}
	}
	for i, k := range keep {
		if k {
			x.kept = append(x.kept, i)
			x.vals = append(x.vals, vals[i])
		}
	}
	switch op {
	case "contains":
		x.sub = datafile.NewSubstrings(x.vals, false)
		x.match = x.sub.MatchString
	case foldContainsOp:
		x.sub = datafile.NewSubstrings(x.vals, true)
		x.match = x.sub.MatchString
	case "startsWith":
		x.match = datafile.NewPrefixes(x.vals).MatchString
	case "endsWith":
		x.match = datafile.NewSuffixes(x.vals).MatchString
	case "==":
		x.set = datafile.NewSet(x.vals)
		x.match = x.set.MatchString
		x.byVal = make(map[string][]int)
		for i, v := range x.vals {
			x.byVal[v] = append(x.byVal[v], i)
		}
	default:
		return nil, fmt.Errorf("exprenv: no index for %q", op)
	}
	return x, nil
}

// mapEntries evaluates src (an expression of #) on every entry, with the
// same helpers as the filters.
func (e *Env) mapEntries(strs []string, src string) ([]any, error) {
	env := map[string]any{entriesVar: strs}
	opts := append([]expr.Option{expr.Env(env)}, e.helperOpts...)
	prog, err := expr.Compile("map("+entriesVar+", {"+src+"})", opts...)
	if err != nil {
		return nil, fmt.Errorf("exprenv: index %q: %w", src, err)
	}
	out, err := expr.Run(prog, env)
	if err != nil {
		return nil, fmt.Errorf("exprenv: index %q: %w", src, err)
	}
	l, ok := out.([]any)
	if !ok || len(l) != len(strs) {
		return nil, fmt.Errorf("exprenv: index %q: unexpected result %T", src, out)
	}
	return l, nil
}
