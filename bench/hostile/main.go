// Command hostile measures a real LAPI under attack while real agents use
// it. It starts `phalanx run --no-agent` (SQLite) from -phalanx in a
// throw-away data dir, registers -agents machines, then, for -duration:
//
//   - agents (internal/apiclient) log in (a fresh client, so a fresh login
//     and connection, every -relogin) and push one alert every 20 ms;
//   - the attack of -mode runs:
//     slow:       -conns hostile connections kept open from many loopback
//     addresses (-per-addr each), a mix of idle (nothing sent), slow
//     headers (a byte every 5 s), unfinished 15 KiB headers and slow
//     bodies (headers done, a body byte every 5 s); a connection the
//     server cuts is opened again;
//     bigheaders: -conns connections each sending -header-size bytes of
//     headers that never end (reopened when cut);
//     bruteforce: -attackers goroutines, each from its own address, try
//     wrong passwords for an existing machine id as fast as answered;
//     spray:      -attackers goroutines try random ids, each try from
//     another address (the worst case for per-address and per-id
//     throttles: only the bound on bcrypt work is left).
//
// It prints the agents' push and login latency (p50, p99, max, errors),
// the LAPI process's peak RSS (VmHWM) and peak Go heap in use (from
// /metrics), and what the attack achieved. Run it against two binaries
// (e.g. main's and this tree's) for before/after figures: bench/hostile.sh.
//
// Open files: the attacker needs one descriptor per connection; the
// program raises its RLIMIT_NOFILE soft limit to the hard limit (and says
// so). The LAPI, a Go program, raises its own the same way; its
// connection limit defaults to min(10000, RLIMIT_NOFILE/2).
//
//	go build -o /tmp/phalanx ./cmd/phalanx
//	go run ./bench/hostile -phalanx /tmp/phalanx -mode slow -conns 10000 -duration 60s
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/phalanx-ids/phalanx/bench/internal/procstat"
	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/models"
)

type options struct {
	phalanx    string
	mode       string
	conns      int
	perAddr    int
	headerSize int
	attackers  int
	agents     int
	duration   time.Duration
	warmup     time.Duration
	relogin    time.Duration
	label      string
	jsonOut    bool
	config     string
	attackOnly string
}

func main() {
	var o options
	flag.StringVar(&o.phalanx, "phalanx", "", "phalanx binary to run as the LAPI")
	flag.StringVar(&o.mode, "mode", "slow", "attack: none, slow, bigheaders, bruteforce, spray")
	flag.IntVar(&o.conns, "conns", 10000, "hostile connections (slow, bigheaders)")
	flag.IntVar(&o.perAddr, "per-addr", 50, "hostile connections per source address")
	flag.IntVar(&o.headerSize, "header-size", 15<<10, "bytes of unfinished headers (bigheaders)")
	flag.IntVar(&o.attackers, "attackers", 8, "concurrent login attackers (bruteforce, spray)")
	flag.IntVar(&o.agents, "agents", 4, "real agents pushing alerts")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "measured time")
	flag.DurationVar(&o.warmup, "warmup", 15*time.Second, "time given to the attack to build up before measuring")
	flag.DurationVar(&o.relogin, "relogin", 5*time.Second, "how often each agent starts a new client (login, new connection)")
	flag.StringVar(&o.label, "label", "", "label of the run in the output")
	flag.BoolVar(&o.jsonOut, "json", false, "print the figures as JSON")
	flag.StringVar(&o.config, "config", "", "more YAML for the LAPI's config file (after log_level: error)")
	flag.StringVar(&o.attackOnly, "attack-only", "", "(internal) run the attack against this address until stdin closes")
	flag.Parse()
	run := run
	if o.attackOnly != "" {
		run = attackOnly
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
}

// raiseNofile raises the soft RLIMIT_NOFILE to the hard limit.
func raiseNofile() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	rl.Cur = rl.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	return rl.Cur
}

