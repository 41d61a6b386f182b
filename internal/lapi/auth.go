package lapi

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/phalanx-ids/phalanx/internal/store"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// Claims of a machine token (the shape gin-jwt gives CrowdSec's tokens).
type tokenClaims struct {
	ID      string `json:"id"`
	OrigIat int64  `json:"orig_iat"`
	jwt.RegisteredClaims
}

func (s *Server) issueToken(machineID string, now time.Time) (string, time.Time, error) {
	exp := now.Add(s.cfg.JWTValidity).Truncate(time.Second)
	claims := tokenClaims{ID: machineID, OrigIat: now.Unix(), RegisteredClaims: jwt.RegisteredClaims{
		ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now),
	}}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.cfg.secret)
	return tok, exp, err
}

// tokenSkew is the clock difference tolerated between a token's times and
// ours.
const tokenSkew = time.Minute

// parseToken verifies the signature and, unless allowExpired, the expiry.
// Every token must carry exp (gin-jwt refuses tokens without it too), and
// no exp may lie further ahead than a token this server issues now: a
// token without end, or with an end years away, is refused even when its
// signature is good.
func (s *Server) parseToken(raw string, allowExpired bool) (*tokenClaims, error) {
	opts := []jwt.ParserOption{jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(s.now),
		jwt.WithExpirationRequired()}
	if allowExpired {
		opts = append(opts, jwt.WithoutClaimsValidation())
	}
	var c tokenClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return s.cfg.secret, nil }, opts...)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, &apiError{status: http.StatusUnauthorized, msg: "Token is expired", code: true}
		}
		if errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
			return nil, &apiError{status: http.StatusUnauthorized, msg: "missing exp field", code: true}
		}
		return nil, &apiError{status: http.StatusUnauthorized, msg: "invalid token", code: true}
	}
	if c.ExpiresAt == nil {
		return nil, &apiError{status: http.StatusUnauthorized, msg: "missing exp field", code: true}
	}
	if c.ExpiresAt.After(s.now().Add(s.cfg.JWTValidity + tokenSkew)) {
		return nil, &apiError{status: http.StatusUnauthorized, msg: "invalid token: expiry too far ahead", code: true}
	}
	if c.ID == "" {
		return nil, &apiError{status: http.StatusUnauthorized, msg: "invalid token: no identity", code: true}
	}
	return &c, nil
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(h, "bearer ")
	}
	tok = strings.TrimSpace(tok)
	return tok, ok && tok != ""
}

var errForbidden = &apiError{status: http.StatusForbidden, msg: "access forbidden"}

func (s *Server) authenticate(r *http.Request, kind authKind, c *caller) error {
	switch kind {
	case authNone:
		return nil
	case authMachine:
		return s.authMachine(r, c)
	case authBouncer:
		return s.authBouncer(r, c)
	case authEither:
		if r.Header.Get("X-Api-Key") != "" {
			return s.authBouncer(r, c)
		}
		if _, ok := bearer(r); ok {
			return s.authMachine(r, c)
		}
		if cert := verifiedCert(r); cert != nil && ouAllowed(cert, s.cfg.TLS.BouncersAllowedOU) {
			return s.authBouncer(r, c)
		}
		return s.authMachine(r, c)
	}
	return errForbidden
}

// authMachine accepts a valid JWT of an existing, validated machine, or a
// verified client certificate with an agent OU.
func (s *Server) authMachine(r *http.Request, c *caller) error {
	tok, ok := bearer(r)
	if !ok {
		if cert := verifiedCert(r); cert != nil && ouAllowed(cert, s.cfg.TLS.AgentsAllowedOU) {
			id, err := s.certMachine(r.Context(), cert, c)
			if err != nil {
				return err
			}
			c.machine = id
			return nil
		}
		return &apiError{status: http.StatusUnauthorized, msg: "cookie token is empty", code: true}
	}
	claims, err := s.parseToken(tok, false)
	if err != nil {
		return err
	}
	if err := s.machineActive(r.Context(), claims.ID); err != nil {
		return err
	}
	c.machine = claims.ID
	return nil
}

// machineActive checks (with the auth cache) that the machine still exists
// and is validated.
func (s *Server) machineActive(ctx context.Context, id string) error {
	if v, ok := s.auth.get("m\x00" + id); ok {
		if v == "" {
			return &apiError{status: http.StatusUnauthorized, msg: "machine " + id + " is unknown or not validated", code: true}
		}
		return nil
	}
	at := s.now()
	m, err := s.st.GetMachine(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.auth.put("m\x00"+id, "", at)
		return &apiError{status: http.StatusUnauthorized, msg: "machine " + id + " is unknown or not validated", code: true}
	case err != nil:
		return err
	case !m.IsValidated:
		s.auth.put("m\x00"+id, "", at)
		return &apiError{status: http.StatusUnauthorized, msg: "machine " + id + " is unknown or not validated", code: true}
	}
	s.auth.put("m\x00"+id, id, at)
	return nil
}

