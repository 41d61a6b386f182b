package server

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/central/centralstore/cstest"
	"github.com/phalanx-ids/phalanx/internal/netguard"
	"github.com/phalanx-ids/phalanx/internal/textsafe"
)

// requireClientError: a refused body is a 4xx apiError whose message is
// safe to show (no control characters, no internal detail).
func requireClientError(t *testing.T, err error, statuses ...int) {
	t.Helper()
	var ae *apiError
	require.True(t, errors.As(err, &ae), "not an apiError: %v", err)
	require.Contains(t, statuses, ae.status, ae.msg)
	require.Equal(t, textsafe.Terminal(ae.msg), ae.msg, "message not escaped")
	require.Less(t, len(ae.msg), 1024)
}

// clean: what is stored has no control characters and keeps its bounds.
func requireStorable(t *testing.T, field, v string, max int) {
	t.Helper()
	require.LessOrEqual(t, len(v), max, field)
	require.Equal(t, textsafe.Terminal(v), v, field)
}

// FuzzDecodeSignals: a signals body is refused with a clear 400/413 or
// becomes signals whose every stored field is clean and bounded and whose
// address is a normalised IP; it never panics.
func FuzzDecodeSignals(f *testing.F) {
	f.Add([]byte(`[{"scenario":"crowdsecurity/ssh-bf","scenario_hash":"abc","scenario_version":"0.3","scenario_trust":"certified","uuid":"u1",` +
		`"start_at":"2026-01-02T03:04:05Z","stop_at":"2026-01-02T03:04:05.123456789+02:00","created_at":"x","message":"m",` +
		`"context":[{"key":"k","value":"v"}],"decisions":[{"value":"1.2.3.4"}],"source":{"scope":"ip","value":"1.2.3.4","cn":"FR"}}]`))
	f.Add([]byte(`[{"scenario":"a","source":{"scope":"Ip","ip":"::ffff:10.0.0.1"}},{"scenario":"b","source":{"scope":"range","value":"1.2.3.0/24"}}]`))
	f.Add([]byte(`[{"scenario":"a\u0000b","source":{"value":"1.2.3.4"}}]`))
	f.Add([]byte(`[{"scenario":"a","source":{"value":"fe80::1%eth0"}}]`))
	f.Add([]byte(`[] []`))
	f.Add([]byte(`{"scenario":"a"}`))
	f.Add([]byte(`null`))
	now := time.Unix(1700000000, 0).UTC()
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := decodeSignals(bytes.NewReader(body), "m1", 50, now)
		if err != nil {
			requireClientError(t, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
			return
		}
		require.LessOrEqual(t, len(out), 50)
		for _, s := range out {
			require.Equal(t, "m1", s.MachineID)
			require.Equal(t, now, s.ReceivedAt)
			ip, err := netip.ParseAddr(s.IP)
			require.NoError(t, err, s.IP)
			require.Equal(t, ip.Unmap().String(), s.IP, "normalised")
			require.Empty(t, ip.Zone())
			require.NotEmpty(t, s.Scenario)
			requireStorable(t, "scenario", s.Scenario, maxScenarioLen)
			requireStorable(t, "hash", s.ScenarioHash, 128)
			requireStorable(t, "version", s.ScenarioVersion, 64)
			requireStorable(t, "trust", s.ScenarioTrust, 32)
			requireStorable(t, "uuid", s.UUID, 128)
		}
	})
}

