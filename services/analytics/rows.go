package analytics

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/faultline/faultline/libs/envelope"
)

// Rows of the analytics tables; the ch tags name the columns.

type errorRow struct {
	ProjectID   uint64    `ch:"project_id"`
	Timestamp   time.Time `ch:"timestamp"`
	EventID     string    `ch:"event_id"`
	IssueID     uint64    `ch:"issue_id"`
	TraceID     string    `ch:"trace_id"`
	SpanID      string    `ch:"span_id"`
	Transaction string    `ch:"transaction"`
	Level       string    `ch:"level"`
	Title       string    `ch:"title"`
	Type        string    `ch:"type"`
	Release     string    `ch:"release"`
	Environment string    `ch:"environment"`
	User        string    `ch:"user"`
	Platform    string    `ch:"platform"`
	TagKeys     []string  `ch:"tag_keys"`
	TagValues   []string  `ch:"tag_values"`
	Received    time.Time `ch:"received"`

	// redelivered: from a grouped message delivered before, written only
	// if the event has no row yet (insert): a regrouped row written since
	// must stay.
	redelivered bool
}

type transactionRow struct {
	ProjectID    uint64    `ch:"project_id"`
	Timestamp    time.Time `ch:"timestamp"`
	StartTS      float64   `ch:"start_ts"`
	EndTS        float64   `ch:"end_ts"`
	EventID      string    `ch:"event_id"`
	TraceID      string    `ch:"trace_id"`
	SpanID       string    `ch:"span_id"`
	ParentSpanID string    `ch:"parent_span_id"`
	Transaction  string    `ch:"transaction"`
	Op           string    `ch:"op"`
	Status       string    `ch:"status"`
	DurationMS   float64   `ch:"duration_ms"`
	Release      string    `ch:"release"`
	Environment  string    `ch:"environment"`
	User         string    `ch:"user"`
	Platform     string    `ch:"platform"`
	TagKeys      []string  `ch:"tag_keys"`
	TagValues    []string  `ch:"tag_values"`
}

type spanRow struct {
	ProjectID    uint64    `ch:"project_id"`
	Timestamp    time.Time `ch:"timestamp"`
	StartTS      float64   `ch:"start_ts"`
	EndTS        float64   `ch:"end_ts"`
	TraceID      string    `ch:"trace_id"`
	SpanID       string    `ch:"span_id"`
	ParentSpanID string    `ch:"parent_span_id"`
	SegmentID    string    `ch:"segment_id"`
	Transaction  string    `ch:"transaction"`
	Op           string    `ch:"op"`
	Description  string    `ch:"description"`
	Status       string    `ch:"status"`
	DurationMS   float64   `ch:"duration_ms"`
	IsSegment    uint8     `ch:"is_segment"`
	Release      string    `ch:"release"`
	Environment  string    `ch:"environment"`
}

type sessionRow struct {
	ProjectID   uint64    `ch:"project_id"`
	Started     time.Time `ch:"started"`
	Source      string    `ch:"source"`
	Version     uint64    `ch:"version"`
	Release     string    `ch:"release"`
	Environment string    `ch:"environment"`
	DistinctID  string    `ch:"distinct_id"`
	Status      string    `ch:"status"`
	Quantity    uint32    `ch:"quantity"`
	Errors      uint32    `ch:"errors"`
}

type logRow struct {
	ProjectID   uint64    `ch:"project_id"`
	Timestamp   time.Time `ch:"timestamp"`
	TS          float64   `ch:"ts"`
	Source      string    `ch:"source"`
	TraceID     string    `ch:"trace_id"`
	Level       string    `ch:"level"`
	Body        string    `ch:"body"`
	Release     string    `ch:"release"`
	Environment string    `ch:"environment"`
	AttrKeys    []string  `ch:"attr_keys"`
	AttrValues  []string  `ch:"attr_values"`
}

type outcomeRow struct {
	ProjectID uint64    `ch:"project_id"`
	Timestamp time.Time `ch:"timestamp"`
	Source    string    `ch:"source"`
	Category  string    `ch:"category"`
	Outcome   string    `ch:"outcome"`
	Reason    string    `ch:"reason"`
	Quantity  uint64    `ch:"quantity"`
}

