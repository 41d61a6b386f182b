package lapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// POST /v1/watchers: 201 (waits for validation) or 202 (auto-registered).
//
// Unauthenticated clients register here, so every step is bounded: the
// rate per address, the id's charset and length ('@' is reserved for
// machines named after a client certificate, <CN>@<ip>, so nobody can
// take such a name before its agent first connects), the number of
// machines waiting for validation, and the bcrypt work.
func (s *Server) registerMachine(w http.ResponseWriter, r *http.Request, c *caller) error {
	if ok, wait := s.abuse.allowRegistration(c.ip, s.now()); !ok {
		return tooMany(wait, "too many registrations from this address, retry later")
	}
	var req models.WatcherRegistrationRequest
	if err := decodeBody(r, s.cfg.MaxBodyUnauth, &req); err != nil {
		return err
	}
	if req.MachineID == nil || *req.MachineID == "" || req.Password == nil || *req.Password == "" {
		return errorf(http.StatusUnprocessableEntity, "machine_id and password are required")
	}
	id := *req.MachineID
	if err := checkMachineID(id); err != nil {
		return err
	}
	if len(*req.Password) > 72 {
		return errorf(http.StatusUnprocessableEntity, "password: longer than 72 bytes")
	}
	auto := s.shouldAutoRegister(req.RegistrationToken, c)
	if !c.ip.IsLoopback() && (s.cfg.remoteReg == remoteRegOff || (s.cfg.remoteReg == remoteRegToken && !auto)) {
		return errorf(http.StatusForbidden, "remote registration is disabled")
	}
	ctx := r.Context()
	if _, err := s.st.GetMachine(ctx, id); err == nil {
		return errorf(http.StatusForbidden, "user '%s': user already exist", id)
	}
	var hash []byte
	var herr error
	if err := s.abuse.hash(false, func() { hash, herr = bcrypt.GenerateFromPassword([]byte(*req.Password), s.abuse.cost) }); err != nil {
		return err
	}
	if herr != nil {
		return herr
	}
	now := s.now()
	m := &store.Machine{ID: id, PasswordHash: string(hash), IPAddress: ipString(c.ip),
		IsValidated: auto, AuthType: "password", CreatedAt: now, UpdatedAt: now}
	s.abuse.regMu.Lock()
	err := s.createMachineCapped(ctx, m)
	s.abuse.regMu.Unlock()
	if err != nil {
		return err
	}
	s.auth.forgetMachine(m.ID)
	if auto {
		s.log.Info("lapi: machine auto-registered", "machine", textsafe.Log(m.ID), "ip", m.IPAddress)
		w.WriteHeader(http.StatusAccepted)
		return nil
	}
	s.log.Info("lapi: machine registered, waiting for validation", "machine", textsafe.Log(m.ID), "ip", m.IPAddress)
	w.WriteHeader(http.StatusCreated)
	return nil
}

// createMachineCapped stores m unless MaxPending machines already wait for
// validation (auto-registered machines are validated: never capped).
// Callers hold regMu.
func (s *Server) createMachineCapped(ctx context.Context, m *store.Machine) error {
	if max := s.cfg.Registration.MaxPending; max > 0 && !m.IsValidated {
		all, err := s.st.ListMachines(ctx)
		if err != nil {
			return err
		}
		pending := 0
		for _, x := range all {
			if !x.IsValidated {
				pending++
			}
		}
		if pending >= max {
			s.log.Warn("lapi: registration refused: too many machines wait for validation",
				"pending", pending, "machine", textsafe.Log(m.ID), "ip", m.IPAddress)
			return errorf(http.StatusForbidden, "registration refused: %d machines already wait for validation", pending)
		}
	}
	if err := s.st.CreateMachine(ctx, m); err != nil {
		if errors.Is(err, store.ErrExists) {
			return errorf(http.StatusForbidden, "user '%s': user already exist", m.ID)
		}
		return err
	}
	return nil
}