// FuzzDecodeRegister: a registration body is refused (400) or gives a
// valid machine id and a bcrypt-sized password.
func FuzzDecodeRegister(f *testing.F) {
	f.Add([]byte(`{"machine_id":"abcdefghijklmnop0123456789","password":"password1"}`))
	f.Add([]byte(`{"machine_id":"short","password":"p"}`))
	f.Add([]byte(`{"machine_id":null}`))
	f.Add([]byte(`{"machine_id":"abcdefghijklmnop0123456789","password":"` + strings.Repeat("x", 73) + `"}`))
	f.Add([]byte(`{} x`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := decodeRegister(bytes.NewReader(body))
		if err != nil {
			requireClientError(t, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
			return
		}
		require.Regexp(t, machineIDRe, c.MachineID)
		require.GreaterOrEqual(t, len(c.Password), 8)
		require.LessOrEqual(t, len(c.Password), 72, "bcrypt reads at most 72 bytes")
	})
}

// FuzzDecodeLogin: a login body is refused (400, or 403 as a failed
// login) or gives a valid machine id and bounded, clean scenarios (they
// are stored).
func FuzzDecodeLogin(f *testing.F) {
	f.Add([]byte(`{"machine_id":"abcdefghijklmnop0123456789","password":"password1","scenarios":["crowdsecurity/ssh-bf","a/b"]}`))
	f.Add([]byte(`{"machine_id":"abcdefghijklmnop0123456789","password":"","scenarios":["\u001b[31m"]}`))
	f.Add([]byte(`{"machine_id":"abcdefghijklmnop0123456789","password":"p","scenarios":null}`))
	f.Add([]byte(`{"machine_id":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := decodeLogin(bytes.NewReader(body))
		if err != nil {
			requireClientError(t, err, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge)
			return
		}
		require.Regexp(t, machineIDRe, c.MachineID)
		require.NotEmpty(t, c.Password)
		require.LessOrEqual(t, len(c.Scenarios), maxScenarios)
		for _, s := range c.Scenarios {
			requireStorable(t, "scenario", s, maxScenarioLen)
		}
	})
}

// FuzzDecodeEnroll: an enrolment body is refused (400) or gives a
// well-formed attachment key and a clean, bounded name (it is stored).
func FuzzDecodeEnroll(f *testing.F) {
	f.Add([]byte(`{"attachment_key":"abcdefgh12345678","name":"web01","tags":["a"],"overwrite":true}`))
	f.Add([]byte(`{"attachment_key":"abc","name":"x"}`))
	f.Add([]byte(`{"attachment_key":"abcdefgh12345678","name":"a\u202eb"}`))
	f.Add([]byte(`{"attachment_key":"abcdefgh12345678","name":"\xff"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeEnroll(bytes.NewReader(body))
		if err != nil {
			requireClientError(t, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
			return
		}
		require.Regexp(t, attachKeyRe, req.AttachmentKey)
		requireStorable(t, "name", req.Name, 128)
	})
}

// FuzzClientAddr: whatever X-Forwarded-For a client sends, the resolved
// client is the TCP peer or one of the header's addresses, never a
// trusted proxy's address taken from the header unless every hop is one.
func FuzzClientAddr(f *testing.F) {
	f.Add("203.0.113.9", "127.0.0.1")
	f.Add("1.2.3.4, 10.0.0.1, 127.0.0.1", "127.0.0.1")
	f.Add("garbage, 5.6.7.8", "127.0.0.1")
	f.Add("::ffff:1.2.3.4,fe80::1%eth0", "127.0.0.1")
	f.Add("9.9.9.9", "192.0.2.1")
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, xff, peer string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = fmt.Sprintf("%s:1234", peer)
		if strings.Contains(peer, ":") {
			r.RemoteAddr = fmt.Sprintf("[%s]:1234", peer)
		}
		r.Header.Set("X-Forwarded-For", xff)
		got := clientAddr(trusted, r)
		p, perr := netip.ParseAddr(peer)
		if perr != nil || !p.IsValid() || !trusted[0].Contains(p.Unmap()) && !trusted[1].Contains(p.Unmap()) {
			return // not from a trusted proxy: the header is not read
		}
		if got == p.Unmap().WithZone("") {
			return
		}
		found := false
		for _, h := range strings.Split(xff, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(h)); err == nil && a.Unmap().WithZone("") == got {
				found = true
			}
		}
		require.True(t, found, "client %v is neither the peer nor in the header", got)
		require.Empty(t, got.Zone())
		require.False(t, got.Is4In6())
	})
}

