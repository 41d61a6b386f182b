package duration

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want time.Duration
		err  error
	}{
		{"go duration", "1h", time.Hour, nil},
		{"compound", "1h30m10s", 90*time.Minute + 10*time.Second, nil},
		{"days", "2d", 48 * time.Hour, nil},
		{"days and hours", "1d12h", 36 * time.Hour, nil},
		{"fractional days", "1.5d", 36 * time.Hour, nil},
		{"fractional days and tail", ".5d1h", 13 * time.Hour, nil},
		{"spaces", "  4h ", 4 * time.Hour, nil},
		{"negative", "-5h", -5 * time.Hour, nil},
		{"negative days", "-1d2h", -26 * time.Hour, nil},
		{"zero", "0", 0, nil},
		{"zero seconds", "0s", 0, nil},
		{"empty", "", 0, ErrSyntax},
		{"no unit", "5", 0, ErrSyntax},
		{"unknown unit", "5x", 0, ErrSyntax},
		{"days then junk", "1dx", 0, ErrSyntax},
		{"two day parts", "1d1d", 0, ErrSyntax},
		{"NaN days", "NaNd", 0, ErrSyntax},
		{"Inf days", "Infd", 0, ErrSyntax},
		{"signed inf days", "+Infd", 0, ErrSyntax},
		{"exponent days", "1e308d", 0, ErrSyntax},
		{"hex days", "0x10d", 0, ErrSyntax},
		{"sign inside", "1d-2h", 0, ErrSyntax},
		{"bare d", "d", 0, ErrSyntax},
		{"two dots", "1.2.3d", 0, ErrSyntax},
		{"huge days", "9999999999d", 0, ErrRange},
		{"days at the limit", "106752d", 0, ErrRange},
		{"huge hours", "9999999999999h", 0, ErrRange},
		{"days plus tail overflow", "106751d23h59m59s1s", 0, ErrRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				require.True(t, strings.HasPrefix(err.Error(), "duration: "), err.Error())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestPositive(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want time.Duration
		err  error
	}{
		{"hours", "4h", 4 * time.Hour, nil},
		{"days", "7d", 7 * 24 * time.Hour, nil},
		{"max", "36500d", Max, nil},
		{"zero", "0s", 0, ErrNotPositive},
		{"negative", "-5h", 0, ErrNotPositive},
		{"beyond max", "36501d", 0, ErrRange},
		{"NaN", "NaNd", 0, ErrSyntax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Positive(tc.in)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// FuzzParse: Parse never panics, and what it accepts is a duration that
// time.ParseDuration reads back and that Positive judges consistently.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"4h", "1d12h", "1.5d", "-5h", "0s", "NaNd", "Infd", "1e308d", "9999999999d", "106751d23h", ".5d", "1d-1h", "+3m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrRange) {
				t.Fatalf("Parse(%q): unclassified error %v", s, err)
			}
			return
		}
		back, err := time.ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("Parse(%q) = %v, which does not read back (%v, %v)", s, d, back, err)
		}
		p, perr := Positive(s)
		switch {
		case d > 0 && d <= Max:
			if perr != nil || p != d {
				t.Fatalf("Positive(%q) = %v, %v; want %v", s, p, perr, d)
			}
		case perr == nil:
			t.Fatalf("Positive(%q) accepted %v", s, p)
		}
	})
}
