package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/phalanx-ids/phalanx/internal/capi/wire"
	"github.com/phalanx-ids/phalanx/internal/central/centralstore"
)

// What an install says besides signals (metrics, decision deletions) and
// the central's allowlist as a CAPI allowlist link.

// Bounds of the metrics and deletion bodies.
const (
	maxInventory = 10000 // bouncers, machines per metrics body
	maxDeletions = 1000  // uuids per deletion body
)

// decodeMetrics reads a POST /v3/metrics body (wire.Metrics); only the
// counts and the version are kept.
func decodeMetrics(body io.Reader) (wire.Metrics, error) {
	var m wire.Metrics
	if err := decode(body, &m); err != nil {
		return m, err
	}
	if len(m.Bouncers) > maxInventory || len(m.Machines) > maxInventory {
		return m, bad("too many bouncers or machines (at most %d each)", maxInventory)
	}
	if err := checkText("apil_version", m.ApilVersion, 64); err != nil {
		return m, err
	}
	for i, b := range m.Bouncers {
		for _, f := range []struct{ name, v string }{{"name", b.Name}, {"custom_name", b.CustomName}, {"version", b.Version}, {"last_pull", b.LastPull}} {
			if err := checkText(fmt.Sprintf("bouncers[%d].%s", i, f.name), f.v, 256); err != nil {
				return m, err
			}
		}
	}
	for i, x := range m.Machines {
		for _, f := range []struct{ name, v string }{{"name", x.Name}, {"version", x.Version}, {"last_update", x.LastUpdate}, {"last_push", x.LastPush}} {
			if err := checkText(fmt.Sprintf("machines[%d].%s", i, f.name), f.v, 256); err != nil {
				return m, err
			}
		}
	}
	return m, nil
}

// POST /v3/metrics[/] {bouncers, machines, apil_version}: the install's
// counts of bouncers and machines and its version are kept (installs list).
func (s *Server) metrics(w http.ResponseWriter, r *http.Request, machine string) error {
	m, err := decodeMetrics(r.Body)
	if err != nil {
		return err
	}
	if err := s.st.SetMetrics(r.Context(), machine, len(m.Bouncers), len(m.Machines), m.ApilVersion, s.now()); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "OK"})
	return nil
}

// decodeDeletions reads a POST /v3/decisions/delete body: an array of
// decision uuids.
func decodeDeletions(body io.Reader) ([]string, error) {
	var ids []string
	if err := decode(body, &ids); err != nil {
		return nil, err
	}
	if len(ids) > maxDeletions {
		return nil, bad("too many decisions in one request (%d, at most %d)", len(ids), maxDeletions)
	}
	for i, id := range ids {
		if id == "" {
			return nil, bad("decision %d: empty uuid", i)
		}
		if err := checkText(fmt.Sprintf("decision %d", i), id, 128); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// POST /v3/decisions/delete [uuid...]: the install deleted decisions
// locally. The central keeps no decision of a signal (they are dropped
// at ingestion), so only the count is kept (installs list), each uuid
// counted once (kept as long as signals, for that).
func (s *Server) deletions(w http.ResponseWriter, r *http.Request, machine string) error {
	ids, err := decodeDeletions(r.Body)
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		if _, err := s.st.AddDeletions(r.Context(), machine, ids, s.now()); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"message": "OK"})
	return nil
}

// AllowlistLinkName is the name installs give the central's allowlist
// (publish_allowlist).
const AllowlistLinkName = "phalanx-central"

// allowlistPath serves the central's allowlist content to the URLs the
// stream links to: signed (HMAC of the machine and an expiry), so that a
// stock CrowdSec LAPI, which fetches links without its token, can read
// it, and no one else.
const allowlistPath = "/v3/allowlists/central"

// allowCache is the allowlist as links and content are served from (read
// from the database at most every few seconds).
type allowCache struct {
	mu      sync.Mutex
	at      time.Time
	entries []centralstore.AllowEntry
	updated time.Time
	version string // a hash of the content: links change when it does
}

