package scenario

import (
	"fmt"
	"maps"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// recEvent returns an event holding meta, enriched and mt: slotted by a
// schema of their names, as a pipeline's events are, unless meta is nil
// (an event without Meta).
func recEvent(meta, enriched map[string]string, mt string) *event.Event {
	var e *event.Event
	if meta == nil {
		e = event.FromMaps(nil, maps.Clone(enriched))
	} else {
		s := event.NewSchema()
		for k := range meta {
			s.Key(event.Meta, k)
		}
		for k := range enriched {
			s.Key(event.Enriched, k)
		}
		e = s.New(event.Line{})
		for k, v := range meta {
			e.SetMeta(k, v)
		}
		for k, v := range enriched {
			e.Put(event.Enriched, k, v)
		}
	}
	e.MarshaledTime = mt
	return e
}

// pack packs an event of meta and enriched under ks.
func pack(ks *keySets, meta, enriched map[string]string, mt, raw string, scratch *[]byte) record {
	e := recEvent(meta, enriched, mt)
	return ks.record(e, raw, scratch)
}

// checkRecord packs meta, enriched and mt (with raw) and checks that every
// accessor gives them back.
func checkRecord(t testing.TB, ks *keySets, meta, enriched map[string]string, mt, raw string) {
	t.Helper()
	r := pack(ks, meta, enriched, mt, raw, nil)
	scratch := []byte("left over from a previous record")
	require.Equal(t, r.data, pack(ks, meta, enriched, mt, raw, &scratch).data)
	gm, ge, gmt := r.maps()
	if meta == nil {
		require.Nil(t, gm)
	} else {
		require.Equal(t, meta, gm)
	}
	require.Equal(t, len(enriched), len(ge))
	for k, v := range enriched {
		require.Equal(t, v, ge[k])
		got, ok := r.enriched(k)
		require.True(t, ok)
		require.Equal(t, v, got)
	}
	require.Equal(t, mt, gmt)
	require.Equal(t, mt, r.marshaledTime())
	for k, v := range meta {
		got, ok := r.meta(k)
		require.True(t, ok, k)
		require.Equal(t, v, got, k)
	}
	_, ok := r.meta("\x00absent")
	require.False(t, ok)
	_, ok = r.enriched("\x00absent")
	require.False(t, ok)
}

func TestRecord(t *testing.T) {
	t.Parallel()
	line := `1.2.3.4 - - [01/Mar/2024:00:00:00 +0000] "GET /a/b.php HTTP/1.1" 404 12 "-" "curl/8"`
	ts := "2024-03-01T00:00:00Z"
	many := map[string]string{}
	for i := range 40 {
		many[fmt.Sprintf("k%02d", i)] = strings.Repeat("v", i)
	}
	for _, tc := range []struct {
		name           string
		meta, enriched map[string]string
		mt, raw        string
	}{
		{"nginx line, values spans of it", map[string]string{
			"source_ip": line[:7], "http_path": line[45:55], "http_verb": line[41:44], "http_status": line[65:68],
			"log_type": "http_access-log", "service": "http", "timestamp": ts,
		}, map[string]string{"MarshaledTime": ts}, ts, line},
		{"no line kept: values copied", map[string]string{"source_ip": line[:7], "log_type": "x"}, nil, ts, ""},
		{"empty values and keys", map[string]string{"": "", "a": ""}, map[string]string{"": "x"}, "", line},
		{"no Meta map", nil, map[string]string{"IsoCode": "FR"}, ts, ""},
		{"empty maps", map[string]string{}, map[string]string{}, "", ""},
		{"more keys than the stack holds", many, many, ts, line},
		{"long values", map[string]string{"a": strings.Repeat("x", 70000), "b": strings.Repeat("x", 70000)}, nil, strings.Repeat("y", 200), ""},
		{"values equal to a line's part but not in it", map[string]string{"ip": strings.Clone(line[:7])}, nil, "", line},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkRecord(t, newKeySets(), tc.meta, tc.enriched, tc.mt, tc.raw)
		})
	}

	// A value of the line costs its span, not its bytes.
	ks := newKeySets()
	var buf []byte
	ua := strings.Repeat("Mozilla/5.0 ", 10)
	raw := "1.2.3.4 " + ua
	r := pack(ks, map[string]string{"ua": raw[8:]}, nil, "", raw, nil)
	require.Less(t, len(r.data), 10)
	r = pack(ks, map[string]string{"ua": ua}, nil, "", raw, &buf)
	require.Greater(t, len(r.data), len(ua))
	// Records of the same keys share their key set.
	get := func(meta, enriched map[string]string) *keySet {
		return ks.record(recEvent(meta, enriched, ""), "", nil).keys
	}
	a := get(map[string]string{"x": "1", "y": "2"}, map[string]string{"z": "3"})
	b := get(map[string]string{"y": "4", "x": "5"}, map[string]string{"z": "6"})
	require.Same(t, a, b)
	require.NotSame(t, a, get(map[string]string{"x": "1", "y": "2"}, nil))
	require.NotSame(t, get(map[string]string{}, nil), get(nil, nil))
}

