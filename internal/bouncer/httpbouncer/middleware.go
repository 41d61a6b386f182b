// Package httpbouncer enforces LAPI decisions in HTTP: a net/http
// middleware (and the reverse proxy of `phalanx bouncer http` built on it).
//
//	b, err := httpbouncer.New(httpbouncer.Options{Source: set, TrustedProxies: []string{"10.0.0.0/8"}})
//	http.ListenAndServe(":8081", b.Wrap(app))
//
// Remediations: "ban" answers 403 with a self-contained page (JSON when the
// client asks for JSON); "captcha" answers a self-hosted proof-of-work
// challenge: the page's script finds a nonce such that
// SHA-256(challenge || nonce) starts with Difficulty zero bits and posts
// it; the middleware verifies it and sets a signed cookie (HMAC-SHA256 over
// the client address and an expiry; Secure when the client asked over
// HTTPS) then redirects back to the page asked for: a local path only
// (safeRedirect), bound into the challenge's MAC so that an answer cannot
// carry another target, and only for an address under a captcha decision.
// Any other decision
// type gets FallbackRemediation. Requests without a decision go straight to
// the next handler: the cost is one client-address parse, one Lookup and
// one atomic add. Options.Registerer exposes the counters to Prometheus
// (phalanx_http_bouncer_requests_total by outcome, and the active
// decisions); the proxy strips its pass cookie before the upstream sees it
// and tells the upstream who the client is (setForwarded: X-Real-IP,
// X-Forwarded-For, X-Forwarded-Proto).
package httpbouncer

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
)

// DecisionSource tells which remediation applies to an address.
//
// Concurrency: Lookup is called from every request goroutine at once; it
// must be safe for concurrent use, must not block on I/O, and should not
// allocate (it sits on the path of every request).
type DecisionSource interface {
	// Lookup returns the decision type ("ban", "captcha", ...) of an
	// active decision covering addr (an Ip or a Range decision); ok is
	// false when none does. addr is never an IPv4-mapped IPv6 address.
	Lookup(addr netip.Addr) (typ string, ok bool)
}

// OriginSource is a DecisionSource that also names the origin of the
// decision (crowdsec, cscli, CAPI, lists...), so that the usage metrics
// count what the bouncer stopped per origin, as CrowdSec's bouncers do
// (SetSource implements it). The same contract as Lookup.
type OriginSource interface {
	DecisionSource
	LookupOrigin(addr netip.Addr) (typ, origin string, ok bool)
}

// Remediations.
const (
	RemedyBan     = "ban"
	RemedyCaptcha = "captcha"
	RemedyBypass  = "bypass"
)

// Defaults of Options.
const (
	DefaultDifficulty    = 18
	DefaultCookieName    = "phalanx_pass"
	DefaultPassTTL       = time.Hour
	DefaultChallengeTTL  = 5 * time.Minute
	DefaultChallengePath = "/.phalanx/challenge"
	minSecretLen         = 32
)

// Options configure a Bouncer (plain data plus the injected source).
type Options struct {
	// Source answers the decision lookups (required).
	Source DecisionSource
	// TrustedProxies (addresses or CIDR prefixes) may set X-Forwarded-For.
	// Empty: the direct peer is always the client.
	TrustedProxies []string
	// FallbackRemediation applies to decision types other than ban and
	// captcha: "ban" (default), "captcha" or "bypass".
	FallbackRemediation string
	Challenge           ChallengeOptions
	// Logger (default: discard).
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Registerer, when set, gets the middleware's Prometheus metrics
	// (requests by outcome; active decisions when Source has a Len() int
	// method, as SetSource does). New fails if they are already registered.
	Registerer prometheus.Registerer
}

