package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/capi/wire"
	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
	"github.com/phalanx-ids/phalanx/internal/central/curate"
	"github.com/phalanx-ids/phalanx/internal/models"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// apiError is an answer other than 200.
type apiError struct {
	status int
	msg    string
	retry  time.Duration
}

func (e *apiError) Error() string { return e.msg }

func bad(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

type handler func(w http.ResponseWriter, r *http.Request, machine string) error

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /v3/watchers", s.wrap(false, s.register))
	mux.Handle("POST /v3/watchers/login", s.wrap(false, s.login))
	mux.Handle("POST /v3/watchers/reset", s.wrap(false, func(w http.ResponseWriter, r *http.Request, _ string) error {
		return &apiError{status: http.StatusForbidden, msg: "password reset is not supported: register a new machine"}
	}))
	mux.Handle("POST /v3/watchers/enroll", s.wrap(true, s.enroll))
	mux.Handle("POST /v3/signals", s.wrap(true, s.signals))
	mux.Handle("GET /v3/decisions/stream", s.wrap(true, s.stream))
	mux.Handle("POST /v3/decisions/delete", s.wrap(true, s.deletions))
	mux.Handle("POST /v3/decisions/sync", s.wrap(true, s.accept(http.StatusOK)))
	mux.Handle("POST /v3/metrics", s.wrap(true, s.metrics))
	mux.Handle("POST /v3/metrics/", s.wrap(true, s.metrics))
	mux.Handle("GET "+allowlistPath, s.wrap(false, s.allowlistContent))
	mux.Handle("POST /v3/usage-metrics", s.wrap(true, s.usage))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found"})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// wrap authenticates (auth: a JWT is required) and renders errors; an
// internal error's text never reaches the client.
func (s *Server) wrap(auth bool, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		machine := ""
		var err error
		if auth {
			machine, err = s.authenticate(r)
		}
		if err == nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
			err = h(w, r, machine)
		}
		if err == nil {
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			s.log.Error("central: request failed", "request_id", netguard.RequestID(r.Context()), "path", textsafe.Log(r.URL.Path), "err", err)
			ae = &apiError{status: http.StatusInternalServerError, msg: netguard.InternalErrorMessage(r.Context())}
		}
		if ae.retry > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((ae.retry+time.Second-1)/time.Second)))
		}
		writeJSON(w, ae.status, map[string]any{"message": ae.msg})
	})
}

type claims struct {
	ID             string `json:"id"`
	OrganizationID string `json:"organization_id,omitempty"`
	jwt.RegisteredClaims
}

func (s *Server) authenticate(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || raw == "" {
		return "", &apiError{status: http.StatusUnauthorized, msg: "missing token"}
	}
	var c claims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return s.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(s.now), jwt.WithExpirationRequired())
	if err != nil || c.ID == "" {
		return "", &apiError{status: http.StatusUnauthorized, msg: "invalid or expired token"}
	}
	return c.ID, nil
}

// decode reads one JSON value from body into v; anything but white space
// after it is refused.
func decode(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = terr
			if err == nil {
				return bad("invalid JSON body: data after the JSON value")
			}
		}
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{status: http.StatusRequestEntityTooLarge, msg: "request body too large"}
		}
		if errors.Is(err, io.EOF) {
			return bad("invalid JSON body: empty")
		}
		return bad("invalid JSON body: %s", textsafe.Log(err.Error()))
	}
	return nil
}

// checkText refuses a client string that is longer than max bytes or
// holds what a terminal would not show as text (control characters, NUL,
// bytes that are not UTF-8...): such a value is never stored.
func checkText(field, v string, max int) error {
	if len(v) > max {
		return bad("%s: at most %d bytes", field, max)
	}
	if textsafe.Terminal(v) != v {
		return bad("%s: control characters or bytes that are not UTF-8", field)
	}
	return nil
}

var machineIDRe = regexp.MustCompile(`^[a-zA-Z0-9]{16,64}$`)

