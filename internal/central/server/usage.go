package server

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/phalanx-ids/phalanx/internal/capi/wire"
	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// POST /v3/usage-metrics: the usage metrics a LAPI forwards every 30 min
// (not in the CAPI swagger; the body is the LAPI swagger's AllMetrics:
// remediation_components, log_processors, lapi). The central checks the
// shape and the contract's limits and keeps counts only
// (centralstore.Usage).

// Bounds of a usage-metrics body (strings: the contract's maxLength).
const (
	maxUsageText    = 255
	maxUsageWindows = 10000  // metric windows in one body
	maxUsageItems   = 100000 // metric items in one body
	maxUsageLabels  = 64     // labels of one item
	maxUsageMap     = 10000  // hub items, datasources, console options, feature flags of one component
)

// unprocessable is a body that is JSON but not what the contract allows:
// 422, which a CrowdSec LAPI takes as final (it marks the metrics sent
// instead of sending them again every 30 min).
func unprocessable(format string, args ...any) error {
	return &apiError{status: http.StatusUnprocessableEntity, msg: fmt.Sprintf(format, args...)}
}

// usageCheck walks one body, counting windows and items against the
// body's bounds.
type usageCheck struct {
	windows, items int
}

func (c *usageCheck) text(field, v string) error {
	if len(v) > maxUsageText {
		return unprocessable("%s: at most %d bytes", field, maxUsageText)
	}
	if textsafe.Terminal(v) != v {
		return unprocessable("%s: control characters or bytes that are not UTF-8", field)
	}
	return nil
}

