package netguard

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/phalanx-ids/phalanx/internal/models"
)

// Config is the YAML configuration of a guarded server: plain data, the
// same keys for every server Phalanx runs (the LAPI's `lapi.limits`, the
// HTTP bouncer's `limits`, ...). A zero field takes the server's default
// (see Defaults and Config.Or); a negative count or rate turns that limit
// off.
type Config struct {
	// MaxHeaderBytes bounds the request line and headers; a request over
	// it gets 431. Default 32 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// ReadHeaderTimeout: the request line and headers must arrive within
	// it (the first request of a connection included). Default 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout: the whole request, body included, must arrive within
	// it from its first byte; a slower request is cut. Default 30s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds the time from the end of the request headers to
	// the end of the answer; routes with long answers extend it as they
	// write (ExtendWrites). Default 60s.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection that sends no new request
	// for this long. Default 30s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConns bounds the connections open at once; excess connections are
	// closed as soon as they are accepted. Default 3072 (a connection that
	// holds unfinished 16 KiB headers costs about 48 KiB, twice that until
	// the garbage collector runs: 3072 keep a server near 200 MB), lowered
	// to half of RLIMIT_NOFILE when that is smaller.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerAddress bounds the connections of one client address (an
	// IPv6 /64 counts as one address). Default 64.
	MaxConnsPerAddress int `yaml:"max_conns_per_address"`
	// RequestRate and RequestBurst: a token bucket per client address;
	// a request beyond it gets 429 with Retry-After. "50/s", "300/m",
	// "off". Default off (servers set their own).
	RequestRate  Rate `yaml:"request_rate"`
	RequestBurst int  `yaml:"request_burst"`
	// MaxAddresses bounds the client addresses the rate limiter remembers
	// (the least recently seen are forgotten first). Default 65536.
	MaxAddresses int `yaml:"max_addresses"`
	// Exempt addresses or CIDRs have no per-address limit (connections or
	// rate) and may use the last sixteenth of MaxConns that other clients
	// cannot. nil: loopback (127.0.0.1, ::1); [] exempts nothing.
	Exempt []string `yaml:"exempt"`
}

// Defaults are the limits of a server facing untrusted clients, before a
// server's own defaults.
func Defaults() Config {
	return Config{
		MaxHeaderBytes:     32 << 10,
		ReadHeaderTimeout:  10 * time.Second,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       60 * time.Second,
		IdleTimeout:        30 * time.Second,
		MaxConns:           3072,
		MaxConnsPerAddress: 64,
		RequestRate:        Off,
		MaxAddresses:       65536,
		Exempt:             []string{"127.0.0.1", "::1"},
	}
}

// MetricsDefaults are the defaults of a metrics endpoint a few scrapers
// read every few seconds: 64 connections, 8 per address, 5 requests/s.
func MetricsDefaults() Config {
	return Config{MaxConns: 64, MaxConnsPerAddress: 8, RequestRate: 5, RequestBurst: 20}
}

// Or returns c with its zero fields taken from d (a server's defaults).
func (c Config) Or(d Config) Config {
	pick := func(a, b int) int {
		if a == 0 {
			return b
		}
		return a
	}
	pickD := func(a, b time.Duration) time.Duration {
		if a == 0 {
			return b
		}
		return a
	}
	c.MaxHeaderBytes = pick(c.MaxHeaderBytes, d.MaxHeaderBytes)
	c.ReadHeaderTimeout = pickD(c.ReadHeaderTimeout, d.ReadHeaderTimeout)
	c.ReadTimeout = pickD(c.ReadTimeout, d.ReadTimeout)
	c.WriteTimeout = pickD(c.WriteTimeout, d.WriteTimeout)
	c.IdleTimeout = pickD(c.IdleTimeout, d.IdleTimeout)
	c.MaxConns = pick(c.MaxConns, d.MaxConns)
	c.MaxConnsPerAddress = pick(c.MaxConnsPerAddress, d.MaxConnsPerAddress)
	if c.RequestRate == 0 {
		c.RequestRate = d.RequestRate
	}
	c.RequestBurst = pick(c.RequestBurst, d.RequestBurst)
	c.MaxAddresses = pick(c.MaxAddresses, d.MaxAddresses)
	if c.Exempt == nil {
		c.Exempt = d.Exempt
	}
	return c
}

// Bounds of the settings.
const (
	minHeaderBytes = 1 << 10
	maxHeaderBytes = 1 << 20
)

// limits is Config compiled: every value set and checked.
type limits struct {
	maxHeaderBytes                          int
	readHeader, read, write, idle           time.Duration
	maxConns, maxPerAddr                    int // 0: no limit
	reserve                                 int // connections only exempt addresses may use
	rate                                    float64
	burst                                   int
	maxAddrs                                int
	exempt                                  []netip.Prefix
	rateOn, connLimitOn, perAddrConnLimitOn bool
}

