package scenario

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/phalanx-ids/phalanx/internal/datafile"
	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
)

// Compiler compiles an expression against an environment value. It is
// satisfied by *exprenv.Env (which adds the hub helper functions).
type Compiler interface {
	Compile(src string, env any, extra ...expr.Option) (*vm.Program, error)
}

// PlainCompiler compiles with expr-lang/expr and no helper functions. It is
// the default when Options.Compiler is nil; hub scenarios need exprenv.
type PlainCompiler struct{ Extra []expr.Option }

// Compile implements Compiler.
func (p PlainCompiler) Compile(src string, env any, extra ...expr.Option) (*vm.Program, error) {
	opts := append([]expr.Option{expr.Env(env)}, p.Extra...)
	return expr.Compile(src, append(opts, extra...)...)
}

// DataLoader loads `data:` files; *datafile.Store satisfies it.
type DataLoader interface {
	Load(spec datafile.Spec) error
}

// HubInfo is what the hub index knows of an installed scenario.
type HubInfo struct {
	Hash    string
	Version string
}

// Options configure Load.
type Options struct {
	// Compiler compiles every expression; nil means PlainCompiler.
	Compiler Compiler
	// Data loads the `data:` files scenarios declare. nil: data sections
	// are ignored. A load failure is a warning (CrowdSec goes on with empty
	// lookups), not an error.
	Data DataLoader
	// Hub maps a scenario name to its hash and version (alert fields
	// scenario_hash / scenario_version).
	Hub map[string]HubInfo
	// Simulated reports whether a scenario runs in simulation mode.
	Simulated func(name string) bool
	// Schema is the parsers' (parse.Pipeline.Schema), frozen: native code
	// reads the evt.Parsed fields it slots by slot. nil: by name.
	Schema *event.Schema
}

// FilterEnv is the environment of filter, groupby, distinct, cancel_on and
// scope expressions: `evt`.
type FilterEnv struct {
	Evt *event.Event `expr:"evt"`
}

// Queue is what `queue` is in condition, bayesian and overflow_filter
// expressions: the bucket's queued events, oldest first.
type Queue struct {
	Queue []*event.Event
	L     int
}

// GetQueue returns the queued events.
func (q *Queue) GetQueue() []*event.Event { return q.Queue }

// Leaky is what `leaky` is in condition, bayesian and overflow_filter
// expressions: a read-only view of the bucket (CrowdSec's field names).
type Leaky struct {
	Name        string
	Mapkey      string
	Capacity    int
	Leakspeed   time.Duration
	Duration    time.Duration
	First_ts    time.Time //nolint:revive // CrowdSec's name, used by expressions
	Last_ts     time.Time //nolint:revive // idem
	Ovflw_ts    time.Time //nolint:revive // idem
	Total_count int       //nolint:revive // idem
}

// ConditionEnv is the environment of condition and bayesian conditions.
type ConditionEnv struct {
	Evt   *event.Event `expr:"evt"`
	Queue *Queue       `expr:"queue"`
	Leaky *Leaky       `expr:"leaky"`
}

// OverflowEnv is the environment of overflow_filter.
type OverflowEnv struct {
	Queue  *Queue              `expr:"queue"`
	Signal *event.RuntimeAlert `expr:"signal"`
	Leaky  *Leaky              `expr:"leaky"`
}

type bayesCond struct {
	prog       *vm.Program
	pv         event.PartSet // the parts prog may read as maps (readsViews)
	pe, pb     float32
	guillotine bool
}

// scen is a compiled scenario. Immutable once built.
type scen struct {
	idx int
	// alias is the index of the first scenario with the same name and
	// filter (idx itself if none): CrowdSec's bucket key hashes name,
	// filter and partition, so such scenarios pour into shared buckets.
	// shared says whether any other scenario has the same alias.
	alias  int
	shared bool
	spec   Spec
	file   string
	kind   Kind

	leakspeed, duration, blackhole time.Duration
	lifetime                       time.Duration // bucket lifetime after its last pour (first pour for counters)
	limiter                        bool          // token bucket active (leaky)
	limit                          float64       // tokens per second
	burst                          float64
	qsize                          int // -1 = unlimited

	filter      filterExpr
	preds       []natexpr.Pred // the filter's conjuncts natexpr understands (index)
	filterExact bool           // preds are the whole filter
	indexPred   int            // index in preds of the conjunct used by the index, -1 if none

	groupby       *strExpr // nil: one partition
	distinct      *strExpr
	cancelOn      *boolExpr
	condition     *condExpr
	ovflFilter    *vm.Program
	bayes         []bayesCond
	prior, thresh float32

	scopeType string
	scopeExpr *vm.Program

	mutates     bool           // an expression calls SetMeta/SetParsed: evaluate on a private copy
	readsViews  event.PartSet  // the parts programs may read as maps (readsViews)
	queueViews  bool           // ... of queued whole events (Set.queueViews)
	writes      natexpr.Writes // what its expressions may write: only that is copied
	needFull    bool           // queue keeps whole events: expressions may read more than a view (readsWhole)
	scansQueue  bool           // the condition or bayesian conditions read the queue at every pour: items get their view at once
	nativeScan  bool           // ... but for a native condition, which reads the items' records (itemQueue): no view
	packs       bool           // nothing reads the queue before the overflow: older entries are deltas (queue)
	remediation bool
	hash        string
	version     string
	simulated   bool
	community   bool // looks at the community list: alerts carry CommunityMetaKey
	mapkeyPfx   string
}

