package lapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/duration"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// normalizeValue canonicalises the value of an Ip or Range scope
// (models.ParseIP / ParseRange: mapped IPv4 unmapped, ranges masked);
// other scopes are unchanged.
func normalizeValue(scope, value string) (string, error) {
	switch scope {
	case "Ip":
		a, err := models.ParseIP(strings.TrimSpace(value))
		if err != nil {
			return "", fmt.Errorf("%q is not an IP address", value)
		}
		return a.String(), nil
	case "Range":
		p, err := models.ParseRange(strings.TrimSpace(value))
		if err != nil {
			return "", fmt.Errorf("%q is not a CIDR range", value)
		}
		return p.String(), nil
	}
	return value, nil
}

// maxUUIDLen bounds the uuid a client may give an alert.
const maxUUIDLen = 64

// validateAlert checks the swagger's required fields and the limits, and
// normalises scopes and values in place. Explicit decisions must have a
// duration or until that gives a valid end (store.DecisionUntil at now).
func (s *Server) validateAlert(i int, a *models.Alert, now time.Time) error {
	if a == nil {
		return fmt.Errorf("alert %d: null alert", i)
	}
	missing := func(f string) error { return fmt.Errorf("alert %d: %s is required", i, f) }
	switch {
	case a.Scenario == nil:
		return missing("scenario")
	case a.ScenarioHash == nil:
		return missing("scenario_hash")
	case a.ScenarioVersion == nil:
		return missing("scenario_version")
	case a.Message == nil:
		return missing("message")
	case a.EventsCount == nil:
		return missing("events_count")
	case a.StartAt == nil:
		return missing("start_at")
	case a.StopAt == nil:
		return missing("stop_at")
	case a.Capacity == nil:
		return missing("capacity")
	case a.Leakspeed == nil:
		return missing("leakspeed")
	case a.Simulated == nil:
		return missing("simulated")
	case a.Events == nil:
		return missing("events")
	case a.Source == nil:
		return missing("source")
	case a.Source.Scope == nil:
		return missing("source.scope")
	case a.Source.Value == nil:
		return missing("source.value")
	}
	if n := len(a.Events); n > s.cfg.MaxEventsPerAlert {
		return fmt.Errorf("alert %d: %d events, more than max_events_per_alert (%d)", i, n, s.cfg.MaxEventsPerAlert)
	}
	if len(a.UUID) > maxUUIDLen || strings.ContainsFunc(a.UUID, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("alert %d: uuid: at most %d printable characters without spaces", i, maxUUIDLen)
	}
	for j, ev := range a.Events {
		if ev == nil || ev.Timestamp == nil {
			return fmt.Errorf("alert %d: event %d: timestamp is required", i, j)
		}
	}
	a.RawLines = capRawLines(a.RawLines, s.cfg.MaxRawLinesPerAlert, s.cfg.MaxRawBytesPerAlert)
	a.Profile = "" // the LAPI's to set
	for _, f := range []struct {
		name, v string
	}{{"start_at", *a.StartAt}, {"stop_at", *a.StopAt}} {
		if _, err := store.ParseTime(f.v); err != nil {
			return fmt.Errorf("alert %d: %s: %w", i, f.name, err)
		}
	}
	scope := models.NormalizeScope(*a.Source.Scope)
	value, err := normalizeValue(scope, *a.Source.Value)
	if err != nil {
		return fmt.Errorf("alert %d: source: %w", i, err)
	}
	a.Source.Scope, a.Source.Value = &scope, &value
	if scope == "Ip" && a.Source.IP != "" {
		if v, err := normalizeValue("Ip", a.Source.IP); err == nil {
			a.Source.IP = v
		}
	}
	for j, d := range a.Decisions {
		if d == nil {
			return fmt.Errorf("alert %d: decision %d: null decision", i, j)
		}
		switch {
		case d.Type == nil || *d.Type == "":
			return fmt.Errorf("alert %d: decision %d: type is required", i, j)
		case d.Scope == nil || *d.Scope == "":
			return fmt.Errorf("alert %d: decision %d: scope is required", i, j)
		case d.Value == nil || *d.Value == "":
			return fmt.Errorf("alert %d: decision %d: value is required", i, j)
		case (d.Duration == nil || *d.Duration == "") && d.Until == "":
			return fmt.Errorf("alert %d: decision %d: duration is required", i, j)
		}
		if _, err := store.DecisionUntil(*a.StopAt, d, now); err != nil {
			return fmt.Errorf("alert %d: decision %d: %w", i, j, err)
		}
		ds := models.NormalizeScope(*d.Scope)
		dv, err := normalizeValue(ds, *d.Value)
		if err != nil {
			return fmt.Errorf("alert %d: decision %d: %w", i, j, err)
		}
		d.Scope, d.Value = &ds, &dv
		if d.Origin == nil || *d.Origin == "" {
			o := "cscli"
			d.Origin = &o
		}
		if d.Scenario == nil {
			sc := a.GetScenario()
			d.Scenario = &sc
		}
	}
	return nil
}

