package grouping

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/streams"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Merging issues: a user's decision, recorded through Merge by the api
// service. The children's hashes, events and tag counts move to the parent,
// whose counters are recomputed from its own and the children's; the
// children are deleted. Later events with a child's hash land in the parent
// because the hash is now the parent's. The merge is also recorded by hashes
// in grouping.merges, so a replay (which numbers issues anew) merges again
// the issues that own those hashes.
//
// A merge takes its project's issue-changes lock exclusively; batches take
// it shared before they look hashes up, so a batch that found a child
// writes to it before the merge moves it, or finds the parent.

// ErrMergeProjects is returned when the issues to merge are not all of one
// project.
var ErrMergeProjects = errors.New("issues of different projects cannot be merged")

// MergeResult says which issue the others went into.
type MergeResult struct {
	Parent   int64
	Children []int64
}

// Merge merges issues into one: the one with the most events (the lowest id
// among equals) becomes the parent, as in Sentry. It needs at least two
// issues of one project; ErrNoIssue names an id that does not exist.
func Merge(ctx context.Context, pool *pgxpool.Pool, ids []int64) (MergeResult, error) {
	var res MergeResult
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(ids) < 2 {
		return res, errors.New("merge: want at least two issues")
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := lockProjectChanges(ctx, tx, ids); err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		var err error
		if res, err = mergeIssues(ctx, tx, "grouping", ids, true); err != nil {
			return err
		}
		return announceMerge(ctx, tx, res, decision{at: time.Now().UTC()})
	})
	return res, err
}

// announceMerge writes issues.<project>.merged to the outbox, in the
// merge's transaction: the grouping service's outbox sweeper publishes it
// (the api process that merges has no NATS connection of its own).
func announceMerge(ctx context.Context, tx pgx.Tx, res MergeResult, d decision) error {
	m := streams.IssueMessage{IssueID: res.Parent, Change: streams.ChangeMerged, Children: res.Children,
		Decision: d.id, Actor: d.actor, At: d.at}
	if err := tx.QueryRow(ctx, `SELECT project_id, status, title, culprit, level FROM grouping.issues WHERE id = $1`,
		res.Parent).Scan(&m.ProjectID, &m.Status, &m.Title, &m.Culprit, &m.Level); err != nil {
		return fmt.Errorf("merge: announce: %w", err)
	}
	msgID := streams.ChangeMerged + "-" + strconv.FormatInt(res.Parent, 10)
	for _, c := range res.Children {
		msgID += "-" + strconv.FormatInt(c, 10)
	}
	if err := announce(ctx, tx, m, msgID); err != nil {
		return fmt.Errorf("merge: announce: %w", err)
	}
	return nil
}

// mergedIssue is what merging needs of an issue row.
type mergedIssue struct {
	id, project                       int64
	primaryHash                       string
	firstSeen, lastSeen               time.Time
	lastID                            [16]byte
	timesSeen, usersSeen              int64
	users                             []byte
	firstRelease, lastRelease         string
	title, culprit, level, typ, platf string
	envs                              []string
	ignoreBaseCount, ignoreBaseUsers  int64
}

