// Package enrich holds the enrichment methods that parser statics call with
// `method: NAME` (ParseDate, GeoIpCity, GeoIpASN, IpToRange, reverse_dns,
// UnmarshalJSON), and the GeoIP reader behind them.
//
// Concurrency: a Set and its methods are safe for concurrent use.
package enrich

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"time"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// Method is an enrichment method: Run enriches evt from value and gives the
// values of the evt.Enriched fields named by Outputs, out[i] for
// Outputs[i] (out, the caller's, has len(Outputs)); set false: it sets none
// of them (all or nothing). The caller writes them to the event: the names
// are known at load, so a parser gives them slots (package parse) and no
// map is made per line. A method may also modify evt directly
// (UnmarshalJSON fills evt.Unmarshaled; ParseDate sets evt.Time in
// time-machine mode). Methods degrade quietly: a missing database gives an
// empty result, not an error.
type Method struct {
	Outputs []string
	Run     func(value string, evt *event.Event, out []string) (set bool, err error)
}

// Method names, as parser statics spell them.
const (
	MethodParseDate     = "ParseDate"
	MethodGeoIPCity     = "GeoIpCity"
	MethodGeoIPASN      = "GeoIpASN"
	MethodIPToRange     = "IpToRange"
	MethodReverseDNS    = "reverse_dns"
	MethodUnmarshalJSON = "UnmarshalJSON"
	// MethodCommunityList sets community_listed ("true"/"false"): whether
	// the address is on the community blocklist (Phalanx's; CrowdSec has
	// no such enricher).
	MethodCommunityList = "CommunityList"
)

// CommunityList answers whether an address is on the community blocklist;
// *capi.Community implements it (concurrent-safe, cheap).
type CommunityList interface {
	Listed(ip netip.Addr) bool
}

// Config is the enrichers' configuration.
type Config struct {
	// DataDir holds GeoLite2-City.mmdb and GeoLite2-ASN.mmdb (both optional).
	DataDir string
	// ReverseDNS enables the reverse_dns method (off by default: it returns nothing).
	ReverseDNS bool
	// Resolver is used by reverse_dns (nil: net.DefaultResolver).
	Resolver *net.Resolver
	// DNSTimeout bounds one reverse lookup (0: DefaultDNSTimeout).
	DNSTimeout time.Duration
	// DNSCacheTTL keeps answers, DNSNegativeTTL failures and empty answers
	// (0: DefaultDNSCacheTTL, DefaultDNSNegativeTTL).
	DNSCacheTTL    time.Duration
	DNSNegativeTTL time.Duration
	// DNSCacheSize bounds the reverse-DNS cache, least recently used out
	// first (0: DefaultDNSCacheSize).
	DNSCacheSize int
	// Now is the clock (nil: time.Now). Yearless dates take its year.
	Now    func() time.Time
	Logger *slog.Logger
	// Community serves the CommunityList method; nil: every address is
	// reported not listed.
	Community CommunityList
}

// Set is a loaded set of enrichment methods.
type Set struct {
	geo     *GeoIP
	rdns    *rdnsCache
	methods map[string]Method
}

// New opens what cfg names (GeoIP databases, DNS cache). Missing GeoIP files
// are not errors (their methods enrich nothing); unreadable ones are.
func New(cfg Config) (*Set, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "enrich")
	now := cfg.Now
	if now == nil {
		now = time.Now
	}

	geo := &GeoIP{}
	if cfg.DataDir != "" {
		g, err := OpenGeoIP(filepath.Join(cfg.DataDir, CityDBFile), filepath.Join(cfg.DataDir, ASNDBFile), logger)
		if err != nil {
			return nil, fmt.Errorf("enrich: %w", err)
		}
		geo = g
	}

	s := &Set{geo: geo}
	rdns := Method{Outputs: []string{"reverse_dns"}, Run: noopRun}
	if cfg.ReverseDNS {
		var res addrResolver = net.DefaultResolver
		if cfg.Resolver != nil {
			res = cfg.Resolver
		}
		s.rdns = newRDNSCache(res, cfg.DNSTimeout, cfg.DNSCacheTTL, cfg.DNSNegativeTTL, cfg.DNSCacheSize, now, logger)
		rdns = reverseDNSMethod(s.rdns)
	}
	s.methods = map[string]Method{
		MethodParseDate:     parseDateMethod(now),
		MethodGeoIPCity:     geoIPCityMethod(geo, logger),
		MethodGeoIPASN:      geoIPASNMethod(geo, logger),
		MethodIPToRange:     ipToRangeMethod(geo, logger),
		MethodReverseDNS:    rdns,
		MethodUnmarshalJSON: {Run: unmarshalJSON},
		MethodCommunityList: communityMethod(cfg.Community),
	}
	return s, nil
}

// Method returns the method called name.
func (s *Set) Method(name string) (Method, bool) {
	m, ok := s.methods[name]
	return m, ok
}

// Names returns the method names the Set knows, in no fixed order.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.methods))
	for k := range s.methods {
		out = append(out, k)
	}
	return out
}

// GeoIP returns the GeoIP lookups (for the exprenv helpers); never nil.
func (s *Set) GeoIP() *GeoIP { return s.geo }

// Close releases the databases. The Set must not be used afterwards.
func (s *Set) Close() error { return s.geo.Close() }

// communityMethod: community_listed for an address (nothing for what is
// not one).
func communityMethod(c CommunityList) Method {
	return Method{Outputs: []string{"community_listed"}, Run: func(value string, _ *event.Event, out []string) (bool, error) {
		a, ok := parseIP(value)
		if !ok {
			return false, nil
		}
		out[0] = strconv.FormatBool(c != nil && c.Listed(a))
		return true, nil
	}}
}
