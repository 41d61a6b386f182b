package hubtest

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/scenario"
)

// runScenarios pours the parsed events into the case's scenarios in input
// order (one worker: upstream's -order-event), runs each overflow through
// the postoverflows (recorded with the parser results, as upstream dumps
// them), re-pours reprocessed overflows, and returns the overflow list in
// upstream's order.
func (c *caseRun) runScenarios(ctx context.Context) ([]*event.Event, error) {
	infos := map[string]scenario.HubInfo{}
	for _, p := range c.scenPaths {
		h, err := hub.Hash(p)
		if err != nil {
			return nil, err
		}
		info := scenario.HubInfo{Hash: h}
		for _, n := range c.opts.Hub.Names(hub.Scenarios) {
			if it, _ := c.opts.Hub.Get(hub.Scenarios, n); filepath.Clean(c.opts.Hub.FilePath(it)) == filepath.Clean(p) {
				info.Version = it.Version
				infos[n] = info
			}
		}
	}
	set, err := scenario.Load(c.scenPaths, scenario.Options{Compiler: c.rt.Expr, Data: c.rt.Data, Hub: infos,
		Schema: c.rt.Parsers.Schema()})
	if err != nil {
		return nil, err
	}
	var pending []*event.Event
	eng := scenario.NewEngine(set, scenario.Config{
		Workers: 1,
		Mode:    event.TIMEMACHINE,
		// Upstream's time machine never collects buckets by event time:
		// a bucket expires only when an event poured into it finds it
		// past its deadline. Cases whose log files go back in time
		// (several captures concatenated) depend on it.
		Lateness: -1,
		Now:      c.opts.Now,
		OnOverflow: func(ov *scenario.Overflow) {
			pending = append(pending, ov.Event())
		},
	})
	var out []*event.Event
	// drain handles the overflows reported so far. It runs on this goroutine
	// only after Flush, so pending is not written concurrently.
	drain := func() {
		for len(pending) > 0 {
			batch := pending
			pending = nil
			for _, ov := range batch {
				if c.rt.PostOverflows != nil {
					c.rt.PostOverflows.Parse(ov, c.rec)
				}
				out = append(out, ov)
				if ov.Overflow.Reprocess && !ov.Overflow.Whitelisted {
					eng.Pour(ov.Clone())
					eng.Flush()
				}
			}
		}
	}
	for _, ev := range c.poured {
		if err := ctx.Err(); err != nil {
			eng.Close()
			return nil, err
		}
		eng.Pour(ev)
		eng.Flush()
		drain()
	}
	if err := eng.Close(); err != nil {
		return nil, fmt.Errorf("hubtest: %w", err)
	}
	drain()
	sortOverflows(out)
	return out, nil
}

// sortOverflows orders overflows as upstream's dump does: descending by
// scenario name followed by the sources joined with "@". Like upstream it
// uses the unstable sort.Slice over the overflows in emission order, so
// that equal keys (one source overflowing twice) land where upstream's
// assertions expect them (authelia-bf): the order of equal items is not
// specified, but it is deterministic for a given input order.
func sortOverflows(out []*event.Event) {
	key := func(e *event.Event) string {
		sc := ""
		if e.Overflow.Alert != nil {
			sc = e.Overflow.Alert.GetScenario()
		}
		src := e.Overflow.GetSources()
		sort.Strings(src)
		return sc + strings.Join(src, "@")
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i]) > key(out[j]) })
}