// mergeIssues merges ids (sorted, distinct) in schema's tables inside tx,
// recording the merge in grouping.merges when record is set.
func mergeIssues(ctx context.Context, tx pgx.Tx, schema string, ids []int64, record bool) (MergeResult, error) {
	var res MergeResult
	q := func(sql string) string { return strings.ReplaceAll(sql, "grouping.", schema+".") }
	// Lock in id order, as the grouping service's batches do.
	rows, err := tx.Query(ctx, q(`SELECT id, project_id, primary_hash, first_seen, last_seen, last_event_id, times_seen,
			users_seen, users_hll, first_release, last_release, title, culprit, level, type, platform, environments,
			ignore_base_count, ignore_base_users
		FROM grouping.issues WHERE id = ANY($1) ORDER BY id FOR UPDATE`), ids)
	if err != nil {
		return res, fmt.Errorf("merge: lock issues: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*mergedIssue, error) {
		var m mergedIssue
		err := r.Scan(&m.id, &m.project, &m.primaryHash, &m.firstSeen, &m.lastSeen, &m.lastID, &m.timesSeen,
			&m.usersSeen, &m.users, &m.firstRelease, &m.lastRelease, &m.title, &m.culprit, &m.level, &m.typ,
			&m.platf, &m.envs, &m.ignoreBaseCount, &m.ignoreBaseUsers)
		return &m, err
	})
	if err != nil {
		return res, fmt.Errorf("merge: lock issues: %w", err)
	}
	if len(all) != len(ids) {
		for _, id := range ids {
			if !slices.ContainsFunc(all, func(m *mergedIssue) bool { return m.id == id }) {
				return res, fmt.Errorf("merge: issue %d: %w", id, ErrNoIssue)
			}
		}
	}
	for _, m := range all[1:] {
		if m.project != all[0].project {
			return res, fmt.Errorf("merge: %w", ErrMergeProjects)
		}
	}
	parent := all[0]
	for _, m := range all[1:] {
		if m.timesSeen > parent.timesSeen {
			parent = m
		}
	}
	res.Parent = parent.id
	agg := *parent
	users := hllFrom(parent.users)
	var childCount int64
	for _, m := range all {
		if m == parent {
			continue
		}
		res.Children = append(res.Children, m.id)
		childCount += m.timesSeen
		agg.timesSeen += m.timesSeen
		users.merge(hllFrom(m.users))
		if m.firstSeen.Before(agg.firstSeen) {
			agg.firstSeen, agg.firstRelease = m.firstSeen, m.firstRelease
		}
		if m.lastSeen.After(agg.lastSeen) || m.lastSeen.Equal(agg.lastSeen) && bytes.Compare(m.lastID[:], agg.lastID[:]) > 0 {
			agg.lastSeen, agg.lastID, agg.lastRelease = m.lastSeen, m.lastID, m.lastRelease
			agg.title, agg.culprit, agg.level, agg.typ, agg.platf = m.title, m.culprit, m.level, m.typ, m.platf
		}
		for _, e := range m.envs {
			if !slices.Contains(agg.envs, e) {
				agg.envs = append(agg.envs, e)
			}
		}
	}
	slices.Sort(agg.envs)
	if agg.envs == nil {
		agg.envs = []string{}
	}
	agg.usersSeen = users.estimate()
	stmts := []struct {
		sql  string
		args []any
	}{
		{`UPDATE grouping.issue_hashes SET issue_id = $1 WHERE issue_id = ANY($2)`, []any{parent.id, res.Children}},
		{`INSERT INTO grouping.issue_tags AS t (issue_id, key, value, times_seen, first_seen, last_seen)
			SELECT $1, key, value, sum(times_seen), min(first_seen), max(last_seen) FROM grouping.issue_tags
			WHERE issue_id = ANY($2) GROUP BY key, value ORDER BY key, value
			ON CONFLICT (issue_id, key, value) DO UPDATE SET times_seen = t.times_seen + EXCLUDED.times_seen,
				first_seen = least(t.first_seen, EXCLUDED.first_seen), last_seen = greatest(t.last_seen, EXCLUDED.last_seen)`,
			[]any{parent.id, res.Children}},
		{`UPDATE grouping.events SET issue_id = $1 WHERE project_id = $3 AND issue_id = ANY($2)`, []any{parent.id, res.Children, parent.project}},
		{`DELETE FROM grouping.issues WHERE id = ANY($1)`, []any{res.Children}},
		// An ignore "until N more events/users" counts from the merge on:
		// the children's past events are not "more".
		{`UPDATE grouping.issues SET times_seen = $2, users_hll = $3, users_seen = $4, first_seen = $5, first_release = $6,
			last_seen = $7, last_event_id = $8, last_release = $9, title = $10, culprit = $11, level = $12, type = $13,
			platform = $14, environments = $15, ignore_base_count = ignore_base_count + $16,
			ignore_base_users = ignore_base_users + greatest($4 - users_seen, 0), updated_at = now()
			WHERE id = $1`,
			[]any{parent.id, agg.timesSeen, []byte(users), agg.usersSeen, agg.firstSeen, agg.firstRelease, agg.lastSeen,
				agg.lastID, agg.lastRelease, agg.title, agg.culprit, agg.level, agg.typ, agg.platf, agg.envs, childCount}},
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, q(s.sql), s.args...); err != nil {
			return res, fmt.Errorf("merge into issue %d: %.50s: %w", parent.id, strings.Join(strings.Fields(s.sql), " "), err)
		}
	}
	if record {
		if _, err := tx.Exec(ctx, q(`INSERT INTO grouping.merges (project_id, parent_hash, hashes)
			SELECT $1, $2, array_agg(hash ORDER BY hash) FROM grouping.issue_hashes WHERE issue_id = $3`),
			parent.project, parent.primaryHash, parent.id); err != nil {
			return res, fmt.Errorf("merge: record: %w", err)
		}
	}
	return res, nil
}

// reapplyMerges merges again, in the new generation's tables, the issues
// that own the hashes of each recorded merge (of project, or of every
// project when it is 0), in the order they were made. It returns how many
// merges changed something.
func reapplyMerges(ctx context.Context, tx pgx.Tx, schema string, project int64) (int, error) {
	rows, err := tx.Query(ctx, `SELECT project_id, parent_hash, hashes FROM grouping.merges
		WHERE $1 = 0 OR project_id = $1 ORDER BY id`, project)
	if err != nil {
		return 0, fmt.Errorf("read merges: %w", err)
	}
	type merge struct {
		project int64
		parent  string
		hashes  []string
	}
	merges, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (merge, error) {
		var m merge
		err := r.Scan(&m.project, &m.parent, &m.hashes)
		return m, err
	})
	if err != nil {
		return 0, fmt.Errorf("read merges: %w", err)
	}
	n := 0
	for _, m := range merges {
		rows, err := tx.Query(ctx, `SELECT DISTINCT issue_id FROM `+schema+`.issue_hashes
			WHERE project_id = $1 AND hash = ANY($2) ORDER BY issue_id`, m.project, m.hashes)
		if err != nil {
			return n, fmt.Errorf("reapply merges: %w", err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return n, fmt.Errorf("reapply merges: %w", err)
		}
		if len(ids) < 2 {
			continue
		}
		if _, err := mergeIssues(ctx, tx, schema, ids, false); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
