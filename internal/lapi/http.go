package lapi

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/netguard"
)

// authKind is how a route authenticates its caller.
type authKind int

const (
	authNone    authKind = iota
	authMachine          // JWT (or an agent client certificate)
	authBouncer          // X-Api-Key (or a bouncer client certificate)
	authEither           // bouncer or machine
)

// caller is who made an authenticated request.
type caller struct {
	machine string // machine id (authMachine)
	bouncer string // bouncer name (authBouncer)
	ip      netip.Addr
}

// apiError is an error answer: status and the message of ErrorResponse.
type apiError struct {
	status     int
	msg        string
	code       bool          // add "code" (gin-jwt shape)
	retryAfter time.Duration // > 0: a Retry-After header (429)
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c *caller) error

// statusWriter records the status for metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// longAnswers are the routes whose answers may take longer than the
// server's write timeout (a stream of a million decisions): their write
// deadline moves with each write.
var longAnswers = map[string]bool{
	"GET /v1/decisions/stream": true,
	"GET /v1/decisions":        true,
	"GET /v1/alerts":           true,
}

// mux routes every LAPI path, and extra.
func (s *Server) mux(extra map[string]http.Handler) http.Handler {
	mux := http.NewServeMux()
	for pattern, h := range extra {
		mux.Handle(pattern, h)
	}
	h := func(pattern string, kind authKind, fn handlerFunc) {
		_, route, _ := strings.Cut(pattern, " ")
		mux.Handle(pattern, s.wrap(route, kind, longAnswers[pattern], fn))
	}
	h("GET /health", authNone, s.health)
	h("POST /v1/watchers", authNone, s.registerMachine)
	h("POST /v1/watchers/login", authNone, s.login)
	h("GET /v1/refresh_token", authNone, s.refreshToken) // checks the token itself
	h("DELETE /v1/watchers/self", authMachine, s.deleteSelf)
	h("GET /v1/heartbeat", authMachine, s.heartbeat)
	h("POST /v1/alerts", authMachine, s.postAlerts)
	h("GET /v1/alerts", authMachine, s.listAlerts) // GET patterns also answer HEAD
	h("DELETE /v1/alerts", authMachine, s.deleteAlerts)
	h("GET /v1/alerts/{alert_id}", authMachine, s.getAlert)
	h("DELETE /v1/alerts/{alert_id}", authMachine, s.deleteAlert)
	h("GET /v1/decisions", authBouncer, s.liveDecisions)
	h("DELETE /v1/decisions", authMachine, s.deleteDecisions)
	h("DELETE /v1/decisions/{decision_id}", authMachine, s.deleteDecision)
	h("GET /v1/decisions/stream", authBouncer, s.streamDecisions)
	h("POST /v1/usage-metrics", authEither, s.usageMetrics)
	h("GET /v1/allowlists", authMachine, s.listAllowlists)
	h("GET /v1/allowlists/{allowlist_name}", authMachine, s.getAllowlist)
	h("GET /v1/allowlists/check/{ip_or_range}", authMachine, s.checkAllowlist)
	h("POST /v1/allowlists/check", authMachine, s.bulkCheckAllowlist)
	return mux
}

// wrap authenticates, bounds the body, records metrics and renders errors.
// A long route's write deadline moves with each write.
func (s *Server) wrap(route string, kind authKind, long bool, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if long {
			rw = netguard.ExtendWrites(rw, s.ng.WriteTimeout())
		}
		w := &statusWriter{ResponseWriter: rw}
		c := &caller{ip: netguard.PeerAddr(r)}
		limit := s.cfg.MaxBodyUnauth
		err := s.authenticate(r, kind, c)
		if err == nil {
			if kind != authNone {
				limit = s.cfg.MaxBodyAuth
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			err = fn(w, r, c)
		}
		if err != nil {
			s.writeError(w, r, route, err)
		}
		if w.status == 0 {
			w.status = http.StatusOK
		}
		s.met.observe(route, r.Method, w.status, c, time.Since(start))
	})
}