// Set is a loaded, compiled set of scenarios. Immutable and safe for
// concurrent use; one Set can back several Engines.
type Set struct {
	scens      []*scen
	hasTrigger bool
	byMapkey   map[string]int // name + filter -> first scenario (load time only)
	slots      *natexpr.Table // memo slots and fields of native code
	// queueViews: some program may read the views of queued whole events,
	// which Pour then exposes (Engine.Prepare).
	queueViews bool
	// Warnings are non-fatal load problems (missing data files...).
	Warnings []error
	// Skipped names documents not loaded because of their `format:`.
	Skipped []string
}

// Names returns the scenario names in load order.
func (s *Set) Names() []string {
	out := make([]string, len(s.scens))
	for i, sc := range s.scens {
		out[i] = sc.spec.Name
	}
	return out
}

// Len returns the number of scenarios.
func (s *Set) Len() int { return len(s.scens) }

// Load reads and compiles scenario files (multi-document YAML). Files whose
// name does not end in .yaml/.yml are ignored, as CrowdSec does. Any error
// (bad YAML, unknown field, invalid value, expression that does not compile)
// fails the whole load, naming the file, the scenario and the field.
func Load(files []string, opts Options) (*Set, error) {
	set := &Set{}
	for _, f := range files {
		if !strings.HasSuffix(f, ".yaml") && !strings.HasSuffix(f, ".yml") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
		if err := set.add(filepath.Clean(f), data, opts); err != nil {
			return nil, err
		}
	}
	return set.frozen(), nil
}

// LoadBytes compiles the scenario documents of one file held in memory.
func LoadBytes(name string, data []byte, opts Options) (*Set, error) {
	set := &Set{}
	if err := set.add(name, data, opts); err != nil {
		return nil, err
	}
	return set.frozen(), nil
}

// frozen numbers the fields of native code once every scenario is
// compiled (natexpr.Table.Freeze) and returns set.
func (set *Set) frozen() *Set {
	if set.slots != nil {
		set.slots.Freeze()
	}
	return set
}

func (set *Set) add(file string, data []byte, opts Options) error {
	specs, err := ParseSpecs(file, data)
	if err != nil {
		return err
	}
	for i := range specs {
		ok, err := formatSupported(specs[i].FormatVersion)
		if err != nil {
			return fmt.Errorf("scenario: %s: %s: %w", file, specs[i].Name, err)
		}
		if !ok {
			set.Skipped = append(set.Skipped, specs[i].Name)
			continue
		}
		if set.slots == nil {
			set.slots = natexpr.NewTable()
		}
		sc, warns, err := compile(specs[i], file, opts, set.slots)
		if err != nil {
			name := specs[i].Name
			if name == "" {
				name = fmt.Sprintf("document %d", i+1)
			}
			return fmt.Errorf("scenario: %s: %s: %w", file, name, err)
		}
		for pi := range sc.preds {
			if sc.preds[pi].Positive() {
				set.slots.Ahead(sc.preds[pi].Field) // the index reads it
			}
		}
		set.queueViews = set.queueViews || sc.queueViews
		sc.idx = len(set.scens)
		sc.alias = sc.idx
		mk := sc.spec.Name + "\x00" + sc.spec.Filter
		if first, ok := set.byMapkey[mk]; ok {
			sc.alias = first
			sc.shared = true
			set.scens[first].shared = true
		} else {
			if set.byMapkey == nil {
				set.byMapkey = map[string]int{}
			}
			set.byMapkey[mk] = sc.idx
		}
		set.scens = append(set.scens, sc)
		set.hasTrigger = set.hasTrigger || sc.kind == KindTrigger
		set.Warnings = append(set.Warnings, warns...)
	}
	return nil
}