// rows are what one or more messages become.
type rows struct {
	errors       []errorRow
	transactions []transactionRow
	spans        []spanRow
	sessions     []sessionRow
	logs         []logRow
	outcomes     []outcomeRow
}

func (r *rows) len() int {
	return len(r.errors) + len(r.transactions) + len(r.spans) + len(r.sessions) + len(r.logs) + len(r.outcomes)
}

// rowsMark is how many rows of each table a batch held.
type rowsMark [6]int

func (r *rows) mark() rowsMark {
	return rowsMark{len(r.errors), len(r.transactions), len(r.spans), len(r.sessions), len(r.logs), len(r.outcomes)}
}

// truncate takes back the rows added since m.
func (r *rows) truncate(m rowsMark) {
	r.errors, r.transactions, r.spans = r.errors[:m[0]], r.transactions[:m[1]], r.spans[:m[2]]
	r.sessions, r.logs, r.outcomes = r.sessions[:m[3]], r.logs[:m[4]], r.outcomes[:m[5]]
}

// clear empties r for reuse, keeping its room; the rows' strings are let go.
func (r *rows) clear() {
	clear(r.errors)
	clear(r.transactions)
	clear(r.spans)
	clear(r.sessions)
	clear(r.logs)
	clear(r.outcomes)
	r.truncate(rowsMark{})
}

// Outcomes.
const (
	OutcomeAccepted      = "accepted"       // the gateway stored it on INGEST
	OutcomeClientDiscard = "client_discard" // an SDK's client report: dropped before sending
	OutcomeRateLimited   = "rate_limited"   // an SDK's client report: dropped for a rate limit
	OutcomeFiltered      = "filtered"
)

// envelopeRows turns one INGEST envelope into rows. seq (the message's
// stream sequence) names rows that have no id of their own, so a
// redelivery writes the same keys.
func envelopeRows(r *rows, project int64, seq uint64, received time.Time, env *envelope.Envelope) error {
	p := uint64(project)
	hour := received.Truncate(time.Hour)
	accepted := map[string]uint64{}
	for i := range env.Items {
		it := &env.Items[i]
		if cat, n := it.Category(); cat != "" {
			accepted[cat] += uint64(n)
		}
		var err error
		switch it.Type {
		case "transaction":
			err = transactionRows(r, p, received, it.Payload)
		case "span":
			err = spanItemRows(r, p, received, it.Payload)
		case "session":
			err = sessionRows(r, p, it.Payload)
		case "sessions":
			err = aggregateRows(r, p, seq, i, it.Payload)
		case "log":
			err = logRows(r, p, seq, i, received, it.Payload)
		case "client_report":
			err = clientReportRows(r, p, seq, i, received, it.Payload)
		}
		if err != nil {
			return fmt.Errorf("item %d (%s): %w", i, it.Type, err)
		}
	}
	cats := make([]string, 0, len(accepted))
	for c := range accepted {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	src := "ingest:" + strconv.FormatUint(seq, 10)
	for _, c := range cats {
		r.outcomes = append(r.outcomes, outcomeRow{ProjectID: p, Timestamp: hour, Source: src, Category: c, Outcome: OutcomeAccepted, Quantity: accepted[c]})
	}
	return nil
}

// flexTime takes seconds since the epoch (a number or numeric string) or
// an RFC 3339 time.
type flexTime struct{ t time.Time }

func (f *flexTime) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(bytes.TrimSpace(b), `"`)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if v, err := parseFloat(b); err == nil {
		if math.IsNaN(v) || v < 0 || v > 1e11 {
			return fmt.Errorf("timestamp %q out of range", b)
		}
		sec, frac := math.Modf(v)
		f.t = time.Unix(int64(sec), int64(math.Round(frac*1e6))*1e3).UTC()
		return nil
	}
	s := string(b)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			f.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("timestamp %q: want seconds or RFC 3339", s)
}

// parseFloat is strconv.ParseFloat of b without copying it.
func parseFloat(b []byte) (float64, error) {
	return strconv.ParseFloat(unsafe.String(unsafe.SliceData(b), len(b)), 64)
}

