package lapi

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/store"
)

// POST /v1/watchers: 201 (waits for validation) or 202 (auto-registered).
func (s *Server) registerMachine(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req models.WatcherRegistrationRequest
	if err := decodeBody(r, s.cfg.MaxBodyUnauth, &req); err != nil {
		return err
	}
	if req.MachineID == nil || *req.MachineID == "" || req.Password == nil || *req.Password == "" {
		return errorf(http.StatusUnprocessableEntity, "machine_id and password are required")
	}
	if s.cfg.DisableRemoteRegistration && !c.ip.IsLoopback() {
		return errorf(http.StatusForbidden, "remote registration is disabled")
	}
	if len(*req.Password) > 72 {
		return errorf(http.StatusUnprocessableEntity, "password: longer than 72 bytes")
	}
	auto := s.shouldAutoRegister(req.RegistrationToken, c)
	hash, err := bcrypt.GenerateFromPassword([]byte(*req.Password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	now := s.now()
	m := &store.Machine{ID: *req.MachineID, PasswordHash: string(hash), IPAddress: ipString(c.ip),
		IsValidated: auto, AuthType: "password", CreatedAt: now, UpdatedAt: now}
	if err := s.st.CreateMachine(r.Context(), m); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errorf(http.StatusForbidden, "user '%s': user already exist", *req.MachineID)
		}
		return err
	}
	s.auth.forgetMachine(m.ID)
	if auto {
		s.log.Info("lapi: machine auto-registered", "machine", m.ID, "ip", m.IPAddress)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	s.log.Info("lapi: machine registered, waiting for validation", "machine", m.ID, "ip", m.IPAddress)
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Server) shouldAutoRegister(token string, c *caller) bool {
	ar := s.cfg.AutoRegistration
	if !ar.Enabled || token == "" {
		return false
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(ar.Token)) != 1 {
		s.log.Warn("lapi: registration with a wrong auto-registration token", "ip", ipString(c.ip))
		return false
	}
	if !c.ip.IsValid() || !inPrefixes(s.cfg.autoRanges, c.ip) {
		s.log.Warn("lapi: auto-registration from an address outside allowed_ranges", "ip", ipString(c.ip))
		return false
	}
	return true
}

func validUA(ua string) (name, version string, ok bool) {
	name, version, ok = strings.Cut(ua, "/")
	return name, version, ok && name != "" && version != ""
}

func loginError(msg string) error {
	return &apiError{status: http.StatusForbidden, msg: msg, code: true}
}

// POST /v1/watchers/login -> {code, expire, token}.
func (s *Server) login(w http.ResponseWriter, r *http.Request, c *caller) error {
	_, version, ok := validUA(r.UserAgent())
	if !ok {
		return loginError("bad user agent")
	}
	ctx := r.Context()
	var req models.WatcherAuthRequest
	var id string
	if cert := verifiedCert(r); cert != nil && ouAllowed(cert, s.cfg.TLS.AgentsAllowedOU) {
		// The body is optional with a certificate.
		if r.ContentLength != 0 {
			if err := decodeBody(r, s.cfg.MaxBodyUnauth, &req); err != nil {
				return err
			}
		}
		mid, err := s.certMachine(ctx, cert, c)
		if err != nil {
			return err
		}
		id = mid
	} else {
		if err := decodeBody(r, s.cfg.MaxBodyUnauth, &req); err != nil {
			return err
		}
		if req.MachineID == nil || req.Password == nil {
			return loginError("missing machine_id or password")
		}
		m, err := s.st.GetMachine(ctx, *req.MachineID)
		if errors.Is(err, store.ErrNotFound) {
			return loginError("incorrect Username or Password")
		}
		if err != nil {
			return err
		}
		if m.AuthType == "tls" || bcrypt.CompareHashAndPassword([]byte(m.PasswordHash), []byte(*req.Password)) != nil {
			return loginError("incorrect Username or Password")
		}
		if !m.IsValidated {
			return loginError("machine " + m.ID + " not validated")
		}
		id = m.ID
	}
	now := s.now()
	_, err := s.st.UpdateMachine(ctx, id, func(m *store.Machine) error {
		if req.Scenarios != nil && !slices.Equal(req.Scenarios, m.Scenarios) {
			m.Scenarios = req.Scenarios
		}
		m.IPAddress, m.Version, m.UpdatedAt = ipString(c.ip), version, now
		return nil
	})
	if err != nil {
		return err
	}
	c.machine = id
	s.auth.forgetMachine(id)
	return s.writeToken(w, id, now)
}

func (s *Server) writeToken(w http.ResponseWriter, id string, now time.Time) error {
	tok, exp, err := s.issueToken(id, now)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, models.WatcherAuthResponse{Code: http.StatusOK, Expire: exp.UTC().Format(time.RFC3339), Token: tok})
	return nil
}

// GET /v1/refresh_token: a new token for a valid one, or for an expired one
// issued less than JWTValidity ago (gin-jwt's MaxRefresh).
func (s *Server) refreshToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	tok, ok := bearer(r)
	if !ok {
		return &apiError{status: http.StatusUnauthorized, msg: "cookie token is empty", code: true}
	}
	claims, err := s.parseToken(tok, true)
	if err != nil {
		return err
	}
	now := s.now()
	if now.Unix() > claims.OrigIat+int64(s.cfg.JWTValidity/time.Second) {
		return &apiError{status: http.StatusUnauthorized, msg: "Token is expired", code: true}
	}
	if err := s.machineActive(r.Context(), claims.ID); err != nil {
		return err
	}
	c.machine = claims.ID
	return s.writeToken(w, claims.ID, now)
}

// GET /v1/heartbeat: recorded in memory, written with the pull flush.
func (s *Server) heartbeat(w http.ResponseWriter, _ *http.Request, c *caller) error {
	s.stateMu.Lock()
	s.heartbeats[c.machine] = s.now()
	s.stateMu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

// DELETE /v1/watchers/self: 204.
func (s *Server) deleteSelf(w http.ResponseWriter, r *http.Request, c *caller) error {
	err := s.st.DeleteMachine(r.Context(), c.machine)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusForbidden, "machine %s not found", c.machine)
	}
	if err != nil {
		return err
	}
	s.auth.forgetMachine(c.machine)
	s.stateMu.Lock()
	delete(s.heartbeats, c.machine)
	s.stateMu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	return nil
}
