package analyticsquery

import (
	"context"
	"fmt"
	"regexp"
	"sort"

	"github.com/faultline/faultline/libs/clickhouse"
)

// Span is one node of a trace: a transaction (its segment span) or a span,
// with its children and the errors that happened in it.
type Span struct {
	SpanID       string   `json:"span_id" ch:"span_id"`
	ParentSpanID string   `json:"parent_span_id,omitempty" ch:"parent_span_id"`
	ProjectID    uint64   `json:"project_id" ch:"project_id"`
	ProjectSlug  string   `json:"project_slug,omitempty"` // filled by the caller, who knows the projects
	EventID      string   `json:"event_id,omitempty" ch:"segment_id"`
	Transaction  string   `json:"transaction,omitempty" ch:"transaction"`
	Op           string   `json:"op,omitempty" ch:"op"`
	Description  string   `json:"description,omitempty" ch:"description"`
	Status       string   `json:"status,omitempty" ch:"status"`
	Start        float64  `json:"start_timestamp" ch:"start_ts"`
	End          float64  `json:"timestamp" ch:"end_ts"`
	IsSegment    bool     `json:"is_transaction"`
	Errors       []Error_ `json:"errors,omitempty"`
	Children     []*Span  `json:"children"`

	segment uint8
}

// Error_ is an error event of a trace.
type Error_ struct {
	EventID   string `json:"event_id" ch:"event_id"`
	IssueID   uint64 `json:"issue_id" ch:"issue_id"`
	ProjectID uint64 `json:"project_id" ch:"project_id"`
	// ProjectSlug is filled by the caller, who knows the projects.
	ProjectSlug string `json:"project_slug,omitempty"`
	SpanID      string `json:"span_id" ch:"span_id"`
	Title       string `json:"title" ch:"title"`
	Level       string `json:"level" ch:"level"`
}

// Trace is a trace as a forest: roots are spans whose parent is not in it.
// Orphans are errors whose span is unknown.
type Trace struct {
	TraceID string   `json:"trace_id"`
	Roots   []*Span  `json:"transactions"`
	Orphans []Error_ `json:"orphan_errors"`
}

var traceIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// maxTraceSpans bounds the spans one trace answer holds.
const maxTraceSpans = 10000

// GetTrace reads every span and error of traceID in projects.
func GetTrace(ctx context.Context, c clickhouse.Conn, traceID string, projects []int64) (*Trace, error) {
	if !traceIDRe.MatchString(traceID) {
		return nil, bad("trace id %q: want 32 lower-case hex digits", traceID)
	}
	ps := make([]uint64, len(projects))
	for i, p := range projects {
		ps[i] = uint64(p)
	}
	rows, err := c.Query(ctx, `SELECT span_id, parent_span_id, project_id, segment_id, transaction, op, description, status,
		start_ts, end_ts, is_segment FROM spans FINAL WHERE trace_id = ? AND has(?, project_id) ORDER BY start_ts, span_id LIMIT ?`,
		traceID, ps, maxTraceSpans)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	byID := map[string]*Span{}
	var order []*Span
	for rows.Next() {
		s := &Span{Children: []*Span{}}
		if err := rows.Scan(&s.SpanID, &s.ParentSpanID, &s.ProjectID, &s.EventID, &s.Transaction, &s.Op, &s.Description,
			&s.Status, &s.Start, &s.End, &s.segment); err != nil {
			rows.Close()
			return nil, fmt.Errorf("trace: %w", err)
		}
		s.IsSegment = s.segment == 1
		if !s.IsSegment {
			s.EventID = ""
		}
		if _, dup := byID[s.SpanID]; !dup {
			byID[s.SpanID] = s
			order = append(order, s)
		}
	}
	rows.Close()
	t := &Trace{TraceID: traceID, Roots: []*Span{}, Orphans: []Error_{}}
	for _, s := range order {
		if p, ok := byID[s.ParentSpanID]; ok && s.ParentSpanID != s.SpanID {
			p.Children = append(p.Children, s)
		} else {
			t.Roots = append(t.Roots, s)
		}
	}
	erows, err := c.Query(ctx, `SELECT event_id, issue_id, project_id, span_id, title, level FROM errors FINAL
		WHERE trace_id = ? AND has(?, project_id) ORDER BY timestamp, event_id LIMIT ?`, traceID, ps, maxTraceSpans)
	if err != nil {
		return nil, fmt.Errorf("trace errors: %w", err)
	}
	defer erows.Close()
	for erows.Next() {
		var e Error_
		if err := erows.Scan(&e.EventID, &e.IssueID, &e.ProjectID, &e.SpanID, &e.Title, &e.Level); err != nil {
			return nil, fmt.Errorf("trace errors: %w", err)
		}
		if s, ok := byID[e.SpanID]; ok {
			s.Errors = append(s.Errors, e)
		} else {
			t.Orphans = append(t.Orphans, e)
		}
	}
	sort.SliceStable(t.Roots, func(i, j int) bool { return t.Roots[i].Start < t.Roots[j].Start })
	return t, erows.Err()
}
