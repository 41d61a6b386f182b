package event

import (
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
// (or by hand) grows its slots on write.
func TestParsedSlotsGrow(t *testing.T) {
	s := NewSchema()
	e := s.New(Line{})
	keys := make([]Key, 130) // three bitset words
	for i := range keys {
		keys[i] = s.Key(string(rune('A' + i)))
	}
	for i := len(keys) - 1; i >= 0; i -= 3 {
		e.SetParsedKey(keys[i], keys[i].Name())
	}
	n := 0
	for i := range keys {
		v, ok := e.ParsedKey(keys[i])
		require.Equal(t, (len(keys)-1-i)%3 == 0, ok, i)
		if ok {
			require.Equal(t, keys[i].Name(), v)
			n++
		}
	}
	require.Equal(t, n, e.ParsedLen())
	require.Len(t, e.ParsedMap(), n)
}