// checkMachineID accepts the ids agents and cscli choose: 1 to
// MaxMachineIDLen letters, digits, '.', '_' and '-' (cscli's generated ids
// are 48 letters and digits). '@' is reserved for certificate machines.
func checkMachineID(id string) error {
	if len(id) > MaxMachineIDLen {
		return errorf(http.StatusUnprocessableEntity, "machine_id: longer than %d characters", MaxMachineIDLen)
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '.', b == '_', b == '-':
		case b == '@':
			return errorf(http.StatusUnprocessableEntity, "machine_id: '@' is reserved for machines authenticated by certificate")
		default:
			return errorf(http.StatusUnprocessableEntity, "machine_id: only letters, digits, '.', '_' and '-' are allowed")
		}
	}
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

// loginError is a refused login: 401 {"code": 401, "message": msg}, as
// CrowdSec (gin-jwt) answers.
func loginError(msg string) error {
	return &apiError{status: http.StatusUnauthorized, msg: msg, code: true}
}

// maxLoginIDLen bounds the id a login looks up (longer ids cannot exist:
// registration refuses them; machines created by the CLI or from
// certificates stay well below).
const maxLoginIDLen = 256

// POST /v1/watchers/login -> {code, expire, token}.
//
// A password login is throttled per client address and per id (429 with
// Retry-After after login.free_failures failures, doubling up to
// login.max_backoff; the id's own last address is not throttled per id),
// runs its bcrypt compare in a bounded slot (429 at once when none is
// free; a login from the machine's own last address has one more slot),
// and compares against a dummy hash when the id is unknown, so that
// the answer time does not say which ids exist.
func (s *Server) login(w http.ResponseWriter, r *http.Request, c *caller) error {
	now := s.now()
	addrKey := netguard.AddrKey(c.ip)
	if wait := s.abuse.loginAddr.Wait(addrKey, now); wait > 0 {
		return tooMany(wait, "too many failed logins from this address, retry later")
	}
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
		// An empty id cannot exist (registration refuses it): no compare.
		if req.MachineID == nil || req.Password == nil || *req.MachineID == "" || *req.Password == "" {
			return loginError("missing machine_id or password")
		}
		m, err := s.passwordLogin(ctx, c, *req.MachineID, *req.Password, now)
		if err != nil {
			return err
		}
		id = m.ID
	}
	now = s.now() // the token is issued now, after the (slow) compare
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

// passwordLogin checks a machine's password with the throttles and the
// dummy compare, and returns the machine.
func (s *Server) passwordLogin(ctx context.Context, c *caller, id, password string, now time.Time) (*store.Machine, error) {
	addrKey := netguard.AddrKey(c.ip)
	idKey := id
	if len(idKey) > maxLoginIDLen {
		idKey = idKey[:maxLoginIDLen]
	}
	var m *store.Machine
	if len(id) <= maxLoginIDLen {
		var err error
		m, err = s.st.GetMachine(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	fromOwnAddress := m != nil && m.IPAddress != "" && m.IPAddress == ipString(c.ip)
	if !fromOwnAddress {
		if wait := s.abuse.loginID.Wait(idKey, now); wait > 0 {
			return nil, tooMany(wait, "too many failed logins for this machine, retry later")
		}
	}
	var hash []byte
	if m != nil && m.AuthType != "tls" && m.PasswordHash != "" {
		hash = []byte(m.PasswordHash)
	}
	ok, err := s.abuse.compare(hash, password, fromOwnAddress)
	if err != nil {
		return nil, err
	}
	if !ok {
		s.abuse.loginAddr.Fail(addrKey, now)
		s.abuse.loginID.Fail(idKey, now)
		reason := "wrong password"
		switch {
		case m == nil:
			reason = "unknown machine"
		case hash == nil:
			reason = "machine authenticates by certificate"
		}
		s.abuse.logFailure(s.log, now, "machine", textsafe.Log(id), "ip", ipString(c.ip), "reason", reason)
		return nil, loginError("incorrect Username or Password")
	}
	s.abuse.loginAddr.Reset(addrKey)
	s.abuse.loginID.Reset(idKey)
	if !m.IsValidated {
		return nil, loginError("machine " + m.ID + " not validated")
	}
	return m, nil
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
