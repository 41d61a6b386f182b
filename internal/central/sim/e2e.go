package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/phalanx-ids/phalanx/internal/capi"
	"github.com/phalanx-ids/phalanx/internal/capi/wire"
	"github.com/phalanx-ids/phalanx/internal/central/server"
	"github.com/phalanx-ids/phalanx/internal/netguard"
)

// HTTPConfig is an end-to-end run: a real central (internal/central/server,
// SQLite in DataDir) on loopback, and installs speaking CAPI to it with
// the real client (internal/capi), each from its own organisation and /16
// (X-Forwarded-For through the trusted loopback proxy). Wall clock, no
// virtual time.
type HTTPConfig struct {
	DataDir   string
	Seed      uint64
	Installs  int     // default 100
	Seeds     int     // seed installs among them, default 5
	Attackers int     // attacker IPs reported in the measured phase, default 100
	Rate      float64 // attackers per second, default 5
	// Poll is the central's curator poll (server default 500ms).
	Poll time.Duration
}

// HTTPResult is what an end-to-end run measured: for every attacker
// reported by 3 trusted installs of independent clusters, the time from
// the answer to the third report's push to its arrival in each install's
// stream pulled at the central's pull interval (1 s here), p50/p99/max over
// (attacker, install) pairs, and the same from the third report to the
// first install that saw it.
type HTTPResult struct {
	Installs, Attackers, Listed int
	Pairs                       int
	P50, P99, Max               time.Duration
	FirstP50, FirstP99          time.Duration
	Signals                     int
	Wall                        time.Duration
}

// xff is a transport that sends an install's egress address as the
// right-most X-Forwarded-For (the central trusts its loopback peer).
type xff struct {
	egress string
	next   http.RoundTripper
}

func (x xff) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", x.egress)
	return x.next.RoundTrip(r)
}

type e2eInstall struct {
	id     string
	egress string
	hc     *http.Client
	cl     *capi.Client
	creds  capi.Credentials
}

