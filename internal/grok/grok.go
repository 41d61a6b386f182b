// Package grok compiles grok patterns (%{NAME} / %{NAME:semantic}) into
// matchers whose named captures land in a map, with CrowdSec's semantics.
//
// Concurrency: a Library is not safe for concurrent mutation (load it, then
// compile). A compiled *Pattern is immutable and safe for concurrent use.
package grok

// Library is a set of named pattern definitions.
type Library struct {
	defs map[string]string
}

// NewLibrary returns a library holding the embedded base patterns.
func NewLibrary() *Library { panic("TODO") }

// LoadDir loads every file without a dot in its name from dir. Lines matching
// `^(\w+)\s+(.+)$` define a pattern; others are ignored. A name defined twice
// is an error naming the file and the pattern.
func (l *Library) LoadDir(dir string) error { panic("TODO") }

// Add defines a pattern; it fails if the name exists.
func (l *Library) Add(name, pattern string) error { panic("TODO") }

// AddIfMissing defines a pattern unless the name exists (then it returns false
// and keeps the first definition), as per-node pattern_syntax does.
func (l *Library) AddIfMissing(name, pattern string) bool { panic("TODO") }

// Has reports whether name is defined.
func (l *Library) Has(name string) bool { _, ok := l.defs[name]; return ok }

// Compile expands and compiles a pattern. An unknown %{NAME} is an error that
// names the pattern.
func (l *Library) Compile(pattern string) (*Pattern, error) { panic("TODO") }

// Pattern is a compiled grok pattern.
type Pattern struct{}

// Names returns the semantic (captured) names, in order of first appearance.
func (p *Pattern) Names() []string { panic("TODO") }

// MatchInto matches s. On a match it writes every semantic name of the
// pattern into dst (empty string for groups that did not participate) and
// returns true; otherwise it leaves dst untouched and returns false.
func (p *Pattern) MatchInto(s string, dst map[string]string) bool { panic("TODO") }

// String returns the source grok pattern.
func (p *Pattern) String() string { panic("TODO") }