// capRawLines keeps the newest raw lines within maxLines and maxBytes
// (a line counts its text, source, module, time and labels), drops nil
// ones. Nothing is escaped here: the dashboard escapes what it shows.
func capRawLines(in []*models.RawLine, maxLines, maxBytes int) []*models.RawLine {
	if len(in) == 0 {
		return nil
	}
	out := make([]*models.RawLine, 0, min(len(in), maxLines))
	budget := maxBytes
	for i := len(in) - 1; i >= 0 && len(out) < maxLines; i-- {
		l := in[i]
		if l == nil {
			continue
		}
		n := len(l.Raw) + len(l.Source) + len(l.Module) + len(l.Time)
		for k, v := range l.Labels {
			n += len(k) + len(v)
		}
		if n > budget {
			break
		}
		budget -= n
		out = append(out, l)
	}
	slices.Reverse(out)
	return out
}

// alertBatch decodes the body of POST /v1/alerts, stopping at the first
// alert past max (tooMany is then set), so that an oversized batch costs
// no more than reading it.
type alertBatch struct {
	max     int
	tooMany bool
	alerts  models.AddAlertsRequest
}

func (b *alertBatch) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil { // JSON null: no alerts
		return onlySpaceAfter(dec, data)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return &json.UnmarshalTypeError{Value: "object", Type: reflect.TypeFor[models.AddAlertsRequest]()}
	}
	for dec.More() {
		if len(b.alerts) == b.max {
			b.tooMany = true
			return fmt.Errorf("more than %d alerts", b.max)
		}
		var a *models.Alert
		if err := dec.Decode(&a); err != nil {
			return err
		}
		b.alerts = append(b.alerts, a)
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	return onlySpaceAfter(dec, data)
}

// onlySpaceAfter checks that nothing but space follows the value dec read
// from data: decodeBody calls UnmarshalJSON without json.Unmarshal's check
// of the whole body.
func onlySpaceAfter(dec *json.Decoder, data []byte) error {
	rest := bytes.TrimLeft(data[min(dec.InputOffset(), int64(len(data))):], " \t\r\n")
	if len(rest) > 0 {
		return fmt.Errorf("invalid character %q after top-level value", rest[0])
	}
	return nil
}

