package install

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/hub"
)

// ItemState is what the install holds of one item.
type ItemState struct {
	hub.Ref
	// Item is the index entry (nil for a local item, or when no index is
	// cached).
	Item *hub.Item
	// Path is the installed file (absolute; "" when not installed).
	Path string
	// Installed: the item is in the install. Local: a file of the user,
	// not from the hub. Tainted: a hub item whose file matches none of its
	// published versions (edited). Broken: the installed link leads
	// nowhere.
	Installed, Local, Tainted, Broken bool
	// Linked: installed as a symlink into the hub cache (else a copy).
	Linked bool
	// LocalVersion is the published version the file is ("" if none).
	LocalVersion string
	// Hash is the installed file's sha256.
	Hash string
	// BelongsTo names the installed collections that list the item.
	BelongsTo []string
}

// UpToDate reports an installed hub item at the index's current version.
func (s *ItemState) UpToDate() bool {
	return s.Installed && s.Item != nil && !s.Tainted && s.LocalVersion == s.Item.Version
}

// Status is the item's state in cscli's words: "disabled", "enabled",
// with ",local", ",tainted", ",update-available" or ",broken".
func (s *ItemState) Status() string {
	switch {
	case !s.Installed:
		return "disabled"
	case s.Broken:
		return "enabled,broken"
	case s.Local:
		return "enabled,local"
	case s.Tainted:
		return "enabled,tainted"
	case s.Item != nil && !s.UpToDate():
		return "enabled,update-available"
	}
	return "enabled"
}

// State is a snapshot of an install: every installed file, matched with
// the cached index.
type State struct {
	// Index is the cached index (nil when none is cached: every installed
	// file is then a local item).
	Index     *hub.Index
	installed []*ItemState
	byRef     map[hub.Ref]*ItemState // installed hub items
	byPath    map[string]*ItemState  // installed items by path relative to the data dir
}

// Scan reads the install. A cached index that does not parse is an error;
// none cached is not.
func (in *Install) Scan() (*State, error) {
	idx, err := in.Index()
	if errors.Is(err, ErrNoIndex) {
		idx, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	st := &State{Index: idx, byRef: map[hub.Ref]*ItemState{}, byPath: map[string]*ItemState{}}
	byInstallPath := map[string]*hub.Item{}
	if idx != nil {
		for _, typ := range hub.Types {
			for _, n := range idx.Names(typ) {
				it, _ := idx.Get(typ, n)
				byInstallPath[it.InstallPath()] = it
			}
		}
	}
	for _, typ := range hub.Types {
		staged := typ == hub.Parsers || typ == hub.PostOverflows
		files, err := itemFiles(filepath.Join(in.dir, typ), staged)
		if err != nil {
			return nil, fmt.Errorf("install: scan: %w", err)
		}
		for _, rel := range files {
			rel = filepath.Join(typ, rel)
			s, err := in.scanFile(typ, rel, idx, byInstallPath[rel])
			if err != nil {
				return nil, fmt.Errorf("install: scan: %w", err)
			}
			st.installed = append(st.installed, s)
			st.byPath[rel] = s
			if !s.Local {
				st.byRef[s.Ref] = s
			}
		}
	}
	for _, s := range st.installed {
		if s.Type != hub.Collections || s.Item == nil {
			continue
		}
		for _, d := range s.Item.Deps() {
			if dep := st.byRef[d]; dep != nil {
				dep.BelongsTo = append(dep.BelongsTo, s.Name)
			}
		}
	}
	return st, nil
}

// itemFiles lists the .yaml/.yml files of an item type dir, relative to
// it: <file> or, staged, <stage>/<file>. Hidden files (temporary files of
// an atomic write) are skipped.
func itemFiles(dir string, staged bool) ([]string, error) {
	var out []string
	list := func(d, prefix string) error {
		ents, err := os.ReadDir(d)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") || e.IsDir() {
				continue
			}
			if ext := filepath.Ext(n); ext == ".yaml" || ext == ".yml" {
				out = append(out, filepath.Join(prefix, n))
			}
		}
		return nil
	}
	if !staged {
		return out, list(dir, "")
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			if err := list(filepath.Join(dir, e.Name()), e.Name()); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// scanFile classifies one installed file. cand is the index item whose
// install path is rel, if any.
func (in *Install) scanFile(typ, rel string, idx *hub.Index, cand *hub.Item) (*ItemState, error) {
	abs := filepath.Join(in.dir, rel)
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, err
	}
	s := &ItemState{Ref: hub.Ref{Type: typ}, Path: abs, Installed: true}
	if fi.Mode()&os.ModeSymlink != 0 {
		s.Linked = true
		if target, err := os.Readlink(abs); err == nil && idx != nil {
			if !filepath.IsAbs(target) {
				target = filepath.Join(filepath.Dir(abs), target)
			}
			if hp, err := filepath.Rel(in.HubPath(), filepath.Clean(target)); err == nil && filepath.IsLocal(hp) {
				if it, ok := idx.ByPath(filepath.ToSlash(hp)); ok && it.Type == typ {
					cand = it
				}
			}
		}
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		s.Broken = true
	}
	s.Hash = hub.HashBytes(b)
	if cand != nil && !s.Broken {
		s.LocalVersion = cand.VersionOf(s.Hash)
		if s.LocalVersion == "" && !s.Linked && yamlName(b) != cand.Name {
			cand = nil // a file of the user that happens to share the name
		}
	}
	if cand == nil {
		s.Local = true
		s.Name = yamlName(b)
		if s.Name == "" {
			s.Name = strings.TrimSuffix(filepath.Base(rel), filepath.Ext(rel))
		}
		return s, nil
	}
	s.Item, s.Name = cand, cand.Name
	s.Tainted = !s.Broken && s.LocalVersion == ""
	return s, nil
}

