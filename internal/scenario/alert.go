package scenario

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/event"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// CommunityMetaKey marks the alerts of scenarios that look at the
// community blocklist (see communityDependent); capi.CommunityMetaKey.
const CommunityMetaKey = "community_dependent"

// alertKind is the `kind` of alerts made by scenarios.
const alertKind = "crowdsec"

func marshalTime(t time.Time) string {
	b, err := t.MarshalText()
	if err != nil {
		return ""
	}
	return string(b)
}

// Overflow is a bucket's overflow as the engine hands it on (OnOverflow):
// the scenario, the partition (groupby value), the overflow time, and the
// signal in CrowdSec's shape: mapkey, sources, one alert per source
// (sorted by source value), Signal.Alert = &Signal.APIAlerts[0]. Event
// gives the overflow event that postoverflows, reprocessing and hub
// expressions (evt.Overflow...) work on.
type Overflow struct {
	Scenario  string
	Partition string
	At        time.Time
	Mode      event.Mode
	Signal    event.RuntimeAlert
}

// Event returns the overflow as a CrowdSec-shaped event (Type OVFLW). The
// event shares the signal's alerts.
func (o *Overflow) Event() *event.Event {
	return &event.Event{Type: event.OVFLW, ExpectMode: int(o.Mode), MarshaledTime: marshalTime(o.At), Overflow: o.Signal}
}

