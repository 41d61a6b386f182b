package scenario

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

func statField(t *testing.T, s ScenarioStats, name string) int64 {
	t.Helper()
	switch name {
	case "poured":
		return s.Poured
	case "instantiated":
		return s.Instantiated
	case "overflowed":
		return s.Overflowed
	case "underflowed":
		return s.Underflowed
	case "canceled":
		return s.Canceled
	case "blackholed":
		return s.Blackholed
	case "overflowfiltered":
		return s.OverflowFiltered
	case "noalert":
		return s.NoAlert
	case "discarded":
		return s.Discarded
	case "filtererrors":
		return s.FilterErrors
	case "groupbyerrors":
		return s.GroupByErrors
	case "live":
		return s.Live
	}
	t.Fatalf("unknown stat %q", name)
	return 0
}

func TestCases(t *testing.T) {
	cases := loadCases(t, "testdata/cases.yaml")
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		tc := cases[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			set, err := LoadBytes(name+".yaml", []byte(tc.Scenarios), Options{Compiler: testCompiler()})
			require.NoError(t, err)
			for _, workers := range []int{1, 2} {
				cfg := Config{Workers: workers, Mode: event.TIMEMACHINE, Lateness: mustDur(t, tc.Lateness), Now: func() time.Time { return wallClock }}
				got, eng := runStream(t, set, cfg, tc.expand(t), tc.Reprocess)
				if workers > 1 {
					// Order across scenarios is free with several workers.
					sort.SliceStable(got, func(i, j int) bool {
						return got[i].Overflow.Alert.GetScenario() < got[j].Overflow.Alert.GetScenario()
					})
				}
				want := tc.Expect
				if workers > 1 {
					want = append([]caseAlert(nil), want...)
					sort.SliceStable(want, func(i, j int) bool { return want[i].Scenario < want[j].Scenario })
				}
				require.Len(t, got, len(want), "workers=%d: %v", workers, summary(got))
				for i, w := range want {
					checkAlert(t, w, got[i])
				}
				st := eng.Stats()
				require.Equal(t, tc.NoTime, st.NoTime)
				for sc, fields := range tc.Stats {
					for f, v := range fields {
						require.Equal(t, v, statField(t, st.Scenarios[sc], f), "workers=%d %s.%s", workers, sc, f)
					}
				}
			}
		})
	}
}

func checkAlert(t *testing.T, w caseAlert, ev *event.Event) {
	t.Helper()
	require.Equal(t, event.OVFLW, ev.Type)
	a := ev.Overflow.Alert
	require.NotNil(t, a)
	require.Same(t, &ev.Overflow.APIAlerts[0], a)
	require.Equal(t, w.Scenario, a.GetScenario())
	srcs := ev.Overflow.GetSources()
	sort.Strings(srcs)
	require.Equal(t, w.Sources, srcs)
	require.Len(t, ev.Overflow.APIAlerts, len(srcs))
	if w.Count != 0 {
		require.Equal(t, w.Count, a.GetEventsCount())
	}
	if w.Start != "" {
		require.Equal(t, base.Add(mustDur(t, w.Start)).Format(time.RFC3339Nano), *a.StartAt)
	}
	if w.Stop != "" {
		require.Equal(t, base.Add(mustDur(t, w.Stop)).Format(time.RFC3339Nano), *a.StopAt)
		require.Equal(t, *a.StopAt, ev.MarshaledTime)
	}
	if w.Events != nil {
		require.Len(t, a.Events, *w.Events)
	}
	scope := w.Scope
	if scope == "" {
		scope = "Ip"
	}
	require.Equal(t, scope, a.GetScope())
	require.Equal(t, "crowdsec", a.Kind)
	require.True(t, strings.HasPrefix(*a.Message, scope+" "), *a.Message)
}