// certMachine returns (creating it, validated, when missing) the machine
// of an agent certificate: "<CN>@<ip>", as CrowdSec names it.
func (s *Server) certMachine(ctx context.Context, cert *x509.Certificate, c *caller) (string, error) {
	if cert.Subject.CommonName == "" {
		return "", errForbidden
	}
	id := cert.Subject.CommonName + "@" + ipString(c.ip)
	if s.machineActive(ctx, id) == nil {
		return id, nil
	}
	now := s.now()
	err := s.st.CreateMachine(ctx, &store.Machine{ID: id, IPAddress: ipString(c.ip), IsValidated: true,
		AuthType: "tls", CreatedAt: now, UpdatedAt: now})
	if err != nil && !errors.Is(err, store.ErrExists) {
		return "", err
	}
	s.auth.forget("m\x00" + id)
	if err := s.machineActive(ctx, id); err != nil {
		return "", err
	}
	s.log.Info("lapi: machine created from client certificate", "machine", textsafe.Log(id))
	return id, nil
}

// authBouncer accepts an API key (SHA-512 lookup) or a verified client
// certificate with a bouncer OU. A key used from a new IP gets its own
// "<name>@<ip>" bouncer row, as CrowdSec does.
func (s *Server) authBouncer(r *http.Request, c *caller) error {
	key := r.Header.Get("X-Api-Key")
	ua := r.UserAgent()
	ctx := r.Context()
	if key == "" {
		cert := verifiedCert(r)
		if cert == nil || !ouAllowed(cert, s.cfg.TLS.BouncersAllowedOU) || cert.Subject.CommonName == "" {
			return errForbidden
		}
		name := cert.Subject.CommonName + "@" + ipString(c.ip)
		ck := "c\x00" + name + "\x00" + ua
		if v, ok := s.auth.get(ck); ok && v != "" {
			c.bouncer = v
			return nil
		}
		at := s.now()
		b, err := s.st.GetBouncer(ctx, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			typ, ver := splitUA(ua)
			now := s.now()
			err = s.st.CreateBouncer(ctx, &store.Bouncer{Name: name, IPAddress: ipString(c.ip), AuthType: "tls",
				Type: typ, Version: ver, CreatedAt: now, UpdatedAt: now})
			if err != nil && !errors.Is(err, store.ErrExists) {
				return err
			}
		case err != nil:
			return err
		default:
			if err := s.recordUA(ctx, b, ua); err != nil {
				return err
			}
		}
		s.auth.put(ck, name, at)
		c.bouncer = name
		return nil
	}
	hash := store.HashAPIKey(key)
	ck := "k\x00" + hash + "\x00" + ipString(c.ip) + "\x00" + ua
	if v, ok, refresh := s.auth.getRefresh(ck); ok {
		if refresh {
			// Refresh ahead of expiry in the background, so that a
			// bouncer polling often never waits for the database.
			ip := c.ip
			s.bg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := s.lookupKey(ctx, ck, hash, ip, ua); err != nil {
					s.auth.refreshFailed(ck)
					s.log.Debug("lapi: refresh bouncer key", "err", err)
				}
			})
		}
		if v == "" {
			return errForbidden
		}
		c.bouncer = v
		return nil
	}
	name, err := s.lookupKey(ctx, ck, hash, c.ip, ua)
	if err != nil {
		return err
	}
	if name == "" {
		return errForbidden
	}
	c.bouncer = name
	return nil
}

// lookupKey finds the bouncer of an API key hash used from ip ("": none)
// and caches the answer under ck.
func (s *Server) lookupKey(ctx context.Context, ck, hash string, ip netip.Addr, ua string) (string, error) {
	at := s.now()
	rows, err := s.st.BouncersByKeyHash(ctx, hash)
	if err != nil {
		return "", err
	}
	if len(rows) == 0 {
		s.auth.put(ck, "", at)
		return "", nil
	}
	name, err := s.bouncerForIP(ctx, rows, ip, ua)
	if err != nil {
		return "", err
	}
	s.auth.put(ck, name, at)
	return name, nil
}

