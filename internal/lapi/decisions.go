package lapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// bouncerFilter parses the filters shared by the stream and live routes.
func bouncerFilter(q url.Values, defaultScopes []string) (streamFilter, error) {
	f := streamFilter{scopes: defaultScopes}
	if v, ok := q["scopes"]; ok {
		f.scopes = nil
		for _, x := range splitList(strings.Join(v, ",")) {
			f.scopes = append(f.scopes, NormalizeScope(x))
		}
	}
	f.origins = splitList(q.Get("origins"))
	f.containing = splitList(q.Get("scenarios_containing"))
	f.notContaining = splitList(q.Get("scenarios_not_containing"))
	if v := q.Get("dedup"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, errorf(http.StatusBadRequest, "invalid value for dedup: %q", v)
		}
		f.dedupDisabled = !b
	}
	return f, nil
}

// GET|HEAD /v1/decisions/stream.
func (s *Server) streamDecisions(w http.ResponseWriter, r *http.Request, c *caller) error {
	q := r.URL.Query()
	startup := false
	if v := q.Get("startup"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid value for startup: %q", v)
		}
		startup = b
	}
	f, err := bouncerFilter(q, []string{"Ip", "Range"})
	if err != nil {
		return err
	}
	now := s.now()
	s.stateMu.Lock()
	st := s.pullState[c.bouncer]
	s.stateMu.Unlock()
	var sinceVer uint64
	var since time.Time
	if st != nil {
		sinceVer, since = st.ver, st.at
	} else if !startup {
		b, err := s.st.GetBouncer(r.Context(), c.bouncer)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if b != nil {
			since = b.LastPull
		}
	}
	res := s.idx.pull(&f, startup, sinceVer, since, now)
	s.stateMu.Lock()
	s.pullState[c.bouncer] = &bouncerPull{ver: res.ver, at: now}
	s.pulls[c.bouncer] = now
	s.stateMu.Unlock()
	s.met.pull(c.bouncer, startup)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	n := now.UnixNano()
	buf := make([]byte, 0, 512)
	write := func(list []*entry) {
		for i, e := range list {
			buf = buf[:0]
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendDecision(buf, e, n)
			_, _ = bw.Write(buf)
		}
	}
	_, _ = bw.WriteString(`{"new":[`)
	write(res.fresh)
	_, _ = bw.WriteString(`],"deleted":[`)
	write(res.gone)
	_, _ = bw.WriteString("]}\n")
	return bw.Flush()
}

