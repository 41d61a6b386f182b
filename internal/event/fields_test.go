package event

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestParsedFields checks the slotted storage of evt.Parsed against what a
// map gives, for the three kinds of event: slotted by the schema the keys
// come from, slotted by another schema (keys fall back to names), and
// without schema (New).
func TestParsedFields(t *testing.T) {
	s := NewSchema()
	a, b := s.Key("a"), s.Key("b")
	other := NewSchema()
	other.Key("zz") // other numbering: a key of s must not index its slots
	other.Key("b")
	for _, tc := range []struct {
		name string
		mk   func() *Event
	}{
		{"own schema", func() *Event { return s.New(Line{Raw: "x"}) }},
		{"other schema", func() *Event { return other.New(Line{Raw: "x"}) }},
		{"no schema", func() *Event { return New(Line{Raw: "x"}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.mk()
			require.Equal(t, e.parsed.s == nil, e.ParsedView != nil, "only an event without schema starts with its view")
			_, ok := e.ParsedKey(a)
			require.False(t, ok, "absent")
			e.SetParsedKey(a, "")
			v, ok := e.ParsedKey(a)
			require.True(t, ok, "set to empty is present")
			require.Equal(t, "", v)
			e.SetParsedKey(b, "2")
			e.SetParsed("a", "1")
			e.SetParsed("dyn", "3") // in no schema: the overflow map
			want := map[string]string{"a": "1", "b": "2", "dyn": "3"}
			require.Equal(t, want, e.ParsedMap())
			require.Equal(t, 3, e.ParsedLen())
			for k, w := range want {
				v, ok := e.LookupParsed(k)
				require.True(t, ok, k)
				require.Equal(t, w, v, k)
			}
			v, _ = e.ParsedKey(b)
			require.Equal(t, "2", v)

			// The view, once exposed, follows every write.
			e.ExposeParsed()
			require.Equal(t, want, e.ParsedView)
			e.SetParsedKey(b, "22")
			e.SetParsed("late", "4")
			require.Equal(t, map[string]string{"a": "1", "b": "22", "dyn": "3", "late": "4"}, e.ParsedView)

			// Clone and UnshareParsed copies are independent.
			c := e.Clone()
			sh := *e
			sh.UnshareParsed()
			e.SetParsedKey(a, "changed")
			for _, x := range []*Event{c, &sh} {
				v, _ := x.ParsedKey(a)
				require.Equal(t, "1", v)
				require.Equal(t, "1", x.ParsedView["a"])
			}

			// Reset empties the fields and the view, keeping storage.
			e.Reset(Line{Raw: "y"})
			require.Zero(t, e.ParsedLen())
			require.Nil(t, e.ParsedMap())
			_, ok = e.ParsedKey(a)
			require.False(t, ok)
			if e.parsed.s == nil {
				require.NotNil(t, e.ParsedView, "an event without schema keeps its view")
			} else {
				require.Nil(t, e.ParsedView, "a slotted event's view is built on demand")
			}
			require.Empty(t, e.ParsedView)
		})
	}
}

// TestParsedSlotsGrow: an event created before the schema got more names
// grows its index on write, and entries beyond what a byte indexes go to
// the overflow map, still found by key and by name.
func TestParsedSlotsGrow(t *testing.T) {
	s := NewSchema()
	e := s.New(Line{})
	keys := make([]Key, 600)
	for i := range keys {
		keys[i] = s.Key(fmt.Sprintf("k%d", i))
	}
	for i := len(keys) - 1; i >= 0; i -= 2 {
		e.SetParsedKey(keys[i], keys[i].Name())
	}
	e.SetParsedKey(keys[1], "again") // an update, not a new entry
	n := 0
	for i := range keys {
		v, ok := e.ParsedKey(keys[i])
		require.Equal(t, i%2 == 1, ok, i)
		if ok {
			w := keys[i].Name()
			if i == 1 {
				w = "again"
			}
			require.Equal(t, w, v)
			v2, _ := e.LookupParsed(keys[i].Name())
			require.Equal(t, w, v2)
			n++
		}
	}
	require.Equal(t, 300, n)
	require.Equal(t, n, e.ParsedLen())
	require.Len(t, e.ParsedMap(), n)
	c := e.Clone()
	require.Equal(t, e.ParsedMap(), c.ParsedMap())
	require.Equal(t, e.ParsedMap(), c.ParsedView)
}

// TestSchemaFreeze: a frozen schema gives no new slot; its keys for
// unknown names read and write by name.
func TestSchemaFreeze(t *testing.T) {
	s := NewSchema()
	a := s.Key("a")
	s.Freeze()
	b := s.Key("b")
	require.Equal(t, 1, s.Len())
	require.Equal(t, a, s.Key("a"))
	e := s.New(Line{})
	e.SetParsedKey(b, "2")
	e.SetParsedKey(a, "1")
	v, ok := e.ParsedKey(b)
	require.True(t, ok)
	require.Equal(t, "2", v)
	v, _ = e.LookupParsed("b")
	require.Equal(t, "2", v)
	require.Equal(t, map[string]string{"a": "1", "b": "2"}, e.ParsedMap())
}
