package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/duration"
	"github.com/phalanx-ids/phalanx/internal/explain"
	"github.com/phalanx-ids/phalanx/internal/lapi"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// timeRange is the overview's range: a preset or custom from/to.
type timeRange struct {
	Name      string // 1h, 24h, 7d, 30d, custom
	From, To  time.Time
	Step      time.Duration
	Buckets   int
	FromInput string // datetime-local values of the custom form
	ToInput   string
}

var presets = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

const inputLayout = "2006-01-02T15:04"

func parseRange(r *http.Request, now time.Time) (timeRange, error) {
	q := r.URL.Query()
	tr := timeRange{Name: q.Get("range")}
	if tr.Name == "" {
		tr.Name = "24h"
	}
	if d, ok := presets[tr.Name]; ok {
		tr.To = now
		tr.From = now.Add(-d)
	} else if tr.Name == "custom" {
		var err error
		if tr.From, err = time.ParseInLocation(inputLayout, q.Get("from"), time.UTC); err != nil {
			return tr, badRequest("from: want YYYY-MM-DDTHH:MM (UTC)")
		}
		if tr.To, err = time.ParseInLocation(inputLayout, q.Get("to"), time.UTC); err != nil {
			return tr, badRequest("to: want YYYY-MM-DDTHH:MM (UTC)")
		}
		if !tr.To.After(tr.From) || tr.To.Sub(tr.From) > 366*24*time.Hour {
			return tr, badRequest("custom range: to must be after from, at most a year")
		}
	} else {
		return tr, badRequest("range: 1h, 24h, 7d, 30d or custom")
	}
	span := tr.To.Sub(tr.From)
	tr.Step = max(time.Minute, (span / 60).Round(time.Minute))
	// Whole minutes from a whole minute: the store reads its per-minute
	// rollup (ranges of the last day) ...
	tr.From = tr.From.Truncate(time.Minute)
	span = tr.To.Sub(tr.From)
	if span >= 24*time.Hour {
		// ... or whole hours from a whole hour: its per-hour rollup.
		tr.Step = max(time.Hour, (span / 60).Truncate(time.Hour))
		tr.From = tr.From.Truncate(time.Hour)
		span = tr.To.Sub(tr.From)
	}
	tr.Buckets = int((span + tr.Step - 1) / tr.Step)
	tr.FromInput, tr.ToInput = tr.From.UTC().Format(inputLayout), tr.To.UTC().Format(inputLayout)
	return tr, nil
}

type overviewData struct {
	Range     timeRange
	Stats     *store.Stats
	Alerts    Chart
	Decisions Chart
	Acq       Acquisition
	Machines  []*store.Machine
	Bouncers  []*store.Bouncer
	Recent    []alertRow
}

func (u *UI) overview(w http.ResponseWriter, r *http.Request, s *session) error {
	tr, err := parseRange(r, u.now())
	if err != nil {
		return err
	}
	ctx := r.Context()
	st, err := u.st.Stats(ctx, store.StatsQuery{Since: tr.From, Until: tr.To, Step: tr.Step, Now: u.now(), SkipActive: true})
	if err != nil {
		return err
	}
	if st.ActiveByOrigin, err = u.admin.ActiveDecisionsByOrigin(ctx); err != nil {
		return err
	}
	for _, c := range st.ActiveByOrigin {
		st.ActiveDecisions += c.Count
	}
	d := overviewData{Range: tr, Stats: st, Acq: u.acquisition(),
		Alerts:    stacked("Alerts by scenario", st.AlertSeries, tr.Buckets, tr.From, tr.Step),
		Decisions: stacked("Decisions by origin", st.DecisionSeries, tr.Buckets, tr.From, tr.Step)}
	if d.Machines, err = u.st.ListMachines(ctx); err != nil {
		return err
	}
	if d.Bouncers, err = u.st.ListBouncers(ctx); err != nil {
		return err
	}
	recent, err := u.st.ListAlerts(ctx, store.AlertFilter{Limit: 10, IncludeSimulated: true})
	if err != nil {
		return err
	}
	d.Recent = rows(recent)
	u.render(w, r, s, http.StatusOK, "overview", "Overview", d)
	return nil
}

