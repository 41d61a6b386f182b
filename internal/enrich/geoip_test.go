package enrich

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/event"
)

// writeMMDB writes a tiny MaxMind database of the given type.
func writeMMDB(t testing.TB, path, dbType string, records map[string]mmdbtype.Map) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, IncludeReservedNetworks: true})
	require.NoError(t, err)
	for cidr, rec := range records {
		_, n, err := net.ParseCIDR(cidr)
		require.NoError(t, err)
		require.NoError(t, tree.Insert(n, rec))
	}
	f, err := os.Create(path)
	require.NoError(t, err)
	_, err = tree.WriteTo(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func country(iso string, eu bool) mmdbtype.Map {
	return mmdbtype.Map{
		"iso_code":             mmdbtype.String(iso),
		"is_in_european_union": mmdbtype.Bool(eu),
		"geoname_id":           mmdbtype.Uint32(42),
		"names":                mmdbtype.Map{"en": mmdbtype.String("Country " + iso)},
	}
}

// testDataDir writes GeoLite2-City.mmdb and GeoLite2-ASN.mmdb:
// 1.2.3.0/24 is FR (EU) in AS4242 "Crowdsec"; 5.6.0.0/16 has only a
// registered country (US); 9.9.9.0/24 only a represented country (DE);
// 2001:db8::/32 is JP in AS65000.
func testDataDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	writeMMDB(t, filepath.Join(dir, CityDBFile), "GeoLite2-City", map[string]mmdbtype.Map{
		"1.2.3.0/24": {
			"country":   country("FR", true),
			"city":      mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Paris")}},
			"continent": mmdbtype.Map{"code": mmdbtype.String("EU")},
			"location": mmdbtype.Map{
				"latitude": mmdbtype.Float64(48.8566), "longitude": mmdbtype.Float64(2.3522),
				"time_zone": mmdbtype.String("Europe/Paris"), "accuracy_radius": mmdbtype.Uint16(10),
			},
			"subdivisions": mmdbtype.Slice{mmdbtype.Map{"iso_code": mmdbtype.String("IDF")}},
		},
		"5.6.0.0/16": {
			"registered_country": country("US", false),
			"location":           mmdbtype.Map{"latitude": mmdbtype.Float64(-33.5), "longitude": mmdbtype.Float64(151.25)},
		},
		"9.9.9.0/24": {
			"represented_country": country("DE", true),
		},
		"2001:db8::/32": {
			"country": country("JP", false),
		},
	})
	writeMMDB(t, filepath.Join(dir, ASNDBFile), "GeoLite2-ASN", map[string]mmdbtype.Map{
		"1.2.3.0/24":    {"autonomous_system_number": mmdbtype.Uint32(4242), "autonomous_system_organization": mmdbtype.String("Crowdsec")},
		"5.6.0.0/16":    {"autonomous_system_number": mmdbtype.Uint32(1234), "autonomous_system_organization": mmdbtype.String("Example Net")},
		"2001:db8::/32": {"autonomous_system_number": mmdbtype.Uint32(65000), "autonomous_system_organization": mmdbtype.String("Doc")},
	})
	return dir
}