// egressNet is the /24 (IPv6 /48) clustering keeps of a reporter.
func egressNet(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	bits := 24
	if a.Is6() {
		bits = 48
	}
	p, _ := a.Prefix(bits)
	return p.String()
}

func netKey(a netip.Addr) netip.Prefix {
	p, _ := netip.ParsePrefix(egressNet(a))
	return p
}

// decodeRegister reads a registration body.
func decodeRegister(body io.Reader) (wire.RegisterRequest, error) {
	var c wire.RegisterRequest
	if err := decode(body, &c); err != nil {
		return c, err
	}
	if !machineIDRe.MatchString(c.MachineID) {
		return c, bad("machine_id: want 16 to 64 letters and digits")
	}
	if len(c.Password) < 8 || len(c.Password) > 72 {
		return c, bad("password: want 8 to 72 bytes")
	}
	return c, nil
}

// decodeLogin reads a login body; a malformed identity is a failed login
// (403), as a wrong password.
func decodeLogin(body io.Reader) (wire.LoginRequest, error) {
	var c wire.LoginRequest
	if err := decode(body, &c); err != nil {
		return c, err
	}
	if c.Password == "" || !machineIDRe.MatchString(c.MachineID) {
		return c, &apiError{status: http.StatusForbidden, msg: "invalid machine_id or password"}
	}
	if len(c.Scenarios) > maxScenarios {
		return c, bad("too many scenarios (at most %d)", maxScenarios)
	}
	for i, sc := range c.Scenarios {
		if err := checkText(fmt.Sprintf("scenarios[%d]", i), sc, maxScenarioLen); err != nil {
			return c, err
		}
	}
	return c, nil
}

// Bounds of what a client sends.
const (
	maxScenarios   = 5000
	maxScenarioLen = 256
)

// POST /v3/watchers {machine_id, password}: open registration, rate
// limited per client /24 and bcrypt-bounded.
func (s *Server) register(w http.ResponseWriter, r *http.Request, _ string) error {
	addr := clientAddr(s.trusted, r)
	if ok, wait := s.regRate.Allow(netKey(addr), s.now()); !ok {
		return &apiError{status: http.StatusTooManyRequests, msg: "too many registrations from this network", retry: wait}
	}
	c, err := decodeRegister(r.Body)
	if err != nil {
		return err
	}
	var hash []byte
	var herr error
	if err := s.work.Do(false, func() { hash, herr = bcrypt.GenerateFromPassword([]byte(c.Password), s.cost) }); err != nil {
		return &apiError{status: http.StatusTooManyRequests, msg: err.Error(), retry: time.Second}
	}
	if herr != nil {
		return herr
	}
	err = s.st.Register(r.Context(), c.MachineID, string(hash), s.now())
	if errors.Is(err, centralstore.ErrExists) {
		return &apiError{status: http.StatusForbidden, msg: "machine_id already registered"}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "OK"})
	return nil
}