func (s *Server) bouncerForIP(ctx context.Context, rows []*store.Bouncer, ip interface{ String() string }, ua string) (string, error) {
	ips := ip.String()
	if ips == "invalid IP" {
		ips = ""
	}
	orig := rows[0]
	for _, b := range rows {
		if !b.AutoCreated {
			orig = b
			break
		}
	}
	for _, b := range rows {
		if b.IPAddress == ips {
			return b.Name, s.recordUA(ctx, b, ua)
		}
	}
	if orig.IPAddress == "" {
		typ, ver := splitUA(ua)
		_, err := s.st.UpdateBouncer(ctx, orig.Name, func(b *store.Bouncer) error {
			b.IPAddress, b.Type, b.Version = ips, typ, ver
			return nil
		})
		return orig.Name, err
	}
	name := orig.Name + "@" + ips
	typ, ver := splitUA(ua)
	now := s.now()
	err := s.st.CreateBouncer(ctx, &store.Bouncer{Name: name, KeyHash: orig.KeyHash, IPAddress: ips,
		Type: typ, Version: ver, AuthType: "api-key", AutoCreated: true, CreatedAt: now, UpdatedAt: now})
	if err != nil && !errors.Is(err, store.ErrExists) {
		return "", err
	}
	if err == nil {
		s.log.Info("lapi: bouncer key used from a new address; bouncer created", "bouncer", textsafe.Log(name), "from", textsafe.Log(orig.Name))
	}
	return name, nil
}

// recordUA stores the User-Agent type/version when it changed.
func (s *Server) recordUA(ctx context.Context, b *store.Bouncer, ua string) error {
	typ, ver := splitUA(ua)
	if typ == b.Type && ver == b.Version {
		return nil
	}
	_, err := s.st.UpdateBouncer(ctx, b.Name, func(x *store.Bouncer) error {
		x.Type, x.Version = typ, ver
		return nil
	})
	return err
}

func splitUA(ua string) (typ, version string) {
	typ, version, _ = strings.Cut(strings.TrimSpace(ua), "/")
	return typ, version
}

func verifiedCert(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return r.TLS.VerifiedChains[0][0]
}

func ouAllowed(cert *x509.Certificate, allowed []string) bool {
	for _, ou := range cert.Subject.OrganizationalUnit {
		if slices.Contains(allowed, ou) {
			return true
		}
	}
	return false
}

// authCache remembers authentication lookups for a short time, so that a
// bouncer poll costs no database read. "" caches a refusal. An answer is
// kept ttl from the time its lookup started (put's at, taken before the
// database read), not from when it was stored: a change the read missed
// (a bouncer deleted while a slow lookup ran) is seen within ttl of the
// change, however long the lookup took.
//
// Concurrency: safe for concurrent use.
type authCache struct {
	ttl time.Duration
	now func() time.Time // the server's clock
	mu  sync.Mutex
	m   map[string]authCacheEntry
}

type authCacheEntry struct {
	v          string
	exp        time.Time
	refreshing bool // a refresh-ahead lookup is running
}

func newAuthCache(ttl time.Duration, now func() time.Time) *authCache {
	return &authCache{ttl: ttl, now: now, m: make(map[string]authCacheEntry)}
}

func (a *authCache) get(k string) (string, bool) {
	if a.ttl <= 0 {
		return "", false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[k]
	if !ok || a.now().After(e.exp) {
		return "", false
	}
	return e.v, true
}

// getRefresh is get, and also says whether the caller should refresh the
// entry in the background: it is in the last quarter of its life and no
// refresh is running. An entry is never served past its expiry.
func (a *authCache) getRefresh(k string) (v string, ok, refresh bool) {
	if a.ttl <= 0 {
		return "", false, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	e, found := a.m[k]
	now := a.now()
	if !found || now.After(e.exp) {
		return "", false, false
	}
	if !e.refreshing && e.exp.Sub(now) < a.ttl/4 {
		e.refreshing = true
		a.m[k] = e
		refresh = true
	}
	return e.v, true, refresh
}

// refreshFailed lets a later get retry the refresh of k.
func (a *authCache) refreshFailed(k string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e, ok := a.m[k]; ok {
		e.refreshing = false
		a.m[k] = e
	}
}

// put caches v for k, the answer of a lookup that started at at, unless
// a lookup that started later has already answered.
func (a *authCache) put(k, v string, at time.Time) {
	if a.ttl <= 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if len(a.m) > 100000 {
		for k, e := range a.m {
			if now.After(e.exp) {
				delete(a.m, k)
			}
		}
	}
	exp := at.Add(a.ttl)
	if e, ok := a.m[k]; ok && e.exp.After(exp) {
		return // a later lookup's answer is newer
	}
	a.m[k] = authCacheEntry{v: v, exp: exp}
}

func (a *authCache) forget(k string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.m, k)
}

// forgetMachine drops the cached state of a machine (deleted or changed).
func (a *authCache) forgetMachine(id string) { a.forget("m\x00" + id) }
