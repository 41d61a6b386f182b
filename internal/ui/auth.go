package ui

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// Roles of dashboard users.
const (
	RoleAdmin  = "admin"  // reads and changes
	RoleViewer = "viewer" // reads only
)

// MinPasswordLen is the shortest password AddUser accepts.
const MinPasswordLen = 8

// CheckUserName checks a dashboard user name: 1 to 64 printable ASCII
// characters, no space.
func CheckUserName(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("user name: 1 to 64 characters")
	}
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] > '~' {
			return fmt.Errorf("user name: character %d is not printable ASCII (or is a space)", i+1)
		}
	}
	return nil
}

// AddUser creates a dashboard user with a bcrypt hash of password
// (`phalanx dashboard users add`).
func AddUser(ctx context.Context, st store.Store, name, role, password string) error {
	if err := CheckUserName(name); err != nil {
		return err
	}
	if role != RoleAdmin && role != RoleViewer {
		return fmt.Errorf("role %q: must be %s or %s", role, RoleAdmin, RoleViewer)
	}
	if len(password) < MinPasswordLen {
		return fmt.Errorf("password too short: at least %d characters", MinPasswordLen)
	}
	if len(password) > 72 {
		return errors.New("password too long: at most 72 bytes (bcrypt)")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	return st.CreateDashboardUser(ctx, &store.DashboardUser{Name: name, PasswordHash: string(h), Role: role})
}

// token returns 32 random bytes, base64url.
func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (Go >= 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// session is a logged-in user's session.
type session struct {
	id, user, csrf string
	created, seen  time.Time
	flash          *flash // one-shot message for the next page
}

// flash is a message shown once, after a change redirected.
type flash struct {
	Msg   string
	Error bool
	// Secret is shown once (a new bouncer's API key).
	Secret string
}

// sessions holds the sessions in memory.
//
// Concurrency: safe for concurrent use.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	max int
}

func newSessions(max int) *sessions { return &sessions{m: map[string]*session{}, max: max} }

func (s *sessions) create(user string, now time.Time) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		var oldest *session
		for _, v := range s.m {
			if oldest == nil || v.seen.Before(oldest.seen) {
				oldest = v
			}
		}
		delete(s.m, oldest.id)
	}
	ss := &session{id: token(), user: user, csrf: token(), created: now, seen: now}
	s.m[ss.id] = ss
	return ss
}

// get returns a copy of the live session id at now (and marks it seen),
// taking its flash; nil when absent or expired.
func (s *sessions) get(id string, now time.Time, idle, maxAge time.Duration) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil {
		return nil
	}
	if now.Sub(ss.seen) > idle || now.Sub(ss.created) > maxAge {
		delete(s.m, id)
		return nil
	}
	ss.seen = now
	c := *ss
	ss.flash = nil
	return &c
}

func (s *sessions) setFlash(id string, f *flash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss := s.m[id]; ss != nil {
		ss.flash = f
	}
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// deleteUser ends every session of user.
func (s *sessions) deleteUser(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, v := range s.m {
		if v.user == user {
			delete(s.m, id)
		}
	}
}

// loginGuard throttles logins: netguard's failed-login back-off per client
// address and per user name (as the LAPI's machine logins), and a bound
// on bcrypt comparisons running at once.
//
// Concurrency: safe for concurrent use.
type loginGuard struct {
	addr   *netguard.Backoff[netip.Prefix]
	user   *netguard.Backoff[string]
	hashes chan struct{}
	dummy  func() []byte
}

func newLoginGuard(slots, cost int) *loginGuard {
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	pol := netguard.BackoffPolicy{Free: 5, Base: time.Second, Max: 5 * time.Minute}
	return &loginGuard{
		addr:   netguard.NewBackoff[netip.Prefix](pol),
		user:   netguard.NewBackoff[string](pol),
		hashes: make(chan struct{}, slots),
		dummy: sync.OnceValue(func() []byte {
			h, _ := bcrypt.GenerateFromPassword([]byte(token()), cost)
			return h
		}),
	}
}

var errBusy = errors.New("busy")

// compare checks password against hash (a dummy when hash is nil, so an
// unknown user costs the same); errBusy when every slot is taken.
func (g *loginGuard) compare(hash []byte, password string) (bool, error) {
	select {
	case g.hashes <- struct{}{}:
	default:
		return false, errBusy
	}
	defer func() { <-g.hashes }()
	real := hash != nil
	if !real {
		hash = g.dummy()
	}
	ok := bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	return ok && real, nil
}

const (
	sessionCookie = "phalanx_session"
	loginCookie   = "phalanx_login" // the login form's CSRF token (double submit)
)

func (u *UI) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge, HttpOnly: true,
		Secure: u.set.SecureCookies, SameSite: http.SameSiteStrictMode}
}