// TestAlertShape checks every alert field on one overflow.
func TestAlertShape(t *testing.T) {
	set, err := LoadBytes("s.yaml", []byte(`
type: leaky
name: t/ssh-bf
description: d
filter: evt.Meta.log_type == 'ssh_failed-auth'
groupby: evt.Meta.source_ip
capacity: 1
leakspeed: 10s
reprocess: true
labels: {remediation: true, service: ssh}
`), Options{Compiler: testCompiler(), Hub: map[string]HubInfo{"t/ssh-bf": {Hash: "abc", Version: "0.3"}}})
	require.NoError(t, err)
	mk := func(sec int, user string) *event.Event {
		e := event.New(event.Line{})
		e.SetMeta("log_type", "ssh_failed-auth")
		e.SetMeta("source_ip", "1.2.3.4")
		e.SetMeta("user", user)
		e.SetMeta("SourceRange", "1.2.3.0/24")
		e.Put(event.Enriched, "IsoCode", "FR")
		e.Put(event.Enriched, "ASNNumber", "4242")
		e.Put(event.Enriched, "ASNOrg", "Crowdsec")
		e.Put(event.Enriched, "Latitude", "48.5")
		e.MarshaledTime = base.Add(time.Duration(sec) * time.Second).Format(time.RFC3339)
		return e
	}
	got, _ := runStream(t, set, Config{Mode: event.TIMEMACHINE}, []*event.Event{mk(0, "a"), mk(2, "b")}, false)
	require.Len(t, got, 1)
	ev := got[0]
	a := ev.Overflow.Alert
	require.True(t, ev.Overflow.Reprocess)
	require.Equal(t, "abc", *a.ScenarioHash)
	require.Equal(t, "0.3", *a.ScenarioVersion)
	require.Equal(t, int32(1), *a.Capacity)
	require.Equal(t, "10s", *a.Leakspeed)
	require.Equal(t, int32(2), *a.EventsCount)
	require.Equal(t, "2026-01-01T00:00:00Z", *a.StartAt)
	require.Equal(t, "2026-01-01T00:00:02Z", *a.StopAt)
	require.False(t, *a.Simulated)
	require.True(t, a.Remediation)
	require.Equal(t, "Ip 1.2.3.4 performed 't/ssh-bf' (2 events over 2s) at 2026-01-01 00:00:02 +0000 UTC", *a.Message)
	src := ev.Overflow.Sources["1.2.3.4"]
	require.Equal(t, "1.2.3.4", src.IP)
	require.Equal(t, "1.2.3.0/24", src.Range)
	require.Equal(t, "FR", src.Cn)
	require.Equal(t, "4242", src.AsNumber)
	require.Equal(t, "Crowdsec", src.AsName)
	require.InDelta(t, 48.5, src.Latitude, 0.001)
	require.Equal(t, "Ip", src.GetScope())
	require.Equal(t, "1.2.3.4", src.GetValue())
	require.Len(t, a.Events, 2)
	require.Equal(t, "2026-01-01T00:00:02Z", *a.Events[1].Timestamp)
	keys := []string{}
	for _, m := range a.Events[0].Meta {
		keys = append(keys, m.Key)
	}
	require.Equal(t, []string{"SourceRange", "log_type", "source_ip", "user"}, keys)
	require.Equal(t, "b", a.Events[1].GetMeta("user"))
	require.Equal(t, "a", ev.GetMeta("user") /* first match among alert events */)
	require.Len(t, ev.Overflow.Mapkey, 40)

	// The typed overflow the engine hands on, of which ev is the Event.
	var ovs []*Overflow
	eng := NewEngine(set, Config{Mode: event.TIMEMACHINE, OnOverflow: func(o *Overflow) { ovs = append(ovs, o) }})
	eng.Pour(mk(0, "a"))
	eng.Pour(mk(2, "b"))
	require.NoError(t, eng.Close())
	require.Len(t, ovs, 1)
	ov := ovs[0]
	require.Equal(t, "t/ssh-bf", ov.Scenario)
	require.Equal(t, "1.2.3.4", ov.Partition)
	require.Equal(t, base.Add(2*time.Second), ov.At)
	require.Equal(t, event.Mode(event.TIMEMACHINE), ov.Mode)
	oe := ov.Event()
	require.Equal(t, event.OVFLW, oe.Type)
	require.Equal(t, event.TIMEMACHINE, oe.ExpectMode)
	require.Equal(t, "2026-01-01T00:00:02Z", oe.MarshaledTime)
	require.Same(t, &oe.Overflow.APIAlerts[0], oe.Overflow.Alert)
	require.Equal(t, ev.Overflow.Mapkey, ov.Signal.Mapkey)
}

// TestLiveMode drives the wall clock by hand.
func TestLiveMode(t *testing.T) {
	set, err := LoadBytes("s.yaml", []byte(`
type: leaky
name: t/live
description: d
filter: evt.Meta.log_type == 'x'
groupby: evt.Meta.source_ip
capacity: 2
leakspeed: 10s
---
type: counter
name: t/live-counter
description: d
filter: evt.Meta.log_type == 'x'
capacity: -1
duration: 5s
`), Options{Compiler: testCompiler()})
	require.NoError(t, err)
	now := base
	var got []*event.Event
	eng := NewEngine(set, Config{Mode: event.LIVE, Now: func() time.Time { return now }, Tick: time.Hour,
		OnOverflow: func(o *Overflow) { got = append(got, o.Event()) }})
	pour := func() {
		e := event.New(event.Line{})
		e.SetMeta("log_type", "x")
		e.SetMeta("source_ip", "1.1.1.1")
		eng.Pour(e) // no MarshaledTime needed in live mode
	}
	pour()
	now = now.Add(time.Second)
	pour()
	now = now.Add(time.Second)
	pour()
	require.Len(t, got, 1)
	require.Equal(t, "t/live", got[0].Overflow.Alert.GetScenario())
	require.Equal(t, "2026-01-01T00:00:02Z", *got[0].Overflow.Alert.StopAt)
	// The counter fires on the wall clock once its duration has passed.
	now = now.Add(10 * time.Second)
	pour()
	require.Len(t, got, 2)
	require.Equal(t, "t/live-counter", got[1].Overflow.Alert.GetScenario())
	require.Equal(t, int32(3), got[1].Overflow.Alert.GetEventsCount())
	require.NoError(t, eng.Close())
	st := eng.Stats()
	require.Equal(t, int64(1), st.Scenarios["t/live-counter"].Discarded)
}