// ChallengeOptions configure the proof-of-work challenge.
type ChallengeOptions struct {
	// Secret is the HMAC key of challenges and cookies (>= 32 bytes). Empty:
	// a random key per process (passes do not survive a restart). Replicas
	// behind one load balancer must share it.
	Secret []byte
	// Difficulty is the number of leading zero bits (1..32, default 18:
	// about 260,000 hashes, well under a second in a browser).
	Difficulty int
	// CookieName of the pass cookie (default phalanx_pass).
	CookieName string
	// PassTTL is how long a solved challenge lets the client in (default 1h).
	PassTTL time.Duration
	// ChallengeTTL is how long a challenge may be answered (default 5m).
	ChallengeTTL time.Duration
	// Path receives the answers (POST); default /.phalanx/challenge.
	Path string
}

// Stats count what the middleware did: Allowed requests went to the next
// handler without a remediation, Passed ones went through a captcha
// decision with a valid pass cookie, Solved and Failed count challenge
// answers.
type Stats struct {
	Allowed, Banned, Challenged, Solved, Failed, Passed uint64
}

// Bouncer is the compiled middleware.
//
// Concurrency: immutable after New (counters are atomic); Wrap and the
// handlers it returns are safe for concurrent use.
type Bouncer struct {
	src      DecisionSource
	ips      *ClientIP
	fallback string
	ch       challenger
	cookie   string
	path     string
	log      *slog.Logger

	allowed, banned, challenged, solved, failed, passed atomic.Uint64
	// dropped: requests answered with a ban or a challenge, by decision
	// origin (string -> *atomic.Uint64).
	dropped sync.Map
}

