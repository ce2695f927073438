package web

import (
	"net/http"
	"slices"
	"time"

	"github.com/faultline/faultline/libs/analyticsquery"
)

// The usage stats page, Sentry's "Stats": per data category, how many
// items were accepted, filtered, rate-limited, refused as invalid or
// discarded by SDKs, from the outcomes the gateway and SDKs report, with
// charts of accepted and dropped errors over the period.

// statsOutcomes are the columns of the page's table, in order.
var statsOutcomes = []struct{ Outcome, Label string }{
	{"accepted", "Accepted"},
	{"filtered", "Filtered"},
	{"rate_limited", "Rate limited"},
	{"invalid", "Invalid"},
	{"client_discard", "Discarded by SDKs"},
}

type statsData struct {
	*scope
	State    analyticsState
	Outcomes []string   // the table's column labels after the category
	Rows     []statsRow // per category
	Reasons  []reasonRow
	Accepted Chart // accepted errors per interval
	Dropped  Chart // errors dropped for any reason per interval
}

type statsRow struct {
	Category string
	Counts   []string // per statsOutcomes
	Total    string
}

type reasonRow struct {
	Outcome, Reason, Category, Count string
}

func (w *Web) statsPage(rw http.ResponseWriter, r *http.Request) {
	oa := orgOf(r.Context())
	v := &view{Title: "Usage stats", Crumbs: []crumb{{Label: oa.org.Name, Href: "/"}, {Label: "Usage stats"}}}
	s, err := w.scopeOf(r)
	if s == nil {
		w.renderAnalytics(rw, r, "stats", v, &analyticsState{}, err)
		return
	}
	d := &statsData{scope: s}
	for _, o := range statsOutcomes {
		d.Outcomes = append(d.Outcomes, o.Label)
	}
	v.Data = d
	ch, st := w.chOf()
	d.State = st
	if err != nil || ch == nil || len(s.Projects) == 0 {
		w.renderAnalytics(rw, r, "stats", v, &d.State, err)
		return
	}
	// Outcomes are kept per hour: the charts' buckets are whole hours.
	step := max(s.Period.interval.Truncate(time.Hour), time.Hour)
	q := analyticsquery.UsageQuery{Projects: s.ids(), Start: s.Start, End: s.End, Interval: step,
		Field: "sum(quantity)", GroupBy: []string{"category", "outcome", "reason"}}
	u, err := analyticsquery.RunUsage(r.Context(), ch, q)
	if err != nil {
		w.renderAnalytics(rw, r, "stats", v, &d.State, err)
		return
	}
	counts := map[string][]uint64{} // category: per statsOutcomes
	accepted := make([]float64, len(u.Intervals))
	dropped := make([]float64, len(u.Intervals))
	for _, g := range u.Groups {
		cat, _ := g.By["category"].(string)
		outcome, _ := g.By["outcome"].(string)
		reason, _ := g.By["reason"].(string)
		i := slices.IndexFunc(statsOutcomes, func(o struct{ Outcome, Label string }) bool { return o.Outcome == outcome })
		if i < 0 || g.Total == 0 {
			continue
		}
		if counts[cat] == nil {
			counts[cat] = make([]uint64, len(statsOutcomes))
		}
		counts[cat][i] += g.Total
		if outcome != "accepted" {
			d.Reasons = append(d.Reasons, reasonRow{Outcome: statsOutcomes[i].Label, Reason: reason, Category: cat,
				Count: fmtCount(float64(g.Total))})
		}
		if cat != "error" {
			continue
		}
		into := dropped
		if outcome == "accepted" {
			into = accepted
		}
		for j, n := range g.Series {
			into[j] += float64(n)
		}
	}
	cats := make([]string, 0, len(counts))
	for c := range counts {
		cats = append(cats, c)
	}
	slices.Sort(cats)
	for _, c := range cats {
		row := statsRow{Category: c}
		var total uint64
		for _, n := range counts[c] {
			row.Counts = append(row.Counts, fmtCount(float64(n)))
			total += n
		}
		row.Total = fmtCount(float64(total))
		d.Rows = append(d.Rows, row)
	}
	perStep := func(x float64) string { return fmtCount(x) + " errors" }
	d.Accepted = NewValueChart(accepted, u.Start, step, 720, 90, "Accepted errors", perStep)
	d.Dropped = NewValueChart(dropped, u.Start, step, 720, 90, "Dropped errors", perStep)
	w.renderAnalytics(rw, r, "stats", v, &d.State, nil)
}
