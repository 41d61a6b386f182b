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

// BenchmarkKeyAccess is the per-line field traffic of a parsed nginx line
// on a recycled event (Reset, as the detect runner reuses them): 20
// captures set (new fields), 10 of them overwritten (statics), 30 reads
// of present fields and 5 of absent ones, all by Key. It measures what a
// Key costs to pass and resolve (Get and Set are called through a Key
// held in memory, as compiled statics and natexpr's getters hold theirs):
//
//	go test -run X -bench KeyAccess -benchmem ./internal/event
func BenchmarkKeyAccess(b *testing.B) {
	s := NewSchema()
	keys := make([]Key, 60)
	for i := range keys {
		keys[i] = s.Key(Parsed, fmt.Sprintf("field_%d", i))
	}
	used, absent := keys[20:40], keys[50:55]
	vals := make([]string, len(used))
	for i := range vals {
		vals[i] = fmt.Sprintf("value %d", i)
	}
	e := s.New(Line{})
	var n int
	b.ReportAllocs()
	for b.Loop() {
		e.Reset(Line{})
		for i := range used {
			e.Set(used[i], vals[i])
		}
		for i := range used[:10] {
			e.Set(used[i], vals[i+1])
		}
		for range 3 {
			for i := range used[:10] {
				v, _ := e.Get(used[i])
				n += len(v)
			}
		}
		for i := range absent {
			if _, ok := e.Get(absent[i]); ok {
				n++
			}
		}
	}
	if n == 0 {
		b.Fatal("no field read")
	}
}

// BenchmarkReset is the recycling of an event after an nginx line: 20
// parsed, 12 meta and 3 enriched fields written on a schema of 60, 40 and
// 20 names, then Reset (as the detect runner does for every line):
//
//	go test -run X -bench Reset -benchmem ./internal/event
func BenchmarkReset(b *testing.B) {
	s := NewSchema()
	var keys []Key
	for p, n := range map[Part][2]int{Parsed: {60, 20}, Meta: {40, 12}, Enriched: {20, 3}} {
		for i := range n[0] {
			k := s.Key(p, fmt.Sprintf("field_%d", i))
			if i%3 == 0 && i/3 < n[1] {
				keys = append(keys, k)
			}
		}
	}
	e := s.New(Line{})
	l := Line{Raw: "a line", Src: "file"}
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range keys {
			e.Set(k, "value")
		}
		e.StrTime = "07/Dec/2026:20:00:00 +0000"
		e.Stage = "s02-enrich"
		e.Process = true
		e.Reset(l)
	}
}

// BenchmarkCaptures is what a grok match writes to a recycled event: 20
// captures of the line (spans, one of them empty) to evt.Parsed, by one
// Set each and by one SetAll, then 10 statics copying a parsed field to
// evt.Meta (Get and Set, and Copy):
//
//	go test -run X -bench Captures -benchmem ./internal/event
func BenchmarkCaptures(b *testing.B) {
	s := NewSchema()
	var pk, mk []Key
	for i := range 60 {
		k := s.Key(Parsed, fmt.Sprintf("field_%d", i))
		if i%3 == 0 {
			pk = append(pk, k)
		}
	}
	for i := range 40 {
		k := s.Key(Meta, fmt.Sprintf("meta_%d", i))
		if i%4 == 0 {
			mk = append(mk, k)
		}
	}
	var raw string
	for i := range pk {
		raw += fmt.Sprintf("value-%d ", i)
	}
	l := Line{Raw: raw}
	caps := make([]string, len(pk))
	for i, at := 0, 0; i < len(pk); i++ {
		n := len(fmt.Sprintf("value-%d", i))
		if i != 7 {
			caps[i] = raw[at : at+n]
		}
		at += n + 1
	}
	list := NewKeyList(pk)
	copies := make([]FieldCopy, len(mk))
	for i := range mk {
		copies[i] = FieldCopy{Dst: mk[i], Src: pk[i]}
	}
	e := s.New(l)
	b.Run("Set", func(b *testing.B) {
		for b.Loop() {
			e.Reset(l)
			for i := range pk {
				e.Set(pk[i], caps[i])
			}
			for i := range mk {
				if v, _ := e.Get(pk[i]); v != "" {
					e.Set(mk[i], v)
				}
			}
		}
	})
	b.Run("SetAll", func(b *testing.B) {
		for b.Loop() {
			e.Reset(l)
			e.SetAll(&list, caps)
			for i := range copies {
				e.Copy(&copies[i])
			}
		}
	})
	if v, _ := e.Get(mk[9]); v != caps[9] {
		b.Fatalf("meta %q, want %q", v, caps[9])
	}
}
