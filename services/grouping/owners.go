package grouping

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/faultline/faultline/libs/ownership"
	"github.com/faultline/faultline/streams"
)

// Auto-assignment. A new issue whose project's ownership rules
// (api.project_ownership, read-only here as alerting reads api.*) have
// autoAssignment on is assigned to the first owner of the last rule its
// first event matches. Grouping decides it at creation because it alone
// holds the full first event there; it does not write the assignee: the
// assignment is a decision on DECISIONS, written to the outbox in the
// creating transaction and applied by the decisions consumer like any
// other, so a replay of DECISIONS keeps it. Its id is fixed by the issue
// ("owner-<issue>"): the outbox's retried publish and JetStream's
// duplicate window store it once. With no matching rule nothing is
// assigned (Sentry's fallthrough makes every member an owner, which names
// no one assignee).

// AutoAssignActor is who an auto-assignment is decided by.
const AutoAssignActor = "ownership rule"

// autoAssignOff is Sentry's autoAssignment value that turns it off.
const autoAssignOff = "Turn off Auto-Assignment"

// autoAssignments returns the assign decisions for the issues created.
func (s *Service) autoAssignments(ctx context.Context, created []*issueAgg) ([]publication, error) {
	if s.schema != "grouping" || len(created) == 0 {
		return nil, nil // a replay re-reads the decisions the live run made
	}
	byProject, err := s.owners.get(ctx, s.pool, created, s.opt.RulesRefresh)
	if err != nil {
		return nil, err
	}
	var pubs []publication
	for _, a := range created {
		po, ok := byProject[a.projectID]
		if !ok || a.first == nil {
			continue
		}
		raw, err := s.zdec.DecodeAll(a.first.data, nil)
		if err != nil {
			continue
		}
		owners := ownership.Match(po.rules, ownership.SubjectOf(raw))
		assignee, err := s.resolveOwner(ctx, po.org, owners)
		if err != nil {
			return nil, err
		}
		if assignee == "" {
			continue
		}
		d := streams.Decision{ID: "owner-" + strconv.FormatInt(a.id, 10), Kind: streams.DecideAssign, ProjectID: a.projectID,
			Actor: streams.Actor{Name: AutoAssignActor}, At: a.first.received,
			Issues: []streams.IssueRef{{ID: a.id, Hashes: append([]string{a.primaryHash}, a.hashes...)}}, Assignee: &assignee}
		b, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		pubs = append(pubs, publication{subject: streams.DecisionSubject(a.projectID, streams.DecideAssign), msgID: d.ID,
			project: a.projectID, data: b})
	}
	return pubs, nil
}

// projOwnership is a project's parsed ownership rules, when
// auto-assignment is on.
type projOwnership struct {
	rules []ownership.Rule
	org   int64
}

// ownershipCache holds the projects' ownership rules for refresh, so a
// batch that creates issues does not read api.project_ownership again (a
// round trip on a second connection while the batch's transaction waits):
// a change of the rules applies to issues created from refresh later.
type ownershipCache struct {
	mu sync.Mutex
	by map[int64]ownershipEntry
}

type ownershipEntry struct {
	po   projOwnership
	ok   bool // the project auto-assigns
	read time.Time
}

// get returns the ownership rules of the projects of created that
// auto-assign, reading the ones not read within refresh.
func (c *ownershipCache) get(ctx context.Context, pool *pgxpool.Pool, created []*issueAgg, refresh time.Duration) (map[int64]projOwnership, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.by == nil {
		c.by = map[int64]ownershipEntry{}
	}
	now := time.Now()
	var stale []int64
	for _, a := range created {
		if e, ok := c.by[a.projectID]; (!ok || now.Sub(e.read) >= refresh) && !slices.Contains(stale, a.projectID) {
			stale = append(stale, a.projectID)
		}
	}
	if len(stale) > 0 {
		// Read outside tx: a failed read must not abort the batch's transaction.
		rows, err := pool.Query(ctx, `SELECT o.project_id, o.raw, p.organization_id FROM api.project_ownership o
			JOIN api.projects p ON p.id = o.project_id
			WHERE o.project_id = ANY($1) AND o.raw IS NOT NULL AND o.auto_assignment <> $2`, stale, autoAssignOff)
		if noAccounts(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("ownership: %w", err)
		}
		read := map[int64]projOwnership{}
		for rows.Next() {
			var id, org int64
			var raw string
			if err := rows.Scan(&id, &raw, &org); err != nil {
				rows.Close()
				return nil, fmt.Errorf("ownership: %w", err)
			}
			if rules, err := ownership.Parse(raw); err == nil && len(rules) > 0 {
				read[id] = projOwnership{rules, org}
			}
		}
		if err := rows.Err(); noAccounts(err) {
			return nil, nil
		} else if err != nil {
			return nil, fmt.Errorf("ownership: %w", err)
		}
		for _, id := range stale {
			po, ok := read[id]
			c.by[id] = ownershipEntry{po: po, ok: ok, read: now}
		}
	}
	out := map[int64]projOwnership{}
	for _, a := range created {
		if e := c.by[a.projectID]; e.ok {
			out[a.projectID] = e.po
		}
	}
	return out, nil
}

// resolveOwner is the assignee ("team:<id>" or "user:<id>") for the first
// of owners that is a team or an active member of org; "" for none.
func (s *Service) resolveOwner(ctx context.Context, org int64, owners []ownership.Owner) (string, error) {
	for _, o := range owners {
		var id int64
		var err error
		prefix := "team:"
		if o.Kind == ownership.OwnerTeam {
			err = s.pool.QueryRow(ctx, `SELECT id FROM api.teams WHERE organization_id = $1 AND slug = $2`, org, o.Identifier).Scan(&id)
		} else {
			prefix = "user:"
			err = s.pool.QueryRow(ctx, `SELECT m.user_id FROM api.members m JOIN api.users u ON u.id = m.user_id
				WHERE m.organization_id = $1 AND lower(u.email) = $2 AND u.is_active`, org, o.Identifier).Scan(&id)
		}
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("resolve owner: %w", err)
		}
		return prefix + strconv.FormatInt(id, 10), nil
	}
	return "", nil
}

// noAccounts tells an error of a database without the accounts schema:
// grouping alone, as in its own tests, assigns nothing.
func noAccounts(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000")
}