// pageFunc serves a page for a logged-in user.
type pageFunc func(w http.ResponseWriter, r *http.Request, s *session) error

// httpError is an error answer with a status shown to the user.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

var errNotFound = &httpError{http.StatusNotFound, "not found"}

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// authed requires a live session of an existing user; change routes also
// require the admin role and the session's CSRF token (form field csrf).
func (u *UI) authed(change bool, fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s *session
		if c, err := r.Cookie(sessionCookie); err == nil {
			s = u.sessions.get(c.Value, u.now(), u.set.SessionIdle, u.set.SessionMax)
		}
		if s == nil {
			if change || r.Method != http.MethodGet || strings.HasSuffix(r.URL.Path, "/events") {
				http.Error(w, "login required", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
			return
		}
		// The user may have been deleted (or its role changed) since login.
		usr, err := u.st.GetDashboardUser(r.Context(), s.user)
		if errors.Is(err, store.ErrNotFound) {
			u.sessions.deleteUser(s.user)
			http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
			return
		}
		if err != nil {
			u.internalError(w, r, err)
			return
		}
		role := usr.Role
		if change {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "bad form", http.StatusBadRequest)
				return
			}
			if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrf)) != 1 {
				http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
			if role != RoleAdmin && !strings.HasSuffix(r.URL.Path, "/logout") {
				http.Error(w, "forbidden: your role ("+role+") may only read", http.StatusForbidden)
				return
			}
		}
		ctx := context.WithValue(r.Context(), roleKey{}, role)
		if err := fn(w, r.WithContext(ctx), s); err != nil {
			var he *httpError
			if errors.As(err, &he) {
				u.render(w, r.WithContext(ctx), s, he.status, "error", "Error", he.msg)
				return
			}
			u.internalError(w, r, err)
		}
	})
}

type roleKey struct{}

func roleOf(r *http.Request) string {
	v, _ := r.Context().Value(roleKey{}).(string)
	return v
}

type loginData struct {
	Token, Error, User string
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	tok := token()
	http.SetCookie(w, u.cookie(loginCookie, tok, 3600))
	u.renderBare(w, http.StatusOK, "login", loginData{Token: tok})
}

func (u *UI) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get("csrf"))) != 1 {
		http.Error(w, "missing or wrong CSRF token: reload the login page", http.StatusForbidden)
		return
	}
	name, pw := r.PostForm.Get("user"), r.PostForm.Get("password")
	fail := func(status int, msg string) {
		tok := token()
		http.SetCookie(w, u.cookie(loginCookie, tok, 3600))
		u.renderBare(w, status, "login", loginData{Token: tok, Error: msg, User: name})
	}
	if len(name) > 64 || len(pw) > 1024 {
		fail(http.StatusBadRequest, "user name or password too long")
		return
	}
	now := u.now()
	addr := netguard.AddrKey(netguard.PeerAddr(r))
	if wait := max(u.login.addr.Wait(addr, now), u.login.user.Wait(name, now)); wait > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
		fail(http.StatusTooManyRequests, fmt.Sprintf("too many failed logins: retry in %s", wait.Round(time.Second)))
		return
	}
	var hash []byte
	usr, err := u.st.GetDashboardUser(r.Context(), name)
	switch {
	case err == nil:
		hash = []byte(usr.PasswordHash)
	case !errors.Is(err, store.ErrNotFound):
		u.internalError(w, r, err)
		return
	}
	ok, err := u.login.compare(hash, pw)
	if errors.Is(err, errBusy) {
		w.Header().Set("Retry-After", "1")
		fail(http.StatusTooManyRequests, "too many logins in progress: retry in a second")
		return
	}
	if !ok {
		u.login.addr.Fail(addr, now)
		u.login.user.Fail(name, now)
		u.log.Info("ui: failed login", "user", textsafe.Log(name), "from", netguard.PeerAddr(r).String())
		fail(http.StatusUnauthorized, "wrong user name or password")
		return
	}
	u.login.addr.Reset(addr)
	u.login.user.Reset(name)
	if err := u.st.TouchDashboardUser(r.Context(), name, now); err != nil {
		u.log.Warn("ui: record login", "err", err)
	}
	s := u.sessions.create(name, now)
	http.SetCookie(w, u.cookie(sessionCookie, s.id, 0))
	http.SetCookie(w, u.cookie(loginCookie, "", -1))
	u.log.Info("ui: login", "user", textsafe.Log(name), "from", netguard.PeerAddr(r).String())
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, s *session) error {
	u.sessions.delete(s.id)
	http.SetCookie(w, u.cookie(sessionCookie, "", -1))
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
	return nil
}
