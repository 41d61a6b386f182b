// Package hub reads a CrowdSec-format hub index (index.json, or the hub
// repository's .index.json) and the tree of item files beside it
// (parsers/, scenarios/, postoverflows/, collections/, contexts/,
// patterns/, data/): item lookup by type and name, collection resolution,
// item hashes and versions, and where an item lives once installed.
//
// The index is external input: ParseIndex checks every name, path, stage,
// version and digest before an Index exists, so that no later step can be
// led outside a directory by a crafted path.
//
// Concurrency: an Index is immutable after Open/ParseIndex and safe for
// concurrent use.
package hub

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
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

// Types are the item types Phalanx installs and runs, in the order a
// listing shows them. The index may hold others (appsec-configs,
// appsec-rules): they are kept, never installed.
var Types = []string{Collections, Parsers, Scenarios, PostOverflows, Contexts}

// Supported reports whether items of type typ can be installed.
func Supported(typ string) bool {
	for _, t := range Types {
		if t == typ {
			return true
		}
	}
	return false
}

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
	// AppsecConfigs and AppsecRules are listed by some collections; Phalanx
	// does not run them.
	AppsecConfigs []string `json:"appsec-configs,omitempty"`
	AppsecRules   []string `json:"appsec-rules,omitempty"`
	// Versions maps every published version to the sha256 of its file.
	Versions map[string]Version `json:"versions"`
}

// Version is one published version of an item.
type Version struct {
	Digest     string `json:"digest"`
	Deprecated bool   `json:"deprecated"`
}

// Digest is the sha256 (hex) of the item's current version.
func (it *Item) Digest() string { return it.Versions[it.Version].Digest }

// VersionOf returns the published version whose file has the sha256 hash
// (hex), or "" when no version has it (the file was edited: tainted). When
// several versions share a file, the current one wins, else the highest.
func (it *Item) VersionOf(hash string) string {
	if strings.EqualFold(it.Digest(), hash) {
		return it.Version
	}
	best := ""
	for v, info := range it.Versions {
		if strings.EqualFold(info.Digest, hash) && (best == "" || CompareVersions(v, best) > 0) {
			best = v
		}
	}
	return best
}

// CompareVersions orders hub versions ("0.9" < "0.10" < "1.0"): dotted
// numbers compared field by field, a non-numeric field as text.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y string
		if i < len(as) {
			x = as[i]
		}
		if i < len(bs) {
			y = bs[i]
		}
		xn, xerr := strconv.Atoi(x)
		yn, yerr := strconv.Atoi(y)
		switch {
		case xerr == nil && yerr == nil:
			if c := cmp.Compare(xn, yn); c != 0 {
				return c
			}
		default:
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
		}
	}
	return 0
}

// Ref names an item: type and name.
type Ref struct{ Type, Name string }

func (r Ref) String() string { return r.Type + ":" + r.Name }

// Deps are the items a collection lists directly (sub-collections
// included), in the index's order; nil for other types. Appsec items are
// left out (see Skipped).
func (it *Item) Deps() []Ref {
	var out []Ref
	for _, sub := range []struct {
		typ   string
		names []string
	}{{Parsers, it.Parsers}, {Scenarios, it.Scenarios}, {PostOverflows, it.PostOvflws}, {Contexts, it.Contexts}, {Collections, it.Collections}} {
		for _, n := range sub.names {
			out = append(out, Ref{sub.typ, n})
		}
	}
	return out
}

// Skipped are the items a collection lists that Phalanx does not run.
func (it *Item) Skipped() []Ref {
	var out []Ref
	for _, n := range it.AppsecConfigs {
		out = append(out, Ref{"appsec-configs", n})
	}
	for _, n := range it.AppsecRules {
		out = append(out, Ref{"appsec-rules", n})
	}
	return out
}

// InstallPath is where the item is installed, relative to the install
// directory, as CrowdSec lays it out: <type>/[<stage>/]<file name>
// (parsers/s01-parse/sshd-logs.yaml, scenarios/ssh-bf.yaml).
func (it *Item) InstallPath() string {
	base := filepath.Base(filepath.FromSlash(it.Path))
	if it.Type == Parsers || it.Type == PostOverflows {
		return filepath.Join(it.Type, it.stage(), base)
	}
	return filepath.Join(it.Type, base)
}

func (it *Item) stage() string {
	if it.Stage != "" {
		return it.Stage
	}
	return StageOf(it.Path)
}

// Index is a loaded hub index.
type Index struct {
	root   string
	items  map[string]map[string]*Item
	byPath map[string]*Item
}

// IndexFiles are the names an index is looked up under, in order: the
// hub repository names it .index.json, copies name it index.json.
var IndexFiles = []string{"index.json", ".index.json"}

// Open reads root/index.json (or root/.index.json).
func Open(root string) (*Index, error) {
	var raw []byte
	var err error
	for _, name := range IndexFiles {
		raw, err = os.ReadFile(filepath.Join(root, name))
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("hub: open index in %s: %w", root, err)
	}
	idx, err := ParseIndex(raw)
	if err != nil {
		return nil, fmt.Errorf("hub: %s: %w", root, err)
	}
	idx.root = root
	return idx, nil
}