// yamlName is the name: of a YAML file's first document ("" if none).
func yamlName(b []byte) string {
	var doc struct {
		Name string `yaml:"name"`
	}
	if err := yaml.NewDecoder(strings.NewReader(string(b))).Decode(&doc); err != nil {
		return ""
	}
	return doc.Name
}

// Item returns the state of an item: installed (hub or local), or an index
// item not installed. Nil when neither installed nor in the index.
func (st *State) Item(r hub.Ref) *ItemState {
	if s := st.byRef[r]; s != nil {
		return s
	}
	for _, s := range st.installed {
		if s.Local && s.Ref == r {
			return s
		}
	}
	if st.Index != nil {
		if it, ok := st.Index.Get(r.Type, r.Name); ok {
			return &ItemState{Ref: r, Item: it}
		}
	}
	return nil
}

// AtPath returns the installed item at a path relative to the data dir.
func (st *State) AtPath(rel string) *ItemState { return st.byPath[rel] }

// Installed returns the installed items of a type ("" for every type),
// sorted by type order then name.
func (st *State) Installed(typ string) []*ItemState {
	var out []*ItemState
	for _, s := range st.installed {
		if typ == "" || s.Type == typ {
			out = append(out, s)
		}
	}
	sortStates(out)
	return out
}

// List returns the installed items of a type, or with all every item of
// the index too (the not installed ones disabled).
func (st *State) List(typ string, all bool) []*ItemState {
	out := st.Installed(typ)
	if !all || st.Index == nil {
		return out
	}
	for _, t := range hub.Types {
		if typ != "" && t != typ {
			continue
		}
		for _, n := range st.Index.Names(t) {
			r := hub.Ref{Type: t, Name: n}
			if st.byRef[r] == nil {
				out = append(out, st.Item(r))
			}
		}
	}
	sortStates(out)
	return out
}

func sortStates(s []*ItemState) {
	order := map[string]int{}
	for i, t := range hub.Types {
		order[t] = i
	}
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].Type != s[j].Type {
			return order[s[i].Type] < order[s[j].Type]
		}
		return s[i].Name < s[j].Name
	})
}
