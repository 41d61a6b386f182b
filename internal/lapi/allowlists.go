package lapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/phalanx-ids/phalanx/internal/allowlist"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

func withContent(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("with_content")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errorf(http.StatusBadRequest, "invalid value for with_content: %q", v)
	}
	return b, nil
}

// GET /v1/allowlists.
func (s *Server) listAllowlists(w http.ResponseWriter, r *http.Request, _ *caller) error {
	wc, err := withContent(r)
	if err != nil {
		return err
	}
	out := models.GetAllowlistsResponse{}
	for _, l := range s.allow.Lists() {
		out = append(out, allowlist.ToModel(l, wc))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// GET|HEAD /v1/allowlists/{allowlist_name}.
func (s *Server) getAllowlist(w http.ResponseWriter, r *http.Request, _ *caller) error {
	wc, err := withContent(r)
	if err != nil {
		return err
	}
	name := r.PathValue("allowlist_name")
	l, ok := s.allow.Get(name)
	if !ok {
		return errorf(http.StatusNotFound, "allowlist %q not found", name)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	writeJSON(w, http.StatusOK, allowlist.ToModel(l, wc))
	return nil
}

// GET|HEAD /v1/allowlists/check/{ip_or_range}: HEAD answers 200 when
// allowlisted, 204 when not.
func (s *Server) checkAllowlist(w http.ResponseWriter, r *http.Request, _ *caller) error {
	target := r.PathValue("ip_or_range")
	if target == "" {
		return errorf(http.StatusBadRequest, "missing ip_or_range")
	}
	if _, err := allowlist.ParseValue(target); err != nil {
		return errorf(http.StatusBadRequest, "unable to parse %q: not an IP or range", target)
	}
	m, ok := s.allow.Check(target, s.now())
	if r.Method == http.MethodHead {
		if ok {
			w.WriteHeader(http.StatusOK)
		} else {
			w.WriteHeader(http.StatusNoContent)
		}
		return nil
	}
	resp := models.CheckAllowlistResponse{Allowlisted: ok}
	if ok {
		resp.Reason = m.Reason()
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// POST /v1/allowlists/check.
func (s *Server) bulkCheckAllowlist(w http.ResponseWriter, r *http.Request, _ *caller) error {
	var req models.BulkCheckAllowlistRequest
	if err := decodeBody(r, s.cfg.MaxBodyAuth, &req); err != nil {
		return err
	}
	if req.Targets == nil {
		return errorf(http.StatusUnprocessableEntity, "targets is required")
	}
	now := s.now()
	out := models.BulkCheckAllowlistResponse{Results: []*models.BulkCheckAllowlistResult{}}
	for _, t := range req.Targets {
		ms, err := s.allow.CheckAll(t, now)
		if err != nil {
			return errorf(http.StatusBadRequest, "unable to parse %q: not an IP or range", t)
		}
		if len(ms) == 0 {
			continue
		}
		res := &models.BulkCheckAllowlistResult{Target: &t, Allowlists: make([]string, 0, len(ms))}
		for _, m := range ms {
			res.Allowlists = append(res.Allowlists, m.Reason())
		}
		out.Results = append(out.Results, res)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// POST /v1/usage-metrics: checked and acknowledged (201, as CrowdSec),
// then given to the Usage hook (the central's usage report). As in
// CrowdSec, a machine sends one log processor block and a bouncer one
// remediation component block.
func (s *Server) usageMetrics(w http.ResponseWriter, r *http.Request, c *caller) error {
	var m models.AllMetrics
	if err := decodeBody(r, s.cfg.MaxBodyAuth, &m); err != nil {
		return err
	}
	check := func(what string, b *models.BaseMetrics) error {
		if b.Version == nil {
			return fmt.Errorf("%s: version is required", what)
		}
		if b.UtcStartupTimestamp == nil {
			return fmt.Errorf("%s: utc_startup_timestamp is required", what)
		}
		return nil
	}
	for i, rc := range m.RemediationComponents {
		if rc == nil {
			return errorf(http.StatusUnprocessableEntity, "remediation_components[%d]: null", i)
		}
		if err := check(fmt.Sprintf("remediation_components[%d]", i), &rc.BaseMetrics); err != nil {
			return errorf(http.StatusUnprocessableEntity, "%v", err)
		}
	}
	for i, lp := range m.LogProcessors {
		if lp == nil {
			return errorf(http.StatusUnprocessableEntity, "log_processors[%d]: null", i)
		}
		if err := check(fmt.Sprintf("log_processors[%d]", i), &lp.BaseMetrics); err != nil {
			return errorf(http.StatusUnprocessableEntity, "%v", err)
		}
	}
	switch {
	case c.machine != "" && (len(m.LogProcessors) != 1 || len(m.RemediationComponents) != 0):
		return errorf(http.StatusBadRequest, "a machine sends exactly one log processor block")
	case c.bouncer != "" && (len(m.RemediationComponents) != 1 || len(m.LogProcessors) != 0):
		return errorf(http.StatusBadRequest, "a bouncer sends exactly one remediation component block")
	}
	s.log.Debug("lapi: usage metrics received", "machine", textsafe.Log(c.machine), "bouncer", textsafe.Log(c.bouncer),
		"remediation_components", len(m.RemediationComponents), "log_processors", len(m.LogProcessors))
	if s.usage != nil {
		if err := s.usage(r.Context(), c.machine, c.bouncer, &m); err != nil {
			return err
		}
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}
