package enrich

import (
	"encoding/json"
	"fmt"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// unmarshalJSON is the UnmarshalJSON method: it ignores its value, decodes
// evt.Line.Raw (a JSON object) and merges the top-level keys into
// evt.Unmarshaled, as encoding/json does when decoding into an existing map
// (upstream behaviour). Numbers become float64, objects map[string]any,
// arrays []any. It returns no enrichment. Invalid JSON, or JSON that is not
// an object, is an error and leaves evt untouched; a JSON null changes
// nothing.
func unmarshalJSON(_ string, evt *event.Event, _ []string) (bool, error) {
	if evt == nil {
		return false, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(evt.Line.Raw), &m); err != nil {
		return false, fmt.Errorf("enrich: unmarshal json: %w", err)
	}
	if m == nil {
		return false, nil
	}
	if evt.Unmarshaled == nil {
		evt.Unmarshaled = m
		return false, nil
	}
	for k, v := range m {
		evt.Unmarshaled[k] = v
	}
	return false, nil
}