func seconds(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

// orNow is t, or received for a missing time.
func orNow(t, received time.Time) time.Time {
	if t.IsZero() {
		return received
	}
	return t
}

// lenient string: SDKs sometimes send numbers where strings belong.
type lstring string

func (s *lstring) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		// encoding/json checked the string before handing it over: one
		// without escapes in valid UTF-8 is its own contents, and needs
		// no second decoding (a third of the role's time went there).
		if in := b[1 : len(b)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
			*s = lstring(in)
			return nil
		}
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = lstring(v)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		return fmt.Errorf("want a string, got %.20s", b)
	}
	*s = lstring(b)
	return nil
}

type userPayload struct {
	ID        lstring `json:"id"`
	Email     lstring `json:"email"`
	Username  lstring `json:"username"`
	IPAddress lstring `json:"ip_address"`
}

// key is how count_unique(user) tells users apart, as Sentry's user tag.
func (u *userPayload) key() string {
	switch {
	case u == nil:
		return ""
	case u.ID != "":
		return "id:" + string(u.ID)
	case u.Email != "":
		return "email:" + string(u.Email)
	case u.Username != "":
		return "username:" + string(u.Username)
	case u.IPAddress != "":
		return "ip:" + string(u.IPAddress)
	}
	return ""
}

type traceContext struct {
	TraceID      lstring `json:"trace_id"`
	SpanID       lstring `json:"span_id"`
	ParentSpanID lstring `json:"parent_span_id"`
	Op           lstring `json:"op"`
	Status       lstring `json:"status"`
}

// tags reads tags as an object or as [[key, value], ...].
type tags [][2]string

func (t *tags) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '{' {
		var m map[string]lstring
		if err := json.Unmarshal(b, &m); err != nil {
			return err
		}
		for k, v := range m {
			*t = append(*t, [2]string{k, string(v)})
		}
		sort.Slice(*t, func(i, j int) bool { return (*t)[i][0] < (*t)[j][0] })
		return nil
	}
	var pairs [][]lstring
	if err := json.Unmarshal(b, &pairs); err != nil {
		return err
	}
	for _, p := range pairs {
		if len(p) == 2 {
			*t = append(*t, [2]string{string(p[0]), string(p[1])})
		}
	}
	return nil
}

func (t tags) split() (keys, values []string) {
	keys, values = make([]string, len(t)), make([]string, len(t))
	for i, kv := range t {
		keys[i], values[i] = kv[0], kv[1]
	}
	return keys, values
}

type spanPayload struct {
	TraceID        lstring  `json:"trace_id"`
	SpanID         lstring  `json:"span_id"`
	ParentSpanID   lstring  `json:"parent_span_id"`
	Op             lstring  `json:"op"`
	Description    lstring  `json:"description"`
	Status         lstring  `json:"status"`
	StartTimestamp flexTime `json:"start_timestamp"`
	Timestamp      flexTime `json:"timestamp"`
}

type transactionPayload struct {
	EventID        lstring      `json:"event_id"`
	Timestamp      flexTime     `json:"timestamp"`
	StartTimestamp flexTime     `json:"start_timestamp"`
	Transaction    lstring      `json:"transaction"`
	Release        lstring      `json:"release"`
	Environment    lstring      `json:"environment"`
	Platform       lstring      `json:"platform"`
	User           *userPayload `json:"user"`
	Tags           tags         `json:"tags"`
	Contexts       struct {
		Trace traceContext `json:"trace"`
	} `json:"contexts"`
	Spans []spanPayload `json:"spans"`
}