type result struct {
	Label          string  `json:"label"`
	Mode           string  `json:"mode"`
	PushP50ms      float64 `json:"push_p50_ms"`
	PushP99ms      float64 `json:"push_p99_ms"`
	PushMaxms      float64 `json:"push_max_ms"`
	Pushes         int     `json:"pushes"`
	PushErrors     int64   `json:"push_errors"`
	LoginP50ms     float64 `json:"login_p50_ms"`
	LoginP99ms     float64 `json:"login_p99_ms"`
	Logins         int     `json:"logins"`
	LoginErrors    int64   `json:"login_errors"`
	PeakRSSMB      float64 `json:"peak_rss_mb"`
	PeakHeapMB     float64 `json:"peak_heap_mb"`
	HostileHeldAvg float64 `json:"hostile_held_avg"`
	HostileCut     int64   `json:"hostile_cut"`
	HostileRefused int64   `json:"hostile_refused"`
	AttackTries    int64   `json:"attack_tries"`
	Attack429      int64   `json:"attack_429"`
	Attack401      int64   `json:"attack_401"`
	LAPICPUs       float64 `json:"lapi_cpu_s"`
	BenchCPUs      float64 `json:"agents_cpu_s"`
	AttackerCPUs   float64 `json:"attacker_cpu_s"`
}

