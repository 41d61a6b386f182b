package grok

import "fmt"

// Ref is one %{NAME} or %{NAME:semantic} reference met while expanding a
// pattern, at any depth.
type Ref struct {
	// Group names the capture group that wraps the reference's expansion
	// in Expand's output.
	Group string
	// Pattern is NAME; Semantic is "" for %{NAME}.
	Pattern, Semantic string
}

// Expand returns the regular expression of pattern with every reference,
// at any depth, wrapped in a capture group named after it, and the
// references. It is for tools that analyse the shape of a pattern (the
// hubtest lint): what Compile executes differs (only the winning semantic
// groups capture there).
func (l *Library) Expand(pattern string) (string, []Ref, error) {
	e := expander{lib: l}
	src, _, err := e.expand(pattern, nil)
	if err != nil {
		return "", nil, fmt.Errorf("grok: expand %q: %w", abbrev(pattern), err)
	}
	return src, e.refs, nil
}