// alertRow is an alert in a list.
type alertRow struct {
	ID                         int64
	Scenario, Scope, Value, CN string
	AS                         string
	Start                      string
	Events                     int32
	Decisions                  int
	Simulated                  bool
	Origin                     string
}

func rows(as []*models.Alert) []alertRow {
	out := make([]alertRow, 0, len(as))
	for _, a := range as {
		row := alertRow{ID: a.ID, Scenario: a.GetScenario(), Start: deref(a.StartAt), Decisions: len(a.Decisions)}
		if a.EventsCount != nil {
			row.Events = *a.EventsCount
		}
		if a.Simulated != nil {
			row.Simulated = *a.Simulated
		}
		if a.Source != nil {
			row.Scope, row.Value, row.CN = a.Source.GetScope(), a.Source.GetValue(), a.Source.Cn
			if a.Source.AsNumber != "" {
				row.AS = "AS" + a.Source.AsNumber + " " + a.Source.AsName
			}
		}
		if len(a.Decisions) > 0 {
			row.Origin = deref(a.Decisions[0].Origin)
		}
		out = append(out, row)
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// alertFilters are the alert list's filters, as given.
type alertFilters struct {
	Scenario, IP, Country, AS, Origin, Since, Until, Simulated string
}

type alertsData struct {
	F      alertFilters
	Rows   []alertRow
	Next   int64 // before= of the next page, 0: none
	Before int64
}

const alertPage = 50

func (u *UI) alerts(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	fl := alertFilters{Scenario: q.Get("scenario"), IP: strings.TrimSpace(q.Get("ip")), Country: q.Get("country"),
		AS: strings.TrimPrefix(strings.ToUpper(q.Get("as")), "AS"), Origin: q.Get("origin"), Since: q.Get("since"),
		Until: q.Get("until"), Simulated: q.Get("simulated")}
	f := store.AlertFilter{Scenario: fl.Scenario, Country: strings.ToUpper(fl.Country), ASNumber: fl.AS, Origin: fl.Origin,
		Limit: alertPage + 1, IncludeSimulated: fl.Simulated != "no", Now: u.now()}
	if fl.IP != "" {
		if strings.Contains(fl.IP, "/") {
			f.Range = fl.IP
		} else {
			f.IP = fl.IP
		}
		if _, err := store.ParseIPRange(fl.IP); err != nil {
			return badRequest("ip: not an IP address or range: %s", textsafe.Log(fl.IP))
		}
	}
	var err error
	if f.Since, err = optTime(fl.Since); err != nil {
		return badRequest("since: want YYYY-MM-DDTHH:MM (UTC)")
	}
	if f.Until, err = optTime(fl.Until); err != nil {
		return badRequest("until: want YYYY-MM-DDTHH:MM (UTC)")
	}
	d := alertsData{F: fl}
	if b := q.Get("before"); b != "" {
		if f.BeforeID, err = strconv.ParseInt(b, 10, 64); err != nil || f.BeforeID <= 0 {
			return badRequest("before: want an alert id")
		}
		d.Before = f.BeforeID
	}
	as, err := u.st.ListAlerts(r.Context(), f)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return badRequest("bad filter")
		}
		return err
	}
	if fl.Simulated == "only" {
		kept := as[:0]
		for _, a := range as {
			if a.Simulated != nil && *a.Simulated {
				kept = append(kept, a)
			}
		}
		as = kept
	}
	if len(as) > alertPage {
		as = as[:alertPage]
		d.Next = as[len(as)-1].ID
	}
	d.Rows = rows(as)
	u.render(w, r, s, http.StatusOK, "alerts", "Alerts", d)
	return nil
}

func optTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	return time.ParseInLocation(inputLayout, v, time.UTC)
}