func (c *usageCheck) base(field string, b *wire.UsageBase) error {
	if b.Version != nil {
		if err := c.text(field+".version", *b.Version); err != nil {
			return err
		}
	}
	if b.Os != nil {
		for _, f := range []struct {
			name string
			v    *string
		}{{"name", b.Os.Name}, {"version", b.Os.Version}, {"family", &b.Os.Family}} {
			if f.v == nil {
				continue
			}
			if err := c.text(field+".os."+f.name, *f.v); err != nil {
				return err
			}
		}
	}
	if len(b.FeatureFlags) > maxUsageMap {
		return unprocessable("%s.feature_flags: at most %d", field, maxUsageMap)
	}
	for i, ff := range b.FeatureFlags {
		if err := c.text(fmt.Sprintf("%s.feature_flags[%d]", field, i), ff); err != nil {
			return err
		}
	}
	for i, w := range b.Metrics {
		wf := fmt.Sprintf("%s.metrics[%d]", field, i)
		if c.windows++; c.windows > maxUsageWindows {
			return unprocessable("too many metric windows (at most %d)", maxUsageWindows)
		}
		if w == nil || w.Meta == nil || w.Meta.WindowSizeSeconds == nil || w.Meta.UtcNowTimestamp == nil {
			return unprocessable("%s.meta: window_size_seconds and utc_now_timestamp are required", wf)
		}
		if w.Items == nil {
			return unprocessable("%s.items: required", wf)
		}
		for j, it := range w.Items {
			f := fmt.Sprintf("%s.items[%d]", wf, j)
			if c.items++; c.items > maxUsageItems {
				return unprocessable("too many metric items (at most %d)", maxUsageItems)
			}
			if it == nil || it.Name == nil || it.Value == nil || it.Unit == nil {
				return unprocessable("%s: name, value and unit are required", f)
			}
			if math.IsNaN(*it.Value) || math.IsInf(*it.Value, 0) {
				return unprocessable("%s.value: not a finite number", f)
			}
			if err := c.text(f+".name", *it.Name); err != nil {
				return err
			}
			if err := c.text(f+".unit", *it.Unit); err != nil {
				return err
			}
			if len(it.Labels) > maxUsageLabels {
				return unprocessable("%s.labels: at most %d", f, maxUsageLabels)
			}
			for k, v := range it.Labels {
				if err := c.text(f+".labels key", k); err != nil {
					return err
				}
				if err := c.text(f+".labels["+k+"]", v); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// decodeUsage reads a usage-metrics body: 400 when it is not JSON, 413
// when too large, 422 when it is not what the contract allows.
func decodeUsage(body io.Reader) (wire.UsageMetrics, error) {
	var m wire.UsageMetrics
	if err := decode(body, &m); err != nil {
		return m, err
	}
	if len(m.RemediationComponents) > maxInventory || len(m.LogProcessors) > maxInventory {
		return m, unprocessable("too many remediation components or log processors (at most %d each)", maxInventory)
	}
	var c usageCheck
	for i, rc := range m.RemediationComponents {
		f := fmt.Sprintf("remediation_components[%d]", i)
		if rc == nil {
			return m, unprocessable("%s: null", f)
		}
		if err := c.base(f, &rc.BaseMetrics); err != nil {
			return m, err
		}
		if err := c.text(f+".type", rc.Type); err != nil {
			return m, err
		}
		if err := c.text(f+".name", rc.Name); err != nil {
			return m, err
		}
	}
	for i, lp := range m.LogProcessors {
		f := fmt.Sprintf("log_processors[%d]", i)
		if lp == nil {
			return m, unprocessable("%s: null", f)
		}
		if err := c.base(f, &lp.BaseMetrics); err != nil {
			return m, err
		}
		if err := c.text(f+".name", lp.Name); err != nil {
			return m, err
		}
		if len(lp.HubItems) > maxUsageMap || len(lp.Datasources) > maxUsageMap {
			return m, unprocessable("%s: at most %d hub item types and datasources", f, maxUsageMap)
		}
		n := 0
		for typ, items := range lp.HubItems {
			if err := c.text(f+".hub_items key", typ); err != nil {
				return m, err
			}
			if n += len(items); n > maxUsageMap {
				return m, unprocessable("%s.hub_items: at most %d", f, maxUsageMap)
			}
			for j, it := range items {
				hf := fmt.Sprintf("%s.hub_items[%s][%d]", f, typ, j)
				for _, v := range []string{it.Name, it.Version, it.Status} {
					if err := c.text(hf, v); err != nil {
						return m, err
					}
				}
			}
		}
		for k := range lp.Datasources {
			if err := c.text(f+".datasources key", k); err != nil {
				return m, err
			}
		}
	}
	if m.Lapi != nil {
		if err := c.base("lapi", &m.Lapi.BaseMetrics); err != nil {
			return m, err
		}
		if len(m.Lapi.ConsoleOptions) > maxUsageMap {
			return m, unprocessable("lapi.console_options: at most %d", maxUsageMap)
		}
		for i, o := range m.Lapi.ConsoleOptions {
			if err := c.text(fmt.Sprintf("lapi.console_options[%d]", i), o); err != nil {
				return m, err
			}
		}
	}
	return m, nil
}

// maxConsoleOptions bounds the console options kept of one report
// (CrowdSec has five).
const maxConsoleOptions = 16

// consoleOptions lists the enabled console options of a LAPI block: a
// CrowdSec LAPI (and Phalanx's) sends them as one entry joined by commas
// ("custom,tainted"; "" for none), an entry per option is taken too. At
// most maxConsoleOptions distinct ones are kept.
func consoleOptions(entries []string) []string {
	out := []string{}
	for _, e := range entries {
		for o := range strings.SplitSeq(e, ",") {
			if len(out) == maxConsoleOptions {
				return out
			}
			if o = strings.TrimSpace(o); o != "" && !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	return out
}

// usageCounts is what the central keeps of a usage body.
func usageCounts(m wire.UsageMetrics) centralstore.Usage {
	u := centralstore.Usage{RemediationComponents: len(m.RemediationComponents), LogProcessors: len(m.LogProcessors)}
	for _, rc := range m.RemediationComponents {
		u.Windows += len(rc.Metrics)
	}
	for _, lp := range m.LogProcessors {
		u.Windows += len(lp.Metrics)
	}
	if m.Lapi != nil {
		u.Windows += len(m.Lapi.Metrics)
		if m.Lapi.Version != nil {
			u.LAPIVersion = *m.Lapi.Version
		}
		u.ConsoleOptions = consoleOptions(m.Lapi.ConsoleOptions)
	}
	return u
}

// POST /v3/usage-metrics: checked, counted (installs' usage), 201.
func (s *Server) usage(w http.ResponseWriter, r *http.Request, machine string) error {
	m, err := decodeUsage(r.Body)
	if err != nil {
		return err
	}
	u := usageCounts(m)
	u.At = s.now()
	if err := s.st.SetUsage(r.Context(), machine, u); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"message": "OK"})
	return nil
}
