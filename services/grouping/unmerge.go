package grouping

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/streams"
)

// Unmerging an issue: a user's decision (Sentry's "unmerge", DELETE
// /api/0/issues/{id}/hashes/?id=…), which splits some of an issue's hashes
// off into a new issue. The hashes move, and with them the stored events
// whose primary hash is one of them: later events with those hashes land in
// the new issue. The new issue is unresolved and new; the old one keeps its
// status, assignee and the rest of its hashes.
//
// Counts follow the stored events, as in Sentry: the new issue counts the
// events that moved; the old one loses them. Tag counts move with the events
// (each moved event's tags are read back from its stored JSON). The old
// issue's distinct users are counted again from the events it keeps, since a
// sketch cannot subtract; events already dropped by retention no longer
// count for it.
//
// An unmerge takes its project's issue-changes lock exclusively, like a
// merge, so no batch writes to either issue while it runs.

// unmergeIssue splits hashes off issue id in schema's tables inside tx and
// returns the new issue's id.
func (s *Service) unmergeIssue(ctx context.Context, tx pgx.Tx, id int64, hashes []string, d decision) (int64, error) {
	var (
		project, timesSeen, baseCount int64
		primary, config, status       string
		firstSeen, lastSeen           time.Time
		lastID                        [16]byte
		statusAt                      time.Time
	)
	err := tx.QueryRow(ctx, s.q(`SELECT project_id, primary_hash, grouping_config, status, status_changed_at,
			first_seen, last_seen, last_event_id, times_seen, ignore_base_count
		FROM grouping.issues WHERE id = $1 FOR UPDATE`), id).
		Scan(&project, &primary, &config, &status, &statusAt, &firstSeen, &lastSeen, &lastID, &timesSeen, &baseCount)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNoIssue
	}
	if err != nil {
		return 0, fmt.Errorf("unmerge issue %d: %w", id, err)
	}
	rows, err := tx.Query(ctx, s.q(`SELECT hash FROM grouping.issue_hashes WHERE issue_id = $1 ORDER BY hash`), id)
	if err != nil {
		return 0, fmt.Errorf("unmerge issue %d: %w", id, err)
	}
	owned, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("unmerge issue %d: %w", id, err)
	}
	hashes = slices.Compact(slices.Sorted(slices.Values(hashes)))
	for _, h := range hashes {
		if !slices.Contains(owned, h) {
			return 0, refuse("unmerge: hash %s is not one of the issue's", clip(h, 64))
		}
	}
	if len(hashes) == len(owned) {
		return 0, refuse("unmerge: the issue must keep at least one of its hashes")
	}

	moved, err := s.storedEvents(ctx, tx, project, id, hashes, false)
	if err != nil {
		return 0, fmt.Errorf("unmerge issue %d: %w", id, err)
	}
	if len(moved) == 0 {
		return 0, refuse("unmerge: no stored event of the issue has these hashes as its primary hash")
	}
	agg := &issueAgg{projectID: project, config: config}
	for _, p := range moved {
		agg.add(p)
	}
	agg.primaryHash = agg.last.hashes[0]
	users := agg.users
	if users == nil {
		users = newHLL()
	}
	envs := agg.envs
	slices.Sort(envs)
	if envs == nil {
		envs = []string{}
	}
	l, f := agg.last, agg.first
	var newID int64
	if err := tx.QueryRow(ctx, s.q(`INSERT INTO grouping.issues (project_id, primary_hash, grouping_config, type, title, culprit,
			level, platform, first_seen, last_seen, last_event_id, times_seen, users_hll, users_seen, first_release,
			last_release, environments, status, substatus, status_changed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 'unresolved', 'new', $18)
		RETURNING id`),
		project, agg.primaryHash, config, l.typ, l.title, l.culprit, l.level, l.platform, f.ts, l.ts, l.eventID,
		agg.count, []byte(users), users.estimate(), f.release, l.release, envs, d.at).Scan(&newID); err != nil {
		return 0, fmt.Errorf("unmerge issue %d: create the new issue: %w", id, err)
	}
	agg.id = newID

	var movedBeforeIgnore int64
	var firstMoved, lastMoved bool
	for _, p := range moved {
		if !p.received.After(statusAt) {
			movedBeforeIgnore++
		}
		firstMoved = firstMoved || !p.ts.After(firstSeen)
		lastMoved = lastMoved || p.eventID == lastID
	}
	stmts := []struct {
		what string
		sql  string
		args []any
	}{
		{"move hashes", `UPDATE grouping.issue_hashes SET issue_id = $1 WHERE project_id = $2 AND issue_id = $3 AND hash = ANY($4)`,
			[]any{newID, project, id, hashes}},
		{"move events", `UPDATE grouping.events SET issue_id = $1 WHERE project_id = $2 AND issue_id = $3 AND hashes[1] = ANY($4)`,
			[]any{newID, project, id, hashes}},
		{"count", `UPDATE grouping.issues SET times_seen = greatest(times_seen - $2, 0),
				ignore_base_count = greatest(ignore_base_count - $3, 0), updated_at = now() WHERE id = $1`,
			[]any{id, agg.count, movedBeforeIgnore}},
		// Records of past merges no longer hold hashes split off since.
		{"forget merged hashes", `UPDATE grouping.merges SET hashes = array(SELECT unnest(hashes) EXCEPT SELECT unnest($2::text[]) ORDER BY 1)
				WHERE project_id = $1 AND hashes && $2`, []any{project, hashes}},
	}
	for _, st := range stmts {
		if _, err := tx.Exec(ctx, s.q(st.sql), st.args...); err != nil {
			return 0, fmt.Errorf("unmerge issue %d: %s: %w", id, st.what, err)
		}
	}
	if err := s.moveTags(ctx, tx, id, agg); err != nil {
		return 0, fmt.Errorf("unmerge issue %d: %w", id, err)
	}
	if err := s.recountKept(ctx, tx, id, project, slices.Contains(hashes, primary), firstMoved, lastMoved); err != nil {
		return 0, fmt.Errorf("unmerge issue %d: %w", id, err)
	}
	if s.schema != "grouping" {
		return newID, nil
	}
	m := streams.IssueMessage{IssueID: id, ProjectID: project, Change: streams.ChangeUnmerged, Children: []int64{newID},
		Decision: d.id, Actor: d.actor, At: d.at}
	if err := tx.QueryRow(ctx, `SELECT status, title, culprit, level FROM grouping.issues WHERE id = $1`, id).
		Scan(&m.Status, &m.Title, &m.Culprit, &m.Level); err != nil {
		return 0, fmt.Errorf("unmerge: announce: %w", err)
	}
	msgID := streams.ChangeUnmerged + "-" + strconv.FormatInt(id, 10) + "-" + strconv.FormatInt(newID, 10)
	if err := announce(ctx, tx, m, msgID); err != nil {
		return 0, fmt.Errorf("unmerge: announce: %w", err)
	}
	return newID, nil
}