type alertData struct {
	A         *models.Alert
	Row       alertRow
	Decisions []*store.Decision
	Scenario  *ScenarioInfo
	Now       time.Time
	Lines     []rawLineView
	// TraceNote says why the lines have no parser trace ("" when they do).
	TraceNote string
}

// rawLineView is a raw log line of an alert with its parser trace.
type rawLineView struct {
	L     *models.RawLine
	Trace *explain.Result
}

func (u *UI) alert(w http.ResponseWriter, r *http.Request, s *session) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return errNotFound
	}
	a, err := u.st.GetAlert(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	ds, err := u.st.ListDecisions(r.Context(), store.DecisionFilter{AlertID: id})
	if err != nil {
		return err
	}
	d := alertData{A: a, Row: rows([]*models.Alert{a})[0], Decisions: ds, Now: u.now()}
	lines, err := u.st.AlertRawLines(r.Context(), id)
	if err != nil {
		return err
	}
	if len(lines) > 0 {
		d.Lines = make([]rawLineView, len(lines))
		for i, l := range lines {
			d.Lines[i].L = l
		}
		switch {
		case u.explain == nil:
			d.TraceNote = "No parser trace: no agent runs in this process."
		default:
			tr, err := u.explain(r.Context(), lines)
			if err != nil {
				u.log.Warn("ui: explain", "alert", id, "err", err)
				d.TraceNote = "No parser trace: the parsers could not be loaded (see the daemon's log)."
				break
			}
			for i := range tr {
				d.Lines[i].Trace = &tr[i]
			}
		}
	}
	if u.scens != nil {
		if si, ok := u.scens(a.GetScenario()); ok {
			d.Scenario = &si
		}
	}
	u.render(w, r, s, http.StatusOK, "alert", fmt.Sprintf("Alert %d", id), d)
	return nil
}

type whyData struct {
	Query    string
	Searched bool
	// Community are the active decisions pulled from the central: the
	// community blocklist (origin CAPI; Scenario is the reason the central
	// gives for the listing) and subscribed blocklists (origin lists;
	// Scenario is the list's name).
	Community []*store.Decision
	Active    []*store.Decision
	Past      []*store.Decision
	Alerts    []alertRow
	Allow     []store.AllowlistMatch
	Truncated bool
}

const whyLimit = 200

func (u *UI) why(w http.ResponseWriter, r *http.Request, s *session) error {
	v := strings.TrimSpace(r.URL.Query().Get("ip"))
	d := whyData{Query: v}
	if v != "" {
		if _, err := store.ParseIPRange(v); err != nil {
			return badRequest("not an IP address or range: %s", textsafe.Log(v))
		}
		d.Searched = true
		ctx := r.Context()
		f := store.DecisionFilter{Desc: true, Limit: whyLimit + 1}
		if strings.Contains(v, "/") {
			f.Range = v
		} else {
			f.IP = v
		}
		ds, err := u.st.ListDecisions(ctx, f)
		if err != nil {
			return err
		}
		if f.Range != "" {
			// A range: the decisions covering it, and those inside it.
			inside := false
			f.Contains = &inside
			more, err := u.st.ListDecisions(ctx, f)
			if err != nil {
				return err
			}
			ds = mergeDecisions(ds, more)
		}
		if len(ds) > whyLimit {
			ds, d.Truncated = ds[:whyLimit], true
		}
		now := u.now()
		var ids []int64
		seen := map[int64]bool{}
		for _, dc := range ds {
			if dc.Active(now) {
				d.Active = append(d.Active, dc)
				if dc.Origin == capi.OriginCAPI || dc.Origin == capi.OriginLists {
					d.Community = append(d.Community, dc)
				}
			} else {
				d.Past = append(d.Past, dc)
			}
			if dc.AlertID != 0 && !seen[dc.AlertID] && len(ids) < 50 {
				seen[dc.AlertID] = true
				ids = append(ids, dc.AlertID)
			}
		}
		if len(ids) > 0 {
			as, err := u.st.ListAlerts(ctx, store.AlertFilter{IDs: ids, IncludeSimulated: true})
			if err != nil {
				return err
			}
			d.Alerts = rows(as)
		}
		if d.Allow, err = u.st.CheckAllowlists(ctx, v, now); err != nil {
			return err
		}
	}
	u.render(w, r, s, http.StatusOK, "why", "Why is this IP blocked?", d)
	return nil
}

