package issues

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/libs/grouping"
	"github.com/jackc/pgx/v5"
	"github.com/klauspost/compress/zstd"
)

// eventDecoder decompresses stored events. DecodeAll is safe for concurrent
// use; the decoder holds no request state.
var eventDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64<<20))

// EventSummary is a stored event's columns, without its body.
type EventSummary struct {
	EventID     string // 32 hex digits
	IssueID     int64
	ProjectID   int64
	Timestamp   time.Time
	Received    time.Time
	Type        string
	Level       string
	Title       string
	Release     string
	Environment string
	UserKey     string // "id:42", "email:a@b.c", ...
	TraceID     string
}

// StoredEvent is a stored event with its normalized JSON body.
type StoredEvent struct {
	EventSummary
	JSON json.RawMessage
}

// Normalized decodes the stored body back into the event model (the stored
// form normalizes to itself).
func (e *StoredEvent) Normalized() (*event.Event, error) {
	ev, err := event.Normalize(e.JSON, event.Meta{ProjectID: e.ProjectID, Received: e.Received, EventID: e.EventID})
	if err != nil {
		return nil, fmt.Errorf("decode stored event %s: %w", e.EventID, err)
	}
	return ev, nil
}

const eventColumns = `e.event_id, e.issue_id, e.project_id, e.ts, e.received, e.type, e.level, e.title, e.release, e.environment, e.user_key, e.trace_id`

func scanEventSummary(row pgx.Row, extra ...any) (*EventSummary, error) {
	var e EventSummary
	var id [16]byte
	err := row.Scan(append([]any{&id, &e.IssueID, &e.ProjectID, &e.Timestamp, &e.Received, &e.Type, &e.Level, &e.Title,
		&e.Release, &e.Environment, &e.UserKey, &e.TraceID}, extra...)...)
	if err != nil {
		return nil, notFound(err)
	}
	e.EventID = hex.EncodeToString(id[:])
	return &e, nil
}

func (s *Store) storedEvent(ctx context.Context, where string, args ...any) (*StoredEvent, error) {
	var data []byte
	sum, err := scanEventSummary(s.pool.QueryRow(ctx, `SELECT `+eventColumns+`, e.data FROM grouping.events e WHERE `+where, args...), &data)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("read event: %w", err)
	}
	js, err := eventDecoder.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress event %s: %w", sum.EventID, err)
	}
	return &StoredEvent{EventSummary: *sum, JSON: js}, nil
}

// ParseEventID reads an event id: 32 hex digits, dashes allowed.
func ParseEventID(s string) (string, bool) {
	s = strings.ToLower(strings.ReplaceAll(s, "-", ""))
	if len(s) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", false
	}
	return s, true
}

// Event returns an event of issueID; ErrNotFound when it has no such event.
func (s *Store) Event(ctx context.Context, issueID int64, eventID string) (*StoredEvent, error) {
	id, ok := ParseEventID(eventID)
	if !ok {
		return nil, ErrNotFound
	}
	return s.storedEvent(ctx, `e.issue_id = $1 AND e.event_id = $2::uuid`, issueID, id)
}

// LatestEvent returns issueID's newest event by (timestamp, event id).
func (s *Store) LatestEvent(ctx context.Context, issueID int64) (*StoredEvent, error) {
	return s.storedEvent(ctx, `e.issue_id = $1 ORDER BY e.ts DESC, e.event_id DESC LIMIT 1`, issueID)
}

// OldestEvent returns issueID's oldest event.
func (s *Store) OldestEvent(ctx context.Context, issueID int64) (*StoredEvent, error) {
	return s.storedEvent(ctx, `e.issue_id = $1 ORDER BY e.ts ASC, e.event_id ASC LIMIT 1`, issueID)
}

// ProjectEvent returns an event of projectID by its id, whichever issue
// it is in.
func (s *Store) ProjectEvent(ctx context.Context, projectID int64, eventID string) (*StoredEvent, error) {
	id, ok := ParseEventID(eventID)
	if !ok {
		return nil, ErrNotFound
	}
	// event_ids is keyed by (project, event id, received): it finds the
	// partition to read.
	return s.storedEvent(ctx, `e.project_id = $1 AND e.event_id = $2::uuid AND e.received IN
		(SELECT received FROM grouping.event_ids WHERE project_id = $1 AND event_id = $2::uuid)
		ORDER BY e.received DESC LIMIT 1`, projectID, id)
}

// AdjacentEventIDs returns the ids of the events just older (prev) and just
// newer (next) than ev in its issue, "" at either end.
func (s *Store) AdjacentEventIDs(ctx context.Context, ev *EventSummary) (prev, next string, err error) {
	one := func(sql string) (string, error) {
		var id [16]byte
		err := s.pool.QueryRow(ctx, sql, ev.IssueID, ev.Timestamp, ev.EventID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return "", nil
		}
		if err != nil {
			return "", fmt.Errorf("adjacent events: %w", err)
		}
		return hex.EncodeToString(id[:]), nil
	}
	if prev, err = one(`SELECT event_id FROM grouping.events WHERE issue_id = $1 AND (ts, event_id) < ($2, $3::uuid)
		ORDER BY ts DESC, event_id DESC LIMIT 1`); err != nil {
		return "", "", err
	}
	next, err = one(`SELECT event_id FROM grouping.events WHERE issue_id = $1 AND (ts, event_id) > ($2, $3::uuid)
		ORDER BY ts ASC, event_id ASC LIMIT 1`)
	return prev, next, err
}

