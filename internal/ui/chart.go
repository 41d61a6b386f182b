package ui

import (
	"fmt"
	"sort"
	"time"

	"github.com/phalanx-ids/phalanx/internal/store"
)

// palette colours series (SVG fill attributes: no inline style under the CSP).
var palette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"}

// Chart is a stacked bar chart rendered as SVG by the templates.
type Chart struct {
	W, H   int
	Bars   []Rect
	Legend []LegendItem
	Axis   []AxisLabel
	Max    int64
	Empty  bool
	Title  string
}

// Rect is one bar segment.
type Rect struct {
	X, Y, W, H float64
	Fill       string
	Tip        string
}

// LegendItem names a series' colour.
type LegendItem struct {
	Key, Fill string
	Total     int64
}

// AxisLabel is a time label under the bars.
type AxisLabel struct {
	X    float64
	Text string
}

// stacked builds a stacked bar chart of points (bucket, key, count) over n
// buckets of step from since; keys beyond the 9 largest are "other".
func stacked(title string, pts []store.SeriesPoint, n int, since time.Time, step time.Duration) Chart {
	c := Chart{W: 720, H: 200, Title: title}
	totals := map[string]int64{}
	for _, p := range pts {
		totals[p.Key] += p.Count
	}
	keys := make([]string, 0, len(totals))
	for k := range totals {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if totals[keys[i]] != totals[keys[j]] {
			return totals[keys[i]] > totals[keys[j]]
		}
		return keys[i] < keys[j]
	})
	colour := map[string]string{}
	for i, k := range keys {
		if i >= len(palette)-1 {
			colour[k] = palette[len(palette)-1]
			continue
		}
		colour[k] = palette[i]
		c.Legend = append(c.Legend, LegendItem{Key: k, Fill: palette[i], Total: totals[k]})
	}
	if len(keys) > len(palette)-1 {
		var other int64
		for _, k := range keys[len(palette)-1:] {
			other += totals[k]
		}
		c.Legend = append(c.Legend, LegendItem{Key: "other", Fill: palette[len(palette)-1], Total: other})
	}
	sum := make([]int64, n)
	for _, p := range pts {
		if p.Bucket >= 0 && p.Bucket < n {
			sum[p.Bucket] += p.Count
		}
	}
	for _, s := range sum {
		c.Max = max(c.Max, s)
	}
	if c.Max == 0 || n == 0 {
		c.Empty = true
		return c
	}
	const top, bottom = 10.0, 20.0
	plotH := float64(c.H) - top - bottom
	bw := float64(c.W) / float64(n)
	base := make([]float64, n)
	for _, p := range pts {
		if p.Bucket < 0 || p.Bucket >= n || p.Count == 0 {
			continue
		}
		h := plotH * float64(p.Count) / float64(c.Max)
		base[p.Bucket] += h
		at := since.Add(time.Duration(p.Bucket) * step).UTC().Format("2006-01-02 15:04")
		c.Bars = append(c.Bars, Rect{X: float64(p.Bucket) * bw, Y: top + plotH - base[p.Bucket], W: max(bw-1, 1), H: h,
			Fill: colour[p.Key], Tip: fmt.Sprintf("%s: %d (%s)", p.Key, p.Count, at)})
	}
	for i := 0; i < n; i += max(1, n/6) {
		c.Axis = append(c.Axis, AxisLabel{X: float64(i) * bw, Text: since.Add(time.Duration(i) * step).UTC().Format(axisFormat(step))})
	}
	return c
}

func axisFormat(step time.Duration) string {
	if step < 24*time.Hour {
		return "01-02 15:04"
	}
	return "2006-01-02"
}

// Line is a line plot of one metric over time (the metrics page).
type Line struct {
	W, H   int
	Points string // SVG polyline points
	Max    float64
	Last   float64
	Name   string
	Kind   string // per sample (counter deltas) or value (gauge)
	Empty  bool
}

func line(name, kind string, vals []float64) Line {
	l := Line{W: 320, H: 60, Name: name, Kind: kind}
	if len(vals) < 2 {
		l.Empty = true
		if len(vals) == 1 {
			l.Last = vals[0]
		}
		return l
	}
	for _, v := range vals {
		l.Max = max(l.Max, v)
	}
	l.Last = vals[len(vals)-1]
	dx := float64(l.W) / float64(len(vals)-1)
	var b []byte
	for i, v := range vals {
		y := float64(l.H - 2)
		if l.Max > 0 {
			y = float64(l.H-2) - float64(l.H-4)*v/l.Max
		}
		b = fmt.Appendf(b, "%.1f,%.1f ", float64(i)*dx, y)
	}
	l.Points = string(b)
	return l
}
