// Package enrich holds the enrichment methods that parser statics call with
// `method: NAME` (ParseDate, GeoIpCity, GeoIpASN, IpToRange, reverse_dns,
// UnmarshalJSON), and the GeoIP reader behind them.
//
// Concurrency: a Set and its methods are safe for concurrent use.
package enrich

import (
	"log/slog"
	"net"
	"time"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// Method enriches evt from value; the returned map is merged into
// evt.Enriched by the caller. A method may also modify evt directly
// (UnmarshalJSON fills evt.Unmarshaled; ParseDate sets evt.Time in
// time-machine mode). Methods degrade quietly: a missing database gives an
// empty result, not an error.
type Method func(value string, evt *event.Event) (map[string]string, error)

// Config is the enrichers' configuration.
type Config struct {
	// DataDir holds GeoLite2-City.mmdb and GeoLite2-ASN.mmdb (both optional).
	DataDir string
	// ReverseDNS enables the reverse_dns method (off by default: it returns nothing).
	ReverseDNS bool
	// Resolver is used by reverse_dns (nil: net.DefaultResolver).
	Resolver *net.Resolver
	// Now is the clock (nil: time.Now). Yearless dates take its year.
	Now    func() time.Time
	Logger *slog.Logger
}

// Set is a loaded set of enrichment methods.
type Set struct{}

// New opens what cfg names (GeoIP databases, DNS cache).
func New(cfg Config) (*Set, error) { panic("TODO") }

// Method returns the method called name.
func (s *Set) Method(name string) (Method, bool) { panic("TODO") }

// GeoIP returns the GeoIP lookups (for the exprenv helpers); never nil.
func (s *Set) GeoIP() *GeoIP { panic("TODO") }

// Close releases the databases.
func (s *Set) Close() error { panic("TODO") }

// GeoIP wraps the optional City and ASN databases. It implements
// exprenv.GeoIP.
type GeoIP struct{}

// ParseDate parses a log timestamp: format first if not empty, then the
// known layouts, then a unix epoch. A layout without a year takes now's year.
func ParseDate(s, format string, now time.Time) (time.Time, error) { panic("TODO") }
