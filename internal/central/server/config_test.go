package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phalanx-ids/phalanx/internal/capi"
)

// The central's header is the one the install side reads.
func TestPullIntervalHeaderAgreesWithCAPI(t *testing.T) {
	require.Equal(t, capi.PullIntervalHeader, PullIntervalHeader)
}

// TestPullIntervalHeader: every stream answer asks Phalanx installs to
// pull at the configured interval (default 10s), and a real CAPI client
// (the install side) reads it.
func TestPullIntervalHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  time.Duration
		want time.Duration
	}{
		{"default", 0, 10 * time.Second},
		{"configured", 3 * time.Second, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startCentral(t, Config{PullInterval: tc.set})
			ctx := context.Background()
			creds, err := capi.Register(ctx, c.url, t.TempDir()+"/online_api_credentials.yaml", false, capi.ClientOptions{})
			require.NoError(t, err)
			cl, err := capi.NewClient(creds, capi.ClientOptions{})
			require.NoError(t, err)
			for _, startup := range []bool{true, false} {
				_, info, err := cl.PullStream(ctx, startup, true, false)
				require.NoError(t, err)
				require.Equal(t, tc.want, info.Interval, "startup=%v", startup)
			}
		})
	}
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		err  string
	}{
		{"below one second", Config{PullInterval: 500 * time.Millisecond}, "at least 1s"},
		{"faster than the pull rate", Config{PullInterval: 10 * time.Second, PullRate: 0.05}, "shorter than the pull rate allows (one pull every 20s)"},
		{"defaults", Config{}, ""},
		{"slow rate, slow interval", Config{PullInterval: time.Minute, PullRate: 0.05}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.withDefaults().validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.err)
		})
	}
}