func run(o options) error {
	if o.phalanx == "" {
		return errors.New("-phalanx is required")
	}
	nofile := raiseNofile()
	fmt.Fprintf(os.Stderr, "hostile: RLIMIT_NOFILE raised to %d\n", nofile)
	dir, err := os.MkdirTemp("", "hostile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	cfg := filepath.Join(dir, "phalanx.yaml")
	if err := os.WriteFile(cfg, []byte("log_level: error\n"+o.config+"\n"), 0o600); err != nil {
		return err
	}
	lapi := exec.Command(o.phalanx, "run", "-c", cfg, "--no-agent", "--data-dir", data, "--listen", addr)
	lapi.Stdout, lapi.Stderr = io.Discard, os.Stderr
	if err := lapi.Start(); err != nil {
		return err
	}
	defer func() { _ = lapi.Process.Kill(); _ = lapi.Wait() }()
	url := "http://" + addr + "/"
	if err := waitHealthy(url, 30*time.Second); err != nil {
		return err
	}
	for i := range o.agents {
		cmd := exec.Command(o.phalanx, "machines", "add", fmt.Sprintf("agent%d", i), "--password", "agent-password",
			"--data-dir", data, "-f", "-")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("machines add: %v: %s", err, out)
		}
	}

	// Every agent has logged in once before the attack (the LAPI knows
	// its address), as installed agents have.
	for i := range o.agents {
		c, err := newAgent(url, i)
		if err != nil {
			return err
		}
		if err := c.Login(context.Background()); err != nil {
			return fmt.Errorf("agent%d: first login: %w", i, err)
		}
		c.Close()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	atk, err := startAttacker(o, addr)
	if err != nil {
		return err
	}
	defer atk.stop()
	// Let the attack build up, then measure.
	peak := &peaks{}
	stopSample := sample(url, atk, peak)
	time.Sleep(o.warmup)
	fmt.Fprintf(os.Stderr, "hostile: attack built up: %d hostile connections held\n", atk.held.Load())
	peak.resetHeld()
	mctx, mcancel := context.WithTimeout(ctx, o.duration)
	defer mcancel()
	lapiCPU0, benchCPU0, atkCPU0 := procstat.CPU(lapi.Process.Pid), selfCPU(), procstat.CPU(atk.pid())
	ag := runAgents(mctx, o, url)
	lapiCPU, benchCPU, atkCPU := procstat.CPU(lapi.Process.Pid)-lapiCPU0, selfCPU()-benchCPU0, procstat.CPU(atk.pid())-atkCPU0
	stopSample()
	st, err := atk.stop()
	if err != nil {
		return err
	}

	r := result{Label: o.label, Mode: o.mode, PushErrors: ag.pushErr.Load(), LoginErrors: ag.loginErr.Load(),
		HostileCut: st.Cut, HostileRefused: st.Refused, AttackTries: st.Tries, Attack429: st.S429, Attack401: st.S401}
	r.PushP50ms, r.PushP99ms, r.PushMaxms, r.Pushes = quantiles(ag.push)
	r.LoginP50ms, r.LoginP99ms, _, r.Logins = quantiles(ag.login)
	r.PeakRSSMB = float64(procstat.PeakRSSKiB(lapi.Process.Pid)) / 1024
	r.PeakHeapMB = float64(peak.heap.Load()) / (1 << 20)
	r.HostileHeldAvg = peak.heldAvg()
	r.LAPICPUs, r.BenchCPUs, r.AttackerCPUs = lapiCPU.Seconds(), benchCPU.Seconds(), atkCPU.Seconds()
	if o.jsonOut {
		return json.NewEncoder(os.Stdout).Encode(r)
	}
	fmt.Printf("%-10s mode=%-10s push p50=%.1fms p99=%.1fms max=%.0fms n=%d err=%d | login p50=%.1fms p99=%.1fms n=%d err=%d | LAPI peak RSS %.0f MB, peak heap %.0f MB | hostile held avg %.0f, cut %d, refused %d | login tries %d (401: %d, 429: %d) | CPU while measured: LAPI %.1fs, agents %.1fs, attacker %.1fs\n",
		r.Label, r.Mode, r.PushP50ms, r.PushP99ms, r.PushMaxms, r.Pushes, r.PushErrors, r.LoginP50ms, r.LoginP99ms, r.Logins,
		r.LoginErrors, r.PeakRSSMB, r.PeakHeapMB, r.HostileHeldAvg, r.HostileCut, r.HostileRefused, r.AttackTries, r.Attack401, r.Attack429,
		r.LAPICPUs, r.BenchCPUs, r.AttackerCPUs)
	return nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitHealthy(url string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("the LAPI did not come up")
}

type attackStats struct {
	held, cut, refused atomic.Int64
	tries, s429, s401  atomic.Int64
}

// finalStats is what the attacker process reports when it stops.
type finalStats struct {
	Cut, Refused, Tries, S429, S401 int64
}

// attacker is the attack running in a child process at the lowest CPU
// priority (nice 19): on the real network the attacker is another
// machine; here it must not take the CPU the LAPI and agents need.
type attacker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	held  atomic.Int64
	final chan finalStats
	once  sync.Once
	st    finalStats
	err   error
}

func startAttacker(o options, addr string) (*attacker, error) {
	if o.mode == "none" {
		a := &attacker{final: make(chan finalStats, 1)}
		a.final <- finalStats{}
		return a, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("nice", "-n", "19", self, "-attack-only", addr, "-mode", o.mode, "-conns", strconv.Itoa(o.conns),
		"-per-addr", strconv.Itoa(o.perAddr), "-header-size", strconv.Itoa(o.headerSize), "-attackers", strconv.Itoa(o.attackers))
	cmd.Stderr = os.Stderr
	a := &attacker{cmd: cmd, final: make(chan finalStats, 1)}
	if a.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "held "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				a.held.Store(n)
				continue
			}
			var f finalStats
			if json.Unmarshal([]byte(line), &f) == nil {
				a.final <- f
				return
			}
		}
		close(a.final)
	}()
	return a, nil
}

func (a *attacker) pid() int {
	if a.cmd == nil || a.cmd.Process == nil {
		return 0
	}
	return a.cmd.Process.Pid
}

// stop ends the attack and returns its figures.
func (a *attacker) stop() (finalStats, error) {
	a.once.Do(func() {
		if a.stdin != nil {
			_ = a.stdin.Close()
		}
		f, ok := <-a.final
		if !ok {
			a.err = errors.New("the attacker ended without figures")
		}
		a.st = f
		if a.cmd != nil {
			_ = a.cmd.Wait()
		}
	})
	return a.st, a.err
}

