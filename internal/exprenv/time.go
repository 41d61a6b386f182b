package exprenv

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// timeHelpers: clock, epochs, intervals and numbers.
func (e *Env) timeHelpers() []helper {
	return []helper{
		{"TimeNow", func(...any) (any, error) { return e.now().UTC().Format(time.RFC3339), nil }, []any{new(func() string)}},
		{"ParseUnix", e.parseUnix, []any{new(func(string) string)}},
		{"MedianInterval", medianInterval, []any{new(func([]time.Time) time.Duration), new(func([]any) time.Duration)}},
		{"AverageInterval", averageInterval, []any{new(func([]time.Time) time.Duration), new(func([]any) time.Duration)}},
		{"Distance", distance, []any{new(func(string, string, string, string) (float64, error))}},
		{"FloatApproxEqual", floatApproxEqual, []any{new(func(float64, float64) bool)}},
	}
}

// ParseUnix("1672239773.359") string: the epoch (fraction dropped) as
// RFC3339 in UTC; "" when not a positive integer.
func (e *Env) parseUnix(p ...any) (any, error) {
	s, _, _ := strings.Cut(argStr(p, 0), ".")
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil || i <= 0 {
		e.log.Debug("ParseUnix: not a unix timestamp", "value", argStr(p, 0))
		return "", nil
	}
	return time.Unix(i, 0).UTC().Format(time.RFC3339), nil
}

// sortedTimes copies the times argument ([]time.Time or []any of
// time.Time) and sorts it; fewer than two is an error.
func sortedTimes(name string, p []any) ([]time.Time, error) {
	if len(p) != 1 {
		return nil, fmt.Errorf("%s: want one list of times", name)
	}
	var ts []time.Time
	switch v := p[0].(type) {
	case []time.Time:
		ts = slices.Clone(v)
	case []any:
		ts = make([]time.Time, len(v))
		for i, x := range v {
			t, ok := x.(time.Time)
			if !ok {
				return nil, fmt.Errorf("%s: element %d is %T, not a time", name, i, x)
			}
			ts[i] = t
		}
	default:
		return nil, fmt.Errorf("%s: %T is not a list of times", name, p[0])
	}
	if len(ts) < 2 {
		return nil, fmt.Errorf("%s: need at least two times", name)
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return ts, nil
}

// MedianInterval(times) time.Duration: the median gap between the sorted
// times (mean of the two middle gaps for an even count). Errors on fewer
// than two times.
func medianInterval(p ...any) (any, error) {
	ts, err := sortedTimes("MedianInterval", p)
	if err != nil {
		return time.Duration(0), err
	}
	return medianGap(ts), nil
}

// MedianInterval is the MedianInterval helper for Go callers (natexpr's
// native conditions): the median gap between the sorted times, an error
// for fewer than two. times is not modified.
func (e *Env) MedianInterval(times []time.Time) (time.Duration, error) {
	ts, err := sortedTimes("MedianInterval", []any{times})
	if err != nil {
		return 0, err
	}
	return medianGap(ts), nil
}

// medianGap: ts sorted, at least two.
func medianGap(ts []time.Time) time.Duration {
	gaps := make([]time.Duration, len(ts)-1)
	for i := 1; i < len(ts); i++ {
		gaps[i-1] = ts[i].Sub(ts[i-1])
	}
	slices.Sort(gaps)
	n := len(gaps)
	if n%2 == 1 {
		return gaps[n/2]
	}
	return (gaps[n/2-1] + gaps[n/2]) / 2
}

// AverageInterval(times) time.Duration: the mean gap between the sorted
// times. Errors on fewer than two times.
func averageInterval(p ...any) (any, error) {
	ts, err := sortedTimes("AverageInterval", p)
	if err != nil {
		return time.Duration(0), err
	}
	return ts[len(ts)-1].Sub(ts[0]) / time.Duration(len(ts)-1), nil
}

const earthRadiusKm = 6371

// Distance(lat1, lon1, lat2, lon2) float64: great-circle (haversine)
// distance in km. 0 when either point is (0,0) (no geolocation); an error
// when a coordinate is not a number.
func distance(p ...any) (any, error) {
	var c [4]float64
	for i := range c {
		f, err := strconv.ParseFloat(argStr(p, i), 64)
		if err != nil {
			return 0.0, fmt.Errorf("Distance: coordinate %d is not a float: %w", i+1, err)
		}
		c[i] = f
	}
	if (c[0] == 0 && c[1] == 0) || (c[2] == 0 && c[3] == 0) {
		return 0.0, nil
	}
	rad := math.Pi / 180
	lat1, lon1, lat2, lon2 := c[0]*rad, c[1]*rad, c[2]*rad, c[3]*rad
	h := math.Pow(math.Sin((lat2-lat1)/2), 2) + math.Cos(lat1)*math.Cos(lat2)*math.Pow(math.Sin((lon2-lon1)/2), 2)
	return 2 * math.Atan2(math.Sqrt(h), math.Sqrt(1-h)) * earthRadiusKm, nil
}

// FloatApproxEqual(a, b) bool: |a-b| < 1e-6. Integers are accepted too
// (upstream wants float64 and fails otherwise).
func floatApproxEqual(p ...any) (any, error) {
	a, err := argFloat(p, 0)
	if err != nil {
		return false, errors.New("FloatApproxEqual: " + err.Error())
	}
	b, err := argFloat(p, 1)
	if err != nil {
		return false, errors.New("FloatApproxEqual: " + err.Error())
	}
	return math.Abs(a-b) < 1e-6, nil
}