// POST /v3/watchers/login {machine_id, password, scenarios} -> {code, expire, token}.
func (s *Server) login(w http.ResponseWriter, r *http.Request, _ string) error {
	addr := clientAddr(s.trusted, r)
	now := s.now()
	key := netguard.AddrKey(addr)
	if wait := s.loginAddr.Wait(key, now); wait > 0 {
		return &apiError{status: http.StatusTooManyRequests, msg: "too many failed logins, retry later", retry: wait}
	}
	c, err := decodeLogin(r.Body)
	if err != nil {
		if ae, ok := err.(*apiError); ok && ae.status == http.StatusForbidden {
			s.loginAddr.Fail(key, now)
		}
		return err
	}
	in, err := s.st.GetInstall(r.Context(), c.MachineID)
	if errors.Is(err, centralstore.ErrNotFound) && (s.cfg.RegisterOnLogin == nil || *s.cfg.RegisterOnLogin) {
		reg, rerr := s.registerOnLogin(r, addr, c)
		switch {
		case rerr == nil:
			in, err = reg, nil
			s.log.Info("central: machine registered at its first login", "machine_id", textsafe.Log(c.MachineID), "net", egressNet(addr))
		case !errors.Is(rerr, centralstore.ErrNotFound):
			return rerr
		}
	}
	if err != nil && !errors.Is(err, centralstore.ErrNotFound) {
		return err
	}
	hash := []byte(in.PasswordHash)
	known := err == nil
	if !known {
		hash = s.dummyHash
	}
	ok := false
	own := known && in.Net == egressNet(addr)
	if err := s.work.Do(own, func() { ok = bcrypt.CompareHashAndPassword(hash, []byte(c.Password)) == nil }); err != nil {
		return &apiError{status: http.StatusTooManyRequests, msg: err.Error(), retry: time.Second}
	}
	if !ok || !known {
		s.loginAddr.Fail(key, now)
		return &apiError{status: http.StatusForbidden, msg: "invalid machine_id or password"}
	}
	s.loginAddr.Reset(key)
	eh := ""
	if addr.IsValid() {
		k := curate.HashEgress(s.salt, addr)
		eh = hex.EncodeToString(k[:])
	}
	if err := s.st.Login(r.Context(), in.MachineID, egressNet(addr), eh, c.Scenarios, now); err != nil {
		return err
	}
	s.cur.poke()
	exp := now.Add(s.cfg.TokenTTL)
	cl := claims{ID: in.MachineID, RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now)}}
	if in.OrgID != 0 {
		cl.OrganizationID = strconv.FormatInt(in.OrgID, 10)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, cl).SignedString(s.secret)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": 200, "expire": exp.UTC().Format(time.RFC3339), "token": tok})
	return nil
}

// registerOnLogin registers the unknown machine of a login (as POST
// /v3/watchers would: same rate limit, same password bounds) and returns
// it; ErrNotFound when it cannot be (the login then fails as for an
// unknown id).
func (s *Server) registerOnLogin(r *http.Request, addr netip.Addr, c wire.LoginRequest) (centralstore.Install, error) {
	if ok, wait := s.regRate.Allow(netKey(addr), s.now()); !ok {
		return centralstore.Install{}, &apiError{status: http.StatusTooManyRequests, msg: "too many registrations from this network", retry: wait}
	}
	if len(c.Password) < 8 || len(c.Password) > 72 {
		return centralstore.Install{}, centralstore.ErrNotFound
	}
	var hash []byte
	var herr error
	if err := s.work.Do(false, func() { hash, herr = bcrypt.GenerateFromPassword([]byte(c.Password), s.cost) }); err != nil {
		return centralstore.Install{}, &apiError{status: http.StatusTooManyRequests, msg: err.Error(), retry: time.Second}
	}
	if herr != nil {
		return centralstore.Install{}, herr
	}
	if err := s.st.Register(r.Context(), c.MachineID, string(hash), s.now()); err != nil && !errors.Is(err, centralstore.ErrExists) {
		return centralstore.Install{}, err
	}
	return s.st.GetInstall(r.Context(), c.MachineID)
}

var attachKeyRe = regexp.MustCompile(`^[a-zA-Z0-9]{8,128}$`)

// decodeEnroll reads an enrolment body (the tags are not kept).
func decodeEnroll(body io.Reader) (wire.EnrollRequest, error) {
	var req wire.EnrollRequest
	if err := decode(body, &req); err != nil {
		return req, err
	}
	if !attachKeyRe.MatchString(req.AttachmentKey) {
		return req, bad("attachment_key: want 8 to 128 letters and digits")
	}
	if err := checkText("name", req.Name, 128); err != nil {
		return req, err
	}
	return req, nil
}

