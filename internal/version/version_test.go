package version

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFromBuildInfo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  Info
		bi   debug.BuildInfo
		want Info
	}{
		{name: "linker wins", set: Info{Version: "v1.2.3", Commit: "abc", BuildDate: "2026-01-01"},
			bi:   debug.BuildInfo{Main: debug.Module{Version: "v0.0.1"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "def"}}},
			want: Info{Version: "v1.2.3", Commit: "abc", BuildDate: "2026-01-01"}},
		{name: "go install", bi: debug.BuildInfo{Main: debug.Module{Version: "v0.4.0"}},
			want: Info{Version: "v0.4.0"}},
		{name: "vcs stamp", bi: debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123"}, {Key: "vcs.time", Value: "2026-08-01T00:00:00Z"}, {Key: "vcs.modified", Value: "true"}}},
			want: Info{Commit: "0123", BuildDate: "2026-08-01T00:00:00Z", Modified: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.set
			fromBuildInfo(&got, &tc.bi)
			require.Equal(t, tc.want, got)
		})
	}
	require.NotEmpty(t, Get().Version)
}