// New validates opts and builds a Bouncer.
func New(opts Options) (*Bouncer, error) {
	if opts.Source == nil {
		return nil, fmt.Errorf("httpbouncer: options: Source is required")
	}
	ips, err := NewClientIP(opts.TrustedProxies)
	if err != nil {
		return nil, err
	}
	b := &Bouncer{src: opts.Source, ips: ips, fallback: opts.FallbackRemediation, log: opts.Logger}
	switch b.fallback {
	case "":
		b.fallback = RemedyBan
	case RemedyBan, RemedyCaptcha, RemedyBypass:
	default:
		return nil, fmt.Errorf("httpbouncer: options: fallback remediation %q: want ban, captcha or bypass", b.fallback)
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	c := opts.Challenge
	key := c.Secret
	switch {
	case len(key) == 0:
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	case len(key) < minSecretLen:
		return nil, fmt.Errorf("httpbouncer: options: challenge secret is %d bytes, want at least %d", len(key), minSecretLen)
	}
	if c.Difficulty == 0 {
		c.Difficulty = DefaultDifficulty
	}
	if c.Difficulty < 1 || c.Difficulty > 32 {
		return nil, fmt.Errorf("httpbouncer: options: challenge difficulty %d: want 1..32 bits", c.Difficulty)
	}
	if c.PassTTL <= 0 {
		c.PassTTL = DefaultPassTTL
	}
	if c.ChallengeTTL <= 0 {
		c.ChallengeTTL = DefaultChallengeTTL
	}
	if c.CookieName == "" {
		c.CookieName = DefaultCookieName
	}
	if c.Path == "" {
		c.Path = DefaultChallengePath
	}
	if !strings.HasPrefix(c.Path, "/") {
		return nil, fmt.Errorf("httpbouncer: options: challenge path %q must start with /", c.Path)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	b.ch = challenger{key: key, bits: c.Difficulty, challengeTTL: c.ChallengeTTL, passTTL: c.PassTTL, now: now}
	b.cookie, b.path = c.CookieName, c.Path
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(newMetrics(b)); err != nil {
			return nil, fmt.Errorf("httpbouncer: metrics: %w", err)
		}
	}
	return b, nil
}

// Middleware is New followed by Wrap.
func Middleware(next http.Handler, opts Options) (http.Handler, error) {
	b, err := New(opts)
	if err != nil {
		return nil, err
	}
	return b.Wrap(next), nil
}

// Wrap returns next behind the bouncer.
func (b *Bouncer) Wrap(next http.Handler) http.Handler {
	return &handler{b: b, next: next}
}

// Stats returns the counters so far.
func (b *Bouncer) Stats() Stats {
	return Stats{Allowed: b.allowed.Load(), Banned: b.banned.Load(), Challenged: b.challenged.Load(), Solved: b.solved.Load(),
		Failed: b.failed.Load(), Passed: b.passed.Load()}
}

// drop counts a request stopped by a decision of origin.
func (b *Bouncer) drop(origin string) {
	c, ok := b.dropped.Load(origin)
	if !ok {
		c, _ = b.dropped.LoadOrStore(origin, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(1)
}

// UsageCounters are the middleware's figures in its usage reports, as
// CrowdSec's HTTP bouncers report them: the requests it stopped (a ban or
// a challenge page) by decision origin ("dropped", unit request) and
// every request it saw ("processed"). Pass it to bouncer.WithUsage of
// the stream that feeds the middleware (the proxy does). Safe for
// concurrent use.
func (b *Bouncer) UsageCounters() []bouncer.UsageCounter {
	st := b.Stats()
	out := []bouncer.UsageCounter{{Name: "processed", Unit: "request",
		Value: float64(st.Allowed + st.Banned + st.Challenged + st.Passed + st.Solved + st.Failed)}}
	var origins []string
	b.dropped.Range(func(k, _ any) bool {
		origins = append(origins, k.(string))
		return true
	})
	sort.Strings(origins)
	for _, o := range origins {
		c, _ := b.dropped.Load(o)
		out = append(out, bouncer.UsageCounter{Name: "dropped", Unit: "request", Labels: map[string]string{"origin": o},
			Value: float64(c.(*atomic.Uint64).Load())})
	}
	return out
}

// ClientIP returns the client address of r as the bouncer sees it.
func (b *Bouncer) ClientIP(r *http.Request) (netip.Addr, bool) { return b.ips.Resolve(r) }

// Remediation returns what the bouncer does with a request from addr, ""
// when it lets it through (a captcha decision counts as "captcha" even
// when the client holds a pass).
func (b *Bouncer) Remediation(addr netip.Addr) string {
	typ, ok := b.src.Lookup(addr)
	if !ok {
		return ""
	}
	return b.remedy(typ)
}

func (b *Bouncer) remedy(typ string) string {
	switch typ {
	case RemedyBan, RemedyCaptcha:
		return typ
	}
	if b.fallback == RemedyBypass {
		return ""
	}
	return b.fallback
}

type handler struct {
	b    *Bouncer
	next http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b := h.b
	ip, ok := b.ips.Resolve(r)
	if !ok {
		// Not an IP peer (a unix socket): nothing to look up.
		b.allowed.Add(1)
		h.next.ServeHTTP(w, r)
		return
	}
	var typ, origin string
	var found bool
	if osrc, ok := b.src.(OriginSource); ok {
		typ, origin, found = osrc.LookupOrigin(ip)
	} else {
		typ, found = b.src.Lookup(ip)
	}
	if r.Method == http.MethodPost && r.URL.Path == b.path {
		b.serveAnswer(w, r, ip, typ, found)
		return
	}
	if !found {
		b.allowed.Add(1)
		h.next.ServeHTTP(w, r)
		return
	}
	switch b.remedy(typ) {
	case RemedyBan:
		b.drop(origin)
		b.serveBan(w, r, ip)
	case RemedyCaptcha:
		if c, err := r.Cookie(b.cookie); err == nil && b.ch.validPass(ip, c.Value) {
			b.passed.Add(1)
			h.next.ServeHTTP(w, r)
			return
		}
		b.drop(origin)
		b.serveChallenge(w, r, ip, r.URL.RequestURI(), false)
	default:
		b.allowed.Add(1)
		h.next.ServeHTTP(w, r)
	}
}

func wantsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

func noStore(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

func (b *Bouncer) serveBan(w http.ResponseWriter, r *http.Request, ip netip.Addr) {
	b.banned.Add(1)
	b.log.Debug("httpbouncer: ban", "ip", ip, "method", r.Method, "uri", r.URL.RequestURI())
	noStore(w)
	w.Header().Set("X-Phalanx-Remediation", RemedyBan)
	if wantsJSON(r) {
		writeJSON(w, http.StatusForbidden, map[string]any{"remediation": RemedyBan, "ip": ip.String(),
			"message": "access denied: this address is blocked"})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(http.StatusForbidden)
	_ = banPage.Execute(w, banData{IP: ip.String(), Time: b.ch.now().UTC().Format(time.RFC3339)})
}

func (b *Bouncer) serveChallenge(w http.ResponseWriter, r *http.Request, ip netip.Addr, redirect string, failed bool) {
	b.challenged.Add(1)
	redirect = safeRedirect(redirect)
	ch := b.ch.issue(ip, redirect)
	noStore(w)
	w.Header().Set("X-Phalanx-Remediation", RemedyCaptcha)
	if wantsJSON(r) {
		writeJSON(w, http.StatusForbidden, map[string]any{"remediation": RemedyCaptcha, "ip": ip.String(),
			"challenge": ch, "difficulty": b.ch.bits, "answer_url": b.path, "redirect": redirect,
			"message": "solve: find nonce such that sha256(challenge || nonce) has difficulty leading zero bits; POST challenge, nonce and redirect (unchanged) as a form"})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(http.StatusForbidden)
	_ = challengePage.Execute(w, challengeData{IP: ip.String(), Challenge: ch, Bits: b.ch.bits, Action: b.path, Redirect: redirect, Failed: failed})
}

// maxAnswerBody bounds the answer form (a redirect of maxRedirect bytes
// percent-encoded, the challenge and the nonce).
const maxAnswerBody = 8 << 10

// serveAnswer verifies a posted answer. Only an address under a captcha
// decision has a challenge to answer: a banned one gets the ban page, any
// other a refusal (an answer posted cross-site by a visitor without a
// decision must not become a redirect). The redirect is the one the
// challenge was issued with (bound by its MAC); after a refused answer the
// new challenge keeps it only when the MAC proved it authentic.
func (b *Bouncer) serveAnswer(w http.ResponseWriter, r *http.Request, ip netip.Addr, typ string, found bool) {
	remedy := ""
	if found {
		remedy = b.remedy(typ)
	}
	switch remedy {
	case RemedyBan:
		b.serveBan(w, r, ip)
		return
	case RemedyCaptcha:
	default:
		b.failed.Add(1)
		b.log.Debug("httpbouncer: challenge answer from an address without a captcha decision", "ip", ip)
		noStore(w)
		http.Error(w, "no challenge is pending for this address", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAnswerBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad challenge answer", http.StatusBadRequest)
		return
	}
	target := r.PostForm.Get("redirect")
	if err := b.ch.verify(ip, r.PostForm.Get("challenge"), r.PostForm.Get("nonce"), target); err != nil {
		b.failed.Add(1)
		b.log.Info("httpbouncer: challenge answer refused", "ip", ip, "err", err)
		if !errors.Is(err, ErrChallengeExpired) && !errors.Is(err, ErrWorkInsufficient) {
			target = "/" // not proved authentic
		}
		b.serveChallenge(w, r, ip, target, true)
		return
	}
	b.solved.Add(1)
	val, exp := b.ch.pass(ip)
	http.SetCookie(w, &http.Cookie{Name: b.cookie, Value: val, Path: "/", Expires: exp, MaxAge: int(exp.Sub(b.ch.now()) / time.Second),
		HttpOnly: true, Secure: b.ips.IsHTTPS(r), SameSite: http.SameSiteLaxMode})
	noStore(w)
	seeOther(w, safeRedirect(target))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