// appendDecision writes a stream decision as CrowdSec does: duration is
// the time left (negative for deleted decisions), rounded to the second.
func appendDecision(b []byte, e *entry, now int64) []byte {
	b = append(b, `{"duration":"`...)
	b = append(b, time.Duration(e.until-now).Round(time.Second).String()...)
	b = append(b, `","id":`...)
	b = strconv.AppendInt(b, e.id, 10)
	b = append(b, `,"origin":`...)
	b = appendJSONString(b, e.origin)
	b = append(b, `,"scenario":`...)
	b = appendJSONString(b, e.scenario)
	b = append(b, `,"scope":`...)
	b = appendJSONString(b, e.scope)
	b = append(b, `,"type":`...)
	b = appendJSONString(b, e.typ)
	if e.uuid != "" {
		b = append(b, `,"uuid":`...)
		b = appendJSONString(b, e.uuid)
	}
	b = append(b, `,"value":`...)
	b = appendJSONString(b, e.value)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string; plain ASCII is copied,
// anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// GET|HEAD /v1/decisions: live mode; JSON null when nothing matches.
func (s *Server) liveDecisions(w http.ResponseWriter, r *http.Request, c *caller) error {
	q := r.URL.Query()
	f, err := bouncerFilter(q, nil)
	if err != nil {
		return err
	}
	f.dedupDisabled = true
	if v := q.Get("scope"); v != "" && q.Get("scopes") == "" {
		for _, x := range splitList(v) {
			f.scopes = append(f.scopes, NormalizeScope(x))
		}
	}
	f.typ = q.Get("type")
	if v := q.Get("simulated"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid value for simulated: %q", v)
		}
		f.withSimulated = b
	}
	lq := liveQuery{f: f, contains: true}
	if v := q.Get("contains"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errorf(http.StatusBadRequest, "invalid value for contains: %q", v)
		}
		lq.contains = b
	}
	target := ""
	switch {
	case q.Get("ip") != "":
		target = q.Get("ip")
	case q.Get("range") != "":
		target = q.Get("range")
	case q.Get("value") != "":
		v := q.Get("value")
		scope := ""
		if len(f.scopes) == 1 {
			scope = f.scopes[0]
		}
		if scope == "Ip" || scope == "Range" {
			target = v
		} else {
			lq.value = v
		}
	}
	if target != "" {
		rng, err := store.ParseIPRange(target)
		if err != nil {
			return errorf(http.StatusBadRequest, "unable to parse %q: not an IP or range", target)
		}
		lq.rng = &rng
	}
	now := s.now()
	found := s.idx.live(&lq, now)
	s.met.live(c.bouncer, len(found) > 0)
	s.stateMu.Lock()
	s.pulls[c.bouncer] = now
	s.stateMu.Unlock()
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if len(found) == 0 {
		writeJSON(w, http.StatusOK, nil) // CrowdSec answers null, not []
		return nil
	}
	out := make(models.GetDecisionsResponse, len(found))
	for i, e := range found {
		out[i] = e.model(now)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (e *entry) model(now time.Time) *models.Decision {
	d := store.Decision{ID: e.id, UUID: e.uuid, Origin: e.origin, Type: e.typ, Scope: e.scope,
		Value: e.value, Scenario: e.scenario, Simulated: e.simulated, Until: time.Unix(0, e.until)}
	return d.Model(now)
}

// decisionFilter parses the query of DELETE /v1/decisions.
func decisionFilter(q url.Values) (store.DecisionFilter, error) {
	var f store.DecisionFilter
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "scope":
			f.Scope = NormalizeScope(v)
		case "value":
			f.Value = v
		case "type":
			f.Type = v
		case "ip":
			f.IP = v
		case "range":
			f.Range = v
		case "scenario":
			f.Scenario = v
		case "origin":
			f.Origins = splitList(v)
		case "contains":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return f, errorf(http.StatusBadRequest, "invalid value for contains: %q", v)
			}
			f.Contains = &b
		}
	}
	for _, v := range []string{f.IP, f.Range} {
		if v == "" {
			continue
		}
		if _, err := store.ParseIPRange(v); err != nil {
			return f, errorf(http.StatusBadRequest, "unable to parse %q: not an IP or range", v)
		}
	}
	if (f.Scope == "Ip" || f.Scope == "Range") && f.Value != "" {
		if v, err := normalizeValue(f.Scope, f.Value); err == nil {
			f.Value = v
		}
	}
	return f, nil
}

// DELETE /v1/decisions: expires (until = now) the matching decisions.
func (s *Server) deleteDecisions(w http.ResponseWriter, r *http.Request, _ *caller) error {
	f, err := decisionFilter(r.URL.Query())
	if err != nil {
		return err
	}
	n, err := s.st.ExpireDecisions(r.Context(), s.now(), f)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return errorf(http.StatusBadRequest, "%v", err)
		}
		return err
	}
	if err := s.Sync(r.Context()); err != nil {
		s.log.Warn("lapi: index sync after delete", "err", err)
	}
	writeJSON(w, http.StatusOK, models.DeleteDecisionResponse{NbDeleted: strconv.FormatInt(n, 10)})
	return nil
}

// DELETE /v1/decisions/{decision_id}.
func (s *Server) deleteDecision(w http.ResponseWriter, r *http.Request, _ *caller) error {
	id, err := pathID(r, "decision_id")
	if err != nil {
		return err
	}
	now := s.now()
	wasActive := s.idx.active(id, now)
	err = s.st.ExpireDecision(r.Context(), now, id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "decision with id '%d' doesn't exist", id)
	}
	if err != nil {
		return err
	}
	if err := s.Sync(r.Context()); err != nil {
		s.log.Warn("lapi: index sync after delete", "err", err)
	}
	n := "0"
	if wasActive {
		n = "1"
	}
	writeJSON(w, http.StatusOK, models.DeleteDecisionResponse{NbDeleted: n})
	return nil
}
