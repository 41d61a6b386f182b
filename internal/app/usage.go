package app

import (
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/hub"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/usagemetrics"
)

// lpUsage builds the agent's usage reports (a CrowdSec log processor's):
// what the agent is (version, OS, start time), the datasources of the
// running pipeline by kind, the hub items loaded with their version and
// status, and one window of what the counters added since the last
// report, with CrowdSec's item names, units and labels: lines read per
// source (read), lines every parser stage took or no parser took
// (global_parsed, global_unparsed), lines each named parser node parsed
// or not (parsed, unparsed).
//
// Concurrency: build is called by the one report loop.
type lpUsage struct {
	a        *App
	id       usagemetrics.Identity
	counters usagemetrics.Counters
	fams     []usagemetrics.Family
}

func newLPUsage(a *App, now time.Time) *lpUsage {
	src := map[string]string{"source": "source", "datasource_type": "datasource_type", "acquis_type": "acquis_type"}
	var fams []usagemetrics.Family
	for _, name := range a.acqReg.Names() {
		m, _ := a.acqReg.Module(name)
		fams = append(fams, usagemetrics.Family{Metric: m.LinesMetric(), Name: "read", Unit: "line", Labels: src})
	}
	node := map[string]string{"name": "parser_name", "stage": "parser_stage"}
	child := func(l map[string]string) bool { return strings.HasPrefix(l["name"], "child-") }
	fams = append(fams,
		usagemetrics.Family{Metric: "cs_parser_hits_ok_total", Name: "global_parsed", Unit: "line"},
		usagemetrics.Family{Metric: "cs_parser_hits_ko_total", Name: "global_unparsed", Unit: "line"},
		usagemetrics.Family{Metric: "cs_node_hits_ok_total", Name: "parsed", Unit: "line", Labels: node, Skip: child},
		usagemetrics.Family{Metric: "cs_node_hits_ko_total", Name: "unparsed", Unit: "line", Labels: node, Skip: child})
	return &lpUsage{a: a, id: usagemetrics.NewIdentity(strings.TrimPrefix(a.opts.userAgent, "phalanx/"), now), fams: fams}
}

// usageInterval is the agent's usage metrics interval: configured, else
// CrowdSec's; 0 when they are off.
func usageInterval(configured time.Duration) time.Duration {
	switch {
	case configured < 0:
		return 0
	case configured == 0:
		return usagemetrics.LogProcessor.Interval
	}
	return configured
}

// build is the report of the window ending at now.
func (u *lpUsage) build(now time.Time, window time.Duration) *models.AllMetrics {
	items, err := u.counters.Gather(u.a.reg, u.fams)
	if err != nil {
		u.a.log.Warn("app: usage metrics: gather", "err", err)
	}
	lp := &models.LogProcessorsMetrics{BaseMetrics: u.id.Base(now, window, items), HubItems: models.HubItems{},
		Datasources: map[string]int64{}}
	for _, typ := range hub.Types { // every type listed, empty or not, as CrowdSec does
		lp.HubItems[typ] = []models.HubItem{}
	}
	u.a.mu.Lock()
	p := u.a.pipe
	u.a.mu.Unlock()
	if p != nil {
		for _, s := range p.set.Sources() {
			lp.Datasources[s.Module]++
		}
		for _, it := range p.items {
			lp.HubItems[it.Type] = append(lp.HubItems[it.Type], models.HubItem{Name: it.Name, Version: it.Version, Status: it.Status})
		}
	}
	return &models.AllMetrics{LogProcessors: []*models.LogProcessorsMetrics{lp}}
}
