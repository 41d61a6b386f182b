// Package source fetches what a hub install needs: the index, item files,
// grok pattern files and the data files items declare.
//
// A source is one of:
//   - CrowdSec's public hub (DefaultURL, what cscli uses): the index and
//     items from its CDN, data files from each item's source_url, grok
//     pattern files from CrowdSec's repository at the commit whose
//     pattern set Phalanx knows (PatternsURL).
//   - a mirror: any other http(s) base URL, or a local directory (a path
//     or file:// URL), laid out like a copy of the hub repository such as
//     ../shared/hub: index.json (or .index.json), each item at its index
//     path, patterns/<name>, and data/<path of the item's source_url>
//     (https://hub-data.crowdsec.net/web/x.txt is data/web/x.txt).
//
// Checks: every item file is compared with its sha256 in the index and
// every pattern file with Phalanx's manifest (Patterns) before it is
// returned; a mismatch is an error and nothing is returned. Data files
// have no digest in the index: they are fetched with conditional
// requests (see Data) and checked by the caller.
//
// Concurrency: a Source is immutable and safe for concurrent use.
package source

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/phalanx-ids/phalanx/internal/hub"
)

// DefaultURL is CrowdSec's public hub, as cscli downloads it.
const DefaultURL = "https://cdn-hub.crowdsec.net/crowdsecurity/master"

// PatternsURL is where the public hub's grok pattern files are fetched:
// CrowdSec's config/patterns at the commit of the Patterns manifest.
const PatternsURL = "https://raw.githubusercontent.com/crowdsecurity/crowdsec/a88b497b471e0f97c76997d177400502baf01903/config/patterns"

// Size limits of what is read from a source.
const (
	maxIndex   = 64 << 20
	maxItem    = 8 << 20
	maxPattern = 1 << 20
	// MaxData bounds one data file (GeoLite2-City is about 60 MiB).
	MaxData = 1 << 30
)

// ErrNotFound is wrapped when the source has no such file (HTTP 404, or no
// file in the directory).
var ErrNotFound = errors.New("not found")

// Source is a hub to fetch from.
type Source struct {
	base   string // URL without trailing slash, or a directory
	dir    bool
	public bool
	client *http.Client
	ua     string
}

// Option configures New.
type Option func(*Source)

// WithHTTPClient sets the HTTP client (default: a client whose transport
// gives up on a server that sends no response header within a minute).
func WithHTTPClient(c *http.Client) Option { return func(s *Source) { s.client = c } }

// WithUserAgent sets the User-Agent of requests (default phalanx).
func WithUserAgent(ua string) Option { return func(s *Source) { s.ua = ua } }

// New returns the source at u: "" is DefaultURL; http(s)://... a hub over
// HTTP; file:///dir or a path, a local directory (which must exist).
func New(u string, opts ...Option) (*Source, error) {
	s := &Source{ua: "phalanx"}
	for _, o := range opts {
		o(s)
	}
	if s.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = time.Minute
		s.client = &http.Client{Transport: tr}
	}
	if u == "" {
		u = DefaultURL
	}
	switch {
	case strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://"):
		pu, err := url.Parse(u)
		if err != nil || pu.Host == "" {
			return nil, fmt.Errorf("source: hub url %q: not a valid URL", u)
		}
		if pu.RawQuery != "" || pu.Fragment != "" {
			return nil, fmt.Errorf("source: hub url %q: a base URL takes no query or fragment", u)
		}
		s.base = strings.TrimRight(u, "/")
		s.public = s.base == DefaultURL
	default:
		p := u
		if strings.HasPrefix(u, "file://") {
			pu, err := url.Parse(u)
			if err != nil {
				return nil, fmt.Errorf("source: hub url %q: %w", u, err)
			}
			p = pu.Path
		}
		if strings.Contains(p, "://") {
			return nil, fmt.Errorf("source: hub url %q: want http://, https://, file:// or a directory", u)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("source: hub dir: %w", err)
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("source: hub dir %s: not a directory", abs)
		}
		s.base, s.dir = abs, true
	}
	return s, nil
}

// String is the source's URL or directory.
func (s *Source) String() string { return s.base }

// Public reports whether s is CrowdSec's public hub.
func (s *Source) Public() bool { return s.public }

// Index fetches and checks the index (index.json, else .index.json; the
// public hub's is .index.json). It returns the raw bytes (what the
// install caches) and the parsed index.
func (s *Source) Index(ctx context.Context) ([]byte, *hub.Index, error) {
	names := hub.IndexFiles
	if s.public {
		names = []string{".index.json", "index.json"}
	}
	var raw []byte
	var err error
	for _, n := range names {
		raw, err = s.get(ctx, n, maxIndex)
		if !errors.Is(err, ErrNotFound) {
			break
		}
	}
	if err != nil {
		return nil, nil, err
	}
	idx, err := hub.ParseIndex(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("source: %s: %w", s.base, err)
	}
	return raw, idx, nil
}

// Item fetches an item's file and checks it against the digest of the
// item's current version.
func (s *Source) Item(ctx context.Context, it *hub.Item) ([]byte, error) {
	b, err := s.get(ctx, it.Path, maxItem)
	if err != nil {
		return nil, err
	}
	if got := hub.HashBytes(b); !strings.EqualFold(got, it.Digest()) {
		return nil, fmt.Errorf("source: %s %s %s: sha256 %s, the index says %s: download refused",
			strings.TrimSuffix(it.Type, "s"), it.Name, it.Version, got, it.Digest())
	}
	return b, nil
}

