// Package capitest is a central API for tests: the CAPI v3 subset of
// shared/contracts/capi-swagger.yaml that Phalanx's client uses (register,
// login, enroll, signals, decisions stream, linked blocklists), over real
// loopback HTTP, recording what it receives. It can go down (connections
// refused) and come back on the same address, for outage tests.
//
// It is a test double, not a curation service: what it lists is what the
// test tells it to list.
package capitest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/capi/wire"
)

// Server is a running test central.
//
// Concurrency: every method is safe for concurrent use.
type Server struct {
	t    testing.TB
	addr string

	mu       sync.Mutex
	srv      *http.Server
	machines map[string]*machine
	tokens   map[string]string // token -> machine id
	keys     map[string]string // attachment key -> organisation
	signals  []wire.Signal     // every signal received, in order, duplicates included
	batches  []int
	listed   map[string]entry // value -> entry (the community list)
	lists    map[string]*list // linked blocklists by name
	logins   []wire.LoginRequest
	pulls    []Pull
	interval string
	failPush int             // the next N signal pushes answer 503
	failAll  int             // the next N requests of any kind answer 503
	maxBatch int             // > 0: larger signal pushes answer 413
	refuse   map[string]bool // uuids whose push answers 400
}

type machine struct {
	password string
	org      string
	name     string
	seen     map[string]entry // what its last pull left it with
}

type entry struct {
	scenario, scope, duration string
}

type list struct {
	values      []string
	scope       string
	duration    string
	remediation string
	modified    time.Time
}

// Pull records one stream request.
type Pull struct {
	Machine string
	Startup bool
	At      time.Time
}

