package parse

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/models"
)

func TestCompileTarget(t *testing.T) {
	t.Parallel()
	cases := []struct {
		target   string
		bad      bool
		check    func(*event.Event) string
		settable bool
	}{
		{target: "evt.StrTime", settable: true, check: func(e *event.Event) string { return e.StrTime }},
		{target: "StrTime", settable: true, check: func(e *event.Event) string { return e.StrTime }},
		{target: "MarshaledTime", settable: true, check: func(e *event.Event) string { return e.MarshaledTime }},
		{target: "evt.Parsed.a", settable: true, check: func(e *event.Event) string { v, _ := e.Lookup(event.Parsed, "a"); return v }},
		{target: "evt.Parsed.a.b", settable: true, check: func(e *event.Event) string { v, _ := e.Lookup(event.Parsed, "a"); return v }},
		{target: "evt.Meta.m", settable: true, check: func(e *event.Event) string { return e.GetMeta("m") }},
		{target: "Enriched.x", settable: true, check: func(e *event.Event) string { v, _ := e.Lookup(event.Enriched, "x"); return v }},
		{target: "evt.MetaView.m", bad: true},
		{target: "evt.Line.Labels.x", settable: true, check: func(e *event.Event) string { return e.Line.Labels["x"] }},
		{target: "evt.Line.Raw", settable: true, check: func(e *event.Event) string { return e.Line.Raw }},
		{target: "evt.WhitelistReason", settable: true, check: func(e *event.Event) string { return e.WhitelistReason }},
		{target: "evt.Overflow.Alert.Source.Value", settable: false},
		{target: "evt.Overflow.Mapkey", settable: true, check: func(e *event.Event) string { return e.Overflow.Mapkey }},
		{target: "source_ip", bad: true},
		{target: "evt.Process", bad: true},
		{target: "evt.Time", bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.target, func(t *testing.T) {
			t.Parallel()
			set, err := compileTarget(tc.target, event.NewSchema())
			if tc.bad {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			e := event.New(event.Line{Labels: map[string]string{}})
			require.Equal(t, tc.settable, set(e, "v"))
			if tc.check != nil {
				require.Equal(t, "v", tc.check(e))
			}
		})
	}
	// through non-nil pointers
	set, err := compileTarget("evt.Overflow.Alert.Source.Value", event.NewSchema())
	require.NoError(t, err)
	e := event.New(event.Line{})
	val := ""
	e.Overflow.Alert = &models.Alert{Source: &models.Source{Value: &val}}
	require.True(t, set(e, "1.2.3.4"))
	require.Equal(t, "1.2.3.4", val)
}