// attackOnly is the attacker process: it attacks until stdin closes,
// printing "held N" every 500 ms, then its figures as JSON.
func attackOnly(o options) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var st attackStats
	var wg sync.WaitGroup
	switch o.mode {
	case "slow", "bigheaders":
		launchConns(ctx, &wg, o, o.attackOnly, &st)
	case "bruteforce", "spray":
		launchLogins(ctx, &wg, o, "http://"+o.attackOnly+"/", &st)
	default:
		return fmt.Errorf("unknown -mode %q", o.mode)
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			fmt.Printf("held %d\n", st.held.Load())
		}
	}
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(finalStats{Cut: st.cut.Load(), Refused: st.refused.Load(),
		Tries: st.tries.Load(), S429: st.s429.Load(), S401: st.s401.Load()})
}

// srcAddr is the n-th attacker source address (127.1.x.y).
func srcAddr(n int) net.IP {
	return net.IPv4(127, byte(1+n/62500), byte(n/250%250), byte(1+n%250))
}

func launchConns(ctx context.Context, wg *sync.WaitGroup, o options, addr string, st *attackStats) {
	kinds := []string{"idle", "idle", "slowheader", "bigheader", "slowbody"}
	if o.mode == "bigheaders" {
		kinds = []string{"bigheader"}
	}
	pad := strings.Repeat("a", o.headerSize)
	dialSem := make(chan struct{}, 256)
	for i := range o.conns {
		kind := kinds[i%len(kinds)]
		src := srcAddr(i / max(o.perAddr, 1))
		wg.Go(func() { hostileConn(ctx, kind, src, addr, pad, dialSem, st) })
	}
}

// hostileConn keeps one hostile connection of kind open, reopening it
// when the server cuts it.
func hostileConn(ctx context.Context, kind string, src net.IP, addr, pad string, dialSem chan struct{}, st *attackStats) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	buf := make([]byte, 512)
	for ctx.Err() == nil {
		dialSem <- struct{}{}
		c, err := d.DialContext(ctx, "tcp", addr)
		<-dialSem
		if err != nil {
			st.refused.Add(1)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		opened := time.Now()
		st.held.Add(1)
		switch kind {
		case "slowheader":
			_, err = io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n")
		case "bigheader":
			_, err = io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: "+pad)
		case "slowbody":
			_, err = io.WriteString(c, "POST /v1/watchers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{")
		}
		for err == nil && ctx.Err() == nil {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Read(buf)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = nil
				if kind == "slowheader" || kind == "slowbody" {
					_, err = c.Write([]byte("a"))
				}
			}
		}
		_ = c.Close()
		st.held.Add(-1)
		if ctx.Err() != nil {
			return
		}
		if time.Since(opened) < 500*time.Millisecond && kind != "bigheader" {
			st.refused.Add(1)
			time.Sleep(200 * time.Millisecond) // refused at once: do not spin
		} else {
			st.cut.Add(1)
		}
	}
}

func launchLogins(ctx context.Context, wg *sync.WaitGroup, o options, url string, st *attackStats) {
	var seq atomic.Int64
	for i := range o.attackers {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := int(seq.Add(1))
				src, id := srcAddr(i), "agent0"
				if o.mode == "spray" {
					src, id = srcAddr(n%60000), fmt.Sprintf("ghost%d", rand.Uint64())
				}
				d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
				hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
				body := fmt.Sprintf(`{"machine_id":%q,"password":"wrong-%d","scenarios":[]}`, id, n)
				req, _ := http.NewRequestWithContext(ctx, "POST", url+"v1/watchers/login", strings.NewReader(body))
				req.Header.Set("User-Agent", "crowdsec/v1.7.5")
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				st.tries.Add(1)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusTooManyRequests:
					st.s429.Add(1)
				case http.StatusUnauthorized, http.StatusForbidden:
					st.s401.Add(1)
				}
			}
		})
	}
}

type agentStats struct {
	mu                sync.Mutex
	push, login       []time.Duration
	pushErr, loginErr atomic.Int64
}