func compile(spec Spec, file string, opts Options, slots *natexpr.Table) (*scen, []error, error) {
	d, err := spec.validate()
	if err != nil {
		return nil, nil, err
	}
	c := opts.Compiler
	if c == nil {
		c = PlainCompiler{}
	}
	sc := &scen{spec: spec, file: file, leakspeed: d.leakspeed, duration: d.duration, blackhole: d.blackhole, indexPred: -1}
	var warns []error
	for _, ds := range spec.Data {
		if opts.Data == nil {
			continue
		}
		if err := opts.Data.Load(ds); err != nil {
			warns = append(warns, fmt.Errorf("scenario: %s: %s: data %s: %w", file, spec.Name, ds.DestFile, err))
		}
	}

	fenv := FilterEnv{}
	compileField := func(field, src string, env any, extra ...expr.Option) (*vm.Program, error) {
		if strings.TrimSpace(src) == "" {
			return nil, nil
		}
		extra = append(extra, expr.Patch(foldConst{}))
		p, err := c.Compile(src, env, extra...)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		sc.writes |= natexpr.WritesOf(src)
		sc.readsViews |= readsViews(p)
		sc.mutates = sc.writes != 0
		return p, nil
	}
	if sc.filter.prog, err = compileField("filter", spec.Filter, fenv, expr.AsBool()); err != nil {
		return nil, nil, err
	}
	sc.filter.pv = readsViews(sc.filter.prog)
	sc.preds, sc.filterExact = natexpr.Preds(spec.Filter)
	helpers, _ := c.(natexpr.Helpers) // nil: helper calls left to the VM
	nc := natexpr.New(slots, helpers).WithSchema(opts.Schema)
	if sc.groupby, err = compileStr("groupby", spec.GroupBy, compileField, nc); err != nil {
		return nil, nil, err
	}
	if sc.distinct, err = compileStr("distinct", spec.Distinct, compileField, nc); err != nil {
		return nil, nil, err
	}
	cancel, err := compileField("cancel_on", spec.CancelOn, fenv, expr.AsBool())
	if err != nil {
		return nil, nil, err
	}
	cond, err := compileField("condition", spec.Condition, ConditionEnv{}, expr.AsBool())
	if err != nil {
		return nil, nil, err
	}
	if sc.ovflFilter, err = compileField("overflow_filter", spec.OverflowFilter, OverflowEnv{}, expr.AsBool()); err != nil {
		return nil, nil, err
	}
	if sc.scopeExpr, err = compileField("scope.expression", spec.Scope.Expression, fenv); err != nil {
		return nil, nil, err
	}
	for i, bc := range spec.BayesianConditions {
		p, err := compileField(fmt.Sprintf("bayesian_conditions[%d].condition", i), bc.Condition, ConditionEnv{}, expr.AsBool())
		if err != nil {
			return nil, nil, err
		}
		if p == nil {
			return nil, nil, fmt.Errorf("bayesian_conditions[%d].condition: missing", i)
		}
		sc.bayes = append(sc.bayes, bayesCond{prog: p, pv: readsViews(p), pe: bc.ProbGivenEvil, pb: bc.ProbGivenBenign, guillotine: bc.Guillotine})
	}
	sc.prior, sc.thresh = spec.BayesianPrior, spec.BayesianThreshold
	// Native forms of expressions on evt only without SetMeta/SetParsed
	// anywhere (sc.mutates is known once every expression is compiled):
	// native code reads the poured event, not the private copy those
	// scenarios write.
	if !sc.mutates {
		sc.filter.nat = nc.Bool(spec.Filter)
	}
	if sc.filter.nat != nil {
		sc.filter.rest, sc.filter.always = nc.Residual(spec.Filter)
		sc.filter.guards = nc.Guards(spec.Filter)
	}
	if sc.filter.nat == nil {
		sc.filter.pre = nc.Conjuncts(spec.Filter)
	}
	if cancel != nil {
		sc.cancelOn = &boolExpr{prog: cancel, pv: readsViews(cancel)}
		if !sc.mutates {
			sc.cancelOn.nat = nc.Bool(spec.CancelOn)
		}
	}
	if cond != nil {
		sc.condition = &condExpr{prog: cond, pv: readsViews(cond), nat: nc.Condition(spec.Condition)}
	}

	sc.kind = d.kind
	if spec.Capacity > 0 && d.leakspeed > 0 {
		sc.lifetime = time.Duration(spec.Capacity+1) * d.leakspeed
		sc.limiter = sc.kind == KindLeaky
		sc.limit = 1 / d.leakspeed.Seconds()
		sc.burst = float64(spec.Capacity)
	}
	switch sc.kind {
	case KindCounter:
		sc.lifetime = d.duration
	case KindConditional, KindBayesian:
		sc.lifetime = d.leakspeed
	}
	sc.qsize = spec.Capacity
	if spec.CacheSize > 0 && (spec.CacheSize <= spec.Capacity || spec.Capacity == -1) {
		sc.qsize = spec.CacheSize
	}
	sc.scopeType = spec.Scope.Type
	if sc.scopeType == "" {
		sc.scopeType = ScopeIP
	}
	sc.needFull = readsWhole(sc.condition.program(), true) || readsWhole(sc.ovflFilter, false) || readsWhole(sc.scopeExpr, false)
	for _, b := range sc.bayes {
		sc.needFull = sc.needFull || readsWhole(b.prog, true)
	}
	// Queued whole events are read by the VM later, from the queue: they
	// need their views from the start (Engine.Prepare).
	sc.queueViews = sc.needFull && sc.readsViews != 0
	sc.scansQueue = sc.condition != nil || len(sc.bayes) > 0
	sc.nativeScan = sc.condition != nil && sc.condition.nat != nil && len(sc.bayes) == 0
	sc.packs = !sc.needFull && !sc.scansQueue
	if v, ok := spec.Labels["remediation"].(bool); ok && v {
		sc.remediation = true
	}
	if h, ok := opts.Hub[spec.Name]; ok {
		sc.hash, sc.version = h.Hash, h.Version
	}
	if spec.Version != "" && sc.version == "" {
		sc.version = spec.Version
	}
	sc.simulated = spec.Simulated
	sc.community = communityDependent(&spec)
	if opts.Simulated != nil && opts.Simulated(spec.Name) {
		sc.simulated = true
	}
	sc.mapkeyPfx = spec.Filter
	sc.chooseIndex()
	return sc, warns, nil
}

