package api

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

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/klauspost/compress/zstd"

	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/libs/grouping"
	"github.com/faultline/faultline/streams"
)

// IssueStore reads the grouping service's projection (schema grouping):
// issues, their events, tags and counts over time, for the REST API and the
// dashboard. Users' decisions go through the grouping service's functions,
// the owner of those tables. It does not check who asks: callers scope
// every call to projects the principal may see (an issue's ProjectID says
// which).
type IssueStore struct {
	pool      *pgxpool.Pool
	decisions *decide.Publisher // nil: decisions are refused
}

// NewIssueStore returns an issue store over pool.
func NewIssueStore(pool *pgxpool.Pool, d *decide.Publisher) *IssueStore {
	return &IssueStore{pool: pool, decisions: d}
}

// Issues is the issue store over the same database.
func (s *Store) Issues() *IssueStore { return &IssueStore{pool: s.pool, decisions: s.decisions} }

// eventDecoder decompresses stored events. DecodeAll is safe for concurrent
// use; the decoder holds no request state.
var eventDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64<<20))

// Issue is one issue as the grouping service keeps it.
type Issue struct {
	ID                int64
	ProjectID         int64
	Type              string // error, default, csp, ...
	Title             string
	Culprit           string
	Level             string
	Platform          string
	FirstSeen         time.Time
	LastSeen          time.Time
	TimesSeen         int64
	UsersSeen         int64
	FirstRelease      string
	LastRelease       string
	Environments      []string
	Status            string // unresolved, resolved, resolved_in_next_release, ignored (an ignore whose time has passed reads unresolved)
	Substatus         string // new, ongoing, regressed, unignored, or ""
	StatusChangedAt   time.Time
	ResolvedInRelease string
	IgnoreUntil       *time.Time
	IgnoreUntilCount  *int64 // ignored until this many more events
	IgnoreUntilUsers  *int64 // ignored until this many more users
	IgnoreBaseCount   int64
	IgnoreBaseUsers   int64
	LastEventID       string // 32 hex digits
	Assignee          string // "user:<id>", "team:<id>" or "" (unassigned)
	// AssigneeName and AssigneeEmail describe the assignee: a user's name
	// and email, a team's name and slug.
	AssigneeName  string
	AssigneeEmail string
}

// effectiveStatus: an issue ignored until a time that has passed is
// unresolved, though the grouping service only flips it on its next event.
const effectiveStatus = `(CASE WHEN i.status = 'ignored' AND i.ignore_until IS NOT NULL AND i.ignore_until <= now() THEN 'unresolved' ELSE i.status END)`

const issueColumns = `i.id, i.project_id, i.type, i.title, i.culprit, i.level, i.platform, i.first_seen, i.last_seen,
	i.times_seen, i.users_seen, i.first_release, i.last_release, i.environments, ` + effectiveStatus + `, i.substatus,
	i.status_changed_at, i.resolved_in_release, i.ignore_until, i.ignore_until_count, i.ignore_until_users,
	i.ignore_base_count, i.ignore_base_users, i.last_event_id, i.assignee, ` + assigneeInfo

// assigneeInfo is [name, email] of an issue's assigned user or [name, slug]
// of its team, NULL when unassigned (or the assignee is gone).
const assigneeInfo = `coalesce(
	(SELECT ARRAY[u.name, u.email] FROM api.users u
		WHERE u.id = CASE WHEN i.assignee LIKE 'user:%' THEN substr(i.assignee, 6)::bigint END),
	(SELECT ARRAY[t.name, t.slug] FROM api.teams t
		WHERE t.id = CASE WHEN i.assignee LIKE 'team:%' THEN substr(i.assignee, 6)::bigint END))`