// Pattern fetches a grok pattern file named in Patterns and checks its
// sha256.
func (s *Source) Pattern(ctx context.Context, name string) ([]byte, error) {
	want, ok := Patterns()[name]
	if !ok {
		return nil, fmt.Errorf("source: pattern file %q: not in Phalanx's pattern manifest", name)
	}
	var b []byte
	var err error
	if s.public {
		b, err = s.getURL(ctx, PatternsURL+"/"+name, maxPattern)
	} else {
		b, err = s.get(ctx, "patterns/"+name, maxPattern)
	}
	if err != nil {
		return nil, err
	}
	if got := hub.HashBytes(b); got != want {
		return nil, fmt.Errorf("source: pattern file %s: sha256 %s, want %s (CrowdSec's patterns at the commit Phalanx knows): download refused", name, got, want)
	}
	return b, nil
}

// Validators are what a previous download of a data file left to make the
// next request conditional.
type Validators struct {
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// DataResponse is the answer to Data. The caller closes Body (nil when
// NotModified).
type DataResponse struct {
	URL         string // where it was fetched
	NotModified bool
	Body        io.ReadCloser
	Validators  Validators
}

// DataURL returns where a data file declared with sourceURL is fetched:
// sourceURL itself on the public hub, <mirror>/data/<its path> on a
// mirror.
func (s *Source) DataURL(sourceURL string) (string, error) {
	u, err := url.Parse(sourceURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("source: data source_url %q: not an http(s) URL", sourceURL)
	}
	if s.public {
		return sourceURL, nil
	}
	rel := strings.TrimPrefix(path.Clean("/"+u.Path), "/")
	if rel == "" || !filepath.IsLocal(filepath.FromSlash(rel)) {
		return "", fmt.Errorf("source: data source_url %q: no file path", sourceURL)
	}
	if s.dir {
		return filepath.Join(s.base, "data", filepath.FromSlash(rel)), nil
	}
	return s.base + "/data/" + rel, nil
}

// Data fetches a data file. With validators from a previous download the
// request is conditional (If-None-Match, If-Modified-Since) and a 304
// answer is NotModified. In a local directory the file's sha256 serves as
// its ETag.
func (s *Source) Data(ctx context.Context, sourceURL string, prev Validators) (*DataResponse, error) {
	where, err := s.DataURL(sourceURL)
	if err != nil {
		return nil, err
	}
	if s.dir {
		return s.dirData(where, prev)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, where, nil)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	req.Header.Set("User-Agent", s.ua)
	if prev.ETag != "" {
		req.Header.Set("If-None-Match", prev.ETag)
	}
	if prev.LastModified != "" {
		req.Header.Set("If-Modified-Since", prev.LastModified)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("source: GET %s: %w", where, err)
	}
	dr := &DataResponse{URL: where}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		resp.Body.Close()
		dr.NotModified, dr.Validators = true, prev
		if et := resp.Header.Get("ETag"); et != "" {
			dr.Validators.ETag = et
		}
		return dr, nil
	case resp.StatusCode == http.StatusOK:
		dr.Body = resp.Body
		dr.Validators = Validators{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
		return dr, nil
	}
	resp.Body.Close()
	return nil, statusErr(where, resp.StatusCode)
}

func (s *Source) dirData(p string, prev Validators) (*DataResponse, error) {
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("source: %s: %w", p, ErrNotFound)
		}
		return nil, fmt.Errorf("source: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		f.Close()
		return nil, fmt.Errorf("source: %s: %w", p, err)
	}
	etag := `"sha256:` + hex.EncodeToString(h.Sum(nil)) + `"`
	dr := &DataResponse{URL: p, Validators: Validators{ETag: etag}}
	if prev.ETag == etag {
		f.Close()
		dr.NotModified = true
		return dr, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("source: %s: %w", p, err)
	}
	dr.Body = f
	return dr, nil
}

// get reads rel (a slash path under the base) whole, up to limit bytes.
func (s *Source) get(ctx context.Context, rel string, limit int64) ([]byte, error) {
	if s.dir {
		p := filepath.Join(s.base, filepath.FromSlash(rel))
		f, err := os.Open(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("source: %s: %w", p, ErrNotFound)
			}
			return nil, fmt.Errorf("source: %w", err)
		}
		defer f.Close()
		return readLimited(f, limit, p)
	}
	return s.getURL(ctx, s.base+"/"+rel, limit)
}

func (s *Source) getURL(ctx context.Context, u string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	req.Header.Set("User-Agent", s.ua)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("source: GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusErr(u, resp.StatusCode)
	}
	return readLimited(resp.Body, limit, u)
}

func readLimited(r io.Reader, limit int64, what string) ([]byte, error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("source: read %s: %w", what, err)
	}
	if n > limit {
		return nil, fmt.Errorf("source: %s: larger than %d bytes", what, limit)
	}
	return buf.Bytes(), nil
}

func statusErr(u string, code int) error {
	if code == http.StatusNotFound {
		return fmt.Errorf("source: GET %s: %s: %w", u, http.StatusText(code), ErrNotFound)
	}
	return fmt.Errorf("source: GET %s: HTTP %d %s", u, code, http.StatusText(code))
}
