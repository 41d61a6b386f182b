package scenario

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Source is one scenario file to load: Name is its path (or, for embedded
// content, the name errors show); Data, when not nil, is its content.
type Source struct {
	Name string
	Data []byte
}

// LoadSources compiles scenario files, from disk or memory, into one Set.
// Errors name the file, the scenario and the field, as Load's do.
func LoadSources(srcs []Source, opts Options) (*Set, error) {
	set := &Set{}
	for _, s := range srcs {
		data := s.Data
		name := s.Name
		if data == nil {
			if !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml") {
				continue
			}
			var err error
			if data, err = os.ReadFile(name); err != nil {
				return nil, fmt.Errorf("scenario: %w", err)
			}
			name = filepath.Clean(name)
		}
		if err := set.add(name, data, opts); err != nil {
			return nil, err
		}
	}
	return set.frozen(), nil
}