func TestGeoIPMethods(t *testing.T) {
	t.Parallel()
	set, err := New(Config{DataDir: testDataDir(t)})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, set.Close()) })

	cases := []struct {
		name, method, in string
		want             map[string]string
	}{
		{name: "city country", method: MethodGeoIPCity, in: "1.2.3.4",
			want: map[string]string{"IsoCode": "FR", "IsInEU": "true", "Latitude": "48.856600", "Longitude": "2.352200"}},
		{name: "city registered country", method: MethodGeoIPCity, in: "5.6.7.8",
			want: map[string]string{"IsoCode": "US", "IsInEU": "false", "Latitude": "-33.500000", "Longitude": "151.250000"}},
		{name: "city represented country", method: MethodGeoIPCity, in: "9.9.9.9",
			want: map[string]string{"IsoCode": "DE", "IsInEU": "true", "Latitude": "0.000000", "Longitude": "0.000000"}},
		{name: "city ipv6", method: MethodGeoIPCity, in: "2001:db8::1",
			want: map[string]string{"IsoCode": "JP", "IsInEU": "false", "Latitude": "0.000000", "Longitude": "0.000000"}},
		{name: "city mapped ipv4", method: MethodGeoIPCity, in: "::ffff:1.2.3.4",
			want: map[string]string{"IsoCode": "FR", "IsInEU": "true", "Latitude": "48.856600", "Longitude": "2.352200"}},
		{name: "city not found", method: MethodGeoIPCity, in: "8.8.8.8",
			want: map[string]string{"IsoCode": "", "IsInEU": "false", "Latitude": "0.000000", "Longitude": "0.000000"}},
		{name: "city not an ip", method: MethodGeoIPCity, in: "example.com"},
		{name: "city empty", method: MethodGeoIPCity, in: ""},
		{name: "asn", method: MethodGeoIPASN, in: "1.2.3.4",
			want: map[string]string{"ASNNumber": "4242", "ASNumber": "4242", "ASNOrg": "Crowdsec"}},
		{name: "asn ipv6", method: MethodGeoIPASN, in: "2001:db8:1::5",
			want: map[string]string{"ASNNumber": "65000", "ASNumber": "65000", "ASNOrg": "Doc"}},
		{name: "asn not found", method: MethodGeoIPASN, in: "8.8.8.8",
			want: map[string]string{"ASNNumber": "0", "ASNumber": "0", "ASNOrg": ""}},
		{name: "asn zone rejected", method: MethodGeoIPASN, in: "fe80::1%eth0"},
		{name: "range", method: MethodIPToRange, in: "1.2.3.4", want: map[string]string{"SourceRange": "1.2.3.0/24"}},
		{name: "range wide", method: MethodIPToRange, in: "5.6.250.1", want: map[string]string{"SourceRange": "5.6.0.0/16"}},
		{name: "range ipv6", method: MethodIPToRange, in: "2001:db8::1", want: map[string]string{"SourceRange": "2001:db8::/32"}},
		{name: "range not found", method: MethodIPToRange, in: "8.8.8.8"},
		{name: "range garbage", method: MethodIPToRange, in: "1.2.3"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m, ok := set.Method(tc.method)
			require.True(t, ok)
			got, err := results(m, tc.in, event.New(event.Line{}))
			require.NoError(t, err)
			if tc.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestGeoIPRecords(t *testing.T) {
	t.Parallel()
	dir := testDataDir(t)
	g, err := OpenGeoIP(filepath.Join(dir, CityDBFile), filepath.Join(dir, ASNDBFile), nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, g.Close()) })

	city, err := g.City(netip.MustParseAddr("1.2.3.4"))
	require.NoError(t, err)
	require.Equal(t, "FR", city["Country"].(map[string]any)["IsoCode"])
	require.Equal(t, true, city["Country"].(map[string]any)["IsInEuropeanUnion"])
	require.Equal(t, "Country FR", city["Country"].(map[string]any)["Names"].(map[string]any)["en"])
	require.Equal(t, "Paris", city["City"].(map[string]any)["Names"].(map[string]any)["en"])
	require.Equal(t, "EU", city["Continent"].(map[string]any)["Code"])
	require.InDelta(t, 48.8566, city["Location"].(map[string]any)["Latitude"], 1e-9)
	require.Equal(t, "Europe/Paris", city["Location"].(map[string]any)["TimeZone"])
	require.Equal(t, "IDF", city["Subdivisions"].([]any)[0].(map[string]any)["IsoCode"])

	missing, err := g.City(netip.MustParseAddr("8.8.8.8"))
	require.NoError(t, err)
	require.Equal(t, "", missing["Country"].(map[string]any)["IsoCode"], "not found gives zero values")

	asn, err := g.ASN(netip.MustParseAddr("1.2.3.4"))
	require.NoError(t, err)
	require.Equal(t, map[string]any{"AutonomousSystemNumber": uint(4242), "AutonomousSystemOrganization": "Crowdsec"}, asn)

	p, ok := g.Range(netip.MustParseAddr("1.2.3.200"))
	require.True(t, ok)
	require.Equal(t, netip.MustParsePrefix("1.2.3.0/24"), p)
	_, ok = g.Range(netip.MustParseAddr("8.8.8.8"))
	require.False(t, ok)

	nothing, err := g.City(netip.Addr{})
	require.NoError(t, err)
	require.Nil(t, nothing)
}

func TestGeoIPMissingDatabases(t *testing.T) {
	t.Parallel()
	set, err := New(Config{DataDir: t.TempDir()})
	require.NoError(t, err)
	for _, name := range []string{MethodGeoIPCity, MethodGeoIPASN, MethodIPToRange} {
		m, ok := set.Method(name)
		require.True(t, ok, name)
		got, err := results(m, "1.2.3.4", event.New(event.Line{}))
		require.NoError(t, err)
		require.Empty(t, got, name)
	}
	g := set.GeoIP()
	require.NotNil(t, g)
	city, err := g.City(netip.MustParseAddr("1.2.3.4"))
	require.NoError(t, err)
	require.Nil(t, city)
	asn, err := g.ASN(netip.MustParseAddr("1.2.3.4"))
	require.NoError(t, err)
	require.Nil(t, asn)
	_, ok := g.Range(netip.MustParseAddr("1.2.3.4"))
	require.False(t, ok)
	require.NoError(t, set.Close())

	var nilGeo *GeoIP
	require.False(t, nilGeo.HasCity())
	require.NoError(t, nilGeo.Close())
}

func TestGeoIPCorruptDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, CityDBFile), []byte("not a database"), 0o600))
	_, err := New(Config{DataDir: dir})
	require.ErrorContains(t, err, "enrich: open geoip database GeoLite2-City.mmdb")
}

func BenchmarkGeoIpCity(b *testing.B) {
	set, err := New(Config{DataDir: testDataDir(b)})
	require.NoError(b, err)
	b.Cleanup(func() { _ = set.Close() })
	m, _ := set.Method(MethodGeoIPCity)
	evt := event.New(event.Line{})
	out := make([]string, len(m.Outputs))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Run("1.2.3.4", evt, out); err != nil {
			b.Fatal(err)
		}
	}
}
