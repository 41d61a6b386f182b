package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// LoadOptions are the dependencies of loading.
type LoadOptions struct {
	// LookupEnv resolves ${VAR} and $VAR in every value but format (an
	// undefined variable is left as written, as CrowdSec does); nil:
	// os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Hostname backs the template function Hostname; nil: os.Hostname.
	Hostname func() (string, error)
	// Logger receives the debug lines about ignored keys; nil: discard.
	Logger *slog.Logger
}

func (o LoadOptions) withDefaults() LoadOptions {
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.Hostname == nil {
		o.Hostname = os.Hostname
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Spec is one notification as configured: decoded, checked, its format
// compiled; not provisioned (Provision builds its Notifier).
//
// Concurrency: read-only once loaded; Render is safe for concurrent use.
type Spec struct {
	// File and Line say where the document starts.
	File string
	Line int
	// Module is the notification's type.
	Module Module
	// Config is the decoded configuration (defaults applied).
	Config Config
	// Ignored lists the keys of other CrowdSec plugin types the document
	// carries (accepted, unused).
	Ignored []string

	tmpl *template.Template
}

// Common returns the common keys.
func (s *Spec) Common() *CommonConfig { return s.Config.Common() }

// Name is the notification's name.
func (s *Spec) Name() string { return s.Common().Name }

// Where is "file:line".
func (s *Spec) Where() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// Render executes the format over alerts.
func (s *Spec) Render(alerts []*models.Alert) (string, error) {
	var b strings.Builder
	if err := s.tmpl.Execute(&b, alerts); err != nil {
		return "", fmt.Errorf("notify: %s: format: %w", s.Name(), err)
	}
	return b.String(), nil
}

// Provision builds the notifier, its logger derived from base with the
// notification's log_level. Errors name the file and the notification.
func (s *Spec) Provision(base *slog.Logger) (Notifier, error) {
	n, err := s.Module.New(s.Config, Deps{Logger: s.logger(base)})
	if err != nil {
		return nil, fmt.Errorf("notify: %s: %s: %w", s.Where(), s.Name(), err)
	}
	return n, nil
}

func (s *Spec) logger(base *slog.Logger) *slog.Logger {
	if base == nil {
		base = slog.New(slog.DiscardHandler)
	}
	l := base.With("notification", s.Name(), "type", s.Module.Type())
	if s.Common().LogLevel == "" {
		return l
	}
	lvl, _ := parseLevel(s.Common().LogLevel) // checked at load
	return slog.New(&levelHandler{min: lvl, h: l.Handler()})
}

// sameAs reports whether o configures exactly what s does.
func (s *Spec) sameAs(o *Spec) bool {
	return s.Module.ID == o.Module.ID && reflect.DeepEqual(s.Config, o.Config)
}

// Set is the notifications of a directory, by name.
//
// Concurrency: read-only once loaded.
type Set struct {
	specs []*Spec // sorted by name
}

// NewSet checks that names are unique and sorts the specs by name.
func NewSet(specs []*Spec) (*Set, error) {
	byName := map[string]*Spec{}
	for _, s := range specs {
		if o, dup := byName[s.Name()]; dup {
			return nil, fmt.Errorf("notify: %s: notification %q is already defined at %s", s.Where(), s.Name(), o.Where())
		}
		byName[s.Name()] = s
	}
	out := append([]*Spec(nil), specs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return &Set{specs: out}, nil
}

// Specs returns the notifications sorted by name.
func (s *Set) Specs() []*Spec {
	if s == nil {
		return nil
	}
	return append([]*Spec(nil), s.specs...)
}

// Lookup returns the notification called name.
func (s *Set) Lookup(name string) (*Spec, bool) {
	if s == nil {
		return nil, false
	}
	i := sort.Search(len(s.specs), func(i int) bool { return s.specs[i].Name() >= name })
	if i < len(s.specs) && s.specs[i].Name() == name {
		return s.specs[i], true
	}
	return nil, false
}

// Files lists the notification files of dir, as CrowdSec reads them: its
// *.yaml and *.yml files (not recursively), in name order.
func Files(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	var out []string
	for _, e := range ents {
		n := e.Name()
		if e.Type().IsRegular() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			out = append(out, filepath.Join(dir, n))
		}
	}
	sort.Strings(out)
	return out, nil
}

// LoadDir loads every notification file of dir (see Files and LoadBytes).
// A missing dir is an error wrapping fs.ErrNotExist.
func (r *Registry) LoadDir(dir string, opts LoadOptions) (*Set, error) {
	files, err := Files(dir)
	if err != nil {
		return nil, err
	}
	var specs []*Spec
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("notify: %w", err)
		}
		got, err := r.LoadBytes(p, data, opts)
		if err != nil {
			return nil, err
		}
		specs = append(specs, got...)
	}
	return NewSet(specs)
}