// POST /v3/watchers/enroll {attachment_key, name, tags, overwrite}.
func (s *Server) enroll(w http.ResponseWriter, r *http.Request, machine string) error {
	req, err := decodeEnroll(r.Body)
	if err != nil {
		return err
	}
	org, err := s.st.OrgByKey(r.Context(), KeyHash(req.AttachmentKey))
	if errors.Is(err, centralstore.ErrNotFound) {
		return &apiError{status: http.StatusForbidden, msg: "unknown attachment key"}
	}
	if err != nil {
		return err
	}
	in, err := s.st.GetInstall(r.Context(), machine)
	if err != nil {
		return err
	}
	if in.OrgID != 0 && in.OrgID != org.ID && !req.Overwrite {
		return &apiError{status: http.StatusForbidden, msg: "already enrolled in another organisation (use overwrite)"}
	}
	if err := s.st.Enroll(r.Context(), machine, org.ID, req.Name, s.now()); err != nil {
		return err
	}
	s.cur.poke()
	writeJSON(w, http.StatusOK, map[string]string{"message": "OK"})
	return nil
}

// wireSignal is what is read of a CAPI signal: message, context, geo and
// decisions are never decoded, so they are never stored.
type wireSignal struct {
	Scenario        string `json:"scenario"`
	ScenarioHash    string `json:"scenario_hash"`
	ScenarioVersion string `json:"scenario_version"`
	ScenarioTrust   string `json:"scenario_trust"`
	UUID            string `json:"uuid"`
	StartAt         string `json:"start_at"`
	StopAt          string `json:"stop_at"`
	CreatedAt       string `json:"created_at"`
	Source          *struct {
		Scope string `json:"scope"`
		Value string `json:"value"`
		IP    string `json:"ip"`
	} `json:"source"`
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// decodeSignals reads a signals body of machine, received at now: at
// most max signals; those of another scope than ip are skipped (ranges,
// countries...: not curated); a malformed signal refuses the whole body.
func decodeSignals(body io.Reader, machine string, max int, now time.Time) ([]centralstore.Signal, error) {
	var in []wireSignal
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in) > max {
		return nil, bad("too many signals in one request (%d, at most %d)", len(in), max)
	}
	out := make([]centralstore.Signal, 0, len(in))
	for i, sg := range in {
		if sg.Source == nil || sg.Scenario == "" {
			return nil, bad("signal %d: scenario and source are required", i)
		}
		for _, f := range []struct {
			name, v string
			max     int
		}{{"scenario", sg.Scenario, maxScenarioLen}, {"scenario_hash", sg.ScenarioHash, 128}, {"scenario_version", sg.ScenarioVersion, 64},
			{"uuid", sg.UUID, 128}, {"scenario_trust", sg.ScenarioTrust, 32}} {
			if err := checkText(fmt.Sprintf("signal %d: %s", i, f.name), f.v, f.max); err != nil {
				return nil, err
			}
		}
		v := sg.Source.Value
		if v == "" {
			v = sg.Source.IP
		}
		scope := strings.ToLower(sg.Source.Scope)
		if scope != "ip" && scope != "" {
			continue
		}
		ip, err := models.ParseIP(v)
		if err != nil {
			return nil, bad("signal %d: source value %q is not an IP address", i, textsafe.Log(v))
		}
		out = append(out, centralstore.Signal{MachineID: machine, UUID: sg.UUID, IP: ip.String(), Scenario: sg.Scenario,
			ScenarioHash: sg.ScenarioHash, ScenarioVersion: sg.ScenarioVersion, ScenarioTrust: sg.ScenarioTrust,
			StartAt: parseTime(sg.StartAt), StopAt: parseTime(sg.StopAt), CreatedAt: parseTime(sg.CreatedAt), ReceivedAt: now})
	}
	return out, nil
}

// POST /v3/signals [signal...]: stored (committed) before the answer.
func (s *Server) signals(w http.ResponseWriter, r *http.Request, machine string) error {
	if ok, wait := s.sigRate.Allow(machine, s.now()); !ok {
		return &apiError{status: http.StatusTooManyRequests, msg: "too many signal requests", retry: wait}
	}
	out, err := decodeSignals(r.Body, machine, s.cfg.MaxSignals, s.now())
	if err != nil {
		return err
	}
	if _, err := s.st.InsertSignals(r.Context(), out); err != nil {
		return err
	}
	s.cur.poke()
	writeJSON(w, http.StatusOK, map[string]string{"message": "OK"})
	return nil
}