func transactionRows(r *rows, p uint64, received time.Time, payload []byte) error {
	var tx transactionPayload
	if err := decodeTransaction(payload, &tx); err != nil {
		return err
	}
	id := envelope.NormalizeEventID(string(tx.EventID))
	if id == "" {
		return fmt.Errorf("no event_id")
	}
	end := orNow(tx.Timestamp.t, received)
	start := orNow(tx.StartTimestamp.t, end)
	tc := tx.Contexts.Trace
	status := string(tc.Status)
	if status == "" {
		status = "ok"
	}
	keys, values := tx.Tags.split()
	row := transactionRow{
		ProjectID: p, Timestamp: end, StartTS: seconds(start), EndTS: seconds(end), EventID: id,
		TraceID: string(tc.TraceID), SpanID: string(tc.SpanID), ParentSpanID: string(tc.ParentSpanID),
		Transaction: string(tx.Transaction), Op: string(tc.Op), Status: status,
		DurationMS: max(float64(end.Sub(start).Microseconds())/1e3, 0),
		Release:    string(tx.Release), Environment: string(tx.Environment), User: tx.User.key(), Platform: string(tx.Platform),
		TagKeys: keys, TagValues: values,
	}
	r.transactions = append(r.transactions, row)
	// The transaction is its trace's segment span, and its spans are spans.
	r.spans = append(r.spans, spanRow{
		ProjectID: p, Timestamp: end, StartTS: row.StartTS, EndTS: row.EndTS, TraceID: row.TraceID, SpanID: row.SpanID,
		ParentSpanID: row.ParentSpanID, SegmentID: id, Transaction: row.Transaction, Op: row.Op, Description: row.Transaction,
		Status: status, DurationMS: row.DurationMS, IsSegment: 1, Release: row.Release, Environment: row.Environment,
	})
	for _, s := range tx.Spans {
		if s.SpanID == "" {
			continue
		}
		se := orNow(s.Timestamp.t, end)
		ss := orNow(s.StartTimestamp.t, se)
		traceID := string(s.TraceID)
		if traceID == "" {
			traceID = row.TraceID
		}
		r.spans = append(r.spans, spanRow{
			ProjectID: p, Timestamp: end, StartTS: seconds(ss), EndTS: seconds(se), TraceID: traceID, SpanID: string(s.SpanID),
			ParentSpanID: string(s.ParentSpanID), SegmentID: id, Transaction: row.Transaction, Op: string(s.Op),
			Description: string(s.Description), Status: string(s.Status), DurationMS: max(float64(se.Sub(ss).Microseconds())/1e3, 0),
			Release: row.Release, Environment: row.Environment,
		})
	}
	return nil
}

// spanV2 is one span of a span item in the v2 container format
// (application/vnd.sentry.items.span.v2+json).
type spanV2 struct {
	TraceID        lstring                    `json:"trace_id"`
	SpanID         lstring                    `json:"span_id"`
	ParentSpanID   lstring                    `json:"parent_span_id"`
	Name           lstring                    `json:"name"`
	Status         lstring                    `json:"status"`
	IsSegment      bool                       `json:"is_segment"`
	StartTimestamp flexTime                   `json:"start_timestamp"`
	EndTimestamp   flexTime                   `json:"end_timestamp"`
	Attributes     map[string]json.RawMessage `json:"attributes"`
}

func attr(attrs map[string]json.RawMessage, key string) string {
	raw, ok := attrs[key]
	if !ok {
		return ""
	}
	var v struct {
		Value lstring `json:"value"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	return string(v.Value)
}

func spanItemRows(r *rows, p uint64, received time.Time, payload []byte) error {
	var c struct {
		Items []spanV2 `json:"items"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return err
	}
	if c.Items == nil { // a single span in the older span item format
		var s spanPayload
		if err := json.Unmarshal(payload, &s); err != nil {
			return err
		}
		c.Items = []spanV2{{TraceID: s.TraceID, SpanID: s.SpanID, ParentSpanID: s.ParentSpanID, Name: s.Description,
			Status: s.Status, StartTimestamp: s.StartTimestamp, EndTimestamp: s.Timestamp,
			Attributes: map[string]json.RawMessage{"sentry.op": json.RawMessage(`{"value":` + strconv.Quote(string(s.Op)) + `}`)}}}
	}
	for _, s := range c.Items {
		if s.SpanID == "" || s.TraceID == "" {
			continue
		}
		end := orNow(s.EndTimestamp.t, received)
		start := orNow(s.StartTimestamp.t, end)
		seg := uint8(0)
		if s.IsSegment {
			seg = 1
		}
		row := spanRow{
			ProjectID: p, Timestamp: end, StartTS: seconds(start), EndTS: seconds(end), TraceID: string(s.TraceID),
			SpanID: string(s.SpanID), ParentSpanID: string(s.ParentSpanID), SegmentID: attr(s.Attributes, "sentry.segment.id"),
			Transaction: attr(s.Attributes, "sentry.segment.name"), Op: attr(s.Attributes, "sentry.op"), Description: string(s.Name),
			Status: string(s.Status), DurationMS: max(float64(end.Sub(start).Microseconds())/1e3, 0), IsSegment: seg,
			Release: attr(s.Attributes, "sentry.release"), Environment: attr(s.Attributes, "sentry.environment"),
		}
		r.spans = append(r.spans, row)
		if s.IsSegment {
			// A streamed segment span is what a transaction was: it counts
			// as one, named by its span id.
			if row.Transaction == "" {
				row.Transaction = row.Description
			}
			r.transactions = append(r.transactions, transactionRow{
				ProjectID: p, Timestamp: end, StartTS: row.StartTS, EndTS: row.EndTS, EventID: row.SpanID,
				TraceID: row.TraceID, SpanID: row.SpanID, ParentSpanID: row.ParentSpanID, Transaction: row.Transaction,
				Op: row.Op, Status: cmp.Or(row.Status, "ok"), DurationMS: row.DurationMS, Release: row.Release,
				Environment: row.Environment, User: attr(s.Attributes, "user.id"), TagKeys: []string{}, TagValues: []string{},
			})
		}
	}
	return nil
}

