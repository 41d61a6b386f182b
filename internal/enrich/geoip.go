package enrich

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// Database file names looked up in Config.DataDir.
const (
	CityDBFile = "GeoLite2-City.mmdb"
	ASNDBFile  = "GeoLite2-ASN.mmdb"
)

// GeoIP wraps the optional City and ASN databases. It implements
// exprenv.GeoIP.
//
// Concurrency: safe for concurrent use; Close must not race with lookups.
// A GeoIP with no database loaded (or a nil *GeoIP) answers every lookup
// with nothing.
type GeoIP struct {
	city *maxminddb.Reader
	asn  *maxminddb.Reader
}

// OpenGeoIP opens the City and ASN databases at the given paths. An empty
// path or a missing file leaves that database out (logged once at warn
// level); a file that exists but cannot be read is an error.
func OpenGeoIP(cityPath, asnPath string, logger *slog.Logger) (*GeoIP, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	city, err := openMMDB(cityPath, logger)
	if err != nil {
		return nil, err
	}
	asn, err := openMMDB(asnPath, logger)
	if err != nil {
		if city != nil {
			_ = city.Close()
		}
		return nil, err
	}
	return &GeoIP{city: city, asn: asn}, nil
}

func openMMDB(path string, logger *slog.Logger) (*maxminddb.Reader, error) {
	if path == "" {
		return nil, nil
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		logger.Info("geoip database not found, its enrichment is disabled", "path", path)
		return nil, nil
	}
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("enrich: open geoip database %s: %w", filepath.Base(path), err)
	}
	return r, nil
}

// HasCity reports whether a City database is loaded.
func (g *GeoIP) HasCity() bool { return g != nil && g.city != nil }

// HasASN reports whether an ASN database is loaded.
func (g *GeoIP) HasASN() bool { return g != nil && g.asn != nil }

// Close releases the databases.
func (g *GeoIP) Close() error {
	if g == nil {
		return nil
	}
	var errs []error
	if g.city != nil {
		errs = append(errs, g.city.Close())
		g.city = nil
	}
	if g.asn != nil {
		errs = append(errs, g.asn.Close())
		g.asn = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("enrich: close geoip: %w", err)
	}
	return nil
}

// MaxMind record layouts. Field names follow geoip2-golang, so that the maps
// City and ASN return have the shape expressions written for CrowdSec use
// (GeoIPEnrich(ip).Country.IsoCode, GeoIPASNEnrich(ip).AutonomousSystemNumber).
type mmCountry struct {
	GeoNameID         uint              `maxminddb:"geoname_id"`
	IsInEuropeanUnion bool              `maxminddb:"is_in_european_union"`
	IsoCode           string            `maxminddb:"iso_code"`
	Names             map[string]string `maxminddb:"names"`
}

type mmRepresented struct {
	mmCountry
	Type string `maxminddb:"type"`
}