// GET /v3/decisions/stream[?startup=true][&community_pull=false][&wait=30s].
func (s *Server) stream(w http.ResponseWriter, r *http.Request, machine string) error {
	if ok, wait := s.pullRate.Allow(machine, s.now()); !ok {
		return &apiError{status: http.StatusTooManyRequests, msg: "too many pulls", retry: wait}
	}
	w.Header().Set(PullIntervalHeader, s.cfg.PullInterval.String())
	q := r.URL.Query()
	startup := q.Get("startup") == "true"
	community := q.Get("community_pull") != "false"
	var wait time.Duration
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return bad("wait: want a duration such as 30s")
		}
		wait = min(d, s.cfg.MaxWait)
	}
	in, err := s.st.GetInstall(r.Context(), machine)
	if err != nil {
		if errors.Is(err, centralstore.ErrNotFound) {
			return &apiError{status: http.StatusUnauthorized, msg: "unknown machine"}
		}
		return err
	}
	s.cursorMu.Lock()
	cursor, pending := s.cursors[machine]
	s.cursorMu.Unlock()
	if !pending {
		cursor = in.PullCursor
	}
	ans := wire.Stream{New: []wire.NewGroup{}, Deleted: []wire.DeletedGroup{},
		Links: &wire.Links{Blocklists: []wire.BlocklistLink{}, Allowlists: []wire.AllowlistLink{}}}
	if ans.Links.Allowlists, err = s.allowlistLinks(r, machine); err != nil {
		return err
	}
	if !community {
		writeJSON(w, http.StatusOK, ans)
		return nil
	}
	etag := ""
	if startup {
		links := ""
		for _, l := range ans.Links.Allowlists {
			links += l.URL + l.UpdatedAt
		}
		etag = fmt.Sprintf(`"%d-%x-%x"`, s.list.Cursor(), KeyHash(strings.Join(in.Scenarios, ","))[:8], KeyHash(links)[:8])
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	d := s.list.since(cursor, startup, in.Scenarios, s.now())
	if !startup && len(d.added) == 0 && len(d.deleted) == 0 && wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		select {
		case <-s.list.wait(d.cursor):
		case <-ctx.Done():
		}
		cancel()
		d = s.list.since(cursor, false, in.Scenarios, s.now())
	}
	s.cursorMu.Lock()
	s.cursors[machine] = d.cursor
	s.cursorMu.Unlock()
	now := s.now()
	groups := map[string]int{}
	for _, e := range d.added {
		sc := primaryScenario(e.Scenarios, in.Scenarios)
		k, ok := groups[sc]
		if !ok {
			k = len(ans.New)
			groups[sc] = k
			ans.New = append(ans.New, wire.NewGroup{Scenario: sc, Scope: "ip"})
		}
		dur := e.ExpiresAt.Sub(now).Round(time.Second)
		ans.New[k].Decisions = append(ans.New[k].Decisions, wire.NewDecision{Value: e.IP, Duration: dur.String()})
	}
	if len(d.deleted) > 0 {
		ans.Deleted = append(ans.Deleted, wire.DeletedGroup{Scope: "ip", Decisions: d.deleted})
	}
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	w.Header().Set("X-Phalanx-Cursor", strconv.FormatInt(d.cursor, 10))
	w = netguard.ExtendWrites(w, s.guard.WriteTimeout())
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// primaryScenario is the entry's scenario the install declared (or its
// first).
func primaryScenario(entry, declared []string) string {
	for _, e := range entry {
		for _, d := range declared {
			if e == d {
				return e
			}
		}
	}
	if len(entry) > 0 {
		return entry[0]
	}
	return "phalanx/community"
}

// accept reads and discards a JSON body (decision sync: nothing of it is
// kept).
func (s *Server) accept(status int) handler {
	return func(w http.ResponseWriter, r *http.Request, _ string) error {
		var v any
		if err := decode(r.Body, &v); err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, r.Body)
		writeJSON(w, status, map[string]string{"message": "OK"})
		return nil
	}
}