type sessionAttrs struct {
	Release     lstring `json:"release"`
	Environment lstring `json:"environment"`
}

// sessionStatus is a session's state as release health counts it, in
// Sentry's session.status values: crashed, abnormal (the app ended
// without exiting, e.g. killed), unhandled (an unhandled error that did
// not crash it), errored (handled errors), healthy (exited without
// errors), or ok (still running without errors; healthy in the counts).
func sessionStatus(status string, errors int64) string {
	switch status {
	case "crashed", "abnormal", "unhandled":
		return status
	}
	if errors > 0 {
		return "errored"
	}
	if status == "exited" {
		return "healthy"
	}
	return "ok" // still running
}

func sessionRows(r *rows, p uint64, payload []byte) error {
	var s struct {
		SID       lstring      `json:"sid"`
		DID       lstring      `json:"did"`
		Started   flexTime     `json:"started"`
		Timestamp flexTime     `json:"timestamp"`
		Status    lstring      `json:"status"`
		Errors    int64        `json:"errors"`
		Seq       uint64       `json:"seq"`
		Attrs     sessionAttrs `json:"attrs"`
	}
	if err := json.Unmarshal(payload, &s); err != nil {
		return err
	}
	if s.SID == "" || s.Started.t.IsZero() {
		return fmt.Errorf("session without sid or started")
	}
	// Later updates win: by time, then by the SDK's sequence number.
	version := uint64(max(s.Timestamp.t.UnixMicro(), 0))<<8 | s.Seq&0xff
	r.sessions = append(r.sessions, sessionRow{
		ProjectID: p, Started: s.Started.t, Source: "s:" + string(s.SID), Version: version,
		Release: string(s.Attrs.Release), Environment: string(s.Attrs.Environment), DistinctID: string(s.DID),
		Status: sessionStatus(string(s.Status), s.Errors), Quantity: 1, Errors: uint32(min(max(s.Errors, 0), math.MaxUint32)),
	})
	return nil
}

func aggregateRows(r *rows, p uint64, seq uint64, item int, payload []byte) error {
	var a struct {
		Aggregates []struct {
			Started   flexTime `json:"started"`
			DID       lstring  `json:"did"`
			Exited    uint32   `json:"exited"`
			Errored   uint32   `json:"errored"`
			Abnormal  uint32   `json:"abnormal"`
			Crashed   uint32   `json:"crashed"`
			Unhandled uint32   `json:"unhandled"`
		} `json:"aggregates"`
		Attrs sessionAttrs `json:"attrs"`
	}
	if err := json.Unmarshal(payload, &a); err != nil {
		return err
	}
	for i, g := range a.Aggregates {
		if g.Started.t.IsZero() {
			continue
		}
		src := fmt.Sprintf("a:%d:%d:%d:", seq, item, i)
		for _, st := range []struct {
			status string
			n      uint32
		}{{"healthy", g.Exited}, {"errored", g.Errored}, {"abnormal", g.Abnormal}, {"crashed", g.Crashed}, {"unhandled", g.Unhandled}} {
			if st.n == 0 {
				continue
			}
			r.sessions = append(r.sessions, sessionRow{
				ProjectID: p, Started: g.Started.t, Source: src + st.status, Release: string(a.Attrs.Release),
				Environment: string(a.Attrs.Environment), DistinctID: string(g.DID), Status: st.status, Quantity: st.n,
			})
		}
	}
	return nil
}

