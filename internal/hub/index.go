// Package hub reads a CrowdSec-format hub tree (index.json, parsers/,
// scenarios/, postoverflows/, collections/, contexts/, patterns/, data/):
// item lookup by type and name, collection resolution, item hashes.
//
// Concurrency: an Index is immutable after Open and safe for concurrent use.
package hub

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Item types.
const (
	Parsers       = "parsers"
	Scenarios     = "scenarios"
	PostOverflows = "postoverflows"
	Collections   = "collections"
	Contexts      = "contexts"
)

// Item is one hub item as index.json lists it.
type Item struct {
	Type        string   `json:"-"`
	Name        string   `json:"-"`
	Author      string   `json:"author"`
	Path        string   `json:"path"`
	Version     string   `json:"version"`
	Stage       string   `json:"stage,omitempty"`
	Description string   `json:"description,omitempty"`
	Parsers     []string `json:"parsers,omitempty"`
	Scenarios   []string `json:"scenarios,omitempty"`
	PostOvflws  []string `json:"postoverflows,omitempty"`
	Contexts    []string `json:"contexts,omitempty"`
	Collections []string `json:"collections,omitempty"`
}

// Index is a loaded hub.
type Index struct {
	root  string
	items map[string]map[string]*Item
}

// Open reads root/index.json (or root/.index.json).
func Open(root string) (*Index, error) {
	var raw []byte
	var err error
	for _, name := range []string{"index.json", ".index.json"} {
		raw, err = os.ReadFile(filepath.Join(root, name))
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("hub: open index in %s: %w", root, err)
	}
	var doc map[string]map[string]*Item
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("hub: decode index in %s: %w", root, err)
	}
	for typ, items := range doc {
		for name, it := range items {
			it.Type, it.Name = typ, name
		}
	}
	return &Index{root: root, items: doc}, nil
}

// Root returns the hub directory.
func (x *Index) Root() string { return x.root }

// Get returns the item of type typ called name.
func (x *Index) Get(typ, name string) (*Item, bool) {
	it, ok := x.items[typ][name]
	return it, ok
}

// Names returns the sorted names of all items of a type.
func (x *Index) Names(typ string) []string {
	out := make([]string, 0, len(x.items[typ]))
	for n := range x.items[typ] {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// FilePath returns the absolute path of an item's file.
func (x *Index) FilePath(it *Item) string { return filepath.Join(x.root, it.Path) }

// Set is the content selected from a hub: files per type.
type Set struct {
	Parsers       []*Item
	Scenarios     []*Item
	PostOverflows []*Item
	Contexts      []*Item
}

// ResolveCollections expands collections recursively (cycles are tolerated;
// each item appears once, in first-seen order).
func (x *Index) ResolveCollections(names ...string) (*Set, error) {
	s := &Set{}
	seen := map[string]bool{}
	var add func(typ, name, from string) error
	add = func(typ, name, from string) error {
		key := typ + "/" + name
		if seen[key] {
			return nil
		}
		seen[key] = true
		it, ok := x.Get(typ, name)
		if !ok {
			if from == "" {
				return fmt.Errorf("hub: unknown %s %q", strings.TrimSuffix(typ, "s"), name)
			}
			return fmt.Errorf("hub: %s: unknown %s %q", from, strings.TrimSuffix(typ, "s"), name)
		}
		switch typ {
		case Parsers:
			s.Parsers = append(s.Parsers, it)
		case Scenarios:
			s.Scenarios = append(s.Scenarios, it)
		case PostOverflows:
			s.PostOverflows = append(s.PostOverflows, it)
		case Contexts:
			s.Contexts = append(s.Contexts, it)
		case Collections:
			for _, sub := range []struct {
				typ   string
				names []string
			}{{Parsers, it.Parsers}, {Scenarios, it.Scenarios}, {PostOverflows, it.PostOvflws}, {Contexts, it.Contexts}, {Collections, it.Collections}} {
				for _, n := range sub.names {
					if err := add(sub.typ, n, name); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	for _, n := range names {
		if err := add(Collections, n, ""); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Hash returns the sha256 (hex) of a file, as CrowdSec's scenario_hash.
func Hash(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("hub: hash: %w", err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// StageOf returns the stage of a parser file path: the third path element
// from the end (.../<stage>/<author>/<file>).
func StageOf(path string) string {
	parts := strings.Split(filepath.ToSlash(filepath.Clean(path)), "/")
	if len(parts) < 3 {
		return ""
	}
	return parts[len(parts)-3]
}
