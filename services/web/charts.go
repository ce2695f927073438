package web

import (
	"strconv"
	"strings"
	"time"
)

// Chart is a bar chart drawn as inline SVG by the "chart" template: the
// geometry is computed here, the template only writes numbers and escaped
// titles.
type Chart struct {
	Width, Height int
	Bars          []Bar
	Label         string // the SVG's accessible name
	Summary       string // said after the label instead of the total, for measures that are not counts
	Total         int64
	Max           int64
}

// Bar is one bucket of a chart.
type Bar struct {
	X, Y, W, H float64
	Title      string // "12 events, 14:00 UTC" (shown on hover)
}

// NewChart draws counts (oldest first) as bars of a width×height chart;
// starts are the buckets' start times and step their length, for titles.
// Empty buckets draw a 1-pixel baseline so the time axis stays visible.
func NewChart(counts []int64, start time.Time, step time.Duration, width, height int, label string) Chart {
	c := Chart{Width: width, Height: height, Label: label}
	if len(counts) == 0 {
		return c
	}
	for _, n := range counts {
		c.Total += n
		c.Max = max(c.Max, n)
	}
	slot := float64(width) / float64(len(counts))
	gap := 1.0
	if slot < 3 {
		gap = 0
	}
	layout := "2 Jan 15:04 UTC"
	if step >= 24*time.Hour {
		layout = "2 Jan 2006"
	}
	for i, n := range counts {
		h := 1.0
		if c.Max > 0 && n > 0 {
			h = max(2, float64(n)/float64(c.Max)*float64(height-1))
		}
		word := " events, "
		if n == 1 {
			word = " event, "
		}
		c.Bars = append(c.Bars, Bar{
			X: round1(float64(i) * slot), Y: round1(float64(height) - h), W: round1(max(slot-gap, 0.5)), H: round1(h),
			Title: strconv.FormatInt(n, 10) + word + start.Add(time.Duration(i)*step).UTC().Format(layout),
		})
	}
	return c
}

func round1(f float64) float64 { return float64(int(f*10+0.5)) / 10 }

// Distribution is a tag's values with their shares, for facet bars.
type Distribution struct {
	Key    string
	Total  int64
	Values []Share
}

// Share is one value of a distribution.
type Share struct {
	Value   string
	Count   int64
	Percent int     // rounded, for the label
	Width   float64 // of 100, for the bar
}

// NewDistribution computes shares of total for counts (largest first as
// given).
func NewDistribution(key string, values []string, counts []int64, total int64) Distribution {
	d := Distribution{Key: key, Total: total}
	if total <= 0 {
		for _, n := range counts {
			total += n
		}
		d.Total = total
	}
	for i, v := range values {
		s := Share{Value: v, Count: counts[i]}
		if total > 0 {
			s.Percent = int(float64(counts[i])*100/float64(total) + 0.5)
			s.Width = max(round1(float64(counts[i])*100/float64(total)), 0.5)
		}
		d.Values = append(d.Values, s)
	}
	return d
}

// NewValueChart draws values (oldest first) as bars like NewChart, for
// measures that are not counts (a p95 in milliseconds, a rate): each bar's
// title is format(value) and its bucket's time, and Summary names the peak.
func NewValueChart(values []float64, start time.Time, step time.Duration, width, height int, label string, format func(float64) string) Chart {
	c := Chart{Width: width, Height: height, Label: label}
	if len(values) == 0 {
		return c
	}
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
	c.Summary = "peak " + format(peak)
	slot := float64(width) / float64(len(values))
	gap := 1.0
	if slot < 3 {
		gap = 0
	}
	for i, v := range values {
		h := 1.0
		if peak > 0 && v > 0 {
			h = max(2, v/peak*float64(height-1))
		}
		c.Bars = append(c.Bars, Bar{
			X: round1(float64(i) * slot), Y: round1(float64(height) - h), W: round1(max(slot-gap, 0.5)), H: round1(h),
			Title: format(v) + ", " + start.Add(time.Duration(i)*step).UTC().Format(timeLayout(step)),
		})
	}
	return c
}

func timeLayout(step time.Duration) string {
	if step >= 24*time.Hour {
		return "2 Jan 2006"
	}
	return "2 Jan 15:04 UTC"
}

// LineChart is several series of one unit drawn as lines over the same
// buckets by the "linechart" template, with a transparent hover target per
// bucket whose title lists every series' value.
type LineChart struct {
	Width, Height int
	Label         string // the SVG's accessible name
	Summary       string // "peak 1.2 s"
	Lines         []Line
	Slots         []Bar // hover targets, one per bucket
}

// Line is one series of a line chart.
type Line struct {
	Name   string // "p95", shown in the legend
	Class  string // a fixed CSS class: s0, s1, s2, …
	Points string // "x,y x,y …" in the chart's coordinates
}

// NewLineChart draws series (named by names, every one as long as the
// others, oldest first) as lines of a width×height chart scaled to their
// common peak.
func NewLineChart(names []string, series [][]float64, start time.Time, step time.Duration, width, height int, label string, format func(float64) string) LineChart {
	c := LineChart{Width: width, Height: height, Label: label}
	if len(series) == 0 || len(series[0]) == 0 {
		return c
	}
	n := len(series[0])
	peak := 0.0
	for _, s := range series {
		for _, v := range s {
			peak = max(peak, v)
		}
	}
	c.Summary = "peak " + format(peak)
	slot := float64(width) / float64(n)
	y := func(v float64) float64 {
		if peak <= 0 {
			return float64(height) - 1
		}
		return round1(float64(height) - 1 - v/peak*float64(height-2))
	}
	for i, s := range series {
		var b strings.Builder
		for j, v := range s {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.FormatFloat(round1((float64(j)+0.5)*slot), 'f', -1, 64))
			b.WriteByte(',')
			b.WriteString(strconv.FormatFloat(y(v), 'f', -1, 64))
		}
		c.Lines = append(c.Lines, Line{Name: names[i], Class: "s" + strconv.Itoa(i%4), Points: b.String()})
	}
	for j := 0; j < n; j++ {
		parts := make([]string, len(series))
		for i, s := range series {
			parts[i] = names[i] + " " + format(s[j])
		}
		c.Slots = append(c.Slots, Bar{X: round1(float64(j) * slot), Y: 0, W: round1(slot), H: float64(height),
			Title: start.Add(time.Duration(j)*step).UTC().Format(timeLayout(step)) + ": " + strings.Join(parts, ", ")})
	}
	return c
}
