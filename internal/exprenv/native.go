package exprenv

// Native access to the data-file indexes, for evaluators that compile
// filters to Go without the expression VM (the scenario engine's natexpr).
// Each function answers exactly what the VM would for the same expression
// under this Env (fastfilter.go's exactness argument applies: the same
// index, built from the same entries with the same helpers), so a caller
// may swap one for the other.

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