var (
	nameRe    = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
	segmentRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	typeRe    = regexp.MustCompile(`^[a-z0-9-]+$`)
	digestRe  = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// ParseIndex decodes and checks an index (CrowdSec's format). Every item
// must have a name "author/name", a path "<type>/[<stage>/]<author>/<file>.yaml"
// made of plain segments, and its current version among its versions with
// a sha256 digest. The Index has no root: FilePath is then relative.
func ParseIndex(raw []byte) (*Index, error) {
	var doc map[string]map[string]*Item
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decode index: %w", err)
	}
	if len(doc) == 0 {
		return nil, errors.New("decode index: no item")
	}
	idx := &Index{items: doc, byPath: map[string]*Item{}}
	for typ, items := range doc {
		if !typeRe.MatchString(typ) {
			return nil, fmt.Errorf("index: bad item type %q", typ)
		}
		for name, it := range items {
			if it == nil {
				return nil, fmt.Errorf("index: %s %q: empty entry", typ, name)
			}
			it.Type, it.Name = typ, name
			if err := checkItem(it); err != nil {
				return nil, fmt.Errorf("index: %s %q: %w", typ, name, err)
			}
			idx.byPath[it.Path] = it
		}
	}
	return idx, nil
}

// validName: "author/name", plain segments.
func validName(n string) bool {
	a, b, _ := strings.Cut(n, "/")
	return nameRe.MatchString(n) && a != "." && a != ".." && b != "." && b != ".."
}

func checkItem(it *Item) error {
	if !validName(it.Name) {
		return errors.New(`name: want "author/name" of letters, digits, "_", "-", "."`)
	}
	parts := strings.Split(it.Path, "/")
	want := 3
	if it.Type == Parsers || it.Type == PostOverflows {
		want = 4
	}
	if len(parts) != want || parts[0] != it.Type {
		return fmt.Errorf("path %q: want %s/%s<author>/<file>.yaml", it.Path, it.Type, map[bool]string{true: "<stage>/", false: ""}[want == 4])
	}
	for _, p := range parts {
		if !segmentRe.MatchString(p) || p == "." || p == ".." {
			return fmt.Errorf("path %q: bad segment %q", it.Path, p)
		}
	}
	if ext := filepath.Ext(it.Path); ext != ".yaml" && ext != ".yml" {
		return fmt.Errorf("path %q: not a .yaml file", it.Path)
	}
	if want == 4 && it.Stage != "" && it.Stage != parts[1] {
		return fmt.Errorf("stage %q does not match path %q", it.Stage, it.Path)
	}
	if _, ok := it.Versions[it.Version]; it.Version == "" || !ok {
		return fmt.Errorf("version %q: not among the published versions", it.Version)
	}
	for ver, info := range it.Versions {
		if !digestRe.MatchString(info.Digest) {
			return fmt.Errorf("version %q: digest %q is not a sha256", ver, info.Digest)
		}
	}
	for _, d := range append(it.Deps(), it.Skipped()...) {
		if !validName(d.Name) {
			return fmt.Errorf("lists %s %q: bad name", d.Type, d.Name)
		}
	}
	return nil
}

// Root returns the hub directory ("" for a parsed index).
func (x *Index) Root() string { return x.root }

// Get returns the item of type typ called name.
func (x *Index) Get(typ, name string) (*Item, bool) {
	it, ok := x.items[typ][name]
	return it, ok
}

// ByPath returns the item whose file is path (relative, slash-separated).
func (x *Index) ByPath(path string) (*Item, bool) {
	it, ok := x.byPath[filepath.ToSlash(path)]
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

// Len is the number of items of the supported types.
func (x *Index) Len() int {
	n := 0
	for _, t := range Types {
		n += len(x.items[t])
	}
	return n
}

// FilePath returns the path of an item's file under the hub root.
func (x *Index) FilePath(it *Item) string { return filepath.Join(x.root, filepath.FromSlash(it.Path)) }

// Closure returns the items refs name and, for collections, everything
// they list, recursively (each item once, collections before their
// content, in first-seen order). A name missing from the index is an
// error naming the collection that lists it.
func (x *Index) Closure(refs ...Ref) ([]*Item, error) {
	var out []*Item
	seen := map[Ref]bool{}
	var add func(r Ref, from string) error
	add = func(r Ref, from string) error {
		if seen[r] {
			return nil
		}
		seen[r] = true
		it, ok := x.Get(r.Type, r.Name)
		if !ok {
			if from == "" {
				return fmt.Errorf("hub: unknown %s %q", strings.TrimSuffix(r.Type, "s"), r.Name)
			}
			return fmt.Errorf("hub: %s: unknown %s %q", from, strings.TrimSuffix(r.Type, "s"), r.Name)
		}
		out = append(out, it)
		for _, d := range it.Deps() {
			if err := add(d, r.Name); err != nil {
				return err
			}
		}
		return nil
	}
	for _, r := range refs {
		if err := add(r, ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

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
	refs := make([]Ref, len(names))
	for i, n := range names {
		refs[i] = Ref{Collections, n}
	}
	items, err := x.Closure(refs...)
	if err != nil {
		return nil, err
	}
	s := &Set{}
	for _, it := range items {
		switch it.Type {
		case Parsers:
			s.Parsers = append(s.Parsers, it)
		case Scenarios:
			s.Scenarios = append(s.Scenarios, it)
		case PostOverflows:
			s.PostOverflows = append(s.PostOverflows, it)
		case Contexts:
			s.Contexts = append(s.Contexts, it)
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
	return HashBytes(b), nil
}

// HashBytes returns the sha256 (hex) of b.
func HashBytes(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
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
