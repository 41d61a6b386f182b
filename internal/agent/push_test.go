package agent_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/agent"
	"github.com/phalanx-ids/phalanx/internal/apiclient"
	"github.com/phalanx-ids/phalanx/internal/models"
)

// recordingLAPI answers every POST /v1/alerts with 201 and keeps the
// bodies as they came on the wire (gunzipped when sent gzipped).
type recordingLAPI struct {
	url    string
	mu     sync.Mutex
	bodies [][]byte
	got    chan struct{}
}

func newRecordingLAPI(t *testing.T) *recordingLAPI {
	t.Helper()
	l := &recordingLAPI{got: make(chan struct{}, 100)}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			rd = zr
		}
		body, err := io.ReadAll(rd)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch r.URL.Path {
		case "/v1/watchers/login":
			_, _ = io.WriteString(w, `{"code":200,"expire":"`+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)+`","token":"t"}`)
		case "/v1/alerts":
			l.mu.Lock()
			l.bodies = append(l.bodies, body)
			l.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `[]`)
			l.got <- struct{}{}
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(hs.Close)
	l.url = hs.URL
	return l
}

func (l *recordingLAPI) client(t *testing.T, gz bool) *apiclient.Client {
	t.Helper()
	c, err := apiclient.New(apiclient.Config{URL: l.url, UserAgent: "crowdsec/v1.7.5", MachineID: "agent1",
		Password: "pw", GzipRequests: gz})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func (l *recordingLAPI) pushed() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]byte(nil), l.bodies...)
}

// spooledPayloads reads the payloads of every record in the segment files
// of dir (framing: 4-byte length, 4-byte items, 4-byte CRC, payload).
func spooledPayloads(t *testing.T, dir string) [][]byte {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "seg-*.spool"))
	require.NoError(t, err)
	var out [][]byte
	for _, p := range segs {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		for len(b) > 0 {
			require.GreaterOrEqual(t, len(b), 12, "%s: short header", p)
			n := int(binary.BigEndian.Uint32(b))
			out = append(out, b[12:12+n])
			b = b[12+n:]
		}
	}
	return out
}

// runUntil runs a until want bodies were pushed to l, then stops it.
func runUntil(t *testing.T, a *agent.Agent, l *recordingLAPI, want int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	for range want {
		select {
		case <-l.got:
		case <-time.After(20 * time.Second):
			t.Fatalf("only %d of %d pushes arrived", len(l.pushed()), want)
		}
	}
	for deadline := time.Now().Add(20 * time.Second); a.Stats().Spool.Records > 0; time.Sleep(5 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the spool did not drain: %+v", a.Stats())
	}
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, a.Close())
}

// TestPushSendsSpooledBytes: alerts spooled by one run are pushed by the
// next run (a restart) with a body that is byte for byte the spooled
// record: nothing decoded and encoded again, the UUIDs unchanged.
func TestPushSendsSpooledBytes(t *testing.T) {
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "gzip"}[gz], func(t *testing.T) {
			l := newRecordingLAPI(t)
			dir := t.TempDir()
			cfg := agent.Config{SpoolDir: dir, BatchSize: 2, HeartbeatInterval: -1}
			a, err := agent.New(cfg, agent.Deps{Client: l.client(t, gz)})
			require.NoError(t, err)
			var uuids []string
			for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
				al := overflow(ip)
				a.Add(al)
				uuids = append(uuids, al.UUID)
			}
			require.NoError(t, a.Close()) // spooled, never pushed
			// A record no encoder writes (spaces, key order, a field the
			// model lacks): decoding and encoding again would change it.
			sp, err := agent.OpenSpool(dir, agent.SpoolOptions{})
			require.NoError(t, err)
			_, err = sp.Append([]byte(` [ {"zz_unknown": [1, 2], "uuid": "u-4", "scenario": "x"} ]`+"\n"), 1)
			require.NoError(t, err)
			require.NoError(t, sp.Close())
			uuids = append(uuids, "u-4")
			spooled := spooledPayloads(t, dir)
			require.Len(t, spooled, 3, "3 alerts in batches of 2, and one written by hand")

			a, err = agent.New(cfg, agent.Deps{Client: l.client(t, gz)})
			require.NoError(t, err)
			runUntil(t, a, l, 3)
			pushed := l.pushed()
			// Pushes overlap (Config.PushesInFlight): they may arrive in
			// any order.
			require.ElementsMatch(t, spooled, pushed, "the bodies are the spooled records")
			var got []string
			for _, b := range pushed {
				var alerts []*models.Alert
				require.NoError(t, json.Unmarshal(b, &alerts))
				for _, al := range alerts {
					got = append(got, al.UUID)
				}
			}
			require.ElementsMatch(t, uuids, got)
		})
	}
}

// TestCorruptSpoolRecord: a spooled record that is not a JSON array of
// alerts (its checksum is right: written so by a bug, or corrupted before
// it was checksummed) is not sent; it is counted, kept byte for byte in
// the spool's set-aside directory, and the records after it are delivered.
func TestCorruptSpoolRecord(t *testing.T) {
	cases := []struct {
		name    string
		payload string
	}{
		{name: "truncated array", payload: `[{"uuid":"a","scenario":"x"`},
		{name: "object not array", payload: `{"uuid":"a"}`},
		{name: "binary garbage", payload: "\x00\xff\x13garbage"},
		{name: "empty", payload: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newRecordingLAPI(t)
			dir := t.TempDir()
			sp, err := agent.OpenSpool(dir, agent.SpoolOptions{})
			require.NoError(t, err)
			_, err = sp.Append([]byte(tc.payload), 7)
			require.NoError(t, err)
			good, err := json.Marshal([]*models.Alert{overflow("192.0.2.9")})
			require.NoError(t, err)
			_, err = sp.Append(good, 1)
			require.NoError(t, err)
			require.NoError(t, sp.Close())

			reg := prometheus.NewRegistry()
			a, err := agent.New(agent.Config{SpoolDir: dir, HeartbeatInterval: -1},
				agent.Deps{Client: l.client(t, false), Registerer: reg})
			require.NoError(t, err)
			runUntil(t, a, l, 1)
			require.Equal(t, [][]byte{good}, l.pushed(), "only the good record is sent")
			require.EqualValues(t, 7, counter(t, reg, "phalanx_agent_spool_set_aside_alerts_total"))
			require.EqualValues(t, 1, counter(t, reg, "phalanx_agent_alerts_pushed_total"))
			aside, err := filepath.Glob(filepath.Join(dir, "set-aside", "*"))
			require.NoError(t, err)
			require.Len(t, aside, 1)
			b, err := os.ReadFile(aside[0])
			require.NoError(t, err)
			require.True(t, bytes.Equal([]byte(tc.payload), b), "set aside as it was: %q", b)

			// Set aside for good: a restart neither sends nor sets it aside again.
			a, err = agent.New(agent.Config{SpoolDir: dir, HeartbeatInterval: -1}, agent.Deps{Client: l.client(t, false)})
			require.NoError(t, err)
			require.Zero(t, a.Stats().Spool.Records)
			require.NoError(t, a.Close())
		})
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