func (s *Server) allowEntries(r *http.Request) ([]centralstore.AllowEntry, time.Time, string, error) {
	c := &s.allow
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); c.at.IsZero() || now.Sub(c.at) > s.cfg.Poll {
		es, err := s.st.Allowlist(r.Context())
		if err != nil {
			return nil, time.Time{}, "", err
		}
		var updated time.Time
		h := sha256.New()
		for _, e := range es {
			if e.CreatedAt.After(updated) {
				updated = e.CreatedAt
			}
			fmt.Fprintf(h, "%s\x00%s\x00", e.CIDR, e.Reason)
		}
		version := hex.EncodeToString(h.Sum(nil))[:16]
		if c.version != "" && version != c.version {
			// A change that adds no entry (a reason updated) still moves
			// updated_at, by which a CrowdSec LAPI decides to fetch again.
			updated = maxTime(updated, s.now().UTC().Truncate(time.Second), c.updated.Add(time.Second))
		}
		c.entries, c.at, c.updated, c.version = es, now, maxTime(updated, c.updated), version
	}
	return c.entries, c.updated, c.version, nil
}

func (s *Server) allowSig(machine string, exp int64) string {
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "allowlist|%s|%d", machine, exp)
	return hex.EncodeToString(m.Sum(nil))
}

// allowlistLinks is the stream's links.allowlists for machine: the
// central's allowlist when it publishes it and it is not empty. The link
// stays the same for a day (its signature expires a day later) unless
// the content changes (v, a hash of it, is part of the URL).
func (s *Server) allowlistLinks(r *http.Request, machine string) ([]wire.AllowlistLink, error) {
	if !s.cfg.PublishAllowlist {
		return []wire.AllowlistLink{}, nil
	}
	es, updated, version, err := s.allowEntries(r)
	if err != nil || len(es) == 0 {
		return []wire.AllowlistLink{}, err
	}
	base := s.base // never the request's Host: a client controls it
	if base == "" {
		return []wire.AllowlistLink{}, nil
	}
	exp := s.now().UTC().Truncate(24 * time.Hour).Add(48 * time.Hour).Unix()
	q := url.Values{"machine": {machine}, "exp": {strconv.FormatInt(exp, 10)}, "v": {version}, "sig": {s.allowSig(machine, exp)}}
	ts := updated.UTC().Format(time.RFC3339)
	return []wire.AllowlistLink{{Name: AllowlistLinkName, Description: "networks the crowd's central never lists",
		URL: base + allowlistPath + "?" + q.Encode(), ID: AllowlistLinkName, CreatedAt: ts, UpdatedAt: ts}}, nil
}

// GET /v3/allowlists/central?machine=&exp=&sig=: the allowlist, one JSON
// item per line ({"value", "description"}).
func (s *Server) allowlistContent(w http.ResponseWriter, r *http.Request, _ string) error {
	if !s.cfg.PublishAllowlist {
		return &apiError{status: http.StatusNotFound, msg: "not found"}
	}
	q := r.URL.Query()
	machine := q.Get("machine")
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	if err != nil || !machineIDRe.MatchString(machine) || !hmac.Equal([]byte(q.Get("sig")), []byte(s.allowSig(machine, exp))) {
		return &apiError{status: http.StatusForbidden, msg: "invalid or missing signature"}
	}
	if s.now().Unix() > exp {
		return &apiError{status: http.StatusForbidden, msg: "link expired: pull the stream again"}
	}
	if ok, wait := s.pullRate.Allow(machine, s.now()); !ok {
		return &apiError{status: http.StatusTooManyRequests, msg: "too many pulls", retry: wait}
	}
	es, updated, _, err := s.allowEntries(r)
	if err != nil {
		return err
	}
	if !updated.IsZero() {
		w.Header().Set("Last-Modified", updated.UTC().Format(http.TimeFormat))
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	enc := json.NewEncoder(w)
	for _, e := range es {
		if err := enc.Encode(wire.AllowlistItem{Value: e.CIDR, Description: e.Reason}); err != nil {
			return nil // the client went away
		}
	}
	return nil
}

func maxTime(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}
