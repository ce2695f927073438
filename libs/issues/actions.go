package issues

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/grouping"
	"github.com/faultline/faultline/libs/groupingrules"
	"github.com/faultline/faultline/streams"
	"github.com/jackc/pgx/v5"
)

// Assignment, merging and grouping rules: users' decisions recorded through
// the grouping service's functions, the owner of those tables.

// assignedCond is the SQL condition of assigned:<v> (see IssueFilter).
func (q IssueQuery) assignedCond(v string, args *sqlArgs) string {
	switch {
	case v == "none":
		return "i.assignee = ''"
	case v == "me":
		return "i.assignee = " + args.add("user:"+strconv.FormatInt(q.Me, 10))
	case strings.HasPrefix(v, "#"):
		return `i.assignee IN (SELECT 'team:' || t.id FROM api.teams t JOIN api.projects p ON p.organization_id = t.organization_id
			WHERE p.id = i.project_id AND t.slug = ` + args.add(strings.ToLower(v[1:])) + `)`
	case strings.HasPrefix(v, "user:") || strings.HasPrefix(v, "team:"):
		return "i.assignee = " + args.add(v)
	}
	return `i.assignee IN (SELECT 'user:' || u.id FROM api.users u WHERE u.email = ` + args.add(strings.ToLower(v)) + `)`
}

// ResolveAssignee reads an assignee as Sentry's assignedTo gives it — a
// member's email (or username, which is the email here), "user:<id>",
// "team:<id>" or "#team-slug" — and returns the stored reference
// ("user:<id>" or "team:<id>"). Only members and teams of orgID qualify;
// anything else is ErrInvalid. "" unassigns.
func (s *Store) ResolveAssignee(ctx context.Context, orgID int64, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	var ref string
	var err error
	switch {
	case strings.HasPrefix(v, "team:") || strings.HasPrefix(v, "#"):
		var id int64
		if strings.HasPrefix(v, "#") {
			err = s.pool.QueryRow(ctx, `SELECT id FROM api.teams WHERE organization_id = $1 AND slug = $2`, orgID, strings.ToLower(v[1:])).Scan(&id)
		} else if n, perr := strconv.ParseInt(v[len("team:"):], 10, 64); perr == nil {
			err = s.pool.QueryRow(ctx, `SELECT id FROM api.teams WHERE organization_id = $1 AND id = $2`, orgID, n).Scan(&id)
		} else {
			err = pgx.ErrNoRows
		}
		ref = "team:" + strconv.FormatInt(id, 10)
	default:
		var id int64
		if n, perr := strconv.ParseInt(strings.TrimPrefix(v, "user:"), 10, 64); perr == nil {
			err = s.pool.QueryRow(ctx, `SELECT user_id FROM api.members WHERE organization_id = $1 AND user_id = $2`, orgID, n).Scan(&id)
		} else {
			err = s.pool.QueryRow(ctx, `SELECT m.user_id FROM api.members m JOIN api.users u ON u.id = m.user_id
				WHERE m.organization_id = $1 AND u.email = $2`, orgID, strings.ToLower(v)).Scan(&id)
		}
		ref = "user:" + strconv.FormatInt(id, 10)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("%w: assignedTo: %q is not a member or team of this organization", ErrInvalid, clipForError(v))
	}
	if err != nil {
		return "", fmt.Errorf("resolve assignee: %w", err)
	}
	return ref, nil
}

// Assign sets an issue's assignee (a reference from ResolveAssignee; ""
// unassigns): a decision that grouping applies.
func (s *Store) Assign(ctx context.Context, issueID int64, ref string) error {
	return s.decide(ctx, &streams.Decision{Kind: streams.DecideAssign, Assignee: &ref}, issueID)
}

// Merge merges issues of one project into the one with the most events: a
// decision that grouping applies. It returns the parent and the merged ids
// once applied (0 and nil while it waits to be).
func (s *Store) Merge(ctx context.Context, ids []int64) (int64, []int64, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(ids) < 2 {
		return 0, nil, fmt.Errorf("%w: merge: want at least two issues", ErrInvalid)
	}
	d := &streams.Decision{Kind: streams.DecideMerge}
	if err := s.decide(ctx, d, ids...); err != nil {
		return 0, nil, err
	}
	var parent int64
	err := s.pool.QueryRow(ctx, `SELECT h.issue_id FROM grouping.issue_hashes h
		WHERE h.project_id = $1 AND h.hash = $2`, d.ProjectID, d.Issues[0].Hashes[0]).Scan(&parent)
	if err != nil {
		return 0, nil, nil // not applied yet
	}
	var children []int64
	for _, id := range ids {
		if id != parent {
			children = append(children, id)
		}
	}
	return parent, children, nil
}

// GroupingRules are a project's grouping rules.
type GroupingRules struct {
	Stack       string
	Fingerprint string
	UpdatedAt   time.Time // zero: never set
}

// GroupingRules returns a project's grouping rules.
func (s *Store) GroupingRules(ctx context.Context, projectID int64) (GroupingRules, error) {
	r, err := groupingrules.Rules(ctx, s.pool, projectID)
	return GroupingRules(r), err
}

// SetGroupingRules validates and stores a project's grouping rules; rules
// that do not parse are ErrInvalid with the line named.
func (s *Store) SetGroupingRules(ctx context.Context, projectID int64, stack, fingerprint string) (GroupingRules, error) {
	if _, err := grouping.ParseRules(stack, fingerprint); err != nil {
		return GroupingRules{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	d := &streams.Decision{Kind: streams.DecideSetRules, ProjectID: projectID,
		Rules: &streams.Rules{Stacktrace: stack, Fingerprinting: fingerprint}}
	if err := s.publish(ctx, d); err != nil {
		return GroupingRules{}, err
	}
	return GroupingRules{Stack: stack, Fingerprint: fingerprint, UpdatedAt: d.At}, nil
}

// Preview sizes.
const (
	previewEvents = 500
	previewSample = 20
)

// PreviewGroupingRules says what candidate rules would change for the
// project's last 500 events.
func (s *Store) PreviewGroupingRules(ctx context.Context, projectID int64, stack, fingerprint string) (groupingrules.RulesPreview, error) {
	pv, err := groupingrules.PreviewRules(ctx, s.pool, projectID, stack, fingerprint, previewEvents, previewSample)
	if errors.Is(err, groupingrules.ErrInvalidRules) {
		return pv, invalidRules(err)
	}
	return pv, err
}

// invalidRules turns the grouping service's refusal into ErrInvalid with
// the parse error ("fingerprint rules line 2: ...").
func invalidRules(err error) error {
	return fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), groupingrules.ErrInvalidRules.Error()+": "))
}

// AssigneeNames returns the name and email of an assigned user, or the name
// and slug of an assigned team; "" for "".
func (s *Store) AssigneeNames(ctx context.Context, ref string) (string, string, error) {
	if ref == "" {
		return "", "", nil
	}
	var info []string
	err := s.pool.QueryRow(ctx, `SELECT `+assigneeInfo+` FROM (SELECT $1::text AS assignee) i`, ref).Scan(&info)
	if err != nil {
		return "", "", fmt.Errorf("assignee %s: %w", ref, err)
	}
	if len(info) != 2 {
		return "", "", nil
	}
	return info[0], info[1], nil
}
