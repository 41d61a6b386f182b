package exprenv

// Native access to the data-file indexes, for evaluators that compile
// filters to Go without the expression VM (internal/natexpr).
// Each function answers exactly what the VM would for the same expression
// under this Env (natexpr.FilePatch's exactness argument applies: the same
// index, built from the same entries with the same helpers), so a caller
// may swap one for the other.

import (
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/phalanx-ids/phalanx/internal/natexpr"
)

// Env gives natexpr its helpers and data-file indexes.
var (
	_ natexpr.Helpers   = (*Env)(nil)
	_ natexpr.DataIndex = (*Env)(nil)
)

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
	idx, ok := e.nativeIndex(file, op, transform)
	if !ok {
		return nil, false
	}
	return idx.match, true
}

// nativeIndex is the index of file for op over transform (FileMatch), ok
// false in the cases FileMatch declines.
func (e *Env) nativeIndex(file, op, transform string) (*entryIndex, bool) {
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
	return idx, err == nil
}

// foldContainsOp is the index operator of FoldFileMatch: contains, ASCII
// letters matching regardless of case.
const foldContainsOp = "contains (ASCII case folded)"

// FoldFileMatch returns a function answering
//
//	any(File(file), {H(x) contains T(#)})
//
// for the case helper H (name: "Upper" or "Lower") without building H(x):
// its result is that answer when ascii is true (x is ASCII); for any other
// x, ascii is false and the caller computes H(x) and asks FileMatch. ok is
// false (use FileMatch) as for FileMatch, for an op other than "contains",
// another helper name, or when H changes some T(entry).
//
// Exactness: H(x) and every T(entry) hold no letter of the case H folds,
// and on such strings ASCII case folding is one-to-one, so H(x) contains
// T(entry) exactly when their folded forms do, which the index answers.
// The function is safe for concurrent use.
func (e *Env) FoldFileMatch(file, op, transform, name string) (match func(x string) (result, ascii bool), ok bool) {
	_, fn, ok := caseFirst(name)
	if !ok || op != "contains" {
		return nil, false
	}
	idx, ok := e.nativeIndex(file, foldContainsOp, transform)
	if !ok {
		return nil, false
	}
	for _, v := range idx.vals {
		if fn(v) != v {
			return nil, false
		}
	}
	return func(x string) (bool, bool) {
		if !isASCII(x) {
			return false, false
		}
		return idx.match(x), true
	}, true
}

// RegexpInFileMatch returns RegexpInFile(x, file) as a function of x, with
// the helper's behaviour (result cache, literal prefilter, an unloaded file
// answers false). It looks the file up until it is loaded, then keeps what
// the helper would look up on every call (a loaded file does not change).
// It is safe for concurrent use.
func (e *Env) RegexpInFileMatch(file string) func(x string) bool {
	var resolved atomic.Pointer[regexpFile]
	return func(x string) bool {
		f := resolved.Load()
		if f == nil {
			var ok bool
			if f, ok = e.regexpFileOf(file); !ok {
				return false
			}
			resolved.Store(f)
		}
		return e.matchRegexpFile(f, x)
	}
}

// stringFuncs are the pure helpers of one string: each is registered
// (oneString) as exactly this Go function, and StringFunc hands out the
// same function to native evaluators, so the two cannot disagree. Pure:
// the result depends on the argument only.
func stringFuncs() map[string]func(string) string {
	return map[string]func(string) string{
		"Upper":         upper,
		"Lower":         lower,
		"TrimSpace":     strings.TrimSpace,
		"PathUnescape":  pathUnescape,
		"QueryUnescape": queryUnescape,
		"PathEscape":    url.PathEscape,
		"QueryEscape":   url.QueryEscape,
	}
}

// oneString is the registered helper name of stringFuncs.
func oneString(name string) helper {
	f := stringFuncs()[name]
	return helper{name, func(p ...any) (any, error) { return f(argStr(p, 0)), nil }, []any{new(func(string) string)}}
}

// StringFunc returns the registered pure helper name of one string as a
// Go function, for evaluators that compile expressions without the VM: it
// is the function the registered helper wraps (stringFuncs), not a copy.
// ok is false for any other name. The function is safe for concurrent use.
func (e *Env) StringFunc(name string) (fn func(string) string, ok bool) {
	fn, ok = stringFuncs()[name]
	return fn, ok
}

// StringPredicate returns the registered pure helper name of one string
// returning a bool (IsIPV4, IsIPV6, IsIP) as a Go function: the function
// the registered helper wraps, not a copy. ok is false for any other name.
// The function is safe for concurrent use.
func (e *Env) StringPredicate(name string) (fn func(string) bool, ok bool) {
	fn, ok = stringPredicates()[name]
	return fn, ok
}

// IPRange returns IpInRange(x, cidr) in the two halves the registered
// helper composes (inRange): it is ok && contains(a) where a, ok :=
// parse(x). parse is the helpers' one address parser, whatever cidr. Both
// are safe for concurrent use.
func (e *Env) IPRange(cidr string) (parse func(x string) (netip.Addr, bool), contains func(netip.Addr) bool) {
	return parseIP, rangeOf(cidr)
}

// IPPredicate returns the registered address predicate name (IsIPV4,
// IsIPV6, IsIP) in the two halves its registered function composes
// (stringPredicates): it is ok && test(a) where a, ok := parse(x). parse
// is IPRange's parser, so a caller may share one parse of x between
// them. ok is false for any other name. Both are safe for concurrent use.
func (e *Env) IPPredicate(name string) (parse func(x string) (netip.Addr, bool), test func(netip.Addr) bool, ok bool) {
	test, ok = addrPredicates()[name]
	if !ok {
		return nil, nil, false
	}
	return parseIP, test, true
}
