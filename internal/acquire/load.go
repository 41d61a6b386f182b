package acquire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/expr-lang/expr/vm"
	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/exprenv"
	"github.com/phalanx-ids/phalanx/internal/yamlerr"
)

// Source is one datasource of an acquis.yaml document, provisioned and
// ready to run.
//
// Concurrency: read-only once loaded; DS follows the Datasource contract.
type Source struct {
	// Module is the `source` name (explicit or inferred).
	Module string
	// Common are the shared fields, mode normalised to tail or cat.
	Common CommonConfig
	// Config is the module's decoded configuration.
	Config Config
	// File and Line say where the document starts.
	File string
	Line int
	// DS is the runnable datasource.
	DS Datasource

	transform *vm.Program
}

// TimeMachine reports whether the source's events carry their own time
// (use_time_machine, or cat mode, which always is).
func (s *Source) TimeMachine() bool { return s.Common.UseTimeMachine || s.Common.Mode == ModeCat }

// String names the source for logs: "file /etc/acquis.yaml:3 (name)".
func (s *Source) String() string {
	out := fmt.Sprintf("%s %s:%d", s.Module, s.File, s.Line)
	if s.Common.Name != "" {
		out += " (" + s.Common.Name + ")"
	}
	return out
}

// Paths lists the acquisition files CrowdSec would read: acquisFile (if not
// empty) then acquisDir/*.yaml and *.yml in name order (if acquisDir is not
// empty). A missing acquisDir gives no file; a missing acquisFile is an
// error.
func Paths(acquisFile, acquisDir string) ([]string, error) {
	var out []string
	if acquisFile != "" {
		if _, err := os.Stat(acquisFile); err != nil {
			return nil, fmt.Errorf("acquire: %w", err)
		}
		out = append(out, acquisFile)
	}
	if acquisDir != "" {
		ents, err := os.ReadDir(acquisDir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("acquire: %w", err)
		}
		var names []string
		for _, e := range ents {
			n := e.Name()
			if !e.IsDir() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				names = append(names, filepath.Join(acquisDir, n))
			}
		}
		sort.Strings(names)
		out = append(out, names...)
	}
	return out, nil
}

// LoadFiles loads every file in order (see LoadBytes).
func (r *Registry) LoadFiles(paths []string, deps Deps) ([]*Source, error) {
	var out []*Source
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("acquire: %w", err)
		}
		srcs, err := r.LoadBytes(p, data, deps)
		if err != nil {
			return nil, err
		}
		out = append(out, srcs...)
	}
	return out, nil
}

// LoadBytes decodes the acquis documents of one file (named path in errors)
// and provisions a datasource for each. Empty documents are skipped. Every
// document is decoded strictly into its module's config: an unknown key is
// an error naming the file, the line and the field.
func (r *Registry) LoadBytes(path string, data []byte, deps Deps) ([]*Source, error) {
	if deps.Expr == nil {
		deps.Expr = exprenv.New(exprenv.Deps{Logger: deps.Logger})
	}
	trees := yaml.NewDecoder(bytes.NewReader(data))
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	var out []*Source
	for doc := 1; ; doc++ {
		var tree yaml.Node
		err := trees.Decode(&tree)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, yamlError(path, err)
		}
		root := &tree
		if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
			root = root.Content[0]
		}
		if root.Kind == 0 || (root.Kind == yaml.ScalarNode && root.Tag == "!!null") {
			var skip yaml.Node
			_ = strict.Decode(&skip) // keep the strict decoder in step
			continue
		}
		if root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("acquire: %s:%d: document %d: want a mapping", path, root.Line, doc)
		}
		name, err := sourceName(root)
		if err != nil {
			return nil, fmt.Errorf("acquire: %s:%d: %w", path, root.Line, err)
		}
		mod, ok := r.mods[name]
		if !ok {
			return nil, fmt.Errorf("acquire: %s:%d: unknown data source %q (known: %s)", path, root.Line, name, strings.Join(r.Names(), ", "))
		}
		cfg := mod.NewConfig()
		if err := strict.Decode(cfg); err != nil {
			return nil, yamlError(path, err)
		}
		c := cfg.Common()
		c.Source = name
		where := fmt.Sprintf("%s:%d", path, root.Line)
		if err := ValidateCommon(c, ModeTail); err != nil {
			return nil, fmt.Errorf("acquire: %s: %s: %w", where, name, err)
		}
		s := &Source{Module: name, Common: *c, Config: cfg, File: path, Line: root.Line}
		if c.Transform != "" {
			prog, err := deps.Expr.Compile(c.Transform, transformEnv{})
			if err != nil {
				return nil, fmt.Errorf("acquire: %s: %s: transform: %w", where, name, err)
			}
			s.transform = prog
		}
		d := deps
		d.Logger = deps.logger().With("source", name, "acquis", where)
		ds, err := mod.New(cfg, d)
		if err != nil {
			return nil, fmt.Errorf("acquire: %s: %s: %w", where, name, err)
		}
		s.DS = ds
		out = append(out, s)
	}
}

// sourceName returns `source`, or infers it from the keys present.
func sourceName(m *yaml.Node) (string, error) {
	keys := map[string]*yaml.Node{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		keys[m.Content[i].Value] = m.Content[i+1]
	}
	if v, ok := keys["source"]; ok && v.Kind == yaml.ScalarNode && v.Value != "" {
		return v.Value, nil
	}
	if _, ok := keys["filename"]; ok {
		return "file", nil
	}
	if _, ok := keys["filenames"]; ok {
		return "file", nil
	}
	if _, ok := keys["journalctl_filter"]; ok {
		return "journalctl", nil
	}
	return "", errors.New("missing 'source' field")
}

type transformEnv struct {
	Evt *event.Event `expr:"evt"`
}

// YAMLError is a syntax or schema error of an acquis file, with file, line
// and (for unknown keys) the field. It unwraps to the yaml.v3 error.
type YAMLError = yamlerr.Error

func yamlError(path string, err error) error { return yamlerr.New("acquire", path, err, "") }
