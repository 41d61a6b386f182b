package lapi

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/netguard"
)

// abuseGuard holds the defences of the LAPI's unauthenticated routes:
// registration rate and pending cap, failed-login back-off per address
// and per id, the bound on concurrent bcrypt work, and the rate of the
// failed-login log lines.
//
// Concurrency: safe for concurrent use.
type abuseGuard struct {
	regRate   *netguard.Limiter[netip.Prefix] // nil: no rate
	regMu     sync.Mutex                      // serialises counting pending machines and inserting one
	loginAddr *netguard.Backoff[netip.Prefix]
	loginID   *netguard.Backoff[string]
	// hashes bounds the bcrypt work; its reserved slot is only for a
	// login from the address the machine last logged in from: a flood of
	// tries from elsewhere (ids sprayed from many addresses keep every
	// shared slot busy) does not lock installed agents out.
	hashes *netguard.Work

	logs       *netguard.Limiter[struct{}] // failed-login log lines
	suppressed atomic.Int64                // lines not written since the last one

	// dummy is a hash compared against when the login id is unknown, so
	// that an unknown id costs the same time as a wrong password.
	dummy    func() []byte
	compares atomic.Int64 // bcrypt compares done (tests)
	cost     int          // bcrypt cost of new hashes
}

func newAbuseGuard(set *settings, cost int) *abuseGuard {
	pol := netguard.BackoffPolicy{Free: set.Login.FreeFailures, Base: time.Second, Max: set.Login.MaxBackoff}
	var reg *netguard.Limiter[netip.Prefix]
	if r := set.Registration.Rate; r > 0 {
		reg = netguard.NewLimiter[netip.Prefix](float64(r), set.Registration.Burst, 65536)
	}
	return &abuseGuard{
		cost:      cost,
		regRate:   reg,
		loginAddr: netguard.NewBackoff[netip.Prefix](pol),
		loginID:   netguard.NewBackoff[string](pol),
		hashes:    netguard.NewWork(set.MaxConcurrentHashes),
		logs:      netguard.NewLimiter[struct{}](1, 20, 1),
		dummy: sync.OnceValue(func() []byte {
			pw := make([]byte, 32)
			_, _ = rand.Read(pw)
			h, _ := bcrypt.GenerateFromPassword(pw, cost)
			return h
		}),
	}
}

// allowRegistration takes a registration token of the client address
// (always true without a rate).
func (a *abuseGuard) allowRegistration(addr netip.Addr, now time.Time) (bool, time.Duration) {
	if a.regRate == nil {
		return true, 0
	}
	return a.regRate.Allow(netguard.AddrKey(addr), now)
}

// errHashBusy answers a login or registration when every bcrypt slot is
// taken: the client retries in a second.
var errHashBusy = &apiError{status: http.StatusTooManyRequests, code: true, retryAfter: time.Second,
	msg: "too many logins and registrations in progress, retry later"}

// hash runs fn (bcrypt work) in a slot, or fails at once with 429 when
// none is free. known: the request comes from the machine's own last
// address and may also take the reserved slot.
func (a *abuseGuard) hash(known bool, fn func()) error {
	if err := a.hashes.Do(known, fn); err != nil {
		return errHashBusy
	}
	return nil
}

// compare checks password against hash (the dummy hash when hash is nil)
// in a bcrypt slot; ok is false for the dummy.
func (a *abuseGuard) compare(hash []byte, password string, known bool) (ok bool, err error) {
	real := hash != nil
	if !real {
		hash = a.dummy()
	}
	err = a.hash(known, func() {
		a.compares.Add(1)
		ok = bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	})
	return ok && real, err
}

// tooMany is a 429 answer with Retry-After.
func tooMany(wait time.Duration, format string, args ...any) error {
	return &apiError{status: http.StatusTooManyRequests, code: true, retryAfter: wait, msg: fmt.Sprintf(format, args...)}
}

// logFailure writes a failed-login line at warn level, at most about one
// a second (with a burst of 20); the lines left out are counted in the
// next one.
func (a *abuseGuard) logFailure(log *slog.Logger, now time.Time, args ...any) {
	if ok, _ := a.logs.Allow(struct{}{}, now); !ok {
		a.suppressed.Add(1)
		return
	}
	if n := a.suppressed.Swap(0); n > 0 {
		args = append(args, "similar_lines_suppressed", n)
	}
	log.Warn("lapi: failed login", args...)
}