// FuzzSignalsHTTP: whatever body an authenticated install posts to
// /v3/signals of a running central (PostgreSQL when PHALANX_TEST_PG_DSN is
// set, else SQLite), the answer is 200 (stored) or
// a 4xx with a JSON message: never an internal error.
func FuzzSignalsHTTP(f *testing.F) {
	f.Add([]byte(`[{"scenario":"crowdsecurity/ssh-bf","scenario_hash":"abc","scenario_version":"0.3","uuid":"u1",` +
		`"start_at":"2026-01-02T03:04:05Z","stop_at":"0001-01-01T00:00:00Z","created_at":"9999-12-31T23:59:59Z","source":{"scope":"ip","value":"1.2.3.4"}}]`))
	f.Add([]byte(`[{"scenario":"a","uuid":"u1","source":{"value":"1.2.3.4"}},{"scenario":"a","uuid":"u1","source":{"value":"1.2.3.4"}}]`))
	f.Add([]byte(`[{"scenario":"a","source":{"scope":"","value":"::"}}]`))
	f.Add([]byte(`[{"scenario":"a\u0000b","uuid":"\u0000","source":{"value":"1.2.3.4"}}]`))
	cfg := Config{SignalRate: 1e9, SignalBurst: 1 << 30, Limits: netguard.Config{RequestRate: netguard.Off}}
	if dsn := os.Getenv("PHALANX_TEST_PG_DSN"); dsn != "" {
		_, cfg.DB = cstest.PGForTestDSN(f, dsn) // PostgreSQL is the stricter store (no NUL in text)
	}
	c := startCentral(f, cfg)
	in := c.newInstall(f, "11.1.1.10")
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest("POST", c.url+"/v3/signals", bytes.NewReader(body))
		req.Header.Set("X-Forwarded-For", in.egress)
		req.Header.Set("Authorization", "Bearer "+in.token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		resp.Body.Close()
		require.Contains(t, []int{200, 400, 413}, resp.StatusCode, buf.String())
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	})
}

// FuzzDecodeMetrics: a metrics body is refused (400/413) or bounded and
// clean (the version is stored).
func FuzzDecodeMetrics(f *testing.F) {
	f.Add([]byte(`{"apil_version":"v1","bouncers":[{"name":"firewall","custom_name":"fw","version":"1","last_pull":"x"}],"machines":[{"name":"m"}]}`))
	f.Add([]byte(`{"bouncers":null,"machines":[]}`))
	f.Add([]byte(`{"apil_version":"\u001b[2J"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeMetrics(bytes.NewReader(body))
		if err != nil {
			requireClientError(t, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
			return
		}
		requireStorable(t, "apil_version", m.ApilVersion, 64)
		require.LessOrEqual(t, len(m.Bouncers), maxInventory)
		require.LessOrEqual(t, len(m.Machines), maxInventory)
	})
}

// FuzzDecodeDeletions: a decisions/delete body is refused (400/413) or a
// bounded list of non-empty, clean uuids.
func FuzzDecodeDeletions(f *testing.F) {
	f.Add([]byte(`["0b2c8f3e-0000-4000-8000-000000000001"]`))
	f.Add([]byte(`[""]`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(`{"a":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ids, err := decodeDeletions(bytes.NewReader(body))
		if err != nil {
			requireClientError(t, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
			return
		}
		require.LessOrEqual(t, len(ids), maxDeletions)
		for _, id := range ids {
			require.NotEmpty(t, id)
			requireStorable(t, "uuid", id, 128)
		}
	})
}

// FuzzDecodeUsage: a usage-metrics body is refused (400/413/422) or
// bounded and clean (what the central counts and keeps).
func FuzzDecodeUsage(f *testing.F) {
	f.Add([]byte(`{"remediation_components":[{"version":"v0.0.31","os":{"name":"debian","version":"12"},"type":"crowdsec-firewall-bouncer","name":"fw","utc_startup_timestamp":null,"metrics":[{"meta":{"window_size_seconds":1800,"utc_now_timestamp":1700000000},"items":[{"name":"dropped","value":12,"unit":"packet","labels":{"origin":"CAPI","ip_type":"ipv4"}}]}]}],"log_processors":[{"version":"v1.6","hub_items":{"scenarios":[{"name":"crowdsecurity/ssh-bf","version":"0.3","status":"official"}]},"datasources":{"file":2},"name":"m1"}],"lapi":{"version":"v1.6","utc_startup_timestamp":1700000000,"console_options":["custom","tainted"],"metrics":[{"meta":{"window_size_seconds":1800,"utc_now_timestamp":1700000000},"items":[]}]}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"lapi":{"console_options":["\u001b"]}}`))
	f.Add([]byte(`{"remediation_components":[null]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := decodeUsage(bytes.NewReader(body))
		if err != nil {
			requireClientError(t, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity)
			return
		}
		u := usageCounts(m)
		require.LessOrEqual(t, u.RemediationComponents, maxInventory)
		require.LessOrEqual(t, u.LogProcessors, maxInventory)
		require.LessOrEqual(t, u.Windows, maxUsageWindows)
		requireStorable(t, "lapi version", u.LAPIVersion, maxUsageText)
		for _, o := range u.ConsoleOptions {
			requireStorable(t, "console option", o, maxUsageText)
		}
	})
}