// RunHTTP runs cfg until done or ctx ends.
func RunHTTP(ctx context.Context, cfg HTTPConfig) (HTTPResult, error) {
	if cfg.Installs == 0 {
		cfg.Installs = 100
	}
	if cfg.Seeds == 0 {
		cfg.Seeds = 5
	}
	if cfg.Attackers == 0 {
		cfg.Attackers = 100
	}
	if cfg.Rate == 0 {
		cfg.Rate = 5
	}
	if cfg.Installs < cfg.Seeds+3 || cfg.Installs > 250 {
		return HTTPResult{}, fmt.Errorf("sim: http: installs must be between seeds+3 and 250")
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5851f42d4c957f2d))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scfg := server.Config{DataDir: cfg.DataDir, Listen: "127.0.0.1:0", TrustedProxies: []string{"127.0.0.1/32"},
		Poll: cfg.Poll, RegistrationRate: netguard.Off, SignalRate: netguard.Off, PullRate: 10, PullBurst: 10,
		PullInterval: time.Second, Limits: netguard.Config{MaxConnsPerAddress: 4 * cfg.Installs}}
	srv, err := server.New(ctx, scfg, server.Deps{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PasswordCost: bcrypt.MinCost})
	if err != nil {
		return HTTPResult{}, err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	base := "http://" + srv.Addr()
	st := srv.Store()

	// Installs: register, log in, enrol in their own organisation (the
	// first Seeds in seed organisations).
	ins := make([]*e2eInstall, cfg.Installs)
	for i := range ins {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 4
		in := &e2eInstall{id: fmt.Sprintf("%040d%08d", cfg.Seed, i), egress: fmt.Sprintf("%d.%d.1.10", 20+i/250, i%250)}
		in.hc = &http.Client{Transport: xff{in.egress, tr}, Timeout: time.Minute}
		in.creds = capi.Credentials{URL: base, Login: in.id, Password: fmt.Sprintf("password-%d-%d", cfg.Seed, i)}
		if in.cl, err = capi.NewClient(in.creds, capi.ClientOptions{HTTP: in.hc, UserAgent: "phalanx-sim"}); err != nil {
			return HTTPResult{}, err
		}
		if err := in.cl.Register(ctx); err != nil {
			return HTTPResult{}, fmt.Errorf("sim: http: register: %w", err)
		}
		key := fmt.Sprintf("simkey%dx%d", cfg.Seed, i)
		if _, err := st.AddOrg(ctx, fmt.Sprintf("org-%d", i), i < cfg.Seeds, server.KeyHash(key)); err != nil {
			return HTTPResult{}, err
		}
		if err := in.cl.Enroll(ctx, key, in.id, nil, false); err != nil {
			return HTTPResult{}, fmt.Errorf("sim: http: enroll: %w", err)
		}
		ins[i] = in
	}
	signals := 0
	var sigMu sync.Mutex
	push := func(in *e2eInstall, ips ...string) error {
		var raw []json.RawMessage
		now := time.Now().UTC().Format(time.RFC3339)
		for _, ip := range ips {
			b, _ := json.Marshal(wire.Signal{Scenario: scenBF, ScenarioTrust: "certified", ScenarioVersion: "0.1",
				Source: &wire.Source{Scope: "ip", Value: ip}, StartAt: now, StopAt: now, MachineID: in.id,
				UUID: fmt.Sprintf("%s-%s", in.id, ip), Decisions: []wire.SignalDecision{}})
			raw = append(raw, b)
		}
		sigMu.Lock()
		signals += len(raw)
		sigMu.Unlock()
		return in.cl.PushSignals(ctx, raw)
	}

	// Warm-up: the seeds report 12 addresses per group of 40 installs,
	// then each install its group's 12, which confirms it 12 times
	// (trusted from 10). Groups: an address keeps 64 reports.
	group := func(i int) int { return (i - cfg.Seeds) / 40 }
	warm := func(g int) []string {
		var ips []string
		for k := range 12 {
			ips = append(ips, fmt.Sprintf("9.%d.%d.%d", cfg.Seed%200, g, k+1))
		}
		return ips
	}
	var all []string
	for g := 0; g <= group(cfg.Installs-1); g++ {
		all = append(all, warm(g)...)
	}
	for i, in := range ins {
		ips := all
		if i >= cfg.Seeds {
			ips = warm(group(i))
		}
		if err := push(in, ips...); err != nil {
			return HTTPResult{}, fmt.Errorf("sim: http: push: %w", err)
		}
	}
	warmUntil := time.Now().Add(time.Minute)
	for {
		ok := true
		for _, in := range ins[cfg.Seeds:] {
			got, err := st.GetInstall(ctx, in.id)
			if err != nil {
				return HTTPResult{}, err
			}
			ok = ok && got.Confirmed >= 10
		}
		if ok {
			break
		}
		if time.Now().After(warmUntil) {
			return HTTPResult{}, fmt.Errorf("sim: http: installs not trusted after a minute of warm-up")
		}
		select {
		case <-ctx.Done():
			return HTTPResult{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}

	// Every install pulls its stream with the CAPI client at the pull
	// interval the central asks for (PullInterval), as a Phalanx LAPI
	// does, and notes when each address first arrives.
	type key struct {
		ip string
		in int
	}
	var mu sync.Mutex
	seen := map[key]time.Time{}
	var wg sync.WaitGroup
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	for i, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			startup := true
			// Spread the installs' pulls over the interval.
			time.Sleep(time.Duration(i) * scfg.PullInterval / time.Duration(len(ins)))
			for pollCtx.Err() == nil {
				s, pi, err := in.cl.PullStream(pollCtx, startup, true, true)
				if err == nil {
					startup = false
					at := time.Now()
					mu.Lock()
					for _, g := range s.New {
						for _, d := range g.Decisions {
							if _, ok := seen[key{d.Value, i}]; !ok {
								seen[key{d.Value, i}] = at
							}
						}
					}
					mu.Unlock()
				}
				wait := pi.Interval
				if wait <= 0 {
					wait = scfg.PullInterval
				}
				select {
				case <-pollCtx.Done():
				case <-time.After(wait):
				}
			}
		}()
	}

	// Attackers: each reported by 3 random non-seed installs at once.
	third := map[string]time.Time{}
	var thirdMu sync.Mutex
	var attacks sync.WaitGroup
	tick := time.Duration(float64(time.Second) / cfg.Rate)
	for a := range cfg.Attackers {
		ip := fmt.Sprintf("5.%d.%d.%d", cfg.Seed%200, a/250, 1+a%250)
		perm := rng.Perm(cfg.Installs - cfg.Seeds)[:3]
		attacks.Add(1)
		go func() {
			defer attacks.Done()
			var rw sync.WaitGroup
			var last time.Time
			var lmu sync.Mutex
			for _, p := range perm {
				rw.Add(1)
				go func() {
					defer rw.Done()
					if err := push(ins[cfg.Seeds+p], ip); err == nil {
						lmu.Lock()
						if now := time.Now(); now.After(last) {
							last = now
						}
						lmu.Unlock()
					}
				}()
			}
			rw.Wait()
			thirdMu.Lock()
			third[ip] = last
			thirdMu.Unlock()
		}()
		select {
		case <-ctx.Done():
			return HTTPResult{}, ctx.Err()
		case <-time.After(tick):
		}
	}
	attacks.Wait()
	// Wait until every install has every attacker, or 30 s.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := 0
		for k := range seen {
			if _, ok := third[k.ip]; ok {
				n++
			}
		}
		mu.Unlock()
		if n >= cfg.Attackers*cfg.Installs {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopPoll()
	wg.Wait()

	res := HTTPResult{Installs: cfg.Installs, Attackers: cfg.Attackers}
	var lat, first []time.Duration
	firstAt := map[string]time.Time{}
	for k, at := range seen {
		t3, ok := third[k.ip]
		if !ok || t3.IsZero() {
			continue
		}
		lat = append(lat, max(0, at.Sub(t3)))
		if f, ok := firstAt[k.ip]; !ok || at.Before(f) {
			firstAt[k.ip] = at
		}
	}
	for ip, at := range firstAt {
		first = append(first, max(0, at.Sub(third[ip])))
	}
	res.Listed, res.Pairs = len(firstAt), len(lat)
	slices.Sort(lat)
	slices.Sort(first)
	if len(lat) > 0 {
		res.P50, res.P99, res.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	if len(first) > 0 {
		res.FirstP50, res.FirstP99 = first[len(first)/2], first[len(first)*99/100]
	}
	res.Signals = signals
	res.Wall = time.Since(start)
	return res, nil
}

// PrintHTTP writes an end-to-end result.
func PrintHTTP(w io.Writer, r HTTPResult) {
	fmt.Fprintf(w, "end to end over loopback HTTP (real central, SQLite, CAPI client; wall clock, bcrypt at its minimum cost)\n")
	fmt.Fprintf(w, "installs %d, attackers %d (each pushed by 3 trusted installs of independent clusters), listed %d, signals %d, wall %s\n",
		r.Installs, r.Attackers, r.Listed, r.Signals, r.Wall.Round(time.Millisecond))
	fmt.Fprintf(w, "third report's push answered -> in every install's pulled stream (1 s pull interval): p50 %s  p99 %s  max %s  (%d install x attacker pairs)\n",
		r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond), r.Max.Round(time.Millisecond), r.Pairs)
	fmt.Fprintf(w, "third report's push answered -> first install to see it:          p50 %s  p99 %s\n",
		r.FirstP50.Round(time.Millisecond), r.FirstP99.Round(time.Millisecond))
}