func runAgents(ctx context.Context, o options, url string) *agentStats {
	ag := &agentStats{}
	var wg sync.WaitGroup
	for i := range o.agents {
		wg.Go(func() {
			n := 0
			for ctx.Err() == nil {
				c, err := newAgent(url, i)
				if err != nil {
					ag.loginErr.Add(1)
					return
				}
				t0 := time.Now()
				err = c.Login(ctx)
				if ctx.Err() != nil {
					c.Close()
					return
				}
				if err != nil {
					ag.loginErr.Add(1)
					c.Close()
					time.Sleep(100 * time.Millisecond)
					continue
				}
				ag.add(&ag.login, time.Since(t0))
				until := time.Now().Add(o.relogin)
				for time.Now().Before(until) && ctx.Err() == nil {
					n++
					a := alert(fmt.Sprintf("10.%d.%d.%d", i, n>>8&255, n&255))
					t0 := time.Now()
					_, err := c.PushAlerts(ctx, []*models.Alert{a})
					if ctx.Err() != nil {
						break
					}
					if err != nil {
						ag.pushErr.Add(1)
					} else {
						ag.add(&ag.push, time.Since(t0))
					}
					time.Sleep(20 * time.Millisecond)
				}
				c.Close()
			}
		})
	}
	wg.Wait()
	return ag
}

// newAgent is agent i's client with the apiclient's default retries, as an
// installed agent has: latencies include retries (a 429 is waited out),
// errors are the calls that failed in the end.
func newAgent(url string, i int) (*apiclient.Client, error) {
	return apiclient.New(apiclient.Config{URL: url, MachineID: fmt.Sprintf("agent%d", i),
		Password: "agent-password", UserAgent: "crowdsec/v1.7.5", Timeout: 30 * time.Second})
}

func (a *agentStats) add(to *[]time.Duration, d time.Duration) {
	a.mu.Lock()
	*to = append(*to, d)
	a.mu.Unlock()
}

func quantiles(ds []time.Duration) (p50, p99, mx float64, n int) {
	if len(ds) == 0 {
		return 0, 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return ms(q(0.50)), ms(q(0.99)), ms(s[len(s)-1]), len(s)
}

func alert(ip string) *models.Alert {
	now := time.Now().UTC()
	sp := func(s string) *string { return &s }
	i32 := func(v int32) *int32 { return &v }
	f := false
	return &models.Alert{
		Scenario: sp("crowdsecurity/ssh-bf"), ScenarioHash: sp("h"), ScenarioVersion: sp("0.1"),
		Message: sp("Ip " + ip + " performed crowdsecurity/ssh-bf"), EventsCount: i32(6),
		StartAt: sp(now.Add(-time.Minute).Format(time.RFC3339)), StopAt: sp(now.Format(time.RFC3339)),
		Capacity: i32(5), Leakspeed: sp("10s"), Simulated: &f, Remediation: true,
		Events: []*models.Event{{Timestamp: sp(now.Format(time.RFC3339)), Meta: models.Meta{{Key: "source_ip", Value: ip}}}},
		Source: &models.Source{Scope: sp("Ip"), Value: sp(ip), IP: ip},
	}
}

// peaks follows the LAPI's heap and the hostile connections held.
type peaks struct {
	heap              atomic.Int64
	mu                sync.Mutex
	heldSum, heldSamp int64
}

func (p *peaks) resetHeld() {
	p.mu.Lock()
	p.heldSum, p.heldSamp = 0, 0
	p.mu.Unlock()
}

func (p *peaks) heldAvg() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.heldSamp == 0 {
		return 0
	}
	return float64(p.heldSum) / float64(p.heldSamp)
}

// sample reads the LAPI's heap (/metrics) and the held connections every
// 500 ms until stopped.
func sample(url string, st *attacker, p *peaks) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		hc := &http.Client{Timeout: 5 * time.Second}
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if h := scrapeHeap(hc, url); h > p.heap.Load() {
				p.heap.Store(h)
			}
			p.mu.Lock()
			p.heldSum += st.held.Load()
			p.heldSamp++
			p.mu.Unlock()
		}
	})
	return func() { close(done); wg.Wait() }
}

func scrapeHeap(hc *http.Client, url string) int64 {
	resp, err := hc.Get(url + "metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f)
		}
	}
	return 0
}

// selfCPU is the user+system CPU time of this process.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
