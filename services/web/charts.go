package web

import (
	"strconv"
	"time"
)

// Chart is a bar chart drawn as inline SVG by the "chart" template: the
// geometry is computed here, the template only writes numbers and escaped
// titles.
type Chart struct {
	Width, Height int
	Bars          []Bar
	Label         string // the SVG's accessible name
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
