// Package datafile loads the data files that hub items declare in `data:`
// (string lists, regexp lists, JSON-lines maps, known-bot lists) from a data
// directory, or from a hub data mirror.
//
// Line rules (CrowdSec's): a file is read line by line, a trailing "\r" is
// dropped, empty lines and lines whose first byte is '#' are skipped. Nothing
// else is trimmed: a line of spaces is an entry.
//
// Concurrency: a Store is safe for concurrent use; Load may run while
// lookups happen (lookups see a file once its load completed). The slices and
// maps that accessors return are shared: callers must not modify them.
package datafile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Spec is one `data:` entry of a hub item (YAML config type).
type Spec struct {
	SourceURL string `yaml:"source_url"`
	DestFile  string `yaml:"dest_file"`
	Type      string `yaml:"type"`
	Cache     *bool  `yaml:"cache,omitempty"`
	Strategy  string `yaml:"strategy,omitempty"`
	Size      *int   `yaml:"size,omitempty"`
	TTL       string `yaml:"ttl,omitempty"`
}

// ErrNotFound is wrapped by Load when the file is neither in the data
// directory nor in the mirror.
var ErrNotFound = errors.New("data file not found")

// maxLine is the longest line accepted (bufio's default is 64 KiB).
const maxLine = 1 << 20

// Store holds the loaded data files, keyed by dest_file.
type Store struct {
	dir string

	mu     sync.RWMutex
	mirror string
	files  map[string]*loaded
}

// loaded is one file, immutable once published in Store.files.
type loaded struct {
	spec    Spec
	path    string
	strs    []string
	regexps []*regexp.Regexp
	reSet   *RegexpSet
	rows    []map[string]string
	index   *mapIndex
	bots    []*Bot
}

// NewStore returns an empty store reading files from dir.
func NewStore(dir string) *Store {
	return &Store{dir: dir, files: make(map[string]*loaded)}
}

// Dir returns the data directory.
func (s *Store) Dir() string { return s.dir }

// SetMirror sets a hub data tree where files missing from the data dir are
// looked up by the path of their source_url:
// https://hub-data.crowdsec.net/web/x.txt -> <dir>/web/x.txt.
func (s *Store) SetMirror(dir string) {
	s.mu.Lock()
	s.mirror = dir
	s.mu.Unlock()
}

// Resolve returns the path Load would read for spec: <dir>/<dest_file> if it
// exists, else the mirror path of source_url if that exists.
func (s *Store) Resolve(spec Spec) (string, error) {
	if spec.DestFile == "" {
		return "", errors.New("datafile: empty dest_file")
	}
	p := filepath.Join(s.dir, spec.DestFile)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	s.mu.RLock()
	mirror := s.mirror
	s.mu.RUnlock()
	if mirror != "" && spec.SourceURL != "" {
		if u, err := url.Parse(spec.SourceURL); err == nil && u.Path != "" && u.Path != "/" {
			mp := filepath.Join(mirror, filepath.FromSlash(strings.TrimPrefix(u.Path, "/")))
			// Stay inside the mirror whatever the URL path holds.
			if rel, err := filepath.Rel(mirror, mp); err == nil && !strings.HasPrefix(rel, "..") {
				if _, err := os.Stat(mp); err == nil {
					return mp, nil
				}
			}
		}
	}
	return "", fmt.Errorf("datafile: %s: %w", spec.DestFile, ErrNotFound)
}

// Load reads the file that spec names. Loading the same dest_file twice is a
// no-op. A missing file is an error (callers log it and go on: lookups on it
// then come back empty). Types: "string", "regexp"/"regex", "map", "bots";
// an empty type (binary files such as mmdb) is only checked for existence.
func (s *Store) Load(spec Spec) error {
	s.mu.RLock()
	_, done := s.files[spec.DestFile]
	s.mu.RUnlock()
	if done {
		return nil
	}
	switch spec.Type {
	case "", "string", "regexp", "regex", "map", "bots":
	default:
		return fmt.Errorf("datafile: %s: unknown type %q", spec.DestFile, spec.Type)
	}
	p, err := s.Resolve(spec)
	if err != nil {
		return err
	}
	l := &loaded{spec: spec, path: p}
	if spec.Type != "" {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("datafile: %s: %w", spec.DestFile, err)
		}
		err = l.read(f, spec.DestFile)
		f.Close()
		if err != nil {
			return err
		}
	}
	s.mu.Lock()
	if _, ok := s.files[spec.DestFile]; !ok {
		s.files[spec.DestFile] = l
	}
	s.mu.Unlock()
	return nil
}