func logRows(r *rows, p uint64, seq uint64, item int, received time.Time, payload []byte) error {
	var c struct {
		Items []struct {
			Timestamp  flexTime                   `json:"timestamp"`
			TraceID    lstring                    `json:"trace_id"`
			Level      lstring                    `json:"level"`
			Body       lstring                    `json:"body"`
			Attributes map[string]json.RawMessage `json:"attributes"`
		} `json:"items"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return err
	}
	for i, l := range c.Items {
		ts := orNow(l.Timestamp.t, received)
		keys := make([]string, 0, len(l.Attributes))
		for k := range l.Attributes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		values := make([]string, len(keys))
		for j, k := range keys {
			values[j] = attr(l.Attributes, k)
		}
		r.logs = append(r.logs, logRow{
			ProjectID: p, Timestamp: ts, TS: seconds(ts), Source: fmt.Sprintf("%d:%d:%d", seq, item, i),
			TraceID: string(l.TraceID), Level: string(l.Level), Body: string(l.Body),
			Release: attr(l.Attributes, "sentry.release"), Environment: attr(l.Attributes, "sentry.environment"),
			AttrKeys: keys, AttrValues: values,
		})
	}
	return nil
}

func clientReportRows(r *rows, p uint64, seq uint64, item int, received time.Time, payload []byte) error {
	type entry struct {
		Reason   lstring `json:"reason"`
		Category lstring `json:"category"`
		Quantity uint64  `json:"quantity"`
	}
	var c struct {
		Timestamp   flexTime `json:"timestamp"`
		Discarded   []entry  `json:"discarded_events"`
		RateLimited []entry  `json:"rate_limited_events"`
		Filtered    []entry  `json:"filtered_events"`
		Sampling    []entry  `json:"filtered_sampling_events"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return err
	}
	hour := orNow(c.Timestamp.t, received).Truncate(time.Hour)
	src := fmt.Sprintf("client:%d:%d", seq, item)
	n := 0
	for _, g := range []struct {
		outcome string
		list    []entry
	}{{OutcomeClientDiscard, c.Discarded}, {OutcomeRateLimited, c.RateLimited}, {OutcomeFiltered, c.Filtered}, {OutcomeFiltered, c.Sampling}} {
		for _, e := range g.list {
			if e.Category == "" || e.Quantity == 0 {
				continue
			}
			n++
			reason := string(e.Reason)
			if g.outcome == OutcomeRateLimited && reason == "" {
				reason = "ratelimit_backoff"
			}
			// The entry's index keeps two entries of the same reason apart.
			r.outcomes = append(r.outcomes, outcomeRow{ProjectID: p, Timestamp: hour, Source: src + ":" + strconv.Itoa(n),
				Category: string(e.Category), Outcome: g.outcome, Reason: reason, Quantity: e.Quantity})
		}
	}
	return nil
}

// groupedEvent is what analytics reads of a grouped event's normalized JSON.
type groupedEvent struct {
	Timestamp   flexTime     `json:"timestamp"`
	Type        lstring      `json:"type"`
	Level       lstring      `json:"level"`
	Title       lstring      `json:"title"`
	Platform    lstring      `json:"platform"`
	Release     lstring      `json:"release"`
	Environment lstring      `json:"environment"`
	Transaction lstring      `json:"transaction"`
	User        *userPayload `json:"user"`
	Tags        tags         `json:"tags"`
	Contexts    struct {
		Trace traceContext `json:"trace"`
	} `json:"contexts"`
}
