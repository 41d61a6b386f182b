package httpbouncer

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/bouncer"
)

// TestUsageCountersByOrigin: the middleware counts the requests it stops
// (ban or challenge page) by the origin of the decision, and every request
// it sees; a source that cannot name origins counts them under "".
func TestUsageCountersByOrigin(t *testing.T) {
	t.Parallel()
	set := bouncer.NewSet(nil)
	for i, d := range []struct{ typ, ip, origin string }{
		{"ban", "198.51.100.1", "CAPI"}, {"ban", "198.51.100.2", "cscli"}, {"captcha", "198.51.100.3", "crowdsec"},
	} {
		set.Add(&bouncer.Decision{ID: int64(i + 1), Type: d.typ, Scope: bouncer.ScopeIP, Value: d.ip, Origin: d.origin,
			Prefix: netip.MustParsePrefix(d.ip + "/32"), Until: time.Now().Add(time.Hour)})
	}
	tests := []struct {
		name string
		src  DecisionSource
		want []bouncer.UsageCounter
	}{
		{"origins", SetSource(set), []bouncer.UsageCounter{
			{Name: "processed", Unit: "request", Value: 6},
			{Name: "dropped", Unit: "request", Labels: map[string]string{"origin": "CAPI"}, Value: 2},
			{Name: "dropped", Unit: "request", Labels: map[string]string{"origin": "crowdsec"}, Value: 1},
			{Name: "dropped", Unit: "request", Labels: map[string]string{"origin": "cscli"}, Value: 1},
		}},
		{"no origins", struct{ DecisionSource }{SetSource(set)}, []bouncer.UsageCounter{
			{Name: "processed", Unit: "request", Value: 6},
			{Name: "dropped", Unit: "request", Labels: map[string]string{"origin": ""}, Value: 4},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := New(Options{Source: tc.src, Challenge: ChallengeOptions{Difficulty: 8}})
			require.NoError(t, err)
			h := b.Wrap(upstream)
			for _, remote := range []string{"198.51.100.1", "198.51.100.1", "198.51.100.2", "198.51.100.3", "192.0.2.1", "192.0.2.2"} {
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				r.RemoteAddr = remote + ":1"
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
			require.Equal(t, tc.want, b.UsageCounters())
		})
	}
}