// POST /v1/alerts: validation, allowlist, profiles, the decision guard, one
// store batch; 201 + ids. Alerts that asked only for refused decisions are
// dropped; 422 when every alert of the request was.
func (s *Server) postAlerts(w http.ResponseWriter, r *http.Request, c *caller) error {
	in := alertBatch{max: s.cfg.MaxAlertsPerRequest}
	if err := decodeBody(r, s.cfg.MaxBodyAuth, &in); err != nil {
		if in.tooMany {
			return errorf(http.StatusUnprocessableEntity, "too many alerts in one request: more than max_alerts_per_request (%d)", in.max)
		}
		return err
	}
	now := s.now()
	for i, a := range in.alerts {
		if err := s.validateAlert(i, a, now); err != nil {
			return errorf(http.StatusUnprocessableEntity, "%v", err)
		}
	}
	dec := s.profiles.Load().d
	keep := make([]*models.Alert, 0, len(in.alerts))
	type notif struct {
		a     *models.Alert
		names []string
	}
	var notifs []notif
	var refused []string // of alerts that asked only for refused decisions
	for _, a := range in.alerts {
		explicit := len(a.Decisions) > 0
		if !explicit {
			if m, ok := s.allowlisted(a, now); ok {
				s.log.Info("lapi: alert dropped: source is allowlisted", "scenario", textsafe.Log(a.GetScenario()),
					"source", textsafe.Log(a.GetValue()), "allowlist", m.list, "item", m.item, "reason", m.reason)
				s.met.allowlisted.Inc()
				continue
			}
		}
		out, err := dec.Evaluate(a)
		if err != nil {
			// A profile that fails on an alert is an internal error: logged
			// with the request id, answered with a generic message.
			return fmt.Errorf("profiles: %w", err)
		}
		if !explicit && len(out.Decisions) > 0 {
			a.Decisions = out.Decisions
			for _, st := range out.Steps {
				if st.Kept > 0 {
					a.Profile = st.Profile
					break
				}
			}
		}
		var why []string
		a.Decisions, why = s.guardDecisions(a, c, now)
		if explicit && len(a.Decisions) == 0 {
			refused = append(refused, why...)
			continue
		}
		if len(out.Notifications) > 0 {
			notifs = append(notifs, notif{a, out.Notifications})
		}
		if a.UUID == "" {
			a.UUID = models.NewUUID() // the identity of its signal, if shared
		}
		keep = append(keep, a)
	}
	if len(keep) == 0 && len(refused) > 0 {
		return errorf(http.StatusUnprocessableEntity, "no decision stored: %s", joinCapped(refused, 5))
	}
	ids := models.AddAlertsResponse{}
	if len(keep) > 0 {
		got, err := s.st.CreateAlerts(r.Context(), c.machine, keep)
		if err != nil {
			switch {
			case errors.Is(err, store.ErrInvalid):
				return errorf(http.StatusUnprocessableEntity, "%v", err)
			case errors.Is(err, store.ErrExists):
				return errorf(http.StatusUnprocessableEntity, "an alert uuid of this request was pushed by another machine")
			}
			return err
		}
		for _, id := range got {
			ids = append(ids, strconv.FormatInt(id, 10))
		}
		for _, a := range keep {
			a.RawLines = nil // stored; never shared (signals, notifications)
		}
		if s.share != nil {
			if err := s.share(r.Context(), c.machine, keep); err != nil {
				return fmt.Errorf("share alerts: %w", err)
			}
		}
		if err := s.Sync(r.Context()); err != nil {
			s.log.Warn("lapi: index sync after alerts", "err", err)
		}
	}
	for _, n := range notifs {
		n.a.MachineID = c.machine // the authenticated sender, as CrowdSec's templates show it
		if s.notify != nil {
			s.notify(n.a, n.names)
		} else {
			s.log.Debug("lapi: notification (no notifier configured)", "scenario", textsafe.Log(n.a.GetScenario()), "notifications", n.names)
		}
	}
	writeJSON(w, http.StatusCreated, ids)
	return nil
}

// guardDecisions returns the decisions of a that the guard lets through;
// each refused one is logged and counted, and its reason returned.
func (s *Server) guardDecisions(a *models.Alert, c *caller, now time.Time) (kept []*models.Decision, why []string) {
	kept = a.Decisions[:0:0]
	for _, d := range a.Decisions {
		rf := s.guard(d, now)
		if rf.reason == "" {
			kept = append(kept, d)
			continue
		}
		s.met.refused.WithLabelValues(rf.reason).Inc()
		s.log.Warn("lapi: decision refused", "reason", rf.reason, "detail", textsafe.Log(rf.msg), "type", textsafe.Log(deref(d.Type)),
			"origin", textsafe.Log(deref(d.Origin)), "scenario", textsafe.Log(a.GetScenario()), "machine", c.machine, "from", ipString(c.ip))
		why = append(why, rf.msg)
	}
	return kept, why
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// joinCapped joins at most n messages, saying how many more there were.
func joinCapped(msgs []string, n int) string {
	if len(msgs) <= n {
		return strings.Join(msgs, "; ")
	}
	return strings.Join(msgs[:n], "; ") + fmt.Sprintf("; and %d more", len(msgs)-n)
}

type allowMatch struct{ list, item, reason string }

// allowlisted is the one allowlist check of the LAPI: the source of an Ip
// or Range alert against every allowlist.
func (s *Server) allowlisted(a *models.Alert, now time.Time) (allowMatch, bool) {
	scope := a.GetScope()
	if scope != "Ip" && scope != "Range" {
		return allowMatch{}, false
	}
	m, ok := s.allow.Check(a.GetValue(), now)
	if !ok {
		return allowMatch{}, false
	}
	return allowMatch{list: m.List, item: m.Value, reason: m.Reason()}, true
}

// alertFilter parses the query of GET/DELETE /v1/alerts.
func (s *Server) alertFilter(q url.Values, forDelete bool) (store.AlertFilter, error) {
	now := s.now()
	// Simulated alerts are included unless simulated=false (CrowdSec).
	f := store.AlertFilter{Now: now, Limit: 100, IncludeSimulated: true}
	if forDelete {
		f.Limit = 0
	}
	var err error
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "scope":
			f.Scope = models.NormalizeScope(v)
		case "value":
			f.Value = v
		case "scenario":
			f.Scenario = v
		case "ip":
			f.IP = v
		case "range":
			f.Range = v
		case "since":
			f.Since, err = timeArg(v, now)
		case "until":
			f.Until, err = timeArg(v, now)
		case "created_before":
			f.CreatedBefore, err = timeArg(v, now)
		case "simulated":
			f.IncludeSimulated, err = strconv.ParseBool(v)
		case "has_active_decision":
			var b bool
			b, err = strconv.ParseBool(v)
			f.HasActiveDecision = &b
		case "decision_type":
			f.DecisionType = v
		case "origin":
			f.Origin = v
		case "include_capi":
			var b bool
			if b, err = strconv.ParseBool(v); err == nil && !b {
				f.ExcludeOrigins = []string{"CAPI", "lists"}
			}
		case "contains":
			var b bool
			b, err = strconv.ParseBool(v)
			f.Contains = &b
		case "kind":
			f.Kind = v
		case "limit":
			if !forDelete {
				var n int
				n, err = strconv.Atoi(v)
				if err == nil && n < 0 {
					err = errors.New("negative")
				}
				// 0 is CrowdSec's "no limit": the cap, as anything above it.
				if n == 0 || n > s.cfg.MaxAlertsLimit {
					n = s.cfg.MaxAlertsLimit
				}
				f.Limit = n
			}
		case "sort":
			f.SortAsc = strings.EqualFold(v, "asc")
		case "alert_source":
			f.Origin = v
		case "with_decisions":
		default:
			continue
		}
		if err != nil {
			return f, errorf(http.StatusBadRequest, "invalid value for %s: %q", k, v)
		}
	}
	if f.IP != "" || f.Range != "" {
		v := f.IP
		if v == "" {
			v = f.Range
		}
		if _, err := store.ParseIPRange(v); err != nil {
			return f, errorf(http.StatusBadRequest, "unable to parse %q: not an IP or range", v)
		}
	}
	return f, nil
}

