package lapi

import (
	"encoding/json"
	"errors"
	"io"
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
			f.scopes = append(f.scopes, models.NormalizeScope(x))
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
	st, known := s.pullState[c.bouncer]
	s.stateMu.Unlock()
	var sinceVer uint64
	var since time.Time
	if known {
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
	s.pullState[c.bouncer] = bouncerPull{ver: res.ver, at: now}
	s.pulls[c.bouncer] = now
	s.stateMu.Unlock()
	s.met.pull(c.bouncer, startup)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 4096)
		bp = &b
	}
	sw := streamWriter{w: w, now: now.UnixNano(), buf: (*bp)[:0]}
	defer func() {
		if cap(sw.buf) <= 2*streamBuf {
			*bp = sw.buf[:0]
			s.bufs.Put(bp)
		}
	}()
	sw.buf = append(sw.buf, `{"new":[`...)
	sw.list(res.fresh)
	sw.buf = append(sw.buf, `],"deleted":[`...)
	sw.list(res.gone)
	sw.buf = append(sw.buf, "]}\n"...)
	return sw.flush()
}

// streamBuf is the size of the chunks a stream answer is written in.
const streamBuf = 256 << 10

// streamWriter writes stream decisions from their pre-encoded JSON; the
// duration (time left, rounded to the second, as CrowdSec) is the only
// part computed per answer, and consecutive decisions ending in the same
// second share its text.
type streamWriter struct {
	w     io.Writer
	now   int64
	buf   []byte
	err   error
	lastD time.Duration
	lastS string
}

func (s *streamWriter) list(list []*entry) {
	for i, e := range list {
		if i > 0 {
			s.buf = append(s.buf, ',')
		}
		s.buf = s.appendDecision(s.buf, e)
		if len(s.buf) >= streamBuf-512 {
			_ = s.flush()
		}
	}
}

func (s *streamWriter) appendDecision(b []byte, e *entry) []byte {
	d := time.Duration(e.until - s.now).Round(time.Second)
	if d != s.lastD || s.lastS == "" {
		s.lastD, s.lastS = d, d.String()
	}
	b = append(b, `{"duration":"`...)
	b = append(b, s.lastS...)
	return e.appendTail(b)
}

func (s *streamWriter) flush() error {
	if s.err == nil && len(s.buf) > 0 {
		_, s.err = s.w.Write(s.buf)
	}
	s.buf = s.buf[:0]
	return s.err
}

// plainJSON says whether s is its own JSON string body (ASCII needing no
// escape, as encoding/json would write it).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// appendJSONString appends s as a JSON string; plain ASCII is copied,
// anything else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	if !plainJSON(s) {
		q, _ := json.Marshal(s)
		return append(b, q...)
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
			f.scopes = append(f.scopes, models.NormalizeScope(x))
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
	d := store.Decision{ID: e.id, UUID: e.uuidString(), Origin: e.m.origin, Type: e.m.typ, Scope: e.m.scope,
		Value: e.value, Scenario: e.m.scenario, Simulated: e.m.simulated, Until: time.Unix(0, e.until)}
	return d.Model(now)
}

// decisionFilter parses the query of DELETE /v1/decisions; all says
// whether the request asked explicitly for every decision (all=true).
// filtered is false when no filter parameter was given.
func decisionFilter(q url.Values) (f store.DecisionFilter, filtered, all bool, err error) {
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "all":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return f, false, false, errorf(http.StatusBadRequest, "invalid value for all: %q", v)
			}
			all = b
			continue
		case "scope":
			f.Scope = models.NormalizeScope(v)
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
				return f, false, false, errorf(http.StatusBadRequest, "invalid value for contains: %q", v)
			}
			f.Contains = &b
			continue // a modifier of ip/range, not a filter
		default:
			continue
		}
		if v != "" {
			filtered = true
		}
	}
	for _, v := range []string{f.IP, f.Range} {
		if v == "" {
			continue
		}
		if _, err := store.ParseIPRange(v); err != nil {
			return f, false, false, errorf(http.StatusBadRequest, "unable to parse %q: not an IP or range", v)
		}
	}
	if (f.Scope == "Ip" || f.Scope == "Range") && f.Value != "" {
		if v, err := normalizeValue(f.Scope, f.Value); err == nil {
			f.Value = v
		}
	}
	return f, filtered, all, nil
}

// explicitAll says whether an unfiltered DELETE /v1/decisions asked for
// every decision: all=true, or cscli's `decisions delete --all`, which
// sends the path with an empty query ("/v1/decisions?"). A bare path (what
// a client that forgot its filter, or CrowdSec's bouncer library StopStream,
// sends) asks for nothing.
func explicitAll(r *http.Request, all bool) bool {
	return all || (r.URL.ForceQuery && r.URL.RawQuery == "")
}

// DELETE /v1/decisions (trusted IPs only): expires (until = now) the
// matching decisions. Without a filter, only an explicit "all" (see
// explicitAll) expires every decision; otherwise 422 and nothing changes.
func (s *Server) deleteDecisions(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.trusted(c); err != nil {
		return err
	}
	f, filtered, all, err := decisionFilter(r.URL.Query())
	if err != nil {
		return err
	}
	switch {
	case filtered && all:
		return errorf(http.StatusBadRequest, "all=true cannot be combined with filters")
	case !filtered && !explicitAll(r, all):
		return errorf(http.StatusUnprocessableEntity,
			"no filter given: pass a filter (ip, range, scope/value, type, scenario, origin) or all=true to delete every decision")
	}
	now := s.now()
	var gone []store.Decision
	if s.deleted != nil {
		af := f
		af.ActiveAt = now
		ds, err := s.st.ListDecisions(r.Context(), af)
		if err != nil {
			if errors.Is(err, store.ErrInvalid) {
				return errorf(http.StatusBadRequest, "%v", err)
			}
			return err
		}
		gone = derefDecisions(ds)
		if len(gone) > 0 {
			if err := s.deleted(r.Context(), gone); err != nil {
				return err
			}
		}
	}
	n, err := s.st.ExpireDecisions(r.Context(), now, f)
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

// DELETE /v1/decisions/{decision_id} (trusted IPs only).
func (s *Server) deleteDecision(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.trusted(c); err != nil {
		return err
	}
	id, err := pathID(r, "decision_id")
	if err != nil {
		return err
	}
	now := s.now()
	wasActive := s.idx.active(id, now)
	var gone []store.Decision
	if s.deleted != nil && wasActive {
		ds, err := s.st.ListDecisions(r.Context(), store.DecisionFilter{IDs: []int64{id}, ActiveAt: now})
		if err != nil {
			return err
		}
		if gone = derefDecisions(ds); len(gone) > 0 {
			if err := s.deleted(r.Context(), gone); err != nil {
				return err
			}
		}
	}
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

// derefDecisions copies decisions out of their pointers (what the
// Deleted hook keeps).
func derefDecisions(ds []*store.Decision) []store.Decision {
	out := make([]store.Decision, len(ds))
	for i, d := range ds {
		out[i] = *d
	}
	return out
}