type decisionsData struct {
	IP, Scenario, Origin, Type, All string
	List                            []*store.Decision
	Next, Before                    int64
	Now                             time.Time
}

const decisionPage = 100

func (u *UI) decisions(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	d := decisionsData{IP: strings.TrimSpace(q.Get("ip")), Scenario: q.Get("scenario"), Origin: q.Get("origin"),
		Type: q.Get("type"), All: q.Get("all"), Now: u.now()}
	f := store.DecisionFilter{Scenario: d.Scenario, Type: d.Type, Desc: true, Limit: decisionPage + 1}
	if d.All == "" {
		f.ActiveAt = d.Now
	}
	if d.Origin != "" {
		f.Origins = []string{d.Origin}
	}
	if d.IP != "" {
		if _, err := store.ParseIPRange(d.IP); err != nil {
			return badRequest("ip: not an IP address or range: %s", textsafe.Log(d.IP))
		}
		if strings.Contains(d.IP, "/") {
			f.Range = d.IP
		} else {
			f.IP = d.IP
		}
	}
	if b := q.Get("before"); b != "" {
		var err error
		if f.BeforeID, err = strconv.ParseInt(b, 10, 64); err != nil || f.BeforeID <= 0 {
			return badRequest("before: want a decision id")
		}
		d.Before = f.BeforeID
	}
	ds, err := u.st.ListDecisions(r.Context(), f)
	if err != nil {
		return err
	}
	if len(ds) > decisionPage {
		ds = ds[:decisionPage]
		d.Next = ds[len(ds)-1].ID
	}
	d.List = ds
	u.render(w, r, s, http.StatusOK, "decisions", "Decisions", d)
	return nil
}

func (u *UI) addDecision(w http.ResponseWriter, r *http.Request, s *session) error {
	val := strings.TrimSpace(r.PostForm.Get("value"))
	dur := strings.TrimSpace(r.PostForm.Get("duration"))
	typ := strings.TrimSpace(r.PostForm.Get("type"))
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	back := Prefix + "decisions"
	fail := func(msg string) error { return u.redirect(w, r, s, back, &flash{Msg: msg, Error: true}) }
	if dur == "" {
		dur = "4h"
	}
	if typ == "" {
		typ = "ban"
	}
	if _, err := duration.Positive(dur); err != nil {
		return fail("duration: " + err.Error())
	}
	scope := "Ip"
	if strings.Contains(val, "/") {
		scope = "Range"
		if _, err := netip.ParsePrefix(val); err != nil {
			return fail("not a range: " + textsafe.Log(val))
		}
	} else if _, err := netip.ParseAddr(val); err != nil {
		return fail("not an IP address: " + textsafe.Log(val))
	}
	if len(reason) > 256 || len(typ) > 32 {
		return fail("reason (256) or type (32) too long")
	}
	if reason == "" {
		reason = fmt.Sprintf("manual '%s' from dashboard user '%s'", typ, s.user)
	}
	origin := "cscli"
	ts := u.now().UTC().Format(time.RFC3339)
	one, zero, no := int32(1), int32(0), false
	p := func(v string) *string { return &v }
	a := &models.Alert{Scenario: p(reason), ScenarioHash: p(""), ScenarioVersion: p(""), Message: p(reason),
		EventsCount: &one, StartAt: p(ts), StopAt: p(ts), Capacity: &zero, Leakspeed: p("0"), Simulated: &no,
		Events: []*models.Event{}, Remediation: true,
		Source:    &models.Source{Scope: p(scope), Value: p(val)},
		Decisions: []*models.Decision{{Origin: &origin, Type: &typ, Scope: &scope, Value: &val, Duration: &dur, Scenario: &reason}}}
	if scope == "Ip" {
		a.Source.IP = val
	} else {
		a.Source.Range = val
	}
	id, err := u.admin.AddAlert(r.Context(), "dashboard:"+s.user, a)
	if errors.Is(err, lapi.ErrRefused) || errors.Is(err, lapi.ErrBadAlert) {
		return fail(err.Error())
	}
	if err != nil {
		return err
	}
	u.log.Info("ui: decision added", "user", s.user, "type", typ, "value", val, "duration", dur, "alert", id)
	return u.redirect(w, r, s, back, &flash{Msg: fmt.Sprintf("%s on %s for %s added (alert %d); bouncers get it at their next pull", typ, val, dur, id)})
}