// timeArg parses a duration back from now ("4h", "2d") or a date.
func timeArg(v string, now time.Time) (time.Time, error) {
	if d, err := duration.Positive(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02-15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, store.CheckTime(t)
		}
	}
	return time.Time{}, errors.New("not a duration or a date")
}

// GET|HEAD /v1/alerts.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, _ *caller) error {
	f, err := s.alertFilter(r.URL.Query(), false)
	if err != nil {
		return err
	}
	alerts, err := s.st.ListAlerts(r.Context(), f)
	if err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	for _, a := range alerts {
		wireAlert(a)
	}
	// CrowdSec answers null, not [], for none.
	return writeJSONList(w, http.StatusOK, alerts)
}

func (s *Server) trusted(c *caller) error {
	if c.ip.IsValid() && inPrefixes(s.cfg.trusted, c.ip) {
		return nil
	}
	return errorf(http.StatusForbidden, "access forbidden from this IP (%s)", ipString(c.ip))
}

// DELETE /v1/alerts (trusted IPs only).
func (s *Server) deleteAlerts(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.trusted(c); err != nil {
		return err
	}
	f, err := s.alertFilter(r.URL.Query(), true)
	if err != nil {
		return err
	}
	n, err := s.st.DeleteAlerts(r.Context(), f)
	if err != nil {
		return err
	}
	if err := s.Sync(r.Context()); err != nil {
		s.log.Warn("lapi: index sync after delete", "err", err)
	}
	writeJSON(w, http.StatusOK, models.DeleteAlertsResponse{NbDeleted: strconv.FormatInt(n, 10)})
	return nil
}

func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, "%s: %q is not an id", name, v)
	}
	return id, nil
}

// GET|HEAD /v1/alerts/{alert_id}.
func (s *Server) getAlert(w http.ResponseWriter, r *http.Request, _ *caller) error {
	id, err := pathID(r, "alert_id")
	if err != nil {
		return err
	}
	a, err := s.st.GetAlert(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "object not found")
	}
	if err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	writeJSON(w, http.StatusOK, wireAlert(a))
	return nil
}

// DELETE /v1/alerts/{alert_id} (trusted IPs only).
func (s *Server) deleteAlert(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.trusted(c); err != nil {
		return err
	}
	id, err := pathID(r, "alert_id")
	if err != nil {
		return err
	}
	err = s.st.DeleteAlert(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "object not found")
	}
	if err != nil {
		return err
	}
	if err := s.Sync(r.Context()); err != nil {
		s.log.Warn("lapi: index sync after delete", "err", err)
	}
	writeJSON(w, http.StatusOK, models.DeleteAlertsResponse{NbDeleted: "1"})
	return nil
}
