// Package datafile loads the data files that hub items declare in `data:`
// (string lists, regexp lists, JSON-lines maps) from a data directory.
//
// Concurrency: a Store is safe for concurrent use; Load may run while
// lookups happen (lookups see a file once its load completed).
package datafile

import "regexp"

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

// Store holds the loaded data files, keyed by dest_file.
type Store struct{}

// NewStore returns an empty store reading files from dir.
func NewStore(dir string) *Store { panic("TODO") }

// Dir returns the data directory.
func (s *Store) Dir() string { panic("TODO") }

// Load reads the file that spec names. Loading the same dest_file twice is a
// no-op. A missing file is an error (callers log it and go on: lookups on it
// then come back empty). Types: "string", "regexp"/"regex", "map", "bots";
// an empty type (binary files such as mmdb) is only checked for existence.
func (s *Store) Load(spec Spec) error { panic("TODO") }

// Strings returns the lines of a string file (nil if not loaded).
func (s *Store) Strings(name string) []string { panic("TODO") }

// Regexps returns the compiled patterns of a regexp file (nil if not loaded).
func (s *Store) Regexps(name string) []*regexp.Regexp { panic("TODO") }

// MapRows returns the rows of a map (JSON lines) file (nil if not loaded).
func (s *Store) MapRows(name string) []map[string]string { panic("TODO") }