// storedEvents reads issue id's stored events whose primary hash is one of
// hashes (nil: every event) back into what grouping prepared of them, tags
// included, and with their stored JSON when keepData is set.
func (s *Service) storedEvents(ctx context.Context, tx pgx.Tx, project, id int64, hashes []string, keepData bool) ([]*prepared, error) {
	rows, err := tx.Query(ctx, s.q(`SELECT event_id, received, ts, type, level, title, release, environment, user_key,
			trace_id, hashes, data
		FROM grouping.events WHERE project_id = $1 AND issue_id = $2 AND ($3::text[] IS NULL OR hashes[1] = ANY($3))`),
		project, id, hashes)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	var out []*prepared
	for rows.Next() {
		p := &prepared{projectID: project}
		if err := rows.Scan(&p.eventID, &p.received, &p.ts, &p.typ, &p.level, &p.title, &p.release, &p.environment,
			&p.userKey, &p.traceID, &p.hashes, &p.data); err != nil {
			return nil, fmt.Errorf("read events: %w", err)
		}
		e, err := s.decodeStored(p.data)
		if err != nil {
			return nil, fmt.Errorf("event %x: %w", p.eventID, err)
		}
		p.culprit, p.platform = clip(e.Culprit(), 512), clip(e.Platform, 64)
		p.tags = eventTags(e, p)
		if !keepData {
			p.data = nil
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// moveTags moves the moved events' tag counts from issue id to agg's issue.
func (s *Service) moveTags(ctx context.Context, tx pgx.Tx, id int64, agg *issueAgg) error {
	if err := s.countTags(ctx, tx, []*issueAgg{agg}); err != nil {
		return err
	}
	return s.subtractTags(ctx, tx, id, agg.events)
}

// subtractTags takes events' tag counts off issue id.
func (s *Service) subtractTags(ctx context.Context, tx pgx.Tx, id int64, events []*prepared) error {
	type kv struct{ k, v string }
	counts := map[kv]int64{}
	for _, p := range events {
		for _, t := range p.tags {
			counts[kv{t[0], t[1]}]++
		}
	}
	keys := make([]kv, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].k != keys[j].k {
			return keys[i].k < keys[j].k
		}
		return keys[i].v < keys[j].v
	})
	ks, vs, ns := make([]string, len(keys)), make([]string, len(keys)), make([]int64, len(keys))
	for i, k := range keys {
		ks[i], vs[i], ns[i] = k.k, k.v, counts[k]
	}
	if _, err := tx.Exec(ctx, s.q(`UPDATE grouping.issue_tags t SET times_seen = t.times_seen - u.n
		FROM unnest($2::text[], $3::text[], $4::bigint[]) AS u(k, v, n)
		WHERE t.issue_id = $1 AND t.key = u.k AND t.value = u.v`), id, ks, vs, ns); err != nil {
		return fmt.Errorf("move tags: %w", err)
	}
	if _, err := tx.Exec(ctx, s.q(`DELETE FROM grouping.issue_tags WHERE issue_id = $1 AND times_seen <= 0`), id); err != nil {
		return fmt.Errorf("move tags: %w", err)
	}
	return nil
}

// recountKept counts again, from the events issue id keeps, what the moved
// events may have carried away: its users and environments always; its
// primary hash, first and latest event (with the title, culprit and level
// the latest one gives) when they moved.
func (s *Service) recountKept(ctx context.Context, tx pgx.Tx, id, project int64, primaryMoved, firstMoved, lastMoved bool) error {
	rows, err := tx.Query(ctx, s.q(`SELECT DISTINCT user_key FROM grouping.events
		WHERE project_id = $1 AND issue_id = $2 AND user_key <> ''`), project, id)
	if err != nil {
		return fmt.Errorf("recount users: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("recount users: %w", err)
	}
	users := newHLL()
	for _, k := range keys {
		users.add(k)
	}
	if _, err := tx.Exec(ctx, s.q(`UPDATE grouping.issues SET users_hll = $2, users_seen = $3,
			ignore_base_users = least(ignore_base_users, $3),
			environments = coalesce((SELECT array_agg(DISTINCT environment ORDER BY environment) FROM grouping.events
				WHERE project_id = $4 AND issue_id = $1 AND environment <> ''), '{}')
		WHERE id = $1`), id, []byte(users), users.estimate(), project); err != nil {
		return fmt.Errorf("recount users: %w", err)
	}
	if primaryMoved {
		if _, err := tx.Exec(ctx, s.q(`UPDATE grouping.issues SET primary_hash = (SELECT hash FROM grouping.issue_hashes
			WHERE issue_id = $1 ORDER BY created_at, hash LIMIT 1) WHERE id = $1`), id); err != nil {
			return fmt.Errorf("new primary hash: %w", err)
		}
	}
	if firstMoved {
		if _, err := tx.Exec(ctx, s.q(`UPDATE grouping.issues i SET first_seen = e.ts, first_release = e.release
			FROM (SELECT ts, release FROM grouping.events WHERE project_id = $2 AND issue_id = $1
				ORDER BY ts, event_id LIMIT 1) e WHERE i.id = $1`), id, project); err != nil {
			return fmt.Errorf("recount first event: %w", err)
		}
	}
	if !lastMoved {
		return nil
	}
	var (
		eventID [16]byte
		ts      time.Time
		release string
		hashes  []string
		data    []byte
	)
	err = tx.QueryRow(ctx, s.q(`SELECT event_id, ts, release, hashes, data FROM grouping.events
		WHERE project_id = $2 AND issue_id = $1 ORDER BY ts DESC, event_id DESC LIMIT 1`), id, project).
		Scan(&eventID, &ts, &release, &hashes, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // the kept events were all dropped by retention: the issue keeps what it said
	}
	if err != nil {
		return fmt.Errorf("recount latest event: %w", err)
	}
	e, err := s.decodeStored(data)
	if err != nil {
		return fmt.Errorf("recount latest event: %w", err)
	}
	if _, err := tx.Exec(ctx, s.q(`UPDATE grouping.issues SET last_seen = $2, last_event_id = $3, last_release = $4,
			type = $5, title = $6, culprit = $7, level = $8, platform = $9 WHERE id = $1`),
		id, ts, eventID, release, orDefault(e.Type, "default"), clip(orDefault(e.Title(), "<untitled>"), 1024),
		clip(e.Culprit(), 512), orDefault(e.Level, "error"), clip(e.Platform, 64)); err != nil {
		return fmt.Errorf("recount latest event: %w", err)
	}
	return nil
}

// decodeStored reads a stored event's JSON back.
func (s *Service) decodeStored(data []byte) (*event.Event, error) {
	js, err := s.zdec.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	return event.Normalize(js, event.Meta{})
}
