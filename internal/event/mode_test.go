package event

import "testing"

func TestModeString(t *testing.T) {
	for _, tc := range []struct {
		m    Mode
		want string
	}{{LIVE, "live"}, {TIMEMACHINE, "timemachine"}, {Mode(7), "mode(7)"}} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("Mode(%d).String() = %q, want %q", int(tc.m), got, tc.want)
		}
	}
}
