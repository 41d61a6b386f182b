package lapi

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFlushDefaults: retention is on by default (CrowdSec's shipped
// max_items 5000, max_age 7d) and can be turned off explicitly.
func TestFlushDefaults(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       FlushConfig
		maxItems int
		maxAge   time.Duration
	}{
		{"defaults", FlushConfig{}, 5000, 7 * 24 * time.Hour},
		{"set", FlushConfig{MaxItems: 100, MaxAge: "2d"}, 100, 48 * time.Hour},
		{"no limits", FlushConfig{MaxItems: -1, MaxAge: "0"}, 0, 0},
		{"no age limit in Go syntax", FlushConfig{MaxAge: "0s"}, 5000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.in.policy(time.Hour)
			require.NoError(t, err)
			require.Equal(t, tc.maxItems, p.AlertsMaxItems)
			require.Equal(t, tc.maxAge, p.AlertsMaxAge)
			require.Equal(t, time.Hour, p.DecisionsExpiredFor)
		})
	}
}