// TestKeySetsStream: a stream of events, most with the keys of the one
// before in the same order (the case record takes without sorting), some
// in another order, with a key more or less, or without Meta: every record
// gives back its own event's values, and the events of the same keys share
// their set whatever their order.
func TestKeySetsStream(t *testing.T) {
	t.Parallel()
	s := event.NewSchema()
	for _, k := range []string{"log_type", "source_ip", "service", "target_user"} {
		s.Key(event.Meta, k)
	}
	s.Key(event.Enriched, "IsoCode")
	ks := newKeySets()
	type kv struct{ k, v string }
	var sets []*keySet
	for i := range 40 {
		meta := []kv{{"service", "ssh"}, {"log_type", "ssh_failed-auth"}, {"source_ip", fmt.Sprintf("10.0.0.%d", i)}, {"target_user", fmt.Sprint("u", i)}}
		switch i % 10 {
		case 3: // another order
			meta[0], meta[2] = meta[2], meta[0]
		case 5: // a key less
			meta = meta[:3]
		case 7: // a key outside the schema
			meta = append(meta, kv{"extra", fmt.Sprint(i)})
		}
		e := s.New(event.Line{})
		if i%10 == 9 {
			e = event.FromMaps(nil, map[string]string{})
		}
		want := map[string]string{}
		for _, m := range meta {
			if i%10 != 9 {
				e.SetMeta(m.k, m.v)
				want[m.k] = m.v
			}
		}
		e.Put(event.Enriched, "IsoCode", fmt.Sprint("C", i))
		e.MarshaledTime = fmt.Sprint("t", i)
		r := ks.record(e, "", nil)
		gm, ge, gmt := r.maps()
		if i%10 == 9 {
			require.Nil(t, gm, i)
		} else {
			require.Equal(t, want, gm, i)
		}
		require.Equal(t, map[string]string{"IsoCode": fmt.Sprint("C", i)}, ge, i)
		require.Equal(t, fmt.Sprint("t", i), gmt, i)
		if i%10 == 0 || i%10 == 3 {
			sets = append(sets, r.keys)
		}
	}
	for _, set := range sets[1:] {
		require.Same(t, sets[0], set, "the same keys in any order share their set")
	}
}

func FuzzRecord(f *testing.F) {
	f.Add("log_type\x00source_ip", "x\x001.2.3.4", "MarshaledTime", "2024", "2024", "1.2.3.4 x", uint8(3))
	f.Add("", "", "", "", "", "", uint8(0))
	f.Fuzz(func(t *testing.T, mkeys, mvals, ekeys, evals, mt, raw string, spans uint8) {
		mk := func(keys, vals string) map[string]string {
			m := map[string]string{}
			vs := strings.Split(vals, "\x00")
			for i, k := range strings.Split(keys, "\x00") {
				v := ""
				if i < len(vs) {
					v = vs[i]
				}
				// Some values are parts of the line, as grok captures are.
				if spans&(1<<(i%8)) != 0 && len(raw) > 0 {
					j := len(v) % len(raw)
					v = raw[j:]
				}
				m[k] = v
			}
			return m
		}
		meta := mk(mkeys, mvals)
		if spans&1 != 0 {
			meta = nil
		}
		checkRecord(t, newKeySets(), meta, mk(ekeys, evals), mt, raw)
	})
}

// TestKeySetsBounded: key sets chosen at run time do not grow the intern
// table without bound.
func TestKeySetsBounded(t *testing.T) {
	t.Parallel()
	ks := newKeySets()
	for i := range 3 * maxKeySets {
		ks.record(recEvent(map[string]string{fmt.Sprint(i): "v"}, nil, ""), "", nil)
	}
	require.LessOrEqual(t, ks.n, maxKeySets)
	n := 0
	for _, s := range ks.sets {
		n += len(s)
	}
	require.Equal(t, ks.n, n)
}