// compile applies Defaults to what c leaves unset and checks the result.
// nofile is the process's RLIMIT_NOFILE (0: unknown).
func (c Config) compile(nofile uint64) (limits, error) {
	explicitConns := c.MaxConns != 0
	c = c.Or(Defaults())
	var l limits
	if c.MaxHeaderBytes < minHeaderBytes || c.MaxHeaderBytes > maxHeaderBytes {
		return l, fmt.Errorf("max_header_bytes: %d: want %d to %d", c.MaxHeaderBytes, minHeaderBytes, maxHeaderBytes)
	}
	l.maxHeaderBytes = c.MaxHeaderBytes
	for _, d := range []struct {
		name string
		v    time.Duration
		dst  *time.Duration
	}{
		{"read_header_timeout", c.ReadHeaderTimeout, &l.readHeader},
		{"read_timeout", c.ReadTimeout, &l.read},
		{"write_timeout", c.WriteTimeout, &l.write},
		{"idle_timeout", c.IdleTimeout, &l.idle},
	} {
		if d.v <= 0 {
			return l, fmt.Errorf("%s: %s: must be positive", d.name, d.v)
		}
		*d.dst = d.v
	}
	if l.readHeader > l.read {
		return l, fmt.Errorf("read_header_timeout (%s) is longer than read_timeout (%s)", l.readHeader, l.read)
	}
	if c.MaxConns > 0 {
		l.maxConns = c.MaxConns
		if !explicitConns && nofile > 0 && uint64(l.maxConns) > nofile/2 {
			l.maxConns = int(max(nofile/2, 1))
		}
		l.reserve = max(1, min(256, l.maxConns/16))
		if l.maxConns == 1 {
			l.reserve = 0
		}
		l.connLimitOn = true
	}
	if c.MaxConnsPerAddress > 0 {
		l.maxPerAddr = c.MaxConnsPerAddress
		l.perAddrConnLimitOn = true
	}
	if c.RequestRate > 0 {
		l.rate, l.rateOn = float64(c.RequestRate), true
		l.burst = c.RequestBurst
		if l.burst <= 0 {
			l.burst = max(1, int(math.Ceil(l.rate)))
		}
	}
	if c.MaxAddresses <= 0 {
		return l, fmt.Errorf("max_addresses: %d: must be positive", c.MaxAddresses)
	}
	l.maxAddrs = c.MaxAddresses
	var err error
	if l.exempt, err = ParsePrefixes(c.Exempt); err != nil {
		return l, fmt.Errorf("exempt: %w", err)
	}
	return l, nil
}

// ParsePrefixes parses addresses and CIDRs as models.ParseIPOrRange does
// (IPv4-mapped IPv6 forms as IPv4, host bits masked), for access lists
// such as Config.Exempt, the LAPI's trusted_ips, metrics.allowed_ips.
func ParsePrefixes(in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for _, s := range in {
		s = strings.TrimSpace(s)
		p, err := models.ParseIPOrRange(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP or CIDR", s)
		}
		out = append(out, p)
	}
	return out, nil
}

// Rate is a number of events per second, written in YAML as "N/s",
// "N/m" or "N/h" (N a decimal number), a bare number (per second), or
// "off". The zero Rate is unset (a default applies); Off disables.
type Rate float64

// Off is a Rate that disables the limit.
const Off Rate = -1

// ParseRate reads the text form of a Rate.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if strings.EqualFold(s, "off") {
		return Off, nil
	}
	num, unit, hasUnit := strings.Cut(s, "/")
	per := 1.0
	if hasUnit {
		switch strings.TrimSpace(unit) {
		case "s":
		case "m":
			per = 60
		case "h":
			per = 3600
		default:
			return 0, fmt.Errorf("rate %q: unit must be s, m or h", s)
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("rate %q: want N/s, N/m, N/h or off", s)
	}
	if n <= 0 {
		return 0, fmt.Errorf("rate %q: must be positive (or off)", s)
	}
	if n > 1e9 {
		return 0, fmt.Errorf("rate %q: too large", s)
	}
	return Rate(n / per), nil
}

// String is the text form ("off", "50/s", "2/m").
func (r Rate) String() string {
	switch {
	case r == 0:
		return ""
	case r < 0:
		return "off"
	case r >= 1 || math.Abs(float64(r)*60-math.Round(float64(r)*60)) > 1e-9:
		return strconv.FormatFloat(float64(r), 'f', -1, 64) + "/s"
	}
	return strconv.FormatFloat(float64(r)*60, 'f', -1, 64) + "/m"
}

// UnmarshalYAML reads a Rate from its text form.
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("rate: want N/s, N/m, N/h or off")
	}
	v, err := ParseRate(n.Value)
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// MarshalYAML writes the text form.
func (r Rate) MarshalYAML() (any, error) { return r.String(), nil }