// LoadBytes decodes the notifications of one file (named path in errors):
// one per YAML document, empty documents skipped. Each document is decoded
// into its type's config; an unknown key is an error naming the file, the
// line and the key, except keys of CrowdSec's other plugin types (see
// Spec.Ignored). An unknown type is an error naming the file.
func (r *Registry) LoadBytes(path string, data []byte, opts LoadOptions) ([]*Spec, error) {
	opts = opts.withDefaults()
	funcs := FuncMap(opts.Hostname)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Spec
	for doc := 1; ; doc++ {
		var tree yaml.Node
		err := dec.Decode(&tree)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, yamlerr.New("notify", path, err, "")
		}
		root := &tree
		if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
			root = root.Content[0]
		}
		if root.Kind == 0 || (root.Kind == yaml.ScalarNode && root.Tag == "!!null") ||
			(root.Kind == yaml.MappingNode && len(root.Content) == 0) {
			continue
		}
		s, err := r.loadDoc(path, doc, root, funcs, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
}

func (r *Registry) loadDoc(path string, doc int, root *yaml.Node, funcs template.FuncMap, opts LoadOptions) (*Spec, error) {
	where := fmt.Sprintf("%s:%d", path, root.Line)
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("notify: %s: document %d: want a mapping", where, doc)
	}
	typ := ""
	if v := mapValue(root, "type"); v != nil && v.Kind == yaml.ScalarNode {
		typ = v.Value
	}
	if typ == "" {
		return nil, fmt.Errorf("notify: %s: document %d: type: missing (known: %s)", where, doc, strings.Join(r.Types(), ", "))
	}
	mod, ok := r.mods[typ]
	if !ok {
		return nil, fmt.Errorf("notify: %s: unknown notification type %q (known: %s)", where, typ, strings.Join(r.Types(), ", "))
	}
	expandEnv(root, opts.LookupEnv)
	cfg := mod.NewConfig()
	var ignored []string
	if err := checkKeys(path, root, reflect.TypeOf(cfg), true, &ignored); err != nil {
		return nil, err
	}
	if err := root.Decode(cfg); err != nil {
		return nil, yamlerr.New("notify", path, err, "")
	}
	c := cfg.Common()
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("notify: %s: %s: %w", where, typ, err)
	}
	if c.Format == "" {
		c.Format = mod.DefaultFormat
	}
	if strings.TrimSpace(c.Format) == "" {
		return nil, fmt.Errorf("notify: %s: %s: format: missing", where, c.Name)
	}
	tmpl, err := template.New(c.Name).Funcs(funcs).Parse(c.Format)
	if err != nil {
		line := root.Line
		if v := mapValue(root, "format"); v != nil {
			line = v.Line
		}
		return nil, fmt.Errorf("notify: %s:%d: %s: format: %w", path, line, c.Name, err)
	}
	for _, k := range ignored {
		opts.Logger.Debug("notify: key of another CrowdSec plugin type ignored", "file", where, "notification", c.Name, "type", typ, "key", k)
	}
	return &Spec{File: path, Line: root.Line, Module: mod, Config: cfg, Ignored: ignored, tmpl: tmpl}, nil
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

var envRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// expandEnv replaces defined ${VAR} and $VAR in the scalar values of a
// document, except the top-level format (CrowdSec's rule).
func expandEnv(root *yaml.Node, lookup func(string) (string, bool)) {
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.ScalarNode:
			if strings.Contains(n.Value, "$") {
				n.Value = envRe.ReplaceAllStringFunc(n.Value, func(m string) string {
					name := strings.Trim(m, "${}")
					if v, ok := lookup(name); ok {
						return v
					}
					return m
				})
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1])
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c)
			}
		}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "format" {
			walk(root.Content[i+1])
		}
	}
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// checkKeys rejects the keys of n that t (a config struct) has no field
// for, naming the file and the line. At the top level, keys of CrowdSec's
// other plugin types are collected in ignored instead.
func checkKeys(path string, n *yaml.Node, t reflect.Type, top bool, ignored *[]string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return nil // a type error: Decode reports it
		}
		fields := map[string]reflect.Type{}
		yamlFields(t, fields)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				if top && crowdSecPluginKey(k.Value) {
					*ignored = append(*ignored, k.Value)
					continue
				}
				return fmt.Errorf("notify: %s:%d: field %s: unknown field (in %s)", path, k.Line, k.Value, t)
			}
			if err := checkKeys(path, v, ft, false, ignored); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		if n.Kind == yaml.SequenceNode {
			for _, c := range n.Content {
				if err := checkKeys(path, c, t.Elem(), false, ignored); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// yamlFields collects the yaml keys of struct t (inline fields flattened).
func yamlFields(t reflect.Type, out map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				yamlFields(ft, out)
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
}