// read fills l from r according to l.spec.Type.
func (l *loaded) read(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text() // ScanLines already drops one trailing \r
		if line == "" || line[0] == '#' {
			continue
		}
		switch l.spec.Type {
		case "string":
			l.strs = append(l.strs, line)
		case "regexp", "regex":
			re, err := regexp.Compile(line)
			if err != nil {
				return fmt.Errorf("datafile: %s:%d: %w", name, lineNo, err)
			}
			l.regexps = append(l.regexps, re)
		case "map":
			row, err := parseMapRow(line)
			if err != nil {
				return fmt.Errorf("datafile: %s:%d: %w", name, lineNo, err)
			}
			l.rows = append(l.rows, row)
		case "bots":
			b, err := parseBot(line)
			if err != nil {
				return fmt.Errorf("datafile: %s:%d: %w", name, lineNo, err)
			}
			l.bots = append(l.bots, b)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("datafile: %s: line %d: %w", name, lineNo+1, err)
	}
	if l.spec.Type == "regexp" || l.spec.Type == "regex" {
		l.reSet = NewRegexpSet(l.regexps)
	}
	if l.spec.Type == "map" {
		idx, err := buildIndex(l.rows)
		if err != nil {
			return fmt.Errorf("datafile: %s: %w", name, err)
		}
		l.index = idx
	}
	return nil
}

func (s *Store) get(name string) *loaded {
	s.mu.RLock()
	l := s.files[name]
	s.mu.RUnlock()
	return l
}

// Loaded reports whether name was loaded.
func (s *Store) Loaded(name string) bool { return s.get(name) != nil }

// Spec returns the spec name was loaded with.
func (s *Store) Spec(name string) (Spec, bool) {
	if l := s.get(name); l != nil {
		return l.spec, true
	}
	return Spec{}, false
}

// Path returns the file name was read from ("" if not loaded).
func (s *Store) Path(name string) string {
	if l := s.get(name); l != nil {
		return l.path
	}
	return ""
}

// Strings returns the lines of a string file (nil if not loaded).
func (s *Store) Strings(name string) []string {
	if l := s.get(name); l != nil {
		return l.strs
	}
	return nil
}

// Regexps returns the compiled patterns of a regexp file (nil if not loaded).
func (s *Store) Regexps(name string) []*regexp.Regexp {
	if l := s.get(name); l != nil {
		return l.regexps
	}
	return nil
}

// RegexpSet returns the indexed form of a regexp file (nil if not loaded):
// RegexpSet(name).MatchString(s) is the same as trying every regexp of
// Regexps(name) on s, faster.
func (s *Store) RegexpSet(name string) *RegexpSet {
	if l := s.get(name); l != nil {
		return l.reSet
	}
	return nil
}

// MapRows returns the rows of a map (JSON lines) file (nil if not loaded).
func (s *Store) MapRows(name string) []map[string]string {
	if l := s.get(name); l != nil {
		return l.rows
	}
	return nil
}

// Lookup returns the tag of the first row of map file name whose pattern
// matches haystack: "equals" rows first (exact match), then "contains" rows
// (the leftmost match in haystack; on a tie, the row listed first), then
// "regex" rows in file order. ok is false when nothing matches or the file
// is not loaded.
func (s *Store) Lookup(name, haystack string) (tag string, ok bool) {
	l := s.get(name)
	if l == nil || l.index == nil {
		return "", false
	}
	return l.index.lookup(haystack)
}

// Bots returns the entries of a bots file (nil if not loaded).
func (s *Store) Bots(name string) []*Bot {
	if l := s.get(name); l != nil {
		return l.bots
	}
	return nil
}
