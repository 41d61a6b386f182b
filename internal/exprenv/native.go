package exprenv

// Native access to the data-file indexes, for evaluators that compile
// filters to Go without the expression VM (the scenario engine's natexpr).
// Each function answers exactly what the VM would for the same expression
// under this Env (fastfilter.go's exactness argument applies: the same
// index, built from the same entries with the same helpers), so a caller
// may swap one for the other.

import "reflect"

// FileMatch returns a function answering
//
//	any(File(file), {x op T(#)})
//
// for a string x, where op is "contains", "startsWith", "endsWith" or "=="
// and transform is the expression source of T over the entry: "#" (or "")
// for the entry itself, or a pure helper call such as "Upper(#)".
//
// ok is false (and the caller must keep its plain evaluation) when the
// file is not loaded or is empty, when T cannot be evaluated on every
// entry, or when Deps.PlainFilters is set. The function is safe for
// concurrent use.
func (e *Env) FileMatch(file, op, transform string) (match func(x string) bool, ok bool) {
	if e.d.PlainFilters || e.d.Data == nil {
		return nil, false
	}
	strs := e.d.Data.Strings(file)
	if len(strs) == 0 {
		return nil, false
	}
	if transform == "" {
		transform = "#"
	}
	idx, err := e.fileIndex(file, strs, op, transform, "")
	if err != nil {
		return nil, false
	}
	return idx.match, true
}

// RegexpInFileMatch returns RegexpInFile(x, file) as a function of x, with
// the helper's behaviour (result cache, literal prefilter, an unloaded file
// answers false). It is safe for concurrent use.
func (e *Env) RegexpInFileMatch(file string) func(x string) bool {
	return func(x string) bool { return e.regexpMatch(x, file) }
}

// StringFunc returns the registered helper name as a Go function of one
// string, for evaluators that compile expressions without the VM: the
// function calls the very helper the compiled programs call (no copy of
// its semantics). ok is false when name is not a registered helper typed
// func(string) string, or is not pure (its result must depend on its
// argument only, so that a caller may evaluate it once per event and
// share the result). The function is safe for concurrent use.
func (e *Env) StringFunc(name string) (fn func(string) string, ok bool) {
	if !pureHelpers[name] {
		return nil, false
	}
	want := reflect.TypeOf(func(string) string { return "" })
	for _, h := range e.helpers() {
		if h.name != name {
			continue
		}
		typed := false
		for _, t := range h.types {
			if reflect.TypeOf(t).Elem() == want {
				typed = true
			}
		}
		if !typed {
			return nil, false
		}
		call := h.fn
		return func(s string) string {
			v, err := call(s)
			if err != nil {
				return ""
			}
			r, _ := v.(string)
			return r
		}, true
	}
	return nil, false
}
