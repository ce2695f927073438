package issues

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/streams"
)

// Store reads the grouping service's projection (schema grouping):
// issues, their events, tags and counts over time, for the REST API and the
// dashboard. Users' decisions go through the grouping service's functions,
// the owner of those tables. It does not check who asks: callers scope
// every call to projects the principal may see (an issue's ProjectID says
// which).
type Store struct {
	pool      *pgxpool.Pool
	decisions *decide.Publisher // nil: decisions are refused
}

// New returns an issue store over pool.
func New(pool *pgxpool.Pool, d *decide.Publisher) *Store {
	return &Store{pool: pool, decisions: d}
}

// Issues is the issue store over the same database.

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
	Status            string // unresolved, resolved, resolved_in_next_release, resolved_in_release, ignored (an ignore whose time has passed reads unresolved)
	Substatus         string // new, ongoing, regressed, unignored, or ""
	StatusChangedAt   time.Time
	ResolvedInRelease string
	IgnoreUntil       *time.Time
	IgnoreUntilCount  *int64 // ignored until this many more events
	IgnoreUntilUsers  *int64 // ignored until this many more users
	IgnoreUntilWindow *int64 // minutes: IgnoreUntilCount counts the events within a trailing window this long
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
	i.ignore_base_count, i.ignore_base_users, i.ignore_until_window, i.last_event_id, i.assignee, ` + assigneeInfo

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
		&is.IgnoreUntilUsers, &is.IgnoreBaseCount, &is.IgnoreBaseUsers, &is.IgnoreUntilWindow, &last, &is.Assignee, &info)
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
func (s *Store) Issue(ctx context.Context, id int64) (*Issue, error) {
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

// DefaultLimit is how many issues a page lists unless asked otherwise.
const DefaultLimit = 25

const maxIssueLimit = 100

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
		return `i.status IN ('resolved', 'resolved_in_next_release', 'resolved_in_release')`
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
func (s *Store) ListIssues(ctx context.Context, projectID int64, q IssueQuery) (IssuePage, error) {
	var page IssuePage
	sort, err := NormalizeIssueSort(q.Sort)
	if err != nil {
		return page, err
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
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
func (s *Store) IssueIDs(ctx context.Context, projectID int64, q IssueQuery, max int) ([]int64, error) {
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
func (s *Store) ProjectIssues(ctx context.Context, projectID int64, ids []int64) ([]int64, error) {
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
	// Status is resolved, resolvedInNextRelease, resolvedInRelease,
	// ignored or unresolved.
	Status string
	// InRelease is, for resolvedInRelease, the release the fix ships in:
	// events of it or of a newer release regress the issue.
	InRelease string
	// For ignored: until this many more events, more users, or this long
	// (all zero: for good). With IgnoreWindow, IgnoreCount is counted
	// within any trailing window that long (whole minutes, at most a week).
	IgnoreCount     int64
	IgnoreUserCount int64
	IgnoreDuration  time.Duration
	IgnoreWindow    time.Duration
}

// MaxIgnoreWindow and MaxWindowedCount bound an ignore's window, as
// Sentry's do: a week, and the count kept inside it.
const (
	MaxIgnoreWindow  = 7 * 24 * time.Hour
	MaxWindowedCount = 10000
)

// Issue status names in Sentry's API.
const (
	StatusResolved              = "resolved"
	StatusResolvedInNextRelease = "resolvedInNextRelease"
	StatusResolvedInRelease     = "resolvedInRelease"
	StatusIgnored               = "ignored"
	StatusUnresolved            = "unresolved"
)

// CheckStatus refuses a status SetStatus does not take.
func CheckStatus(status string) error {
	switch status {
	case StatusResolved, StatusResolvedInNextRelease, StatusResolvedInRelease, StatusUnresolved, StatusIgnored:
		return nil
	}
	return fmt.Errorf("%w: status: want resolved, resolvedInNextRelease, resolvedInRelease, ignored or unresolved, not %q", ErrInvalid, clipForError(status))
}

// CheckRelease refuses a release name an issue cannot be resolved in: the
// names a release may have (1 to 200 characters, no slash, newline or tab).
func CheckRelease(name string) error {
	if name == "" || len(name) > 200 || strings.ContainsAny(name, "\n\r\t/\\") {
		return fmt.Errorf("%w: statusDetails.inRelease: want a release's version, 1 to 200 characters without slash, newline or tab", ErrInvalid)
	}
	return nil
}

// SetStatus records u on the issue: a decision on the DECISIONS stream,
// which grouping applies.
func (s *Store) SetStatus(ctx context.Context, issueID int64, u StatusUpdate) error {
	if err := CheckStatus(u.Status); err != nil {
		return err
	}
	var d streams.Decision
	switch u.Status {
	case StatusResolved:
		d.Kind = streams.DecideResolve
	case StatusResolvedInNextRelease:
		d.Kind = streams.DecideResolveInNextRelease
	case StatusResolvedInRelease:
		if err := CheckRelease(u.InRelease); err != nil {
			return err
		}
		d.Kind, d.Release = streams.DecideResolveInRelease, u.InRelease
	case StatusUnresolved:
		d.Kind = streams.DecideUnresolve
	case StatusIgnored:
		if u.IgnoreCount < 0 || u.IgnoreUserCount < 0 || u.IgnoreDuration < 0 || u.IgnoreWindow < 0 {
			return fmt.Errorf("%w: ignore conditions cannot be negative", ErrInvalid)
		}
		if u.IgnoreWindow > 0 && (u.IgnoreCount == 0 || u.IgnoreCount > MaxWindowedCount ||
			u.IgnoreWindow > MaxIgnoreWindow || u.IgnoreWindow%time.Minute != 0) {
			return fmt.Errorf("%w: ignoreWindow: whole minutes up to a week, with an ignoreCount of 1 to %d", ErrInvalid, MaxWindowedCount)
		}
		d.Kind = streams.DecideIgnore
		d.Ignore = &streams.IgnoreUntil{Count: u.IgnoreCount, Users: u.IgnoreUserCount, Window: int64(u.IgnoreWindow / time.Minute)}
		if u.IgnoreDuration > 0 {
			d.Ignore.Until = time.Now().Add(u.IgnoreDuration).UTC()
		}
	}
	return s.decide(ctx, &d, issueID)
}

// DeleteIssue deletes an issue with its events and tags: a decision that
// grouping applies.
func (s *Store) DeleteIssue(ctx context.Context, issueID int64) error {
	return s.decide(ctx, &streams.Decision{Kind: streams.DecideDeleteIssue}, issueID)
}

// --- events
