package scenario

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// BenchmarkWritingFilter: a filter shaped as http-technology-probing's
// (reads Meta as a map, writes Meta on the few 404s it accepts) on
// nginx-like 404s, one in ten accepted, which no necessary condition
// (natexpr.Preds) rejects before the filter runs: the cost of the copy a
// writing filter runs on (allocs/op, B/op).
func BenchmarkWritingFilter(b *testing.B) {
	set, err := LoadBytes("s.yaml", []byte(`type: trigger
name: t/tech
description: d
filter: |
  if evt.Meta.http_status in ['404', '403'] {
    let tech = evt.Meta.http_path startsWith '/wp-' ? 'wordpress' : '';
    tech != '' ? evt.SetMeta('target_technology', tech) : false
  } else { false }
`), Options{Compiler: testCompiler()})
	require.NoError(b, err)
	sc := set.scens[0]
	eng := NewEngine(set, Config{Mode: event.TIMEMACHINE})
	defer eng.Close()
	w := newWorker(eng, set.scens)
	schema := event.NewSchema()
	names := []string{"service", "log_type", "http_status", "http_path", "http_verb", "http_user_agent", "source_ip", "target_fqdn", "datasource_path", "datasource_type", "target_technology"}
	for _, k := range names {
		schema.Key(event.Meta, k)
	}
	evs := make([]*event.Event, 10)
	for i := range evs {
		e := schema.New(event.Line{Raw: "x"})
		for _, k := range names[:len(names)-1] {
			e.SetMeta(k, k+"-value")
		}
		e.SetMeta("http_status", "404")
		e.SetMeta("http_path", fmt.Sprintf("/p/%d", i))
		if i == 0 {
			e.SetMeta("http_path", "/wp-login.php")
		}
		evs[i] = e
	}
	b.ReportAllocs()
	accepted := 0
	for i := 0; b.Loop(); i++ {
		e := evs[i%len(evs)]
		w.nc.Reset(e, nil)
		w.pvSrc = nil
		if _, _, ok := w.accept(sc, e); ok {
			accepted++
		}
	}
	require.Positive(b, accepted)
}