// EventPage is one page of an issue's events, newest first.
type EventPage struct {
	Events []*EventSummary
	Next   string // towards older events
	Prev   string // towards newer events
}

// eventCursor is an opaque position among an issue's events.
func eventCursor(prev bool, ev *EventSummary) string {
	dir := "n"
	if prev {
		dir = "p"
	}
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s:%d:%s", dir, ev.Timestamp.UnixMicro(), ev.EventID))
}

// Events returns a page of issueID's events, newest first; limit 0 means
// 100.
func (s *Store) Events(ctx context.Context, issueID int64, cursor string, limit int) (EventPage, error) {
	return s.events(ctx, "e.issue_id = $1", issueID, cursor, limit)
}

// ProjectEvents returns a page of a project's events, newest first, of
// every issue; limit 0 means 100.
func (s *Store) ProjectEvents(ctx context.Context, projectID int64, cursor string, limit int) (EventPage, error) {
	return s.events(ctx, "e.project_id = $1", projectID, cursor, limit)
}

// events pages the events where scope (on $1 = id) holds.
func (s *Store) events(ctx context.Context, scope string, id int64, cursor string, limit int) (EventPage, error) {
	var page EventPage
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 100 {
		return page, fmt.Errorf("%w: limit: want 1 to 100", ErrInvalid)
	}
	args := sqlArgs{id}
	where, order := scope, "e.ts DESC, e.event_id DESC"
	var prev, hasCursor bool
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		parts := strings.Split(string(b), ":")
		if err != nil || len(parts) != 3 || (parts[0] != "n" && parts[0] != "p") {
			return page, fmt.Errorf("%w: %w", ErrInvalid, errBadCursor)
		}
		us, err := strconv.ParseInt(parts[1], 10, 64)
		id, ok := ParseEventID(parts[2])
		if err != nil || !ok {
			return page, fmt.Errorf("%w: %w", ErrInvalid, errBadCursor)
		}
		prev, hasCursor = parts[0] == "p", true
		op := "<"
		if prev {
			op, order = ">", "e.ts ASC, e.event_id ASC"
		}
		where += fmt.Sprintf(" AND (e.ts, e.event_id) %s (%s, %s::uuid)", op, args.add(time.UnixMicro(us).UTC()), args.add(id))
	}
	rows, err := s.pool.Query(ctx, `SELECT `+eventColumns+` FROM grouping.events e WHERE `+where+` ORDER BY `+order+` LIMIT `+args.add(limit+1), args...)
	if err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		ev, err := scanEventSummary(rows)
		if err != nil {
			return page, fmt.Errorf("list events: %w", err)
		}
		page.Events = append(page.Events, ev)
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("list events: %w", err)
	}
	more := len(page.Events) > limit
	if more {
		page.Events = page.Events[:limit]
	}
	if prev {
		slices.Reverse(page.Events)
	}
	if len(page.Events) == 0 {
		return page, nil
	}
	if more || prev {
		page.Next = eventCursor(false, page.Events[len(page.Events)-1])
	}
	if hasCursor && (!prev || more) {
		page.Prev = eventCursor(true, page.Events[0])
	}
	return page, nil
}

// EventsJSON returns the bodies of events, in the order given.
func (s *Store) EventsJSON(ctx context.Context, evs []*EventSummary) ([]json.RawMessage, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.EventID
	}
	rows, err := s.pool.Query(ctx, `SELECT event_id, data FROM grouping.events WHERE issue_id = $1 AND event_id = ANY($2::uuid[])`, evs[0].IssueID, ids)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	byID := map[string]json.RawMessage{}
	for rows.Next() {
		var id [16]byte
		var data []byte
		if err := rows.Scan(&id, &data); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		js, err := eventDecoder.DecodeAll(data, nil)
		if err != nil {
			return nil, fmt.Errorf("decompress event: %w", err)
		}
		byID[hex.EncodeToString(id[:])] = js
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	out := make([]json.RawMessage, len(evs))
	for i, e := range evs {
		out[i] = byID[e.EventID]
	}
	return out, nil
}

// GroupingInfo explains how ev groups under its project's current rules:
// libs/grouping's Compute on the stored normalized event.
func (s *Store) GroupingInfo(ctx context.Context, ev *StoredEvent) (grouping.Result, error) {
	var stack, fp string
	err := s.pool.QueryRow(ctx, `SELECT stack_rules, fingerprint_rules FROM grouping.project_rules WHERE project_id = $1`, ev.ProjectID).Scan(&stack, &fp)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return grouping.Result{}, fmt.Errorf("read grouping rules: %w", err)
	}
	rules, err := grouping.ParseRules(stack, fp)
	if err != nil {
		// Rules that do not parse group with none, as the grouping service does.
		rules, _ = grouping.ParseRules("", "")
	}
	e, err := ev.Normalized()
	if err != nil {
		return grouping.Result{}, err
	}
	return grouping.Compute(e, rules), nil
}

// --- tags
