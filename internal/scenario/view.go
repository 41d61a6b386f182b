package scenario

import (
	"reflect"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// What a bucket keeps of the events poured into it.
//
// An alert needs little of its events: their Meta (the alert's events and
// source), Enriched (the source's AS and country), their time and, when the
// engine keeps raw lines, the line. That is what an item holds, packed in a
// record (record.go: the keys shared, the values in one string, a value
// that is part of the kept line stored as a span of it), so that a queued
// item costs a few hundred bytes, not the event's maps, which were sized
// for any parser's writes; and a bucket keeps only its newest event so,
// the older ones as the bytes by which each differs from the next (queue.go:
// tens of bytes for a line of the same source). A scenario whose queue expressions (condition,
// bayesian conditions, overflow_filter, scope.expression) read queued
// events is shown them as views (item.event): events carrying only those
// parts, in maps of their own, made when the item is queued for a
// condition that scans the queue at every pour, else on first use. Only a
// scenario whose expressions may read more of a queued event (its Parsed,
// Unmarshaled or Line map, the event handed whole to a function) keeps the
// whole event, which is what CrowdSec does for every event: in a replay of
// an sshd log, the 2-hour queues of ssh-time-based-bf held whole events and
// were most of the heap.

// viewFields are the members of a queued event that an item's view has.
var viewFields = map[string]bool{
	"Meta": true, "Enriched": true, "Time": true, "MarshaledTime": true,
	"Type": true, "GetType": true, "GetMeta": true,
}

var (
	typEvent = reflect.TypeFor[event.Event]()
	typQueue = reflect.TypeFor[Queue]()
)

// eventish reports whether values of t are, or hold, queued events.
func eventish(t reflect.Type) bool {
	for t != nil {
		switch t {
		case typEvent, typQueue:
			return true
		}
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			t = t.Elem()
		case reflect.Map:
			return eventish(t.Key()) || eventish(t.Elem())
		default:
			return false
		}
	}
	return false
}

// passThrough are the builtins that hand the events of their first
// argument to their predicate, or return some of them, without reading
// them: what reads them is checked where it is used.
var passThrough = map[string]bool{
	"filter": true, "map": true, "all": true, "any": true, "none": true, "one": true,
	"count": true, "len": true, "first": true, "last": true, "find": true, "findIndex": true,
	"findLast": true, "findLastIndex": true, "sum": true,
}

// readsWhole reports whether the compiled program p may read more of a
// queued event than its view carries (item.event): true unless every use
// of a queued event, through filters, maps, indexing and let-bindings, is
// one of viewFields. evtIsCurrent says that `evt` is the event being
// poured (condition, bayesian conditions), whole, rather than a queued one
// (scope.expression).
func readsWhole(p *vm.Program, evtIsCurrent bool) bool {
	if p == nil {
		return false
	}
	a := viewCheck{evtIsCurrent: evtIsCurrent, member: func(name string) bool { return viewFields[name] }}
	a.use(p.Node(), nil)
	return a.whole
}

// readsViews returns the parts of the poured event or of a queued one
// that the compiled program p may read as maps (the event's views:
// evt.Parsed, evt.Meta, evt.Enriched): those it names as members, and all
// of them when it uses an event in any other way than a member (an event
// handed to a function). Native code reads the fields by slot; only the
// VM needs the views.
func readsViews(p *vm.Program) event.PartSet {
	if p == nil {
		return 0
	}
	var s event.PartSet
	a := viewCheck{member: func(name string) bool {
		switch name {
		case "Parsed":
			s |= event.Parsed.Set()
		case "Meta":
			s |= event.Meta.Set()
		case "Enriched":
			s |= event.Enriched.Set()
		}
		return true
	}}
	a.use(p.Node(), nil)
	if a.whole {
		return event.AllParts
	}
	return s
}

// viewCheck walks a typed expression tree and judges each use of a value
// holding queued events by the node that uses it.
type viewCheck struct {
	evtIsCurrent bool
	member       func(name string) bool // the event members that may be used
	whole        bool
}

// use visits n, used by parent (nil: the result of the expression).
func (a *viewCheck) use(n, parent ast.Node) {
	if n == nil {
		return
	}
	id, isIdent := n.(*ast.IdentifierNode)
	current := isIdent && id.Value == "evt" && a.evtIsCurrent
	if !current && eventish(n.Type()) && !a.allowed(n, parent) {
		a.whole = true
	}
	for _, c := range children(n, &a.whole) {
		a.use(c, n)
	}
}

// allowed says whether parent's use of n, a value holding queued events,
// stays within what a view carries.
func (a *viewCheck) allowed(n, parent ast.Node) bool {
	t := n.Type()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch p := parent.(type) {
	case *ast.MemberNode:
		if p.Node != n {
			return false // an event used as an index
		}
		prop, _ := p.Property.(*ast.StringNode)
		switch t {
		case typEvent:
			return prop != nil && a.member(prop.Value)
		case typQueue:
			return prop != nil && (prop.Value == "Queue" || prop.Value == "GetQueue" || prop.Value == "L")
		}
		// A slice or array of events: an element, checked where it is used.
		return t.Kind() == reflect.Slice || t.Kind() == reflect.Array
	case *ast.CallNode:
		// n as an argument may be read in any way (a method call on n,
		// queue.GetQueue(), is a MemberNode callee, judged above).
		return false
	case *ast.SliceNode:
		return p.Node == n
	case *ast.BuiltinNode:
		return passThrough[p.Name] && len(p.Arguments) > 0 && p.Arguments[0] == n
	case *ast.PredicateNode:
		return true // map(q, {#}): the result is checked where it is used
	case *ast.VariableDeclaratorNode:
		return p.Value == n // the variable is checked where it is used
	}
	return false
}

// children returns the sub-nodes of n; an unknown node type sets *unknown.
func children(n ast.Node, unknown *bool) []ast.Node {
	switch n := n.(type) {
	case *ast.NilNode, *ast.IdentifierNode, *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode,
		*ast.StringNode, *ast.BytesNode, *ast.ConstantNode, *ast.PointerNode:
		return nil
	case *ast.UnaryNode:
		return []ast.Node{n.Node}
	case *ast.BinaryNode:
		return []ast.Node{n.Left, n.Right}
	case *ast.ChainNode:
		return []ast.Node{n.Node}
	case *ast.MemberNode:
		return []ast.Node{n.Node, n.Property}
	case *ast.SliceNode:
		return []ast.Node{n.Node, n.From, n.To}
	case *ast.CallNode:
		return append([]ast.Node{n.Callee}, n.Arguments...)
	case *ast.BuiltinNode:
		out := append([]ast.Node(nil), n.Arguments...)
		if n.Map != nil {
			// filter+map folded by the optimizer: Map is the map's body,
			// run on the filtered elements.
			out = append(out, &ast.PredicateNode{Node: n.Map})
		}
		return out
	case *ast.PredicateNode:
		return []ast.Node{n.Node}
	case *ast.VariableDeclaratorNode:
		return []ast.Node{n.Value, n.Expr}
	case *ast.SequenceNode:
		return n.Nodes
	case *ast.ConditionalNode:
		return []ast.Node{n.Cond, n.Exp1, n.Exp2}
	case *ast.ArrayNode:
		return n.Nodes
	case *ast.MapNode:
		return n.Pairs
	case *ast.PairNode:
		return []ast.Node{n.Key, n.Value}
	}
	*unknown = true
	return nil
}
