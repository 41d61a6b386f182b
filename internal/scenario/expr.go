package scenario

import (
	"time"
	"unsafe"

	"github.com/expr-lang/expr/vm"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
)

// The compiled expressions of a scenario. Each is one value chosen at load:
// the expr program, and the native form natexpr compiled when it could
// (nil otherwise). Evaluation takes the native form unless the engine
// turns native code off (Config.DisableNative); the program answers what
// the native form cannot. Both read the same event; the native form reads
// the fields the pipeline read ahead (natexpr.Ctx) or the event's maps.

// filterExpr is a scenario's filter. A filter natexpr could not compile
// whole still often has native conjuncts (pre): conditions the filter
// needs, checked before the VM runs. A native filter has a residual form
// too (rest, or always): what is left to check of it once the scenario
// index selected the scenario, which it does only for events that meet
// every positive Pred of the filter (index.build), so those are not
// checked twice (an nginx line meets the log_type test of some forty
// http scenarios).
type filterExpr struct {
	prog   *vm.Program
	pv     event.PartSet   // the parts prog may read as maps (readsViews)
	nat    natexpr.Bool    // the whole filter, native (nil: the VM decides)
	rest   natexpr.Bool    // nat less the Preds the index checks (nil: see always, else use nat)
	always bool            // nothing is left once the index selected the scenario: the filter is true
	pre    []natexpr.Bool  // native necessary conditions (when nat is nil)
	guards []natexpr.Guard // necessary literals of nat (the worker's Prefilter tests them)
}

// rejects reports whether a native necessary condition is false (or
// fails) for the event w.nc holds: the filter cannot be true.
func (f *filterExpr) rejects(w *worker) bool {
	if w.e.cfg.DisableNative || f.nat != nil {
		return false
	}
	for _, p := range f.pre {
		if ok, err := p(w.nc); err != nil || !ok {
			return true
		}
	}
	return false
}

// eval runs the filter on the VM, on evt (the poured event, or the private
// copy of a scenario that writes to it). A filter with a native form under
// the engine's config never gets here: worker.process runs that form
// (worker.natFilters) on the poured event, which is why a scenario that
// writes has no native filter.
func (f *filterExpr) eval(w *worker, evt *event.Event) (bool, error) {
	return w.runBool(f.prog, FilterEnv{Evt: w.forVM(evt, f.pv)})
}

// natFilter is a filter as native code on the poured event (ok): f, or
// nothing when the index's selection is enough (f nil). Workers keep one
// per scenario (worker.process calls f directly).
type natFilter struct {
	f       natexpr.Bool
	ok      bool
	guards  uint8 // 0: f has no guard, 1: one (the worker's Prefilter.Select tests it), 2: more (Prefilter.Pass tests them all)
	trigger bool  // the scenario is a trigger (the only kind an event without a usable time reaches)
}

// native returns the filter's native form under cfg: the residual one
// when the index runs, the whole filter else; ok false: the VM decides.
func (f *filterExpr) native(cfg *Config) natFilter {
	if f.nat == nil || cfg.DisableNative {
		return natFilter{}
	}
	if !cfg.DisableIndex {
		if f.always {
			return natFilter{ok: true}
		}
		if f.rest != nil {
			return natFilter{f: f.rest, ok: true}
		}
	}
	return natFilter{f: f.nat, ok: true}
}

// boolExpr is an expression on evt giving a bool (cancel_on).
type boolExpr struct {
	prog *vm.Program
	pv   event.PartSet // the parts prog may read as maps (readsViews)
	nat  natexpr.Bool  // nil: VM
}

// eval runs the expression on the poured event (native: the one w.nc
// holds) or, VM, on evt.
func (x *boolExpr) eval(w *worker, evt *event.Event) (bool, error) {
	if x.nat != nil && !w.e.cfg.DisableNative {
		return x.nat(w.nc)
	}
	return w.runBool(x.prog, FilterEnv{Evt: w.forVM(evt, x.pv)})
}

// strExpr is an expression on evt giving a string (groupby, distinct).
type strExpr struct {
	prog *vm.Program
	pv   event.PartSet // the parts prog may read as maps (readsViews)
	nat  *natexpr.Str  // nil: VM
}

// eval runs the expression on evt; cloned says that evt is a scenario's
// private copy, on which the fields read ahead may be stale. isStr is
// false when the VM's result is not a string (s is then ""). A native
// evaluation that fails is left to the VM, which reports the error.
func (x *strExpr) eval(w *worker, evt *event.Event, cloned bool) (s string, isStr bool, err error) {
	if x.nat != nil && !w.e.cfg.DisableNative {
		w.sx.Reset(evt, w.fieldVals(cloned))
		if v, err := x.nat.Eval(&w.sx); err == nil {
			return v, true, nil
		}
	}
	out, err := w.vm.Run(x.prog, FilterEnv{Evt: w.forVM(evt, x.pv)})
	if err != nil {
		return "", false, err
	}
	s, isStr = out.(string)
	return s, isStr, nil
}

// evalKey is eval for a groupby: a native concatenation is built in buf
// (the worker's, reused) and the string returned is buf's bytes, valid
// until the next evalKey: the caller copies what it keeps (a new bucket's
// key, a trigger's overflow).
func (x *strExpr) evalKey(w *worker, evt *event.Event, cloned bool, buf *[]byte) (s string, isStr bool, err error) {
	if x.nat != nil && x.nat.Concat() && !w.e.cfg.DisableNative {
		w.sx.Reset(evt, w.fieldVals(cloned))
		if b, err := x.nat.AppendEval(&w.sx, (*buf)[:0]); err == nil {
			*buf = b
			return unsafe.String(unsafe.SliceData(b), len(b)), true, nil
		}
	}
	return x.eval(w, evt, cloned)
}

// condExpr is a condition on the bucket's queue (conditional buckets).
type condExpr struct {
	prog *vm.Program
	pv   event.PartSet     // the parts prog may read as maps (readsViews)
	nat  natexpr.QueueCond // nil: VM
}

// eval runs the condition for bucket b, evt being the event just poured.
func (x *condExpr) eval(w *worker, b *bucket, evt *event.Event) (bool, error) {
	if x.nat != nil && !w.e.cfg.DisableNative {
		w.qv.q = &b.q
		ok, err := x.nat(&w.qv)
		w.qv.q = nil
		return ok, err
	}
	return w.runBool(x.prog, ConditionEnv{Evt: w.forVM(evt, x.pv), Queue: w.queueView(b.sc, b.q.items()), Leaky: w.leakyView(b, time.Time{})})
}

// program returns the expression's program, nil for an absent one.
func (x *condExpr) program() *vm.Program {
	if x == nil {
		return nil
	}
	return x.prog
}
