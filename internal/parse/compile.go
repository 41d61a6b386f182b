package parse

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/natexpr"
)

// compiler turns NodeConfigs of one file into runtime nodes.
type compiler struct {
	opts   Options
	logger *slog.Logger
	file   string
}

func (c *compiler) errf(line int, node, field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	loc := fmt.Sprintf("%s:%d", c.file, line)
	switch {
	case node != "" && field != "":
		return fmt.Errorf("parse: %s: node %q: field %s: %s", loc, node, field, msg)
	case node != "":
		return fmt.Errorf("parse: %s: node %q: %s", loc, node, msg)
	case field != "":
		return fmt.Errorf("parse: %s: field %s: %s", loc, field, msg)
	}
	return fmt.Errorf("parse: %s: %s", loc, msg)
}

// wrapf is errf with a wrapped cause (format may be empty).
func (c *compiler) wrapf(line int, node, field string, err error, format string, args ...any) error {
	prefix := c.errf(line, node, field, format, args...).Error()
	if format == "" {
		return fmt.Errorf("%s%w", prefix, err)
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

func (c *compiler) condition(src string, line int, node, field string) (*condition, error) {
	prog, err := c.opts.Expr.Compile(src, exprEnv{})
	if err != nil {
		return nil, c.wrapf(line, node, field, err, "compile %q", src)
	}
	return &condition{src: src, prog: prog, fast: natexpr.New(nil, c.opts.Expr).WithSchema(c.opts.Schema).Bool(src)}, nil
}

func (c *compiler) value(src string, line int, node, field string) (*valueExpr, error) {
	prog, err := c.opts.Expr.Compile(src, exprEnv{})
	if err != nil {
		return nil, c.wrapf(line, node, field, err, "compile %q", src)
	}
	return &valueExpr{src: src, prog: prog, get: natexpr.New(nil, c.opts.Expr).WithSchema(c.opts.Schema).Value(src)}, nil
}

// node compiles cfg (a top-level node when parent is "").
func (c *compiler) node(cfg *NodeConfig, stage, parent string) (*node, error) {
	n := &node{name: cfg.Name, stage: stage, file: c.file, line: cfg.pos.line}
	if parent != "" && n.name == "" {
		n.name = "child-" + parent
	}
	label := n.name
	switch cfg.OnSuccess {
	case "", "continue":
	case "next_stage":
		n.nextStage = true
	default:
		return nil, c.errf(cfg.pos.at("onsuccess"), label, "onsuccess", "must be \"next_stage\" or \"continue\", not %q", cfg.OnSuccess)
	}
	valid := false
	if cfg.Filter != "" {
		cond, err := c.condition(cfg.Filter, cfg.pos.at("filter"), label, "filter")
		if err != nil {
			return nil, err
		}
		n.filter = cond
	}
	if err := c.patternSyntax(cfg, label); err != nil {
		return nil, err
	}
	if cfg.Grok != nil && (cfg.Grok.Name != "" || cfg.Grok.Pattern != "" || cfg.Grok.Expression != "" || cfg.Grok.ApplyOn != "") {
		g, err := c.grok(cfg.Grok, label)
		if err != nil {
			return nil, err
		}
		n.grok = g
		valid = true
	}
	for i := range cfg.Stash {
		s, err := c.stash(&cfg.Stash[i], label)
		if err != nil {
			return nil, err
		}
		n.stashes = append(n.stashes, s)
	}
	for i := range cfg.Nodes {
		ch := &cfg.Nodes[i]
		if cfg.Debug {
			ch.Debug = true
		}
		if cfg.Profiling {
			ch.Profiling = true
		}
		cn, err := c.node(ch, stage, n.name)
		if err != nil {
			return nil, err
		}
		n.children = append(n.children, cn)
		valid = true
	}
	groupLiterals(n.children)
	statics, err := c.statics(cfg.Statics, label, "statics")
	if err != nil {
		return nil, err
	}
	n.statics = statics
	valid = valid || len(statics) > 0
	if cfg.Whitelist != nil {
		wl, err := c.whitelist(cfg.Whitelist, label)
		if err != nil {
			return nil, err
		}
		n.wl = wl
		valid = valid || wl != nil
	}
	if !valid {
		return nil, c.errf(cfg.pos.line, label, "", "node is empty (no grok, nodes, statics or whitelist)")
	}
	for _, d := range cfg.Data {
		if c.opts.Data == nil {
			c.logger.Warn("parse: no data store, data file not loaded", "file", c.file, "node", label, "dest_file", d.DestFile)
			continue
		}
		if err := c.opts.Data.Load(d); err != nil {
			// A missing binary file (a GeoIP database) only disables its
			// enricher: say so quietly. A missing list changes results: warn.
			log := c.logger.Warn
			if d.Type == "" {
				log = c.logger.Info
			}
			log("parse: data file not loaded", "file", c.file, "node", label, "dest_file", d.DestFile, "error", err)
		}
	}
	return n, nil
}

func (c *compiler) patternSyntax(cfg *NodeConfig, label string) error {
	ps := &cfg.PatternSyntax
	if ps.Kind == 0 || (ps.Kind == yaml.ScalarNode && ps.Tag == "!!null") {
		return nil
	}
	if ps.Kind != yaml.MappingNode {
		return c.errf(ps.Line, label, "pattern_syntax", "must be a map of NAME: pattern")
	}
	for i := 0; i+1 < len(ps.Content); i += 2 {
		k, v := ps.Content[i], ps.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return c.errf(v.Line, label, "pattern_syntax."+k.Value, "must be a string")
		}
		if c.opts.Grok == nil {
			return c.errf(k.Line, label, "pattern_syntax", "no grok library")
		}
		if !c.opts.Grok.AddIfMissing(k.Value, v.Value) {
			c.logger.Info("parse: grok pattern already registered, keeping the first", "file", c.file, "line", k.Line, "pattern", k.Value)
		}
	}
	return nil
}

func (c *compiler) grok(g *GrokConfig, label string) (*grokStep, error) {
	if g.Name == "" && g.Pattern == "" {
		return nil, c.errf(g.pos.line, label, "grok", "needs 'pattern' or 'name'")
	}
	if g.ApplyOn == "" && g.Expression == "" {
		return nil, c.errf(g.pos.line, label, "grok", "needs 'apply_on' or 'expression'")
	}
	if c.opts.Grok == nil {
		return nil, c.errf(g.pos.line, label, "grok", "no grok library")
	}
	st := &grokStep{applyOn: g.ApplyOn}
	if g.ApplyOn != "" && g.ApplyOn != "Line.Raw" {
		st.inKey = c.opts.Schema.Key(event.Parsed, g.ApplyOn)
	}
	src, field := g.Pattern, "grok.pattern"
	if g.Name != "" {
		if !c.opts.Grok.Has(g.Name) {
			return nil, c.errf(g.pos.at("name"), label, "grok.name", "unknown grok pattern %q", g.Name)
		}
		src, field = "%{"+g.Name+"}", "grok.name"
		st.label = g.Name
	} else {
		st.label = g.Pattern
	}
	pat, err := c.opts.Grok.Compile(src)
	if err != nil {
		return nil, c.wrapf(g.pos.at(strings.TrimPrefix(field, "grok.")), label, field, err, "")
	}
	st.pat = pat
	st.noNames = len(pat.Names()) == 0
	var keys []event.Key
	for _, n := range pat.Names() {
		keys = append(keys, c.opts.Schema.Key(event.Parsed, n))
	}
	st.keys = event.NewKeyList(keys)
	if g.ApplyOn == "" {
		v, err := c.value(g.Expression, g.pos.at("expression"), label, "grok.expression")
		if err != nil {
			return nil, err
		}
		st.input = v
	}
	st.statics, err = c.statics(g.Statics, label, "grok.statics")
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (c *compiler) statics(cfgs []StaticConfig, label, field string) ([]static, error) {
	var out []static
	for i := range cfgs {
		sc := &cfgs[i]
		f := fmt.Sprintf("%s[%d]", field, i)
		s := static{literal: sc.Value, hasLiteral: sc.Value != ""}
		switch {
		case sc.Method != "":
			if sc.Value == "" && sc.Expression == "" {
				return nil, c.errf(sc.pos.line, label, f, "method %q needs 'value' or 'expression'", sc.Method)
			}
			s.kind, s.key, s.desc = staticMethod, sc.Method, "method "+sc.Method
			s.parseDate = sc.Method == "ParseDate"
			if c.opts.Enrich != nil {
				if m, ok := c.opts.Enrich.Method(sc.Method); ok {
					s.method = m
					for _, name := range m.Outputs {
						s.mkeys = append(s.mkeys, c.opts.Schema.Key(event.Enriched, name))
					}
				}
			}
			if s.method.Run == nil {
				c.logger.Warn("parse: enrichment method does not exist or is not initialised", "file", c.file, "line", sc.pos.line, "method", sc.Method)
			}
		case sc.Parsed != "":
			s.kind, s.key, s.desc = staticParsed, sc.Parsed, "evt.Parsed."+sc.Parsed
			s.fkey = c.opts.Schema.Key(event.Parsed, sc.Parsed)
		case sc.Meta != "":
			s.kind, s.key, s.desc = staticMeta, sc.Meta, "evt.Meta."+sc.Meta
			s.fkey = c.opts.Schema.Key(event.Meta, sc.Meta)
		case sc.Enriched != "":
			s.kind, s.key, s.desc = staticEnriched, sc.Enriched, "evt.Enriched."+sc.Enriched
			s.fkey = c.opts.Schema.Key(event.Enriched, sc.Enriched)
		case sc.Target != "":
			s.desc = "evt." + strings.TrimPrefix(sc.Target, "evt.")
			if err := s.target(sc.Target, c.opts.Schema); err != nil {
				// CrowdSec only fails when the static runs; keep a no-op.
				c.logger.Warn("parse: static target cannot be set", "file", c.file, "line", sc.pos.at("target"), "target", sc.Target, "error", err)
			}
		default:
			return nil, c.errf(sc.pos.line, label, f, "needs one of meta, parsed, enriched, target or method")
		}
		if sc.Value == "" && sc.Expression == "" {
			return nil, c.errf(sc.pos.line, label, f, "needs 'value' or 'expression'")
		}
		if !s.hasLiteral {
			v, err := c.value(sc.Expression, sc.pos.at("expression"), label, f+".expression")
			if err != nil {
				return nil, err
			}
			s.expr = v
			s.copyField(c.opts.Schema)
		}
		s.setDirect()
		out = append(out, s)
	}
	return out, nil
}

func (c *compiler) stash(sc *StashConfig, label string) (stash, error) {
	switch {
	case sc.Name == "":
		return stash{}, c.errf(sc.pos.line, label, "stash.name", "must be set")
	case sc.Value == "":
		return stash{}, c.errf(sc.pos.line, label, "stash.value", "stash %q: value expression must be set", sc.Name)
	case sc.Key == "":
		return stash{}, c.errf(sc.pos.line, label, "stash.key", "stash %q: key expression must be set", sc.Name)
	case sc.TTL == "":
		return stash{}, c.errf(sc.pos.line, label, "stash.ttl", "stash %q: ttl must be set", sc.Name)
	}
	ttl, err := time.ParseDuration(sc.TTL)
	if err != nil {
		return stash{}, c.wrapf(sc.pos.at("ttl"), label, "stash.ttl", err, "stash %q", sc.Name)
	}
	size, strategy := sc.Size, sc.Strategy
	if size == 0 {
		size = 100
	}
	if strategy == "" {
		strategy = "LRU"
	}
	if c.opts.Stash == nil {
		return stash{}, c.errf(sc.pos.line, label, "stash", "no stash store in options")
	}
	if err := c.opts.Stash.Configure(sc.Name, size, ttl, strategy); err != nil {
		return stash{}, c.wrapf(sc.pos.line, label, "stash", err, "stash %q", sc.Name)
	}
	key, err := c.value(sc.Key, sc.pos.at("key"), label, "stash.key")
	if err != nil {
		return stash{}, err
	}
	val, err := c.value(sc.Value, sc.pos.at("value"), label, "stash.value")
	if err != nil {
		return stash{}, err
	}
	return stash{name: sc.Name, key: key, value: val}, nil
}

// whitelist compiles a whitelist; nil when it has no ip, cidr or expression.
func (c *compiler) whitelist(wc *WhitelistConfig, label string) (*whitelist, error) {
	w := &whitelist{reason: wc.Reason}
	for i, s := range wc.IP {
		a, err := models.ParseIP(strings.TrimSpace(s))
		if err != nil {
			return nil, c.wrapf(wc.pos.item("ip", i), label, "whitelist.ip", err, "bad ip %q", s)
		}
		w.addrs.addAddr(a)
	}
	for i, s := range wc.CIDR {
		p, err := models.ParseRange(strings.TrimSpace(s))
		if err != nil {
			return nil, c.wrapf(wc.pos.item("cidr", i), label, "whitelist.cidr", err, "bad cidr %q", s)
		}
		w.addrs.addPrefix(p)
	}
	for i, s := range wc.Expression {
		cond, err := c.condition(s, wc.pos.item("expression", i), label, "whitelist.expression")
		if err != nil {
			return nil, err
		}
		w.exprs = append(w.exprs, *cond)
	}
	w.addrs.sort()
	if w.addrs.empty() && len(w.exprs) == 0 {
		return nil, nil
	}
	return w, nil
}

// walk calls fn on n and every descendant, depth first.
func (n *node) walk(fn func(*node)) {
	fn(n)
	for _, c := range n.children {
		c.walk(fn)
	}
}