type mmCity struct {
	City struct {
		GeoNameID uint              `maxminddb:"geoname_id"`
		Names     map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Continent struct {
		Code      string            `maxminddb:"code"`
		GeoNameID uint              `maxminddb:"geoname_id"`
		Names     map[string]string `maxminddb:"names"`
	} `maxminddb:"continent"`
	Country            mmCountry     `maxminddb:"country"`
	RegisteredCountry  mmCountry     `maxminddb:"registered_country"`
	RepresentedCountry mmRepresented `maxminddb:"represented_country"`
	Location           struct {
		AccuracyRadius uint16  `maxminddb:"accuracy_radius"`
		Latitude       float64 `maxminddb:"latitude"`
		Longitude      float64 `maxminddb:"longitude"`
		MetroCode      uint    `maxminddb:"metro_code"`
		TimeZone       string  `maxminddb:"time_zone"`
	} `maxminddb:"location"`
	Postal struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"postal"`
	Subdivisions []struct {
		GeoNameID uint              `maxminddb:"geoname_id"`
		IsoCode   string            `maxminddb:"iso_code"`
		Names     map[string]string `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
	Traits struct {
		IsAnonymousProxy    bool `maxminddb:"is_anonymous_proxy"`
		IsSatelliteProvider bool `maxminddb:"is_satellite_provider"`
	} `maxminddb:"traits"`
}

// mmCityLean is what the GeoIpCity method needs (no name maps to decode).
type mmCityLean struct {
	Country struct {
		IsInEuropeanUnion bool   `maxminddb:"is_in_european_union"`
		IsoCode           string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		IsInEuropeanUnion bool   `maxminddb:"is_in_european_union"`
		IsoCode           string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	RepresentedCountry struct {
		IsInEuropeanUnion bool   `maxminddb:"is_in_european_union"`
		IsoCode           string `maxminddb:"iso_code"`
	} `maxminddb:"represented_country"`
	Location struct {
		Latitude  float64 `maxminddb:"latitude"`
		Longitude float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

type mmASN struct {
	AutonomousSystemNumber       uint   `maxminddb:"autonomous_system_number"`
	AutonomousSystemOrganization string `maxminddb:"autonomous_system_organization"`
}

// City returns the City record of ip as nested maps with geoip2-golang's
// field names (Country.IsoCode, Location.Latitude, ...). It returns nil when
// no City database is loaded; an address that is not in the database gives
// a record of zero values, like geoip2-golang.
func (g *GeoIP) City(ip netip.Addr) (map[string]any, error) {
	if !g.HasCity() || !ip.IsValid() {
		return nil, nil
	}
	var rec mmCity
	if err := g.city.Lookup(ip.Unmap()).Decode(&rec); err != nil {
		return nil, fmt.Errorf("enrich: geoip city lookup %s: %w", ip, err)
	}
	subs := make([]any, 0, len(rec.Subdivisions))
	for _, s := range rec.Subdivisions {
		subs = append(subs, map[string]any{"GeoNameID": s.GeoNameID, "IsoCode": s.IsoCode, "Names": names(s.Names)})
	}
	represented := countryMap(rec.RepresentedCountry.mmCountry)
	represented["Type"] = rec.RepresentedCountry.Type
	return map[string]any{
		"City":      map[string]any{"GeoNameID": rec.City.GeoNameID, "Names": names(rec.City.Names)},
		"Continent": map[string]any{"Code": rec.Continent.Code, "GeoNameID": rec.Continent.GeoNameID, "Names": names(rec.Continent.Names)},
		"Country":   countryMap(rec.Country),
		"Location": map[string]any{
			"AccuracyRadius": rec.Location.AccuracyRadius,
			"Latitude":       rec.Location.Latitude,
			"Longitude":      rec.Location.Longitude,
			"MetroCode":      rec.Location.MetroCode,
			"TimeZone":       rec.Location.TimeZone,
		},
		"Postal":             map[string]any{"Code": rec.Postal.Code},
		"RegisteredCountry":  countryMap(rec.RegisteredCountry),
		"RepresentedCountry": represented,
		"Subdivisions":       subs,
		"Traits": map[string]any{
			"IsAnonymousProxy":    rec.Traits.IsAnonymousProxy,
			"IsSatelliteProvider": rec.Traits.IsSatelliteProvider,
		},
	}, nil
}

func countryMap(c mmCountry) map[string]any {
	return map[string]any{
		"GeoNameID":         c.GeoNameID,
		"IsInEuropeanUnion": c.IsInEuropeanUnion,
		"IsoCode":           c.IsoCode,
		"Names":             names(c.Names),
	}
}

func names(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ASN returns {AutonomousSystemNumber (uint), AutonomousSystemOrganization}
// for ip, nil when no ASN database is loaded.
func (g *GeoIP) ASN(ip netip.Addr) (map[string]any, error) {
	if !g.HasASN() || !ip.IsValid() {
		return nil, nil
	}
	var rec mmASN
	if err := g.asn.Lookup(ip.Unmap()).Decode(&rec); err != nil {
		return nil, fmt.Errorf("enrich: geoip asn lookup %s: %w", ip, err)
	}
	return map[string]any{
		"AutonomousSystemNumber":       rec.AutonomousSystemNumber,
		"AutonomousSystemOrganization": rec.AutonomousSystemOrganization,
	}, nil
}

// Range returns the network of the ASN database that holds ip.
func (g *GeoIP) Range(ip netip.Addr) (netip.Prefix, bool) {
	if !g.HasASN() || !ip.IsValid() {
		return netip.Prefix{}, false
	}
	res := g.asn.Lookup(ip.Unmap())
	if res.Err() != nil || !res.Found() {
		return netip.Prefix{}, false
	}
	return res.Prefix(), true
}

// parseIP parses an enrichment method's input the way net.ParseIP would
// accept it (no zone), unmapping IPv4-in-IPv6.
func parseIP(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// geoIPCityMethod writes IsoCode (country, else registered, else represented
// country), IsInEU ("true"/"false") and Latitude/Longitude (%f).
func geoIPCityMethod(g *GeoIP, logger *slog.Logger) Method {
	return Method{Outputs: []string{"IsoCode", "IsInEU", "Latitude", "Longitude"}, Run: func(value string, _ *event.Event, out []string) (bool, error) {
		if value == "" || !g.HasCity() {
			return false, nil
		}
		ip, ok := parseIP(value)
		if !ok {
			logger.Debug("geoip city: not an ip", "value", value)
			return false, nil
		}
		var rec mmCityLean
		if err := g.city.Lookup(ip).Decode(&rec); err != nil {
			logger.Debug("geoip city: lookup failed", "ip", value, "err", err)
			return false, nil
		}
		iso, eu := "", false
		switch {
		case rec.Country.IsoCode != "":
			iso, eu = rec.Country.IsoCode, rec.Country.IsInEuropeanUnion
		case rec.RegisteredCountry.IsoCode != "":
			iso, eu = rec.RegisteredCountry.IsoCode, rec.RegisteredCountry.IsInEuropeanUnion
		case rec.RepresentedCountry.IsoCode != "":
			iso, eu = rec.RepresentedCountry.IsoCode, rec.RepresentedCountry.IsInEuropeanUnion
		}
		out[0] = iso
		out[1] = strconv.FormatBool(eu)
		out[2] = strconv.FormatFloat(rec.Location.Latitude, 'f', 6, 64)
		out[3] = strconv.FormatFloat(rec.Location.Longitude, 'f', 6, 64)
		return true, nil
	}}
}

// geoIPASNMethod writes ASNNumber, ASNumber (the same, kept for
// compatibility) and ASNOrg. An address not in the database gives "0" and "".
func geoIPASNMethod(g *GeoIP, logger *slog.Logger) Method {
	return Method{Outputs: []string{"ASNNumber", "ASNumber", "ASNOrg"}, Run: func(value string, _ *event.Event, out []string) (bool, error) {
		if value == "" || !g.HasASN() {
			return false, nil
		}
		ip, ok := parseIP(value)
		if !ok {
			logger.Debug("geoip asn: not an ip", "value", value)
			return false, nil
		}
		var rec mmASN
		if err := g.asn.Lookup(ip).Decode(&rec); err != nil {
			logger.Debug("geoip asn: lookup failed", "ip", value, "err", err)
			return false, nil
		}
		n := strconv.FormatUint(uint64(rec.AutonomousSystemNumber), 10)
		out[0], out[1], out[2] = n, n, rec.AutonomousSystemOrganization
		return true, nil
	}}
}

// ipToRangeMethod writes SourceRange, the ASN database network holding the
// address; nothing when the address is not in the database.
func ipToRangeMethod(g *GeoIP, logger *slog.Logger) Method {
	return Method{Outputs: []string{"SourceRange"}, Run: func(value string, _ *event.Event, out []string) (bool, error) {
		if value == "" || !g.HasASN() {
			return false, nil
		}
		ip, ok := parseIP(value)
		if !ok {
			logger.Debug("ip to range: not an ip", "value", value)
			return false, nil
		}
		p, ok := g.Range(ip)
		if !ok {
			return false, nil
		}
		out[0] = p.String()
		return true, nil
	}}
}