// TestQueuedEventsCompact is the bounded-memory property of a live burst:
// buckets queue what alerts need of an event, not the event's maps (which
// are sized for any parser's writes) nor a copy of what its line already
// holds. 4,000 sources pour 5 nginx-like events each into a leaky bucket
// in live mode (wall clock: nothing leaks): the queued events must cost
// under 250 bytes each, buckets and the lines themselves included (keeping
// the event's maps cost ~1.4 KB; a record and the line of each, ~440 B;
// the newest one's and deltas for the others, queue.go, ~190 B).
func TestQueuedEventsCompact(t *testing.T) {
	set, err := LoadBytes("s.yaml", []byte(`
type: leaky
name: t/crawl
description: d
filter: evt.Meta.log_type == 'http_access-log'
groupby: evt.Meta.source_ip
capacity: 40
cache_size: 5
leakspeed: 10s
`), Options{Compiler: testCompiler()})
	require.NoError(t, err)
	const sources, each = 4000, 5
	now := base
	var alerts int
	eng := NewEngine(set, Config{Mode: event.LIVE, Now: func() time.Time { return now }, Tick: time.Hour,
		RawLines:   RawLineLimit{MaxLines: 20, MaxBytes: 16384},
		OnOverflow: func(*Overflow) { alerts++ }})
	labels := map[string]string{"type": "nginx"}
	ts := "2024-03-01T00:00:00Z"
	pour := func(i, j int) {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		raw := fmt.Sprintf(`%s - - [01/Mar/2024:00:00:00 +0000] "GET /p/%d HTTP/1.1" 200 1234 "-" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36"`, ip, j)
		e := event.New(event.Line{Raw: raw, Src: "/var/log/nginx/access.log", Module: "file", Labels: labels, Time: now})
		e.SetParsed("remote_addr", raw[:len(ip)])
		e.SetParsed("request", fmt.Sprintf("/p/%d", j))
		for k, v := range map[string]string{
			"log_type": "http_access-log", "service": "http", "source_ip": raw[:len(ip)],
			"http_path": fmt.Sprintf("/p/%d", j), "http_verb": "GET", "http_status": "200", "timestamp": ts,
			"http_user_agent": raw[strings.LastIndexByte(raw[:len(raw)-1], '"')+1 : len(raw)-1], "http_args_len": "0",
		} {
			e.SetMeta(k, v)
		}
		e.Put(event.Enriched, "MarshaledTime", ts)
		e.MarshaledTime = ts
		eng.Pour(e)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for j := range each {
		for i := range sources {
			pour(i, j)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	require.Zero(t, alerts)
	require.Equal(t, int64(sources), eng.Stats().Scenarios["t/crawl"].Live)
	perEvent := float64(after.HeapAlloc-before.HeapAlloc) / (sources * each)
	t.Logf("%.0f bytes per queued event", perEvent)
	require.Less(t, perEvent, 250.0)

	// What the queue kept makes the same alert as the event would have.
	now = now.Add(time.Second)
	var got *Overflow
	eng2 := NewEngine(set, Config{Mode: event.LIVE, Now: func() time.Time { return now }, Tick: time.Hour,
		RawLines: RawLineLimit{MaxLines: 20, MaxBytes: 16384}, OnOverflow: func(o *Overflow) { got = o }})
	eng = eng2
	for j := range 41 {
		pour(7, j)
	}
	require.NotNil(t, got)
	a := got.Signal.APIAlerts[0]
	require.Equal(t, "10.0.0.7", *a.Source.Value)
	// The queue keeps cache_size events, and one more (as CrowdSec's).
	require.Len(t, a.Events, 6)
	require.Len(t, a.RawLines, 6)
	last := a.Events[5]
	require.Equal(t, ts, *last.Timestamp)
	require.Equal(t, models.Meta{
		{Key: "http_args_len", Value: "0"}, {Key: "http_path", Value: "/p/40"}, {Key: "http_status", Value: "200"},
		{Key: "http_user_agent", Value: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36"},
		{Key: "http_verb", Value: "GET"}, {Key: "log_type", Value: "http_access-log"}, {Key: "service", Value: "http"},
		{Key: "source_ip", Value: "10.0.0.7"}, {Key: "timestamp", Value: ts},
	}, last.Meta)
	require.Contains(t, a.RawLines[5].Raw, `"GET /p/40 HTTP/1.1"`)
	require.Equal(t, "/var/log/nginx/access.log", a.RawLines[5].Source)
	require.Equal(t, now.UTC().Format(time.RFC3339Nano), a.RawLines[5].Time)
	require.NoError(t, eng.Close())
}

// TestDoneHandsBackEvents: with Config.Done, every poured event the
// scenarios keep nothing of comes back exactly once, after every worker is
// done with it (the callback wipes it, as a pipeline reusing it would:
// alerts made later must not see that, and -race must not either), and an
// event a scenario keeps whole never comes back.
func TestDoneHandsBackEvents(t *testing.T) {
	t.Parallel()
	set, err := LoadBytes("s.yaml", []byte(`
type: leaky
name: t/leaky
description: d
filter: evt.Meta.log_type == 'x'
groupby: evt.Meta.source_ip
capacity: 3
leakspeed: 10s
---
type: conditional
name: t/full
description: d
filter: evt.Meta.log_type == 'full'
groupby: evt.Meta.source_ip
condition: any(queue.Queue, {#.Parsed.k == 'v'})
capacity: -1
leakspeed: 10s
`), Options{Compiler: testCompiler()})
	require.NoError(t, err)
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			back := map[*event.Event]int{}
			var alerts []string
			eng := NewEngine(set, Config{Mode: event.TIMEMACHINE, Workers: workers,
				OnOverflow: func(o *Overflow) {
					for _, a := range o.Signal.APIAlerts {
						alerts = append(alerts, a.GetScenario()+" "+a.GetValue()+" "+a.Events[0].GetMeta("source_ip"))
					}
				},
				Done: func(e *event.Event) {
					mu.Lock()
					back[e]++
					mu.Unlock()
					e.Reset(event.Line{}) // reused at once
				}})
			var plain, whole []*event.Event
			for i := range 400 {
				e := event.New(event.Line{Raw: fmt.Sprint("line ", i)})
				e.SetMeta("source_ip", fmt.Sprintf("10.0.0.%d", i%50))
				e.SetMeta("log_type", "x")
				if i%4 == 0 {
					e.SetMeta("log_type", "full")
					e.SetParsed("k", "w")
					whole = append(whole, e)
				} else {
					plain = append(plain, e)
				}
				e.MarshaledTime = base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
				eng.Pour(e)
			}
			require.NoError(t, eng.Close())
			mu.Lock()
			defer mu.Unlock()
			for _, e := range plain {
				require.Equal(t, 1, back[e])
			}
			for _, e := range whole {
				require.Zero(t, back[e])
				v, _ := e.Lookup(event.Parsed, "k")
				require.Equal(t, "w", v)
			}
			require.NotEmpty(t, alerts)
			for _, a := range alerts {
				var ip string
				_, err := fmt.Sscanf(a, "t/leaky %s", &ip)
				require.NoError(t, err)
				require.Equal(t, "t/leaky "+ip+" "+ip, a)
			}
		})
	}
}

func TestDistinctSet(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxFewBytes/4)
	for _, tc := range []struct {
		name  string
		n     int
		value func(i int) string
		many  bool
	}{
		{"one", 1, func(i int) string { return fmt.Sprint("v", i) }, false},
		{"as many as a few", maxFewDistinct, func(i int) string { return fmt.Sprint("v", i) }, false},
		{"one too many", maxFewDistinct + 1, func(i int) string { return fmt.Sprint("v", i) }, true},
		{"many", 5 * maxFewDistinct, func(i int) string { return fmt.Sprint("v", i) }, true},
		{"empty and prefixes", 4, func(i int) string { return "vv"[:i%3] + fmt.Sprint(i/3) }, false},
		{"long values", 5, func(i int) string { return fmt.Sprint(long, i) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d distinctSet
			for round := range 2 {
				for i := range tc.n {
					require.Equal(t, round == 0, d.add(tc.value(i)), "round %d value %d", round, i)
				}
			}
			require.Equal(t, tc.many, d.many != nil)
		})
	}
}