func (s *Server) writeError(w *statusWriter, r *http.Request, route string, err error) {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &mbe):
		ae = &apiError{status: http.StatusRequestEntityTooLarge,
			msg: fmt.Sprintf("request body too large (limit %d bytes)", mbe.Limit)}
	default:
		// The cause stays in the log, under the request id the client gets.
		s.log.Error("lapi: request failed", "route", route, "method", r.Method,
			"request_id", netguard.RequestID(r.Context()), "err", err)
		ae = &apiError{status: http.StatusInternalServerError, msg: netguard.InternalErrorMessage(r.Context())}
	}
	if w.status != 0 { // answer already started: nothing more can be said
		return
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ae.retryAfter+time.Second-1)/time.Second)))
	}
	body := map[string]any{"message": ae.msg}
	if ae.code {
		body["code"] = ae.status
	}
	writeJSON(w, ae.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"message":"encode answer"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeJSONList answers items as a JSON array, the bytes json.Marshal
// gives for the slice ("null" for none), encoded one item at a time
// through a small buffer: a long list (every alert, each with its events
// and raw lines) is not held a second time as one encoded body, whose
// buffer grows by doubling (an answer of a few MB was a peak of the
// daemon's RSS). An item that fails to encode after the answer started
// ends it, and the error is returned (the wrapper logs it).
func writeJSONList[T any](w http.ResponseWriter, status int, items []T) error {
	if len(items) == 0 {
		writeJSON(w, status, []T(nil))
		return nil
	}
	first, err := json.Marshal(items[0])
	if err != nil {
		http.Error(w, `{"message":"encode answer"}`, http.StatusInternalServerError)
		return nil
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	bw := bufio.NewWriterSize(w, 32<<10)
	_ = bw.WriteByte('[')
	_, _ = bw.Write(first)
	for _, it := range items[1:] {
		b, err := json.Marshal(it)
		if err != nil {
			return fmt.Errorf("encode answer: %w", err)
		}
		_ = bw.WriteByte(',')
		_, _ = bw.Write(b)
	}
	_ = bw.WriteByte(']')
	return bw.Flush()
}

// decodeBody reads a JSON body (gzip accepted) into v. The body is already
// bounded by MaxBytesReader; the decompressed size is bounded the same.
func decodeBody(r *http.Request, limit int64, v any) error {
	var rd io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return err
			}
			return errorf(http.StatusBadRequest, "invalid gzip body: %v", err)
		}
		defer func() { _ = zr.Close() }()
		rd = &limitedReader{r: zr, n: limit, limit: limit}
	default:
		return errorf(http.StatusUnsupportedMediaType, "unsupported content encoding %q", enc)
	}
	data, err := io.ReadAll(rd)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errorf(http.StatusBadRequest, "read body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errorf(http.StatusBadRequest, "invalid JSON body: empty body")
	}
	// A value that decodes itself gets the body as it is: json.Unmarshal
	// would scan it twice first (checkValid, then skip) before handing it
	// over, and an alert batch is the largest body the LAPI takes, at
	// every push.
	unmarshal := json.Unmarshal
	if u, ok := v.(json.Unmarshaler); ok {
		unmarshal = func(b []byte, _ any) error { return u.UnmarshalJSON(b) }
	}
	if err := unmarshal(data, v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return errorf(http.StatusBadRequest, "invalid JSON body: %v (at byte %d)", se, se.Offset)
		case errors.As(err, &te):
			return errorf(http.StatusBadRequest, "invalid JSON body: field %q: cannot use a JSON %s as %s", te.Field, te.Value, te.Type)
		}
		return errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
	}
	return nil
}

// limitedReader fails with *http.MaxBytesError past limit (decompressed bodies).
type limitedReader struct {
	r        io.Reader
	n, limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if k, _ := l.r.Read(one[:]); k > 0 {
			return 0, &http.MaxBytesError{Limit: l.limit}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}

func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request, _ *caller) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "up"})
	return nil
}
