package grouping

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/streams"
)

// Reprocessing an issue: a user's decision (Sentry's "reprocess", POST
// /api/0/issues/{id}/reprocessing/) for JavaScript events that arrived
// before their source maps. Each stored event is read back as it was sent
// (its frames as sent, which symbolication keeps as raw_stacktrace),
// symbolicated with the maps there are now, and grouped again under the
// rules of its time. An event that no map changes stays as it is. One whose
// hashes did not change stays too, its stored JSON replaced by the
// symbolicated one. The others leave the issue and go where a batch would
// have put them had the maps been there: to the issue that owns one of their
// hashes, or to a new issue.
//
// Counts stay exact: everything happens in the decision's transaction,
// under the project's issue-changes lock, so each event is in one issue
// before and in one after. The issue loses the events that left (its
// users, environments, first and latest event are counted again from those
// it keeps, as an unmerge does); the issues they went to count them as a
// batch would. An issue left without events is removed, without a
// tombstone: its events live on in other issues. It keeps its hashes,
// status and assignee otherwise.
//
// A replay symbolicates with the maps there are when it runs, so it groups
// the events where the reprocessing put them; the decision, applied again
// in order, finds its issue only by hashes that events still carry.

// reprocessResult is what a reprocessing did, as grouping.reprocessings
// records it.
type reprocessResult struct {
	events, moved, updated int64
	issues                 []int64 // that the moved events went to
	removed                bool
}

// reprocessed is a stored event and what reading it again made of it.
type reprocessed struct {
	old, now *prepared
}