// TestHugeDistinct pours many distinct values and their duplicates.
func TestHugeDistinct(t *testing.T) {
	set, err := LoadBytes("s.yaml", []byte(`
type: leaky
name: t/d
description: d
filter: evt.Meta.log_type == 'x'
distinct: evt.Meta.path
capacity: 150000
leakspeed: 1h
`), Options{Compiler: testCompiler()})
	require.NoError(t, err)
	n := 100000 / raceScale
	var evs []*event.Event
	for round := 0; round < 2; round++ {
		for i := 0; i < n; i++ {
			e := event.New(event.Line{})
			e.SetMeta("log_type", "x")
			e.SetMeta("source_ip", "1.1.1.1")
			e.SetMeta("path", fmt.Sprintf("/p/%d", i))
			e.MarshaledTime = base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
			evs = append(evs, e)
		}
	}
	got, eng := runStream(t, set, Config{Mode: event.TIMEMACHINE}, evs, false)
	require.Empty(t, got)
	require.Equal(t, int64(n), eng.Stats().Scenarios["t/d"].Poured)
}

// TestPourDoesNotMutate checks that a filter calling SetMeta works on a
// private copy (visible in the alert, not in the poured event).
func TestPourDoesNotMutate(t *testing.T) {
	set, err := LoadBytes("s.yaml", []byte(`
type: trigger
name: t/setmeta
description: d
filter: evt.Meta.log_type == 'x' && evt.SetMeta('cve', 'CVE-1')
`), Options{Compiler: testCompiler()})
	require.NoError(t, err)
	e := event.New(event.Line{})
	e.SetMeta("log_type", "x")
	e.SetMeta("source_ip", "1.1.1.1")
	e.MarshaledTime = base.Format(time.RFC3339)
	got, _ := runStream(t, set, Config{Mode: event.TIMEMACHINE, Workers: 2}, []*event.Event{e}, false)
	require.Len(t, got, 1)
	require.Equal(t, "CVE-1", got[0].Overflow.Alert.Events[0].GetMeta("cve"))
	_, ok := e.Map(event.Meta)["cve"]
	require.False(t, ok)
}

func TestPourAfterClose(t *testing.T) {
	set, err := LoadBytes("s.yaml", []byte("type: trigger\nname: a\ndescription: d\nfilter: 'true'\n"), Options{})
	require.NoError(t, err)
	eng := NewEngine(set, Config{Mode: event.TIMEMACHINE})
	require.NoError(t, eng.Close())
	require.NoError(t, eng.Close())
	eng.Pour(event.New(event.Line{}))
	require.Equal(t, int64(1), eng.Stats().AfterClose)
}

// TestEventTime: an event's MarshaledTime parses as time.Parse does it,
// the previous text's result reused, an error never remembered.
func TestEventTime(t *testing.T) {
	eng := NewEngine(&Set{}, Config{Mode: event.TIMEMACHINE})
	defer eng.Close()
	for _, c := range []struct{ name, mt string }{
		{"first", "2024-03-01T00:00:00Z"},
		{"same", "2024-03-01T00:00:00Z"},
		{"next second", "2024-03-01T00:00:01Z"},
		{"offset", "2024-03-01T01:00:01+01:00"},
		{"offset again", "2024-03-01T01:00:01+01:00"},
		{"nanoseconds", "2024-03-01T00:00:01.123456789Z"},
		{"bad", "2024-03-01 00:00:01"},
		{"bad again", "2024-03-01 00:00:01"},
		{"empty", ""},
		{"good after bad", "2024-03-01T00:00:01Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			want, wantErr := time.Parse(time.RFC3339Nano, c.mt)
			got, err := eng.eventTime(c.mt)
			if wantErr != nil {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.True(t, want.Equal(got), "%v != %v", got, want)
			require.Equal(t, want.Format(time.RFC3339Nano), got.Format(time.RFC3339Nano))
		})
	}
}

// BenchmarkEventTime: the bucket time of events stamped to the second,
// dozens a second (a log's lines), as PourFields reads it.
//
//	go test ./internal/scenario -run '^$' -bench EventTime
func BenchmarkEventTime(b *testing.B) {
	eng := NewEngine(&Set{}, Config{Mode: event.TIMEMACHINE})
	defer eng.Close()
	mts := make([]string, 4096)
	for i := range mts {
		mts[i] = time.Date(2024, 3, 1, 0, 0, i/40, 0, time.UTC).Format(time.RFC3339)
	}
	i := 0
	for b.Loop() {
		if _, err := eng.eventTime(mts[i]); err != nil {
			b.Fatal(err)
		}
		i = (i + 1) % len(mts)
	}
}