// compileStr compiles an expression giving a string (groupby, distinct)
// and its native form; nil for an empty one.
func compileStr(field, src string, compile func(field, src string, env any, extra ...expr.Option) (*vm.Program, error), nc *natexpr.Compiler) (*strExpr, error) {
	p, err := compile(field, src, FilterEnv{})
	if err != nil || p == nil {
		return nil, err
	}
	return &strExpr{prog: p, pv: readsViews(p), nat: nc.String(src)}, nil
}

// chooseIndex picks the conjunct the index uses: an equality/in on
// Meta.log_type first, then Meta.service, then any other positive one.
func (sc *scen) chooseIndex() {
	best, rank := -1, 99
	for i := range sc.preds {
		p := &sc.preds[i]
		if !p.Positive() {
			continue
		}
		r := 3
		switch {
		case p.Field == natexpr.Field{Src: natexpr.SrcMeta, Key: "log_type"}:
			r = 1
		case p.Field == natexpr.Field{Src: natexpr.SrcMeta, Key: "service"}:
			r = 2
		}
		if r < rank {
			best, rank = i, r
		}
	}
	sc.indexPred = best
}

// mapkey is CrowdSec's bucket key: SHA1 over filter, partition and name.
func (sc *scen) mapkey(partition string) string {
	h := sha1.New()
	h.Write([]byte(sc.mapkeyPfx))
	h.Write([]byte{0})
	h.Write([]byte(partition))
	h.Write([]byte{0})
	h.Write([]byte(sc.spec.Name))
	return hex.EncodeToString(h.Sum(nil))
}

// foldConst replaces Upper('lit') / Lower('lit') by their value at compile
// time, so that `x matches Upper('...')` gets a precompiled regexp instead
// of compiling it on every evaluation.
type foldConst struct{}

func (foldConst) Visit(node *ast.Node) {
	call, ok := (*node).(*ast.CallNode)
	if !ok || len(call.Arguments) != 1 {
		return
	}
	id, ok := call.Callee.(*ast.IdentifierNode)
	if !ok {
		return
	}
	arg, ok := call.Arguments[0].(*ast.StringNode)
	if !ok {
		return
	}
	switch id.Value {
	case "Upper":
		ast.Patch(node, &ast.StringNode{Value: strings.ToUpper(arg.Value)})
	case "Lower":
		ast.Patch(node, &ast.StringNode{Value: strings.ToLower(arg.Value)})
	}
}

// errNoSource is returned when an overflow has no usable source.
var errNoSource = errors.New("no source")

// communityDependent says whether a scenario looks at the community
// blocklist (IsInCommunityList, or the CommunityList enricher's
// community_listed field) in its filter or conditions: its alerts say so
// (meta community_dependent), and the LAPI never pushes them back to the
// central (what the crowd listed must not confirm itself).
func communityDependent(spec *Spec) bool {
	exprs := []string{spec.Filter, spec.Condition, spec.OverflowFilter}
	for _, b := range spec.BayesianConditions {
		exprs = append(exprs, b.Condition)
	}
	for _, e := range exprs {
		if strings.Contains(e, "IsInCommunityList") || strings.Contains(e, "community_listed") {
			return true
		}
	}
	return false
}
