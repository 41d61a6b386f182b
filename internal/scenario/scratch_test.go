package scenario

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// TestWritingFilterScratch: a filter that writes to the event runs on the
// worker's scratch copy (scratchForWrite); an event it accepts leaves
// with a copy of its own (ownCopy) holding what the filter wrote, which
// the next events' filters, run in the same scratch, do not change; the
// poured events are never written. The filters write whether they accept
// or not, read the parts as maps (views) or not.
func TestWritingFilterScratch(t *testing.T) {
	cases := []struct {
		name, filter string
		accepts      map[string]bool // path → accepted
	}{
		{"writes then accepts", `evt.Meta.path startsWith '/cve' ? evt.SetMeta('tag', 'T' + evt.Meta.path) : false`,
			map[string]bool{"/cve-1": true, "/a": false, "/cve-2": true, "/b": false, "/cve-3": true}},
		{"writes always", `evt.SetMeta('tag', 'T' + evt.Meta.path) && evt.Parsed.verb == 'GET' && !(evt.Meta.path in ['/a', '/cve-3'])`,
			map[string]bool{"/cve-1": true, "/a": false, "/cve-2": true, "/b": true, "/cve-3": false}},
		{"methods only", `evt.SetMeta('tag', 'T' + evt.GetMeta('path')) && evt.GetMeta('path') != '/a'`,
			map[string]bool{"/cve-1": true, "/a": false, "/cve-2": true, "/b": true, "/cve-3": true}},
		{"writes parsed", `evt.SetParsed('verb', 'T' + evt.Meta.path) && evt.SetMeta('tag', evt.Parsed.verb) && evt.Meta.path != '/b'`,
			map[string]bool{"/cve-1": true, "/a": true, "/cve-2": true, "/b": false, "/cve-3": true}},
	}
	order := []string{"/cve-1", "/a", "/cve-2", "/b", "/cve-3"}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set, err := LoadBytes("s.yaml", []byte("type: trigger\nname: t/w\ndescription: d\nfilter: \""+c.filter+"\"\n"),
				Options{Compiler: testCompiler()})
			require.NoError(t, err)
			sc := set.scens[0]
			require.True(t, sc.mutates)
			eng := NewEngine(set, Config{Mode: event.TIMEMACHINE})
			defer eng.Close()
			w := newWorker(eng, set.scens)
			schema := event.NewSchema()
			for _, k := range []string{"path", "source_ip", "tag"} {
				schema.Key(event.Meta, k)
			}
			schema.Key(event.Parsed, "verb")
			type kept struct {
				path string
				evt  *event.Event
			}
			var got []kept
			var poured []*event.Event
			for _, path := range order {
				e := schema.New(event.Line{Raw: path})
				e.SetMeta("path", path)
				e.SetMeta("source_ip", "1.2.3.4")
				e.SetParsed("verb", "GET")
				poured = append(poured, e)
				w.nc.Reset(e, nil)
				w.pvSrc = nil
				evt, cloned, ok := w.accept(sc, e)
				require.Equal(t, c.accepts[path], ok, path)
				if ok {
					require.True(t, cloned)
					require.NotSame(t, e, evt)
					require.NotSame(t, &w.wEvt, evt, "an accepted event leaves the scratch")
					got = append(got, kept{path, evt})
				}
			}
			require.NotEmpty(t, got)
			for _, k := range got {
				// Read by name and through the views the VM reads: both
				// still the event's own after the later events' filters.
				require.Equal(t, "T"+k.path, k.evt.GetMeta("tag"), k.path)
				if k.evt.Exposed(event.Meta.Set()) {
					require.Equal(t, "T"+k.path, k.evt.MetaView["tag"], k.path)
					require.Equal(t, k.path, k.evt.MetaView["path"], k.path)
				}
				if v, ok := k.evt.Lookup(event.Parsed, "verb"); ok && v != "GET" {
					require.Equal(t, "T"+k.path, v, k.path)
					if k.evt.Exposed(event.Parsed.Set()) {
						require.Equal(t, "T"+k.path, k.evt.ParsedView["verb"], k.path)
					}
				}
			}
			for _, e := range poured {
				_, ok := e.Lookup(event.Meta, "tag")
				require.False(t, ok, "a poured event was written")
				v, _ := e.Lookup(event.Parsed, "verb")
				require.Equal(t, "GET", v, "a poured event was written")
			}
		})
	}
}