// reprocessIssue reprocesses issue id (its latest maxEvents events, or all
// when 0) in tx, which holds the project's issue-changes lock.
func (s *Service) reprocessIssue(ctx context.Context, tx pgx.Tx, id int64, maxEvents int, d decision) (reprocessResult, error) {
	var (
		res                 reprocessResult
		project             int64
		statusAt, firstSeen time.Time
		lastID              [16]byte
	)
	err := tx.QueryRow(ctx, s.q(`SELECT project_id, status_changed_at, first_seen, last_event_id
		FROM grouping.issues WHERE id = $1 FOR UPDATE`), id).Scan(&project, &statusAt, &firstSeen, &lastID)
	if errors.Is(err, pgx.ErrNoRows) {
		return res, ErrNoIssue
	}
	if err != nil {
		return res, fmt.Errorf("reprocess issue %d: %w", id, err)
	}
	stored, err := s.storedEvents(ctx, tx, project, id, nil, true)
	if err != nil {
		return res, fmt.Errorf("reprocess issue %d: %w", id, err)
	}
	if maxEvents > 0 && len(stored) > maxEvents {
		slices.SortFunc(stored, func(a, b *prepared) int { // latest first
			switch {
			case earlier(b, a):
				return -1
			case earlier(a, b):
				return 1
			}
			return 0
		})
		stored = stored[:maxEvents]
	}
	if err := s.rules.load(ctx); err != nil {
		return res, fmt.Errorf("reprocess issue %d: load grouping rules: %w", id, err)
	}
	// The maps were uploaded after these events: what the index remembers
	// of where they are, or that there were none, no longer holds.
	s.maps.Forget(project)
	var stay, leave []reprocessed
	for _, o := range stored {
		res.events++
		p, err := s.reprepare(ctx, o)
		if err != nil {
			s.log.Warn("reprocess: an event cannot be read again; it stays as it is", slog.Int64("issue_id", id),
				slog.String("event_id", fmt.Sprintf("%x", o.eventID)), slog.Any("error", err))
			continue
		}
		switch {
		case p == nil: // no map changes it
		case slices.Equal(p.hashes, o.hashes):
			stay = append(stay, reprocessed{o, p})
		default:
			leave = append(leave, reprocessed{o, p})
		}
	}

	// The leaving events find their issues as a batch's would.
	var aggs []*issueAgg
	if len(leave) > 0 {
		now := make([]*prepared, len(leave))
		for i, r := range leave {
			now[i] = r.now
		}
		if aggs, err = s.assign(ctx, tx, now); err != nil {
			return res, fmt.Errorf("reprocess issue %d: %w", id, err)
		}
	}
	// One of an event's new hashes may be the issue's own: it stays.
	var back *issueAgg
	var others []*issueAgg
	for _, a := range aggs {
		if a.id == id {
			back = a
			continue
		}
		others = append(others, a)
	}
	var moved []reprocessed
	for _, r := range leave {
		if r.now.issueID == id {
			stay = append(stay, r)
		} else {
			moved = append(moved, r)
		}
	}
	res.moved, res.updated = int64(len(moved)), int64(len(stay))
	if len(moved) == 0 && len(stay) == 0 {
		return res, s.recordReprocessing(ctx, tx, d, project, id, res)
	}

	var pubs []publication
	created, err := s.createIssues(ctx, tx, others)
	if err != nil {
		return res, fmt.Errorf("reprocess issue %d: %w", id, err)
	}
	for _, a := range created {
		pubs = append(pubs, issuePublication(a, streams.ChangeCreated, a.first, streams.StatusUnresolved))
	}
	changes, err := s.updateIssues(ctx, tx, others)
	if err != nil {
		return res, fmt.Errorf("reprocess issue %d: %w", id, err)
	}
	pubs = append(pubs, changes...)
	register := others
	if back != nil {
		register = append(slices.Clone(others), back)
	}
	if err := s.registerHashes(ctx, tx, register); err != nil {
		return res, fmt.Errorf("reprocess issue %d: %w", id, err)
	}
	for _, a := range others {
		res.issues = append(res.issues, a.id)
	}
	slices.Sort(res.issues)

	// The issue's tag counts lose what the events carried and gain what
	// those staying carry now.
	var olds []*prepared
	var stays []*prepared
	var firstMoved, lastMoved bool
	var movedBeforeStatus int64
	for _, r := range moved {
		olds = append(olds, r.old)
		firstMoved = firstMoved || !r.old.ts.After(firstSeen)
		lastMoved = lastMoved || r.old.eventID == lastID
		if !r.old.received.After(statusAt) {
			movedBeforeStatus++
		}
	}
	for _, r := range stay {
		olds = append(olds, r.old)
		r.now.issueID = id
		stays = append(stays, r.now)
	}
	if err := s.subtractTags(ctx, tx, id, olds); err != nil {
		return res, fmt.Errorf("reprocess issue %d: %w", id, err)
	}
	counted := others
	if len(stays) > 0 {
		counted = append(slices.Clone(others), &issueAgg{id: id, projectID: project, events: stays})
	}
	if err := s.countTags(ctx, tx, counted); err != nil {
		return res, fmt.Errorf("reprocess issue %d: %w", id, err)
	}
	all := make([]*prepared, 0, len(moved)+len(stay))
	for _, r := range moved {
		all = append(all, r.now)
	}
	all = append(all, stays...)
	if err := s.rewriteEvents(ctx, tx, project, all); err != nil {
		return res, fmt.Errorf("reprocess issue %d: %w", id, err)
	}
	if err := s.uncount(ctx, tx, id, res.moved, movedBeforeStatus); err != nil {
		return res, fmt.Errorf("reprocess issue %d: %w", id, err)
	}
	// The latest event gives the issue its title and culprit: counted
	// again when it moved or any event was symbolicated anew.
	if err := s.recountKept(ctx, tx, id, project, false, firstMoved, lastMoved || len(stay) > 0); err != nil {
		return res, fmt.Errorf("reprocess issue %d: %w", id, err)
	}
	if res.removed, err = s.removeIfEmpty(ctx, tx, id, project); err != nil {
		return res, fmt.Errorf("reprocess issue %d: %w", id, err)
	}
	if err := s.recordReprocessing(ctx, tx, d, project, id, res); err != nil {
		return res, err
	}
	if s.schema != "grouping" || s.opt.Quiet {
		return res, nil
	}
	if res.removed {
		m := streams.IssueMessage{IssueID: id, ProjectID: project, Change: streams.ChangeDeleted, Children: res.issues,
			Decision: d.id, Actor: d.actor, At: d.at}
		if err := announce(ctx, tx, m, streams.ChangeDeleted+"-"+strconv.FormatInt(id, 10)); err != nil {
			return res, fmt.Errorf("reprocess issue %d: announce: %w", id, err)
		}
	}
	// The events as they are now, for analytics: their rows there carry
	// their issue and what their JSON gives.
	for _, p := range all {
		pubs = append(pubs, regroupedPublication(p, d))
	}
	if len(pubs) > 0 {
		if _, err := s.writeOutbox(ctx, tx, pubs); err != nil {
			return res, fmt.Errorf("reprocess issue %d: %w", id, err)
		}
	}
	return res, nil
}

// regroupedPublication is p's events.<project>.regrouped message, by
// decision d: an event moved or rewritten, as it is stored now.
func regroupedPublication(p *prepared, d decision) publication {
	id := hex.EncodeToString(p.eventID[:])
	by := d.id
	if by == "" {
		by = strconv.FormatInt(d.at.UnixMicro(), 36)
	}
	return publication{
		project: p.projectID,
		subject: streams.RegroupedSubject(p.projectID),
		msgID:   "regrouped-" + strconv.FormatInt(p.projectID, 10) + "-" + id + "-" + by,
		data: streams.EncodeRegrouped(streams.RegroupedMessage{ProjectID: p.projectID, EventID: id, IssueID: p.issueID,
			Hashes: p.hashes, Received: p.received, Decision: d.id, Event: p.data}),
	}
}