func scanIssue(row pgx.Row) (*Issue, error) {
	var is Issue
	var last [16]byte
	var info []string
	err := row.Scan(&is.ID, &is.ProjectID, &is.Type, &is.Title, &is.Culprit, &is.Level, &is.Platform, &is.FirstSeen,
		&is.LastSeen, &is.TimesSeen, &is.UsersSeen, &is.FirstRelease, &is.LastRelease, &is.Environments, &is.Status,
		&is.Substatus, &is.StatusChangedAt, &is.ResolvedInRelease, &is.IgnoreUntil, &is.IgnoreUntilCount,
		&is.IgnoreUntilUsers, &is.IgnoreBaseCount, &is.IgnoreBaseUsers, &last, &is.Assignee, &info)
	if err != nil {
		return nil, notFound(err)
	}
	if len(info) == 2 {
		is.AssigneeName, is.AssigneeEmail = info[0], info[1]
	}
	is.LastEventID = hex.EncodeToString(last[:])
	return &is, nil
}

// Issue returns one issue; ErrNotFound when there is none.
func (s *IssueStore) Issue(ctx context.Context, id int64) (*Issue, error) {
	is, err := scanIssue(s.pool.QueryRow(ctx, `SELECT `+issueColumns+` FROM grouping.issues i WHERE i.id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("issue %d: %w", id, err)
	}
	return is, err
}

// IssuePage is one page of issues with the cursors around it ("" when
// there is no such page).
type IssuePage struct {
	Issues []*Issue
	Next   string
	Prev   string
}

const (
	defaultIssueLimit = 25
	maxIssueLimit     = 100
)

// sortColumn is the column an issue sort orders by, descending.
func sortColumn(sort string) string {
	switch sort {
	case SortNew:
		return "i.first_seen"
	case SortFreq:
		return "i.times_seen"
	case SortUser:
		return "i.users_seen"
	}
	return "i.last_seen"
}

// issueCursor is a position in a sorted list: the sort value and id of the
// row next to the page, and which way the page lies from it.
type issueCursor struct {
	sort  string
	prev  bool  // the page lies before the row (towards the top)
	value int64 // the sort value: microseconds for times, counts otherwise
	id    int64
}

func (c issueCursor) String() string {
	dir := "n"
	if c.prev {
		dir = "p"
	}
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%s:%s:%d:%d", dir, c.sort, c.value, c.id))
}

func parseIssueCursor(s string) (issueCursor, error) {
	var c issueCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 100 {
		return c, fmt.Errorf("%w: %w", ErrInvalid, errBadCursor)
	}
	parts := strings.Split(string(b), ":")
	if len(parts) != 4 || (parts[0] != "n" && parts[0] != "p") {
		return c, fmt.Errorf("%w: %w", ErrInvalid, errBadCursor)
	}
	c.prev, c.sort = parts[0] == "p", parts[1]
	c.value, err = strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalid, errBadCursor)
	}
	c.id, err = strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalid, errBadCursor)
	}
	return c, nil
}

func sortValue(is *Issue, sort string) int64 {
	switch sort {
	case SortNew:
		return is.FirstSeen.UnixMicro()
	case SortFreq:
		return is.TimesSeen
	case SortUser:
		return is.UsersSeen
	}
	return is.LastSeen.UnixMicro()
}

func cursorArg(sort string, v int64) any {
	if sort == SortDate || sort == SortNew {
		return time.UnixMicro(v).UTC()
	}
	return v
}

// sqlArgs collects positional arguments.
type sqlArgs []any

func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// likePattern turns a search value into a LIKE pattern: * matches anything,
// everything else literally.
func likePattern(v string) string { return strings.ReplaceAll(likeLiteral(v), "*", "%") }

// likeLiteral escapes LIKE's special characters.
func likeLiteral(v string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(v)
}

// match is "col = v", or "col LIKE pattern" when v has a wildcard.
func match(col, v string, args *sqlArgs) string {
	if strings.Contains(v, "*") {
		return col + " LIKE " + args.add(likePattern(v))
	}
	return col + " = " + args.add(v)
}

func tagMatch(key, value string, args *sqlArgs) string {
	return `EXISTS (SELECT 1 FROM grouping.issue_tags t WHERE t.issue_id = i.id AND t.key = ` + args.add(key) +
		` AND ` + match("t.value", value, args) + `)`
}

func statusCond(st string) string {
	switch st {
	case "resolved":
		return `i.status IN ('resolved', 'resolved_in_next_release')`
	case "regressed":
		return effectiveStatus + ` = 'unresolved' AND i.substatus = 'regressed'`
	case "ignored":
		return effectiveStatus + ` = 'ignored'`
	}
	return effectiveStatus + ` = 'unresolved'`
}

// where builds the conditions of q for the issues of projectID.
func (q IssueQuery) where(projectID int64, args *sqlArgs) (string, error) {
	conds := []string{"i.project_id = " + args.add(projectID)}
	var any []string
	for _, st := range q.Statuses {
		any = append(any, "("+statusCond(st)+")")
	}
	if len(any) > 0 {
		conds = append(conds, "("+strings.Join(any, " OR ")+")")
	}
	for _, st := range q.NotStatuses {
		conds = append(conds, "NOT ("+statusCond(st)+")")
	}
	for _, t := range q.Text {
		p := args.add("%" + likeLiteral(t) + "%")
		conds = append(conds, "(i.title ILIKE "+p+" OR i.culprit ILIKE "+p+")")
	}
	for _, f := range q.Filters {
		var c string
		switch f.Key {
		case "level":
			c = match("i.level", strings.ToLower(f.Value), args)
		case "environment":
			c = `EXISTS (SELECT 1 FROM unnest(i.environments) AS env(name) WHERE ` + match("env.name", f.Value, args) + `)`
		case "user.email":
			c = "(" + tagMatch("user", "email:"+f.Value, args) + " OR " + tagMatch("user.email", f.Value, args) + ")"
		case "browser.name":
			c = "(" + tagMatch("browser.name", f.Value, args) + " OR " + tagMatch("browser", f.Value, args) +
				" OR " + tagMatch("browser", f.Value+" *", args) + ")"
		case "assigned":
			c = q.assignedCond(f.Value, args)
		case "has":
			c = `EXISTS (SELECT 1 FROM grouping.issue_tags t WHERE t.issue_id = i.id AND t.key = ` + args.add(f.Value) + `)`
		case "":
			return "", fmt.Errorf("%w: a filter without a key", ErrInvalid)
		default:
			c = tagMatch(f.Key, f.Value, args)
		}
		if f.Negate {
			c = "NOT " + c
		}
		conds = append(conds, c)
	}
	return strings.Join(conds, " AND "), nil
}

// ListIssues returns one page of projectID's issues that match q, in q's
// order, with cursors to the pages around it.
func (s *IssueStore) ListIssues(ctx context.Context, projectID int64, q IssueQuery) (IssuePage, error) {
	var page IssuePage
	sort, err := NormalizeIssueSort(q.Sort)
	if err != nil {
		return page, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = defaultIssueLimit
	}
	if limit < 1 || limit > maxIssueLimit {
		return page, fmt.Errorf("%w: limit: want 1 to %d", ErrInvalid, maxIssueLimit)
	}
	var args sqlArgs
	where, err := q.where(projectID, &args)
	if err != nil {
		return page, err
	}
	col := sortColumn(sort)
	var cur *issueCursor
	if q.Cursor != "" {
		c, err := parseIssueCursor(q.Cursor)
		if err != nil {
			return page, err
		}
		if c.sort != sort {
			return page, fmt.Errorf("%w: the cursor belongs to another sort order", ErrInvalid)
		}
		cur = &c
	}
	order := col + " DESC, i.id DESC"
	if cur != nil {
		op := "<"
		if cur.prev {
			op, order = ">", col+" ASC, i.id ASC"
		}
		where += fmt.Sprintf(" AND (%s, i.id) %s (%s, %s)", col, op, args.add(cursorArg(sort, cur.value)), args.add(cur.id))
	}
	sql := `SELECT ` + issueColumns + ` FROM grouping.issues i WHERE ` + where + ` ORDER BY ` + order + ` LIMIT ` + args.add(limit+1)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return page, fmt.Errorf("list issues: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		is, err := scanIssue(rows)
		if err != nil {
			return page, fmt.Errorf("list issues: %w", err)
		}
		page.Issues = append(page.Issues, is)
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("list issues: %w", err)
	}
	more := len(page.Issues) > limit
	if more {
		page.Issues = page.Issues[:limit]
	}
	if cur != nil && cur.prev {
		slices.Reverse(page.Issues)
	}
	if len(page.Issues) == 0 {
		return page, nil
	}
	first, last := page.Issues[0], page.Issues[len(page.Issues)-1]
	hasNext := more || (cur != nil && cur.prev)
	hasPrev := cur != nil && (!cur.prev || more)
	if hasNext {
		page.Next = issueCursor{sort: sort, value: sortValue(last, sort), id: last.ID}.String()
	}
	if hasPrev {
		page.Prev = issueCursor{sort: sort, prev: true, value: sortValue(first, sort), id: first.ID}.String()
	}
	return page, nil
}

// IssueIDs returns the ids of up to max issues of projectID that match q,
// for bulk changes.
func (s *IssueStore) IssueIDs(ctx context.Context, projectID int64, q IssueQuery, max int) ([]int64, error) {
	var args sqlArgs
	where, err := q.where(projectID, &args)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT i.id FROM grouping.issues i WHERE `+where+` ORDER BY i.last_seen DESC, i.id DESC LIMIT `+args.add(max), args...)
	if err != nil {
		return nil, fmt.Errorf("select issues: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("select issues: %w", err)
	}
	return ids, nil
}

// ProjectIssues returns those of ids that belong to projectID.
func (s *IssueStore) ProjectIssues(ctx context.Context, projectID int64, ids []int64) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM grouping.issues WHERE project_id = $1 AND id = ANY($2) ORDER BY id`, projectID, ids)
	if err != nil {
		return nil, fmt.Errorf("select issues: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("select issues: %w", err)
	}
	return out, nil
}

// --- status changes

// StatusUpdate is a user's decision on an issue.
type StatusUpdate struct {
	// Status is resolved, resolvedInNextRelease, ignored or unresolved.
	Status string
	// For ignored: until this many more events, more users, or this long
	// (all zero: for good).
	IgnoreCount     int64
	IgnoreUserCount int64
	IgnoreDuration  time.Duration
}

// Issue status names in Sentry's API.
const (
	StatusResolved              = "resolved"
	StatusResolvedInNextRelease = "resolvedInNextRelease"
	StatusIgnored               = "ignored"
	StatusUnresolved            = "unresolved"
)

// SetStatus records u on the issue: a decision on the DECISIONS stream,
// which grouping applies.
func (s *IssueStore) SetStatus(ctx context.Context, issueID int64, u StatusUpdate) error {
	var d streams.Decision
	switch u.Status {
	case StatusResolved:
		d.Kind = streams.DecideResolve
	case StatusResolvedInNextRelease:
		d.Kind = streams.DecideResolveInNextRelease
	case StatusUnresolved:
		d.Kind = streams.DecideUnresolve
	case StatusIgnored:
		if u.IgnoreCount < 0 || u.IgnoreUserCount < 0 || u.IgnoreDuration < 0 {
			return fmt.Errorf("%w: ignore conditions cannot be negative", ErrInvalid)
		}
		d.Kind = streams.DecideIgnore
		d.Ignore = &streams.IgnoreUntil{Count: u.IgnoreCount, Users: u.IgnoreUserCount}
		if u.IgnoreDuration > 0 {
			d.Ignore.Until = time.Now().Add(u.IgnoreDuration).UTC()
		}
	default:
		return fmt.Errorf("%w: status: want resolved, resolvedInNextRelease, ignored or unresolved, not %q", ErrInvalid, clipForError(u.Status))
	}
	return s.decide(ctx, &d, issueID)
}

// DeleteIssue deletes an issue with its events and tags: a decision that
// grouping applies.
func (s *IssueStore) DeleteIssue(ctx context.Context, issueID int64) error {
	return s.decide(ctx, &streams.Decision{Kind: streams.DecideDeleteIssue}, issueID)
}

// --- events

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

func (s *IssueStore) storedEvent(ctx context.Context, where string, args ...any) (*StoredEvent, error) {
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
func (s *IssueStore) Event(ctx context.Context, issueID int64, eventID string) (*StoredEvent, error) {
	id, ok := ParseEventID(eventID)
	if !ok {
		return nil, ErrNotFound
	}
	return s.storedEvent(ctx, `e.issue_id = $1 AND e.event_id = $2::uuid`, issueID, id)
}

// LatestEvent returns issueID's newest event by (timestamp, event id).
func (s *IssueStore) LatestEvent(ctx context.Context, issueID int64) (*StoredEvent, error) {
	return s.storedEvent(ctx, `e.issue_id = $1 ORDER BY e.ts DESC, e.event_id DESC LIMIT 1`, issueID)
}

// OldestEvent returns issueID's oldest event.
func (s *IssueStore) OldestEvent(ctx context.Context, issueID int64) (*StoredEvent, error) {
	return s.storedEvent(ctx, `e.issue_id = $1 ORDER BY e.ts ASC, e.event_id ASC LIMIT 1`, issueID)
}

// ProjectEvent returns an event of projectID by its id, whichever issue
// it is in.
func (s *IssueStore) ProjectEvent(ctx context.Context, projectID int64, eventID string) (*StoredEvent, error) {
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
func (s *IssueStore) AdjacentEventIDs(ctx context.Context, ev *EventSummary) (prev, next string, err error) {
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
func (s *IssueStore) Events(ctx context.Context, issueID int64, cursor string, limit int) (EventPage, error) {
	var page EventPage
	if limit == 0 {
		limit = 100
	}
	if limit < 1 || limit > 100 {
		return page, fmt.Errorf("%w: limit: want 1 to 100", ErrInvalid)
	}
	args := sqlArgs{issueID}
	where, order := "e.issue_id = $1", "e.ts DESC, e.event_id DESC"
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
func (s *IssueStore) EventsJSON(ctx context.Context, evs []*EventSummary) ([]json.RawMessage, error) {
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
func (s *IssueStore) GroupingInfo(ctx context.Context, ev *StoredEvent) (grouping.Result, error) {
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

// TagValue is one value of a tag key in an issue, with how often it was seen.
type TagValue struct {
	Key       string
	Value     string
	Count     int64
	FirstSeen time.Time
	LastSeen  time.Time
}

// TagKey is one tag key of an issue: its values' total count, how many
// distinct values it has, and the most frequent ones.
type TagKey struct {
	Key          string
	TotalValues  int64
	UniqueValues int64
	TopValues    []TagValue
}

// TagKeys returns issueID's tag keys, by key, each with its top values
// (at most top, most frequent first).
func (s *IssueStore) TagKeys(ctx context.Context, issueID int64, top int) ([]TagKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value, times_seen, first_seen, last_seen, total, uniq FROM (
		SELECT key, value, times_seen, first_seen, last_seen,
			sum(times_seen) OVER (PARTITION BY key) AS total, count(*) OVER (PARTITION BY key) AS uniq,
			row_number() OVER (PARTITION BY key ORDER BY times_seen DESC, value) AS rank
		FROM grouping.issue_tags WHERE issue_id = $1) t
		WHERE rank <= $2 ORDER BY key, rank`, issueID, top)
	if err != nil {
		return nil, fmt.Errorf("tag keys: %w", err)
	}
	defer rows.Close()
	var out []TagKey
	for rows.Next() {
		var v TagValue
		var total, uniq int64
		if err := rows.Scan(&v.Key, &v.Value, &v.Count, &v.FirstSeen, &v.LastSeen, &total, &uniq); err != nil {
			return nil, fmt.Errorf("tag keys: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Key != v.Key {
			out = append(out, TagKey{Key: v.Key, TotalValues: total, UniqueValues: uniq})
		}
		out[len(out)-1].TopValues = append(out[len(out)-1].TopValues, v)
	}
	return out, rows.Err()
}

// TagValues returns a page of the values of key in issueID, most frequent
// first.
func (s *IssueStore) TagValues(ctx context.Context, issueID int64, key string, limit, offset int) ([]TagValue, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value, times_seen, first_seen, last_seen FROM grouping.issue_tags
		WHERE issue_id = $1 AND key = $2 ORDER BY times_seen DESC, value LIMIT $3 OFFSET $4`, issueID, key, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("tag values: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TagValue, error) {
		var v TagValue
		err := r.Scan(&v.Key, &v.Value, &v.Count, &v.FirstSeen, &v.LastSeen)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("tag values: %w", err)
	}
	return out, nil
}

// --- counts over time

// StatsPoint is the number of events received in the bucket starting at
// Time.
type StatsPoint struct {
	Time  time.Time
	Count int64
}

// statsBuckets returns the bucket width and count of a period: "24h" is 24
// hourly buckets, "14d" and "30d" daily ones ("" means 24h).
func statsBuckets(period string) (time.Duration, int, error) {
	switch period {
	case "", "24h", "1d":
		return time.Hour, 24, nil
	case "7d":
		return 24 * time.Hour, 7, nil
	case "14d":
		return 24 * time.Hour, 14, nil
	case "30d":
		return 24 * time.Hour, 30, nil
	case "90d":
		return 24 * time.Hour, 90, nil
	}
	return 0, 0, fmt.Errorf("%w: statsPeriod: want 24h, 7d, 14d, 30d or 90d, not %q", ErrInvalid, clipForError(period))
}

// ValidStatsPeriod reports whether period is one the stats accept.
func ValidStatsPeriod(period string) bool { _, _, err := statsBuckets(period); return err == nil }

// counts groups events by owner (issue or project) into the period's
// buckets, ending with the bucket that holds now.
func (s *IssueStore) counts(ctx context.Context, col string, owners []int64, period string) (map[int64][]StatsPoint, error) {
	width, n, err := statsBuckets(period)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	start := now.Truncate(width).Add(-time.Duration(n-1) * width)
	out := make(map[int64][]StatsPoint, len(owners))
	for _, o := range owners {
		pts := make([]StatsPoint, n)
		for i := range pts {
			pts[i].Time = start.Add(time.Duration(i) * width)
		}
		out[o] = pts
	}
	if len(owners) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+col+`, floor(extract(epoch FROM received - $2::timestamptz) / $3)::int AS bucket, count(*)
		FROM grouping.events WHERE `+col+` = ANY($1) AND received >= $2 GROUP BY 1, 2`, owners, start, width.Seconds())
	if err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var owner, count int64
		var bucket int
		if err := rows.Scan(&owner, &bucket, &count); err != nil {
			return nil, fmt.Errorf("count events: %w", err)
		}
		if pts := out[owner]; bucket >= 0 && bucket < len(pts) {
			pts[bucket].Count += count
		}
	}
	return out, rows.Err()
}

// IssueStats counts issueID's events over period ("24h": hourly, "30d":
// daily), oldest bucket first.
func (s *IssueStore) IssueStats(ctx context.Context, issueID int64, period string) ([]StatsPoint, error) {
	m, err := s.counts(ctx, "issue_id", []int64{issueID}, period)
	return m[issueID], err
}

// IssuesStats is IssueStats for several issues in one query.
func (s *IssueStore) IssuesStats(ctx context.Context, issueIDs []int64, period string) (map[int64][]StatsPoint, error) {
	return s.counts(ctx, "issue_id", issueIDs, period)
}

// ProjectStats counts projectID's grouped events over period.
func (s *IssueStore) ProjectStats(ctx context.Context, projectID int64, period string) ([]StatsPoint, error) {
	m, err := s.counts(ctx, "project_id", []int64{projectID}, period)
	return m[projectID], err
}

// ProjectsStats is ProjectStats for several projects in one query.
func (s *IssueStore) ProjectsStats(ctx context.Context, projectIDs []int64, period string) (map[int64][]StatsPoint, error) {
	return s.counts(ctx, "project_id", projectIDs, period)
}

// NewIssueCounts counts, per project, the issues first seen at or after
// since.
func (s *IssueStore) NewIssueCounts(ctx context.Context, projectIDs []int64, since time.Time) (map[int64]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT project_id, count(*) FROM grouping.issues
		WHERE project_id = ANY($1) AND first_seen >= $2 GROUP BY project_id`, projectIDs, since)
	if err != nil {
		return nil, fmt.Errorf("count new issues: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]int64, len(projectIDs))
	for _, p := range projectIDs {
		out[p] = 0
	}
	for rows.Next() {
		var p, n int64
		if err := rows.Scan(&p, &n); err != nil {
			return nil, fmt.Errorf("count new issues: %w", err)
		}
		out[p] = n
	}
	return out, rows.Err()
}