func (u *UI) deleteDecisions(w http.ResponseWriter, r *http.Request, s *session) error {
	var ids []int64
	for _, v := range r.PostForm["id"] {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return badRequest("bad decision id")
		}
		ids = append(ids, id)
	}
	back := Prefix + "decisions"
	if next := r.PostForm.Get("back"); strings.HasPrefix(next, Prefix) && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		back = next
	}
	if len(ids) == 0 {
		return u.redirect(w, r, s, back, &flash{Msg: "no decision selected", Error: true})
	}
	if len(ids) > 1000 {
		return badRequest("at most 1000 decisions at once")
	}
	n, err := u.admin.ExpireDecisions(r.Context(), ids)
	if err != nil {
		return err
	}
	u.log.Info("ui: decisions deleted", "user", s.user, "asked", len(ids), "expired", n)
	return u.redirect(w, r, s, back, &flash{Msg: fmt.Sprintf("%d decision(s) deleted; bouncers remove them at their next pull", n)})
}

type machinesData struct{ List []*store.Machine }

func (u *UI) machines(w http.ResponseWriter, r *http.Request, s *session) error {
	ms, err := u.st.ListMachines(r.Context())
	if err != nil {
		return err
	}
	u.render(w, r, s, http.StatusOK, "machines", "Machines", machinesData{ms})
	return nil
}