// BenchmarkRecord: the record of an nginx-shaped event (grok captures
// that are spans of the line, parser statics, GeoIP enrichment), built as
// the worker builds it for each event it pours: same keys as the event
// before, a reused scratch buffer.
func BenchmarkRecord(b *testing.B) {
	line := `1.2.3.4 - - [01/Mar/2024:00:00:00 +0000] "GET /a/b.php HTTP/1.1" 404 12 "-" "Mozilla/5.0 (X11; Linux x86_64)"`
	ts := "2024-03-01T00:00:00Z"
	meta := map[string]string{
		"source_ip": line[:7], "http_verb": line[41:44], "http_path": line[45:54], "http_status": line[64:67],
		"http_user_agent": line[75 : len(line)-1], "log_type": "http_access-log", "service": "http",
		"datasource_path": "/var/log/nginx/access.log", "datasource_type": "file", "timestamp": ts,
		"target_fqdn": "", "ASNNumber": "0", "ASNOrg": "", "IsoCode": "FR", "SourceRange": "1.2.3.0/24",
	}
	enriched := map[string]string{
		"MarshaledTime": ts, "ASNNumber": "0", "ASNOrg": "", "IsoCode": "FR", "IsInEU": "true",
		"SourceRange": "1.2.3.0/24", "Latitude": "48.85", "Longitude": "2.35",
	}
	e := recEvent(meta, enriched, ts)
	ks := newKeySets()
	var scratch []byte
	b.ReportAllocs()
	for b.Loop() {
		r := ks.record(e, line, &scratch)
		if r.keys == nil {
			b.Fatal("no key set")
		}
	}
}
