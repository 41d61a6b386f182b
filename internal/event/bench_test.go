package event

import (
	"fmt"
	"testing"
)

// BenchmarkParsedFields compares what grok and the parser statics do to
// evt.Parsed for one nginx line (20 captures written, 10 read back) on a
// fresh event, with the fields in slots (a schema of 60 names, as the
// linux + nginx content has) and in a map (the former representation,
// sized 16 as event.New made it); both make the event:
//
//	go test -run X -bench ParsedFields -benchmem ./internal/event
func BenchmarkParsedFields(b *testing.B) {
	s := NewSchema()
	keys := make([]Key, 60)
	for i := range keys {
		keys[i] = s.Key(Parsed, fmt.Sprintf("field_%d", i))
	}
	used := keys[20:40]
	vals := make([]string, len(used))
	for i := range vals {
		vals[i] = fmt.Sprintf("value %d", i)
	}
	var sink string
	b.Run("slots", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e := s.New(Line{})
			for i, k := range used {
				e.Set(k, vals[i])
			}
			for _, k := range used[:10] {
				v, _ := e.Get(k)
				sink = v
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			e := newEvent(Line{})
			m := make(map[string]string, 16)
			e.ParsedView = m
			for i, k := range used {
				m[k.name] = vals[i]
			}
			for _, k := range used[:10] {
				sink = m[k.name]
			}
		}
	})
	_ = sink
}