// buildOverflow makes the overflow of a bucket. It always returns one; on a
// source error its signal has no alert.
func buildOverflow(w *worker, sc *scen, key string, first, last, ovfl time.Time, total int, q []*item) (*Overflow, error) {
	ov := &Overflow{
		Scenario:  sc.spec.Name,
		Partition: key,
		At:        ovfl,
		Mode:      w.e.mode,
		Signal:    event.RuntimeAlert{Mapkey: sc.mapkey(key), Reprocess: sc.spec.Reprocess},
	}
	sources, scope, err := w.sources(sc, q)
	if err != nil {
		return ov, fmt.Errorf("scenario: %s: %w", sc.spec.Name, err)
	}
	ov.Signal.Sources = sources
	if len(sources) == 0 {
		return ov, nil
	}
	name := sc.spec.Name
	hash, version := sc.hash, sc.version
	capacity := int32(sc.spec.Capacity)
	count := int32(total)
	leakspeed := sc.leakspeed.String()
	start, stop := marshalTime(first), marshalTime(ovfl)
	simulated := sc.simulated
	srcStr := "UNKNOWN"
	keys := make([]string, 0, len(sources))
	for k := range sources {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 1 {
		srcStr = fmt.Sprintf("%d sources", len(keys))
	} else {
		srcStr = keys[0]
	}
	msg := fmt.Sprintf("%s %s performed '%s' (%d events over %s) at %s", scope, srcStr, name, total, ovfl.Sub(first), last)
	base := models.Alert{
		Scenario:        &name,
		ScenarioHash:    &hash,
		ScenarioVersion: &version,
		Capacity:        &capacity,
		EventsCount:     &count,
		Leakspeed:       &leakspeed,
		Message:         &msg,
		StartAt:         &start,
		StopAt:          &stop,
		Simulated:       &simulated,
		Events:          alertEvents(q),
		Remediation:     sc.remediation,
		Kind:            alertKind,
	}
	if sc.community {
		base.Meta = models.Meta{{Key: CommunityMetaKey, Value: "true"}}
	}
	ov.Signal.APIAlerts = make([]models.Alert, 0, len(keys))
	for _, k := range keys {
		a := base
		src := sources[k]
		a.Source = &src
		ov.Signal.APIAlerts = append(ov.Signal.APIAlerts, a)
	}
	ov.Signal.Alert = &ov.Signal.APIAlerts[0]
	return ov, nil
}

// alertEvents lists the queued events that have Meta, meta sorted by key.
func alertEvents(q []*item) []*models.Event {
	out := make([]*models.Event, 0, len(q))
	var keys []string
	for _, it := range q {
		var meta models.Meta
		var mt string
		if e := it.mapped(); e != nil {
			if !e.HasMeta() {
				continue
			}
			keys = keys[:0]
			e.Each(event.Meta, func(k, _ string) { keys = append(keys, k) })
			sort.Strings(keys)
			meta = make(models.Meta, 0, len(keys))
			for _, k := range keys {
				v, _ := e.Lookup(event.Meta, k)
				meta = append(meta, &models.MetaItem{Key: k, Value: v})
			}
			mt = e.MarshaledTime
		} else {
			ks := it.rec.keys
			if ks == nil || ks.noMeta {
				continue
			}
			meta = make(models.Meta, 0, len(ks.meta))
			it.rec.values(func(i int, v string) bool {
				if i < len(ks.meta) {
					meta = append(meta, &models.MetaItem{Key: ks.meta[i], Value: strings.Clone(v)})
				}
				return true
			})
			mt = it.rec.marshaledTime()
		}
		me := &models.Event{Meta: meta}
		switch {
		case mt != "":
			ts := strings.Clone(mt)
			me.Timestamp = &ts
		case !it.etime.IsZero():
			ts := marshalTime(it.etime)
			me.Timestamp = &ts
		}
		out = append(out, me)
	}
	return out
}

// sources collects the alert sources from the queue, following CrowdSec:
// Ip/Range scopes need a valid Meta.source_ip on every log event; other
// scopes evaluate scope.expression; overflow events (reprocessed) carry
// sources already.
func (w *worker) sources(sc *scen, q []*item) (map[string]models.Source, string, error) {
	out := map[string]models.Source{}
	scope := ""
	add := func(k string, s models.Source) error {
		if scope == "" {
			scope = *s.Scope
		} else if *s.Scope != scope {
			return fmt.Errorf("sources of several scopes: %s and %s", scope, *s.Scope)
		}
		out[k] = s
		return nil
	}
	for _, it := range q {
		if it.full != nil && it.full.Type == event.OVFLW {
			for k, v := range it.full.Overflow.Sources {
				if v.Scope == nil {
					continue
				}
				if *v.Scope == sc.scopeType {
					if err := add(k, v); err != nil {
						return nil, "", err
					}
					continue
				}
				if sc.scopeType != ScopeRange || *v.Scope != ScopeIP {
					continue
				}
				s := models.Source{AsName: v.AsName, AsNumber: v.AsNumber, Cn: v.Cn, Latitude: v.Latitude, Longitude: v.Longitude, Range: v.Range}
				st := sc.scopeType
				s.Scope = &st
				val := v.Range
				if sc.scopeExpr != nil {
					val = w.scopeValue(sc, it)
				}
				s.Value = &val
				if val != "" {
					if err := add(val, s); err != nil {
						return nil, "", err
					}
				}
			}
			continue
		}
		switch sc.scopeType {
		case ScopeIP, ScopeRange:
			ip, ok := it.metaValue("source_ip")
			if !ok {
				return nil, "", fmt.Errorf("scope is %s but Meta[source_ip] does not exist: %w", sc.scopeType, errNoSource)
			}
			if net.ParseIP(ip) == nil {
				return nil, "", fmt.Errorf("scope is %s but %q is not a valid ip: %w", sc.scopeType, ip, errNoSource)
			}
			st := sc.scopeType
			s := models.Source{IP: ip, Scope: &st}
			if v, ok := it.enrichedValue("ASNumber"); ok {
				s.AsNumber = v
			} else if v, ok := it.enrichedValue("ASNNumber"); ok {
				s.AsNumber = v
			}
			s.Cn, _ = it.enrichedValue("IsoCode")
			s.AsName, _ = it.enrichedValue("ASNOrg")
			if v, ok := it.enrichedValue("Latitude"); ok {
				f, _ := strconv.ParseFloat(v, 32)
				s.Latitude = float32(f)
			}
			if v, ok := it.enrichedValue("Longitude"); ok {
				f, _ := strconv.ParseFloat(v, 32)
				s.Longitude = float32(f)
			}
			if v, _ := it.metaValue("SourceRange"); v != "" {
				_, n, err := net.ParseCIDR(v)
				if err != nil {
					return nil, "", fmt.Errorf("declared range %s of %s cannot be parsed: %w", v, ip, errNoSource)
				}
				s.Range = n.String()
			}
			val := s.IP
			if sc.scopeType == ScopeRange {
				val = s.Range
				if sc.scopeExpr != nil {
					val = w.scopeValue(sc, it)
				}
			}
			s.Value = &val
			if err := add(val, s); err != nil {
				return nil, "", err
			}
		default:
			val := w.scopeValue(sc, it)
			st := sc.scopeType
			if err := add(val, models.Source{Scope: &st, Value: &val}); err != nil {
				return nil, "", err
			}
		}
	}
	return out, scope, nil
}

// scopeValue runs scope.expression on a queued event ("" unless a string).
func (w *worker) scopeValue(sc *scen, it *item) string {
	if sc.scopeExpr == nil {
		return ""
	}
	out, err := w.vm.Run(sc.scopeExpr, FilterEnv{Evt: it.vmEvent()})
	if err != nil {
		return ""
	}
	s, _ := out.(string)
	return s
}

// rawLines returns the raw lines of the newest queued log events within
// lim, oldest first; a line longer than lim.MaxBytes is cut.
func rawLines(q []*item, lim RawLineLimit) []*models.RawLine {
	var out []*models.RawLine
	budget := lim.MaxBytes
	for i := len(q) - 1; i >= 0 && len(out) < lim.MaxLines; i-- {
		l := q[i].line
		if l == nil {
			continue
		}
		raw, cut := q[i].rec.raw, false
		if lim.MaxBytes > 0 {
			if budget <= 0 {
				break
			}
			if len(raw) > budget {
				if len(out) > 0 {
					break // whole lines while there is room; cut only the newest
				}
				raw, cut = strings.ToValidUTF8(raw[:budget], ""), true
			}
			budget -= len(raw)
		}
		rl := &models.RawLine{Source: l.src, Module: l.module, Labels: l.labels, Raw: raw, Truncated: cut}
		if t := q[i].lineT; t != 0 {
			rl.Time = time.Unix(0, t).UTC().Format(time.RFC3339Nano)
		}
		out = append(out, rl)
	}
	slices.Reverse(out)
	return out
}
