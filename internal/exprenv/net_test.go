package exprenv

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/phalanx-ids/phalanx/internal/models"
)

type fakeGeo struct{}

func (fakeGeo) City(ip netip.Addr) (map[string]any, error) {
	switch ip.String() {
	case "1.2.3.4":
		return map[string]any{"country": map[string]any{"iso_code": "FR"}}, nil
	case "5.6.7.8":
		return map[string]any{"registered_country": map[string]string{"iso_code": "DE"}}, nil
	case "6.6.6.6":
		return nil, errors.New("boom")
	}
	return nil, nil
}

func (fakeGeo) ASN(ip netip.Addr) (map[string]any, error) {
	if ip.String() == "1.2.3.4" {
		return map[string]any{"autonomous_system_number": uint(4242)}, nil
	}
	return nil, nil
}

func (fakeGeo) Range(ip netip.Addr) (netip.Prefix, bool) {
	if ip.String() == "1.2.3.4" {
		return netip.MustParsePrefix("1.2.0.0/16"), true
	}
	return netip.Prefix{}, false
}

// fakeDNS resolves a fixed table.
type fakeDNS struct {
	hosts map[string][]string
	ptr   map[string][]string
}

func (f fakeDNS) LookupHost(_ context.Context, h string) ([]string, error) {
	if a, ok := f.hosts[h]; ok {
		return a, nil
	}
	return nil, errors.New("nxdomain")
}

func (f fakeDNS) LookupAddr(_ context.Context, a string) ([]string, error) {
	if n, ok := f.ptr[a]; ok {
		return n, nil
	}
	return nil, errors.New("nxdomain")
}

func TestNetHelpers(t *testing.T) {
	dns := fakeDNS{hosts: map[string][]string{"example.org": {"93.184.216.34"}}}
	runCases(t, New(Deps{GeoIP: fakeGeo{}, Resolver: dns}), []exprCase{
		{"in range", `IpInRange(evt.Parsed.ip, "192.168.0.0/16")`, true, false},
		{"not in range", `IpInRange("10.0.0.1", "192.168.0.0/16")`, false, false},
		{"bad ip", `IpInRange("nope", "192.168.0.0/16")`, false, false},
		{"bad range", `IpInRange("10.0.0.1", "10.0.0.0/33")`, false, false},
		{"v6 in range", `IpInRange("2001:db8::1", "2001:db8::/32")`, true, false},
		{"mapped ip in v4 range", `IpInRange("::ffff:10.0.0.1", "10.0.0.0/8")`, true, false},
		{"v4 in mapped range", `IpInRange("10.0.0.1", "::ffff:10.0.0.0/104")`, true, false},
		{"v6 not in mapped range", `IpInRange("2001:db8::1", "::ffff:0:0/96")`, false, false},
		// net.ParseCIDR masks a 4-in-6 network shorter than /96 into an
		// IPv6 one (::/80 here): it holds no IPv4 address.
		{"v4 not in short mapped range", `IpInRange("10.0.0.1", "::ffff:10.0.0.0/80")`, false, false},
		{"v6 in short mapped range", `IpInRange("::1", "::ffff:10.0.0.0/80")`, true, false},
		{"zone rejected", `IpInRange("fe80::1%eth0", "fe80::/10")`, false, false},
		{"to range slash", `IpToRange("192.168.42.1", "/16")`, "192.168.0.0/16", false},
		{"to range bare", `IpToRange("192.168.0.1", "24")`, "192.168.0.0/24", false},
		{"to range v6", `IpToRange("2001:db8::1", "/64")`, "2001:db8::/64", false},
		{"to range bad mask", `IpToRange("1.2.3.4", "/40")`, "", false},
		{"to range bad ip", `IpToRange("x", "/8")`, "", false},
		{"is v4", `IsIPV4("1.2.3.4")`, true, false},
		{"mapped is v4", `IsIPV4("::ffff:1.2.3.4")`, true, false},
		{"mapped not v6", `IsIPV6("::ffff:1.2.3.4")`, false, false},
		{"is v6", `IsIPV6("2001:db8::1")`, true, false},
		{"v4 not v6", `IsIPV6("1.2.3.4")`, false, false},
		{"is ip", `IsIP("2001:db8::1")`, true, false},
		{"is not ip", `IsIP("1.2.3")`, false, false},
		{"lookup host", `LookupHost("example.org")`, []string{"93.184.216.34"}, false},
		{"lookup host fails empty", `LookupHost("nx.example")`, []string{}, false},
		{"country", `IPToCountry("1.2.3.4")`, "FR", false},
		{"country registered", `IPToCountry("5.6.7.8")`, "DE", false},
		{"country unknown", `IPToCountry("9.9.9.9")`, "", false},
		{"country error", `IPToCountry("6.6.6.6")`, "", false},
		{"country bad ip", `IPToCountry("x")`, "", false},
		{"geoip city", `GeoIPEnrich("1.2.3.4").country.iso_code`, "FR", false},
		{"geoip asn", `GeoIPASNEnrich("1.2.3.4").autonomous_system_number`, uint(4242), false},
		{"geoip range", `GeoIPRangeEnrich("1.2.3.4").String()`, "1.2.0.0/16", false},
		{"geoip range none", `GeoIPRangeEnrich("9.9.9.9") == nil`, true, false},
	})
}

func TestNetHelpersWithoutDeps(t *testing.T) {
	runCases(t, New(Deps{}), []exprCase{
		{"lookup host no resolver", `LookupHost("example.org")`, []string{}, false},
		{"country no geoip", `IPToCountry("1.2.3.4")`, "", false},
		{"city no geoip", `GeoIPEnrich("1.2.3.4") == nil`, true, false},
		{"range no geoip", `GeoIPRangeEnrich("1.2.3.4") == nil`, true, false},
	})
}

// checkParseIP compares parseIP (and its dotted-quad fast path) with
// models.ParseIP, the parser it stands for.
func checkParseIP(t *testing.T, s string) {
	t.Helper()
	want, err := models.ParseIP(s)
	got, ok := parseIP(s)
	if ok != (err == nil) || got != want {
		t.Fatalf("parseIP(%q) = %v, %v; models.ParseIP: %v, %v", s, got, ok, want, err)
	}
	if q, ok := parseDottedQuad(s); ok && q != want {
		t.Fatalf("parseDottedQuad(%q) = %v, models.ParseIP: %v", s, q, want)
	}
}

func TestParseIP(t *testing.T) {
	for _, s := range []string{
		"1.2.3.4", "0.0.0.0", "255.255.255.255", "10.0.0.1", "192.168.1.100", "83.68.16.228",
		"256.1.1.1", "1.2.3.256", "01.2.3.4", "1.02.3.4", "1.2.3.04", "00.1.1.1", "1.2.3.0",
		"1.2.3", "1.2.3.4.5", "1..3.4", ".1.2.3", "1.2.3.", "", ".", "1234.1.1.1", "1.2.3.4 ",
		" 1.2.3.4", "1.2.3.-4", "1.2.3.4/8", "::1", "::ffff:1.2.3.4", "fe80::1%eth0", "2001:db8::1",
		"1.2.3.4%x", "999.999.999.999", "1.2.3.255", "1.2.3.2555",
	} {
		checkParseIP(t, s)
	}
	_, ok := parseDottedQuad("83.68.16.228")
	if !ok {
		t.Fatal("the fast path declines a dotted quad")
	}
}

func FuzzParseIP(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "01.2.3.4", "::ffff:1.2.3.4", "1.2.3.256", "1..2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkParseIP(t, s) })
}