// New starts a server on a loopback port; it stops at the test's end.
func New(t testing.TB) *Server {
	s := &Server{t: t, machines: map[string]*machine{}, tokens: map[string]string{}, keys: map[string]string{},
		listed: map[string]entry{}, lists: map[string]*list{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("capitest: listen: %v", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.Down)
	return s
}

// URL is the base URL to put in online_api_credentials.yaml.
func (s *Server) URL() string { return "http://" + s.addr + "/" }

func (s *Server) serve(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v3/watchers", s.register)
	mux.HandleFunc("POST /v3/watchers/login", s.login)
	mux.HandleFunc("POST /v3/watchers/enroll", s.auth(s.enroll))
	mux.HandleFunc("POST /v3/signals", s.auth(s.pushSignals))
	mux.HandleFunc("GET /v3/decisions/stream", s.auth(s.stream))
	mux.HandleFunc("POST /v3/metrics/", s.auth(func(w http.ResponseWriter, r *http.Request, _ string) {
		reply(w, 200, wire.Message{Message: "OK"})
	}))
	mux.HandleFunc("GET /lists/{name}", s.auth(s.getList))
	srv := &http.Server{Handler: s.gate(mux), ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Down stops serving: connections are refused until Up.
func (s *Server) Down() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Up serves again on the same address.
func (s *Server) Up() {
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatalf("capitest: listen again on %s: %v", s.addr, err)
	}
	s.serve(ln)
}

func (s *Server) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		fail := s.failAll > 0
		if fail {
			s.failAll--
		}
		s.mu.Unlock()
		if fail {
			reply(w, http.StatusServiceUnavailable, wire.Message{Message: "down for maintenance"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

var idRe = regexp.MustCompile(`^[a-zA-Z0-9]+$`)

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		reply(w, http.StatusBadRequest, wire.Message{Message: "bad request: " + err.Error()})
		return false
	}
	return true
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var in wire.RegisterRequest
	if !decode(w, r, &in) {
		return
	}
	if !idRe.MatchString(in.MachineID) || in.Password == "" {
		reply(w, http.StatusBadRequest, wire.Message{Message: "invalid machine_id or password"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.machines[in.MachineID]; ok {
		reply(w, http.StatusForbidden, wire.Message{Message: "user already exist"})
		return
	}
	s.machines[in.MachineID] = &machine{password: in.Password, seen: map[string]entry{}}
	reply(w, http.StatusOK, wire.Message{Message: "OK"})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var in wire.LoginRequest
	if !decode(w, r, &in) {
		return
	}
	if len(in.MachineID) != 48 || !idRe.MatchString(in.MachineID) {
		reply(w, http.StatusBadRequest, wire.Message{Message: "machine_id: 48 alphanumeric characters"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.machines[in.MachineID]
	if !ok || m.password != in.Password {
		reply(w, http.StatusForbidden, wire.Message{Message: "incorrect Username or Password"})
		return
	}
	s.logins = append(s.logins, in)
	claims := map[string]any{"id": in.MachineID}
	if m.org != "" {
		claims["organization_id"] = m.org
	}
	pl, _ := json.Marshal(claims)
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	tok := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(pl) + "." + hex.EncodeToString(nonce)
	s.tokens[tok] = in.MachineID
	reply(w, http.StatusOK, wire.LoginResponse{Code: 200, Token: tok,
		Expire: time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
}

func (s *Server) auth(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		id, known := s.tokens[tok]
		s.mu.Unlock()
		if !ok || !known {
			reply(w, http.StatusUnauthorized, wire.Message{Message: "Unauthorized"})
			return
		}
		h(w, r, id)
	}
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request, id string) {
	var in wire.EnrollRequest
	if !decode(w, r, &in) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	org, ok := s.keys[in.AttachmentKey]
	if !ok {
		reply(w, http.StatusForbidden, wire.Message{Message: "attachment key not found"})
		return
	}
	m := s.machines[id]
	if m.org != "" && !in.Overwrite {
		reply(w, http.StatusForbidden, wire.Message{Message: "instance already enrolled"})
		return
	}
	m.org, m.name = org, in.Name
	reply(w, http.StatusOK, wire.Message{Message: "OK"})
}

func (s *Server) pushSignals(w http.ResponseWriter, r *http.Request, _ string) {
	var in []wire.Signal
	if !decode(w, r, &in) {
		return
	}
	for i, sig := range in {
		if sig.Scenario == "" || sig.Source == nil || sig.Source.Value == "" || sig.StartAt == "" || sig.StopAt == "" {
			reply(w, http.StatusBadRequest, wire.Message{Message: fmt.Sprintf("signal %d: missing required field", i)})
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sig := range in {
		if s.refuse[sig.UUID] {
			reply(w, http.StatusBadRequest, wire.Message{Message: fmt.Sprintf("signal %d: refused", i)})
			return
		}
	}
	if s.maxBatch > 0 && len(in) > s.maxBatch {
		reply(w, http.StatusRequestEntityTooLarge, wire.Message{Message: fmt.Sprintf("at most %d signals per request", s.maxBatch)})
		return
	}
	if s.failPush > 0 {
		s.failPush--
		reply(w, http.StatusServiceUnavailable, wire.Message{Message: "try later"})
		return
	}
	s.signals = append(s.signals, in...)
	s.batches = append(s.batches, len(in))
	reply(w, http.StatusOK, wire.Message{Message: "OK"})
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, id string) {
	startup := r.URL.Query().Get("startup") == "true"
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pulls = append(s.pulls, Pull{Machine: id, Startup: startup, At: time.Now()})
	m := s.machines[id]
	if startup {
		m.seen = map[string]entry{}
	}
	out := wire.Stream{New: []wire.NewGroup{}, Deleted: []wire.DeletedGroup{}}
	groups := map[[2]string]int{} // -> index in out.New
	var values []string
	for v := range s.listed {
		values = append(values, v)
	}
	sort.Strings(values)
	for _, v := range values {
		e := s.listed[v]
		if old, ok := m.seen[v]; ok && old == e {
			continue
		}
		k := [2]string{e.scenario, e.scope}
		i, ok := groups[k]
		if !ok {
			out.New = append(out.New, wire.NewGroup{Scenario: e.scenario, Scope: e.scope})
			i = len(out.New) - 1
			groups[k] = i
		}
		out.New[i].Decisions = append(out.New[i].Decisions, wire.NewDecision{Value: v, Duration: e.duration})
		m.seen[v] = e
	}
	del := map[string][]string{}
	for v, e := range m.seen {
		if _, ok := s.listed[v]; !ok {
			del[e.scope] = append(del[e.scope], v)
			delete(m.seen, v)
		}
	}
	for scope, vs := range del {
		sort.Strings(vs)
		out.Deleted = append(out.Deleted, wire.DeletedGroup{Scope: scope, Decisions: vs})
	}
	if len(s.lists) > 0 {
		out.Links = &wire.Links{}
		var names []string
		for n := range s.lists {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			l := s.lists[n]
			out.Links.Blocklists = append(out.Links.Blocklists, wire.BlocklistLink{Name: n, URL: s.URL() + "lists/" + n,
				Remediation: l.remediation, Scope: l.scope, Duration: l.duration})
		}
	}
	if s.interval != "" {
		w.Header().Set(capi.PullIntervalHeader, s.interval)
	}
	reply(w, http.StatusOK, out)
}

func (s *Server) getList(w http.ResponseWriter, r *http.Request, _ string) {
	s.mu.Lock()
	l, ok := s.lists[r.PathValue("name")]
	var body string
	var mod time.Time
	if ok {
		body, mod = strings.Join(l.values, "\n")+"\n", l.modified
	}
	s.mu.Unlock()
	if !ok {
		reply(w, http.StatusNotFound, wire.Message{Message: "no such list"})
		return
	}
	if ims, err := http.ParseTime(r.Header.Get("If-Modified-Since")); err == nil && !mod.Truncate(time.Second).After(ims) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Last-Modified", mod.UTC().Format(http.TimeFormat))
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, body)
}

// AddKey makes an attachment key for organisation org.
func (s *Server) AddKey(key, org string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[key] = org
}

// List puts value (scope Ip or Range) on the community list.
func (s *Server) List(scope, value, scenario, duration string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listed[value] = entry{scenario: scenario, scope: scope, duration: duration}
}

// Delist removes value from the community list (next pulls report it deleted).
func (s *Server) Delist(value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listed, value)
}

// SetBlocklist links a blocklist (served at /lists/NAME) to every stream.
func (s *Server) SetBlocklist(name, scope, remediation, duration string, values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists[name] = &list{values: values, scope: scope, remediation: remediation, duration: duration, modified: time.Now()}
}

// SetPullInterval makes stream answers carry the pull interval header ("" none).
func (s *Server) SetPullInterval(d string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.interval = d
}

// FailPushes makes the next n signal pushes answer 503.
func (s *Server) FailPushes(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failPush = n
}

// Refuse makes every push that holds a signal with this uuid answer 400
// (a signal the central can never accept).
func (s *Server) Refuse(uuid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse == nil {
		s.refuse = map[string]bool{}
	}
	s.refuse[uuid] = true
}

// MaxBatch makes signal pushes of more than n signals answer 413.
func (s *Server) MaxBatch(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxBatch = n
}

// FailAll makes the next n requests, of any kind, answer 503.
func (s *Server) FailAll(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = n
}

// Signals returns every signal received, in order (duplicates included).
func (s *Server) Signals() []wire.Signal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.Signal(nil), s.signals...)
}

// Batches returns the size of each accepted signal push.
func (s *Server) Batches() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.batches...)
}

// Machine says whether id is registered, its password and organisation.
func (s *Server) Machine(id string) (password, org, name string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.machines[id]
	if !ok {
		return "", "", "", false
	}
	return m.password, m.org, m.name, true
}

// Logins returns the login requests accepted.
func (s *Server) Logins() []wire.LoginRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.LoginRequest(nil), s.logins...)
}

// Pulls returns the stream requests served.
func (s *Server) Pulls() []Pull {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Pull(nil), s.pulls...)
}
