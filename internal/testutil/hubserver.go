package testutil

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// HubServer serves shared/hub over HTTP on loopback, laid out as a hub
// mirror (see internal/hub/source): the tree as it is, plus
// data/mmdb_update/GeoLite2-City.mmdb and GeoLite2-ASN.mmdb, tiny
// databases generated for the run (the shared copy has none; 1.2.3.0/24 is
// FR in AS4242). Every answer carries an ETag (the content's sha256) and a
// Last-Modified, and honours conditional requests.
type HubServer struct {
	URL string

	root    string
	modTime time.Time
	mu      sync.Mutex
	files   map[string][]byte // served instead of the tree (Set)
	reqs    []HubRequest
}

// HubRequest is one request the server answered.
type HubRequest struct {
	Path        string
	Conditional bool // If-None-Match or If-Modified-Since was sent
	Status      int
}

// GeoLite2 database paths on the server.
const (
	HubCityMMDB = "data/mmdb_update/GeoLite2-City.mmdb"
	HubASNMMDB  = "data/mmdb_update/GeoLite2-ASN.mmdb"
)

// NewHubServer starts the server; it stops with the test.
func NewHubServer(t testing.TB) *HubServer {
	t.Helper()
	s := &HubServer{root: Hub(t), modTime: time.Date(2026, 8, 22, 0, 0, 0, 0, time.UTC), files: map[string][]byte{}}
	s.files[HubCityMMDB] = mmdb(t, "GeoLite2-City", mmdbtype.Map{
		"country": mmdbtype.Map{"iso_code": mmdbtype.String("FR"), "is_in_european_union": mmdbtype.Bool(true),
			"names": mmdbtype.Map{"en": mmdbtype.String("France")}},
		"location": mmdbtype.Map{"latitude": mmdbtype.Float64(48.85), "longitude": mmdbtype.Float64(2.35)},
	})
	s.files[HubASNMMDB] = mmdb(t, "GeoLite2-ASN", mmdbtype.Map{
		"autonomous_system_number": mmdbtype.Uint32(4242), "autonomous_system_organization": mmdbtype.String("Test Net"),
	})
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func mmdb(t testing.TB, typ string, rec mmdbtype.Map) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: typ, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := net.ParseCIDR("1.2.3.0/24")
	if err := tree.Insert(n, rec); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := tree.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Set serves content at rel (a slash path under the root) from now on,
// with a new ETag and Last-Modified: a corrupted download, a new version.
func (s *HubServer) Set(rel string, content []byte) {
	s.mu.Lock()
	s.files[rel] = content
	s.modTime = s.modTime.Add(time.Hour)
	s.mu.Unlock()
}

// Requests returns the requests answered so far whose path starts with prefix.
func (s *HubServer) Requests(prefix string) []HubRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []HubRequest
	for _, r := range s.reqs {
		if strings.HasPrefix(r.Path, prefix) {
			out = append(out, r)
		}
	}
	return out
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) { w.code = code; w.ResponseWriter.WriteHeader(code) }

func (s *HubServer) serve(w http.ResponseWriter, r *http.Request) {
	rel := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		s.mu.Lock()
		s.reqs = append(s.reqs, HubRequest{Path: rel, Status: rec.code,
			Conditional: r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Modified-Since") != ""})
		s.mu.Unlock()
	}()
	s.mu.Lock()
	b, ok := s.files[rel]
	mod := s.modTime
	s.mu.Unlock()
	if !ok {
		var err error
		b, err = os.ReadFile(filepath.Join(s.root, filepath.FromSlash(rel)))
		if err != nil {
			http.NotFound(rec, r)
			return
		}
	}
	h := sha256.Sum256(b)
	rec.Header().Set("ETag", `"`+hex.EncodeToString(h[:8])+`"`)
	http.ServeContent(rec, r, path.Base(rel), mod, bytes.NewReader(b))
}