// reprepare reads a stored event again as it was sent, symbolicates it with
// the maps there are now and groups it under the rules of its time. It
// returns nil when no map changes any of its frames.
func (s *Service) reprepare(ctx context.Context, o *prepared) (*prepared, error) {
	js, err := s.zdec.DecodeAll(o.data, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	meta := event.Meta{ProjectID: o.projectID, Received: o.received}
	sent, err := asSent(js, meta)
	if err != nil {
		return nil, err
	}
	e, err := event.Normalize(sent, meta)
	if err != nil {
		return nil, err
	}
	n, err := s.maps.Symbolicate(ctx, e)
	if err != nil {
		return nil, fmt.Errorf("symbolicate: %w", err) // stays as it is, rather than half mapped
	}
	if n == 0 {
		return nil, nil
	}
	p, err := s.group(e, s.rules.get(o.projectID, o.received), o.projectID, o.received, e.EventID, 0)
	if err != nil {
		return nil, err
	}
	p.eventID = o.eventID
	return p, nil
}

// asSent rewrites a stored event's JSON back to what its SDK sent, as far
// as grouping changed it: each exception's frames as sent (kept as
// raw_stacktrace when they were symbolicated), and no culprit when the one
// stored was derived from the frames it had then (one the SDK sent stays).
func asSent(js []byte, meta event.Meta) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(js, &m); err != nil {
		return nil, fmt.Errorf("stored event: %w", err)
	}
	if c, ok := m["culprit"]; ok {
		delete(m, "culprit")
		without, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		var culprit string
		json.Unmarshal(c, &culprit)
		if e, err := event.Normalize(without, meta); err != nil || e.Culprit() != culprit {
			m["culprit"] = c
		}
	}
	if exc, ok := m["exception"]; ok {
		var ex struct {
			Values []map[string]json.RawMessage `json:"values"`
		}
		if err := json.Unmarshal(exc, &ex); err != nil {
			return nil, fmt.Errorf("stored event: exception: %w", err)
		}
		for _, v := range ex.Values {
			if raw, ok := v["raw_stacktrace"]; ok {
				v["stacktrace"] = raw
				delete(v, "raw_stacktrace")
			}
		}
		b, err := json.Marshal(ex)
		if err != nil {
			return nil, err
		}
		m["exception"] = b
	}
	return json.Marshal(m)
}

// rewriteEvents stores events again: their issue, hashes and JSON, and
// what the JSON gives the columns.
func (s *Service) rewriteEvents(ctx context.Context, tx pgx.Tx, project int64, events []*prepared) error {
	n := len(events)
	issues, ids, received := make([]int64, n), make([][16]byte, n), make([]time.Time, n)
	hashes, titles, types, levels := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	data := make([][]byte, n)
	for i, p := range events {
		issues[i], ids[i], received[i] = p.issueID, p.eventID, p.received
		hashes[i], titles[i], types[i], levels[i], data[i] = pgTextArray(p.hashes), p.title, p.typ, p.level, p.data
	}
	_, err := tx.Exec(ctx, s.q(`UPDATE grouping.events e SET issue_id = u.i, hashes = u.h::text[], title = u.ti,
			type = u.ty, level = u.lv, data = u.d
		FROM unnest($2::bigint[], $3::uuid[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bytea[])
			AS u (i, id, r, h, ti, ty, lv, d)
		WHERE e.project_id = $1 AND e.event_id = u.id AND e.received = u.r`),
		project, issues, ids, received, hashes, titles, types, levels, data)
	if err != nil {
		return fmt.Errorf("rewrite events: %w", err)
	}
	return nil
}

// uncount takes n events off issue id's count, beforeStatus of them
// received before its status last changed (an ignore counts from there).
func (s *Service) uncount(ctx context.Context, tx pgx.Tx, id, n, beforeStatus int64) error {
	if _, err := tx.Exec(ctx, s.q(`UPDATE grouping.issues SET times_seen = greatest(times_seen - $2, 0),
			ignore_base_count = greatest(ignore_base_count - $3, 0), updated_at = now() WHERE id = $1`),
		id, n, beforeStatus); err != nil {
		return fmt.Errorf("count: %w", err)
	}
	return nil
}

// removeIfEmpty removes issue id, with its hashes and tag counts, when it
// counts no event and stores none.
func (s *Service) removeIfEmpty(ctx context.Context, tx pgx.Tx, id, project int64) (bool, error) {
	tag, err := tx.Exec(ctx, s.q(`DELETE FROM grouping.issues i WHERE i.id = $1 AND i.times_seen = 0
		AND NOT EXISTS (SELECT 1 FROM grouping.events e WHERE e.project_id = $2 AND e.issue_id = $1)`), id, project)
	if err != nil {
		return false, fmt.Errorf("remove the empty issue: %w", err)
	}
	return tag.RowsAffected() > 0, nil
}

// recordReprocessing records what a reprocessing did.
func (s *Service) recordReprocessing(ctx context.Context, tx pgx.Tx, d decision, project, id int64, res reprocessResult) error {
	issues := res.issues
	if issues == nil {
		issues = []int64{}
	}
	if _, err := tx.Exec(ctx, s.q(`INSERT INTO grouping.reprocessings (decision_id, project_id, issue_id, events, moved,
			updated, issues, removed, decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (decision_id) DO NOTHING`),
		d.id, project, id, res.events, res.moved, res.updated, issues, res.removed, d.at); err != nil {
		return fmt.Errorf("record the reprocessing of issue %d: %w", id, err)
	}
	return nil
}