func (u *UI) validateMachine(w http.ResponseWriter, r *http.Request, s *session) error {
	name := r.PostForm.Get("name")
	_, err := u.st.UpdateMachine(r.Context(), name, func(m *store.Machine) error {
		m.IsValidated = true
		m.UpdatedAt = u.now()
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	u.log.Info("ui: machine validated", "user", s.user, "machine", textsafe.Log(name))
	return u.redirect(w, r, s, Prefix+"machines", &flash{Msg: "machine " + name + " validated"})
}

func (u *UI) deleteMachine(w http.ResponseWriter, r *http.Request, s *session) error {
	name := r.PostForm.Get("name")
	err := u.st.DeleteMachine(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	u.log.Info("ui: machine deleted", "user", s.user, "machine", textsafe.Log(name))
	return u.redirect(w, r, s, Prefix+"machines", &flash{Msg: "machine " + name + " deleted"})
}

type bouncersData struct{ List []*store.Bouncer }

func (u *UI) bouncers(w http.ResponseWriter, r *http.Request, s *session) error {
	bs, err := u.st.ListBouncers(r.Context())
	if err != nil {
		return err
	}
	u.render(w, r, s, http.StatusOK, "bouncers", "Bouncers", bouncersData{bs})
	return nil
}

func (u *UI) addBouncer(w http.ResponseWriter, r *http.Request, s *session) error {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	back := Prefix + "bouncers"
	if err := CheckUserName(name); err != nil {
		return u.redirect(w, r, s, back, &flash{Msg: "bouncer name: 1 to 64 printable characters without space", Error: true})
	}
	key := store.NewAPIKey()
	err := store.AddBouncer(r.Context(), u.st, name, key, u.now())
	if errors.Is(err, store.ErrExists) {
		return u.redirect(w, r, s, back, &flash{Msg: "bouncer " + name + " already exists", Error: true})
	}
	if err != nil {
		return err
	}
	u.log.Info("ui: bouncer added", "user", s.user, "bouncer", textsafe.Log(name))
	return u.redirect(w, r, s, back, &flash{Msg: "bouncer " + name + " added; its API key (shown once, keep it):", Secret: key})
}

func (u *UI) deleteBouncer(w http.ResponseWriter, r *http.Request, s *session) error {
	name := r.PostForm.Get("name")
	err := u.st.DeleteBouncer(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	u.log.Info("ui: bouncer deleted", "user", s.user, "bouncer", textsafe.Log(name))
	return u.redirect(w, r, s, Prefix+"bouncers", &flash{Msg: "bouncer " + name + " deleted"})
}

type metricsData struct {
	Plots []Line
	Rows  []MetricRow
	Every time.Duration
}

func (u *UI) metricsPage(w http.ResponseWriter, r *http.Request, s *session) error {
	u.render(w, r, s, http.StatusOK, "metrics", "Metrics", metricsData{Plots: u.plots(), Rows: u.current(500), Every: u.set.SampleEvery})
	return nil
}

// feedItem is a new alert sent to the live feed.
type feedItem struct {
	ID        int64  `json:"id"`
	Scenario  string `json:"scenario"`
	Value     string `json:"value"`
	Start     string `json:"start"`
	Decisions int    `json:"decisions"`
}

// maxFeedLife ends a live feed stream (the browser reconnects).
const maxFeedLife = 5 * time.Minute

// events is the live feed: server-sent events, one "alert" event per new
// alert, polled from the store.
func (u *UI) events(w http.ResponseWriter, r *http.Request, _ *session) error {
	if u.feeds.Add(1) > maxFeeds {
		u.feeds.Add(-1)
		w.Header().Set("Retry-After", "10")
		http.Error(w, "too many live feeds open", http.StatusServiceUnavailable)
		return nil
	}
	defer u.feeds.Add(-1)
	ctx := r.Context()
	last := int64(0)
	if v := r.URL.Query().Get("after"); v != "" {
		last, _ = strconv.ParseInt(v, 10, 64)
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			last = n
		}
	}
	if last <= 0 {
		as, err := u.st.ListAlerts(ctx, store.AlertFilter{Limit: 1, IncludeSimulated: true})
		if err != nil {
			return err
		}
		if len(as) > 0 {
			last = as[0].ID
		}
	}
	if u.writeTO > 0 {
		w = netguard.ExtendWrites(w, u.writeTO)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	_, _ = fmt.Fprint(w, ": live feed\nretry: 3000\n\n")
	if fl != nil {
		fl.Flush()
	}
	tick := time.NewTicker(u.set.FeedPoll)
	defer tick.Stop()
	end := time.NewTimer(maxFeedLife)
	defer end.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-end.C:
			return nil
		case <-tick.C:
		}
		as, err := u.st.ListAlerts(ctx, store.AlertFilter{Limit: 20, IncludeSimulated: true})
		if err != nil {
			u.log.Warn("ui: live feed", "err", err)
			continue
		}
		for i := len(as) - 1; i >= 0; i-- {
			a := as[i]
			if a.ID <= last {
				continue
			}
			last = a.ID
			b, _ := json.Marshal(feedItem{ID: a.ID, Scenario: a.GetScenario(), Value: a.Source.GetValue(),
				Start: deref(a.StartAt), Decisions: len(a.Decisions)})
			if _, err := fmt.Fprintf(w, "id: %d\nevent: alert\ndata: %s\n\n", a.ID, b); err != nil {
				return nil
			}
		}
		if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
			return nil
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

// mergeDecisions merges two newest-first lists without duplicates.
func mergeDecisions(a, b []*store.Decision) []*store.Decision {
	out := make([]*store.Decision, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].ID > b[j].ID):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].ID > a[i].ID:
			out = append(out, b[j])
			j++
		default: // same decision
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}
