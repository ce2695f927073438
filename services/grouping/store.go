package grouping

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/faultline/faultline/streams"
)

// publication is one message for the EVENTS stream.
type publication struct {
	subject string
	msgID   string
	project int64
	data    []byte
	event   *prepared // for events.<p>.grouped: the outbox keeps a reference, not the body
}

// issueAgg is what one batch does to one issue: aggregates that merge
// without regard to order.
type issueAgg struct {
	id          int64 // 0 until the issue exists
	projectID   int64
	primaryHash string
	config      string
	hashes      []string // every hash of its events, to register
	count       int64
	first       *prepared // earliest by (ts, event id)
	last        *prepared // latest by (ts, event id)
	envs        []string
	users       hll
	events      []*prepared
}

func (a *issueAgg) add(p *prepared) {
	a.count++
	a.events = append(a.events, p)
	if a.first == nil || earlier(p, a.first) {
		a.first = p
	}
	if a.last == nil || earlier(a.last, p) {
		a.last = p
	}
	if p.environment != "" && !slices.Contains(a.envs, p.environment) {
		a.envs = append(a.envs, p.environment)
	}
	if p.userKey != "" {
		if a.users == nil {
			a.users = newHLL()
		}
		a.users.add(p.userKey)
	}
	for _, h := range p.hashes {
		if !slices.Contains(a.hashes, h) {
			a.hashes = append(a.hashes, h)
		}
	}
}

func earlier(a, b *prepared) bool {
	if !a.ts.Equal(b.ts) {
		return a.ts.Before(b.ts)
	}
	return bytes.Compare(a.eventID[:], b.eventID[:]) < 0
}

type hashKey struct {
	project int64
	hash    string
}

// store writes a batch's events in one transaction: it drops events already
// stored, assigns each to an issue (creating issues under a per-project
// advisory lock so replicas never create two for one hash), updates issues
// with one aggregated statement, counts tags, copies the events, records
// rejected messages and the publications to make. It returns the
// publications.
func (s *Service) store(ctx context.Context, msgs []*message, published []int64) ([]publication, int64, int, error) {
	var stored int
	pubs, outboxID, err := s.storeTx(ctx, msgs, published, &stored)
	return pubs, outboxID, stored, err
}

func (s *Service) storeTx(ctx context.Context, msgs []*message, published []int64, stored *int) ([]publication, int64, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	if len(published) > 0 {
		if _, err := tx.Exec(ctx, s.q(`DELETE FROM grouping.outbox WHERE id = ANY($1)`), published); err != nil {
			return nil, 0, fmt.Errorf("clear outbox: %w", err)
		}
	}
	if err := s.recordRejected(ctx, tx, msgs); err != nil {
		return nil, 0, err
	}
	events, err := s.fresh(ctx, tx, msgs)
	if err != nil {
		return nil, 0, err
	}
	events = s.tombstones.drop(events)
	if len(events) == 0 {
		return nil, 0, commit(ctx, tx)
	}
	for _, p := range events { // a retried transaction decides again
		p.changes, p.told = nil, false
	}
	aggs, err := s.assign(ctx, tx, events)
	if err != nil {
		return nil, 0, err
	}
	if hook := s.testHookAssigned.Load(); hook != nil {
		(*hook)()
	}
	var pubs []publication
	created, err := s.createIssues(ctx, tx, aggs)
	if err != nil {
		return nil, 0, err
	}
	for _, a := range created {
		pubs = append(pubs, issuePublication(a, streams.ChangeCreated, a.first, streams.StatusUnresolved))
	}
	assigns, err := s.autoAssignments(ctx, created)
	if err != nil {
		return nil, 0, err
	}
	pubs = append(pubs, assigns...)
	changes, err := s.updateIssues(ctx, tx, aggs)
	if err != nil {
		return nil, 0, err
	}
	pubs = append(pubs, changes...)
	if err := s.registerHashes(ctx, tx, aggs); err != nil {
		return nil, 0, err
	}
	if err := s.countTags(ctx, tx, aggs); err != nil {
		return nil, 0, err
	}
	if err := s.copyEvents(ctx, tx, events); err != nil {
		return nil, 0, err
	}
	*stored = len(events)
	if s.opt.Quiet {
		return nil, 0, commit(ctx, tx)
	}
	for _, p := range events {
		p.told = true // every issue change of the batch is decided: it named its event
		pubs = append(pubs, groupedPublication(p))
	}
	outboxID, err := s.writeOutbox(ctx, tx, pubs)
	if err != nil {
		return nil, 0, err
	}
	return pubs, outboxID, commit(ctx, tx)
}

func commit(ctx context.Context, tx pgx.Tx) error {
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (s *Service) recordRejected(ctx context.Context, tx pgx.Tx, msgs []*message) error {
	var seqs []int64
	var subjects, reasons, ids []string
	var projects []int64
	for _, m := range msgs {
		if m.reject == "" {
			continue
		}
		seqs = append(seqs, int64(m.seq))
		subjects = append(subjects, m.subject)
		projects = append(projects, m.project)
		ids = append(ids, m.msg.Headers().Get("Faultline-Event-Id"))
		reasons = append(reasons, clip(m.reject, 2000))
	}
	if len(seqs) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, s.q(`INSERT INTO grouping.rejected (stream_seq, subject, project_id, event_id, reason)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[])
		ON CONFLICT (stream_seq) DO NOTHING`), seqs, subjects, projects, ids, reasons)
	if err != nil {
		return fmt.Errorf("record rejected messages: %w", err)
	}
	return nil
}

// fresh claims the batch's event ids and returns the events not stored
// before. A concurrent replica holding the same event makes this wait for
// its transaction, then skip the event.
func (s *Service) fresh(ctx context.Context, tx pgx.Tx, msgs []*message) ([]*prepared, error) {
	type key struct {
		project  int64
		id       [16]byte
		received int64
	}
	byKey := map[key]*prepared{}
	var projects []int64
	var ids [][16]byte
	var received []time.Time
	for _, m := range msgs {
		for _, p := range m.events {
			k := key{p.projectID, p.eventID, p.received.UnixMicro()}
			if byKey[k] != nil {
				continue
			}
			byKey[k] = p
			projects = append(projects, p.projectID)
			ids = append(ids, p.eventID)
			received = append(received, p.received)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if err := s.ensurePartitions(ctx, slices.Collect(func(yield func(*prepared) bool) {
		for _, p := range byKey {
			if !yield(p) {
				return
			}
		}
	})); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, s.q(`INSERT INTO grouping.event_ids (project_id, event_id, received)
		SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[])
		ON CONFLICT DO NOTHING RETURNING project_id, event_id, received`), projects, ids, received)
	if err != nil {
		return nil, fmt.Errorf("claim event ids: %w", err)
	}
	claimed := map[*prepared]bool{}
	for rows.Next() {
		var k key
		var t time.Time
		if err := rows.Scan(&k.project, &k.id, &t); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim event ids: %w", err)
		}
		k.received = t.UnixMicro()
		if p := byKey[k]; p != nil {
			claimed[p] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim event ids: %w", err)
	}
	// Keep the batch's order, the stream's.
	var out []*prepared
	for _, m := range msgs {
		for _, p := range m.events {
			if claimed[p] {
				out = append(out, p)
				delete(claimed, p)
			}
		}
	}
	return out, nil
}

// lookupHashes returns the issues that own the given hashes.
func (s *Service) lookupHashes(ctx context.Context, tx pgx.Tx, keys []hashKey) (map[hashKey]int64, error) {
	out := make(map[hashKey]int64, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	projects := make([]int64, len(keys))
	hashes := make([]string, len(keys))
	for i, k := range keys {
		projects[i], hashes[i] = k.project, k.hash
	}
	rows, err := tx.Query(ctx, s.q(`SELECT h.project_id, h.hash, h.issue_id FROM grouping.issue_hashes h
		JOIN unnest($1::bigint[], $2::text[]) AS q (project_id, hash) ON h.project_id = q.project_id AND h.hash = q.hash`),
		projects, hashes)
	if err != nil {
		return nil, fmt.Errorf("look up hashes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k hashKey
		var id int64
		if err := rows.Scan(&k.project, &k.hash, &id); err != nil {
			return nil, fmt.Errorf("look up hashes: %w", err)
		}
		out[k] = id
	}
	return out, rows.Err()
}

// assign gives each event its issue: the issue of its first known hash, or,
// for events none of whose hashes is known, a new issue shared by the
// events of the batch that have a hash in common.
func (s *Service) assign(ctx context.Context, tx pgx.Tx, events []*prepared) ([]*issueAgg, error) {
	var keys []hashKey
	seen := map[hashKey]bool{}
	for _, p := range events {
		for _, h := range p.hashes {
			k := hashKey{p.projectID, h}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	// A merge or a delete of one of these projects' issues waits for this
	// transaction, and this one for it: the issues the hashes name stay
	// until the batch commits.
	if err := s.lockIssueChanges(ctx, tx, events); err != nil {
		return nil, err
	}
	known, err := s.lookupHashes(ctx, tx, keys)
	if err != nil {
		return nil, err
	}
	unassigned := assignKnown(events, known)
	if len(unassigned) > 0 {
		// Issue creation is serialized per project; under the lock, look
		// again: another replica may just have created the issue.
		var projects []int64
		var again []hashKey
		for _, p := range unassigned {
			if !slices.Contains(projects, p.projectID) {
				projects = append(projects, p.projectID)
			}
			for _, h := range p.hashes {
				again = append(again, hashKey{p.projectID, h})
			}
		}
		slices.Sort(projects)
		for _, pr := range projects {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, s.lockKey, int32(pr)); err != nil {
				return nil, fmt.Errorf("lock issue creation for project %d: %w", pr, err)
			}
		}
		known2, err := s.lookupHashes(ctx, tx, again)
		if err != nil {
			return nil, err
		}
		unassigned = assignKnown(unassigned, known2)
	}

	byIssue := map[int64]*issueAgg{}
	var aggs []*issueAgg
	for _, p := range events {
		if p.issueID == 0 {
			continue
		}
		a := byIssue[p.issueID]
		if a == nil {
			a = &issueAgg{id: p.issueID, projectID: p.projectID}
			byIssue[p.issueID] = a
			aggs = append(aggs, a)
		}
		a.add(p)
	}
	// New issues: events sharing any hash go together (union-find over
	// hashes); the group's issue is keyed by the primary hash of its
	// earliest event.
	parent := map[hashKey]hashKey{}
	var find func(hashKey) hashKey
	find = func(k hashKey) hashKey {
		for parent[k] != k {
			parent[k] = parent[parent[k]]
			k = parent[k]
		}
		return k
	}
	for _, p := range unassigned {
		first := hashKey{p.projectID, p.hashes[0]}
		if _, ok := parent[first]; !ok {
			parent[first] = first
		}
		for _, h := range p.hashes[1:] {
			k := hashKey{p.projectID, h}
			if _, ok := parent[k]; !ok {
				parent[k] = k
			}
			if r1, r2 := find(first), find(k); r1 != r2 {
				parent[r2] = r1
			}
		}
	}
	groups := map[hashKey]*issueAgg{}
	for _, p := range unassigned {
		root := find(hashKey{p.projectID, p.hashes[0]})
		a := groups[root]
		if a == nil {
			a = &issueAgg{projectID: p.projectID}
			groups[root] = a
			aggs = append(aggs, a)
		}
		a.add(p)
	}
	for _, a := range groups {
		a.primaryHash, a.config = a.first.hashes[0], a.first.config
	}
	return aggs, nil
}

func assignKnown(events []*prepared, known map[hashKey]int64) (unassigned []*prepared) {
	for _, p := range events {
		for _, h := range p.hashes {
			if id := known[hashKey{p.projectID, h}]; id != 0 {
				p.issueID = id
				break
			}
		}
		if p.issueID == 0 {
			unassigned = append(unassigned, p)
		}
	}
	return unassigned
}

const (
	lockIssueCreation = 0x67727075 // "grpu"
	// lockIssueChanges is taken shared by batches and exclusively by Merge
	// and Delete, per project (the second key): a batch that looked an
	// issue up writes to it before the issue can be merged away or deleted.
	lockIssueChanges = 0x67726d64 // "grmd"
)

// lockIssueChanges takes the batch's shared locks against merges and
// deletes. Shared locks never wait for one another, so their order does not
// matter.
func (s *Service) lockIssueChanges(ctx context.Context, tx pgx.Tx, events []*prepared) error {
	var projects []int32
	for _, p := range events {
		if !slices.Contains(projects, int32(p.projectID)) {
			projects = append(projects, int32(p.projectID))
		}
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1, p) FROM unnest($2::int[]) AS p`,
		s.changesKey, projects); err != nil {
		return fmt.Errorf("lock issue changes: %w", err)
	}
	return nil
}

// lockProjectChanges takes the exclusive lock against batches for the
// projects of ids, in project order; it returns the projects.
func lockProjectChanges(ctx context.Context, tx pgx.Tx, ids []int64) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT DISTINCT project_id FROM grouping.issues WHERE id = ANY($1) ORDER BY 1`, ids)
	if err != nil {
		return nil, fmt.Errorf("lock issue changes: %w", err)
	}
	projects, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("lock issue changes: %w", err)
	}
	for _, p := range projects {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, int32(lockIssueChanges), int32(p)); err != nil {
			return nil, fmt.Errorf("lock issue changes of project %d: %w", p, err)
		}
	}
	return projects, nil
}

// createIssues inserts the batch's new issues and sets their ids.
func (s *Service) createIssues(ctx context.Context, tx pgx.Tx, aggs []*issueAgg) ([]*issueAgg, error) {
	var created []*issueAgg
	for _, a := range aggs {
		if a.id == 0 {
			created = append(created, a)
		}
	}
	if len(created) == 0 {
		return nil, nil
	}
	n := len(created)
	var (
		projects                                         = make([]int64, n)
		hashes, configs, types, titles, culprits, levels = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		platforms, firstRel, lastRel                     = make([]string, n), make([]string, n), make([]string, n)
		firstSeen, lastSeen                              = make([]time.Time, n), make([]time.Time, n)
		lastIDs                                          = make([][16]byte, n)
		counts, usersSeen                                = make([]int64, n), make([]int64, n)
		hlls                                             = make([][]byte, n)
		envs                                             = make([]string, n)
	)
	for i, a := range created {
		l := a.last
		projects[i], hashes[i], configs[i] = a.projectID, a.primaryHash, a.config
		types[i], titles[i], culprits[i], levels[i], platforms[i] = l.typ, l.title, l.culprit, l.level, l.platform
		firstRel[i], lastRel[i] = a.first.release, l.release
		firstSeen[i], lastSeen[i], lastIDs[i] = a.first.ts, l.ts, l.eventID
		counts[i] = a.count
		u := a.users
		if u == nil {
			u = newHLL()
		}
		hlls[i], usersSeen[i] = u, estimateIfAny(a.users)
		slices.Sort(a.envs)
		envs[i] = pgTextArray(a.envs)
	}
	rows, err := tx.Query(ctx, s.q(`INSERT INTO grouping.issues (project_id, primary_hash, grouping_config, type, title, culprit,
			level, platform, first_release, last_release, first_seen, last_seen, last_event_id, times_seen,
			users_hll, users_seen, environments, status_changed_at)
		SELECT p, h, c, ty, ti, cu, lv, pl, fr, lr, fs, ls, le, n, hl, us, e::text[], fs
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
			$9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::uuid[], $14::bigint[], $15::bytea[],
			$16::bigint[], $17::text[]) WITH ORDINALITY AS t (p, h, c, ty, ti, cu, lv, pl, fr, lr, fs, ls, le, n, hl, us, e, ord)
		ORDER BY ord
		RETURNING id, project_id, primary_hash`),
		projects, hashes, configs, types, titles, culprits, levels, platforms, firstRel, lastRel, firstSeen, lastSeen,
		lastIDs, counts, hlls, usersSeen, envs)
	if err != nil {
		return nil, fmt.Errorf("create issues: %w", err)
	}
	byHash := map[hashKey]*issueAgg{}
	for _, a := range created {
		byHash[hashKey{a.projectID, a.primaryHash}] = a
	}
	for rows.Next() {
		var id int64
		var k hashKey
		if err := rows.Scan(&id, &k.project, &k.hash); err != nil {
			rows.Close()
			return nil, fmt.Errorf("create issues: %w", err)
		}
		if a := byHash[k]; a != nil {
			a.id = id
			for _, p := range a.events {
				p.issueID = id
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("create issues: %w", err)
	}
	for _, a := range created {
		if a.id == 0 {
			return nil, fmt.Errorf("create issues: no id returned for hash %s", a.primaryHash)
		}
	}
	return created, nil
}

func estimateIfAny(h hll) int64 {
	if h == nil {
		return 0
	}
	return h.estimate()
}

// pgTimeArray formats ts as a Postgres timestamptz array literal, nil for
// none (NULL).
func pgTimeArray(ts []time.Time) *string {
	if len(ts) == 0 {
		return nil
	}
	ss := make([]string, len(ts))
	for i, t := range ts {
		ss[i] = t.UTC().Format(time.RFC3339Nano)
	}
	a := pgTextArray(ss)
	return &a
}

// pgTextArray formats ss as a Postgres array literal; an array of arrays
// cannot be a parameter of unnest, text can.
func pgTextArray(ss []string) string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, r := range []byte(s) {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// updateIssues locks the batch's existing issues in id order, merges the
// batch into each, applies the lifecycle, and writes them back with one
// statement. It returns the status changes to publish.
func (s *Service) updateIssues(ctx context.Context, tx pgx.Tx, aggs []*issueAgg) ([]publication, error) {
	byID := map[int64]*issueAgg{}
	var ids []int64
	for _, a := range aggs {
		if !a.isNew() {
			byID[a.id] = a
			ids = append(ids, a.id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	slices.Sort(ids)
	rows, err := tx.Query(ctx, s.q(`SELECT id, first_seen, last_seen, last_event_id, times_seen, users_hll, first_release,
			environments, status, substatus, status_changed_at, resolved_in_release, ignore_until, ignore_until_count,
			ignore_until_users, ignore_base_count, ignore_base_users, ignore_until_window, ignore_window_seen
		FROM grouping.issues WHERE id = ANY($1) ORDER BY id FOR UPDATE`), ids)
	if err != nil {
		return nil, fmt.Errorf("lock issues: %w", err)
	}
	n := len(ids)
	var (
		uIDs                                                 = make([]int64, 0, n)
		uFirstSeen, uLastSeen, uChanged                      = make([]time.Time, 0, n), make([]time.Time, 0, n), make([]time.Time, 0, n)
		uLastID                                              = make([][16]byte, 0, n)
		uCount, uUsers                                       = make([]int64, 0, n), make([]int64, 0, n)
		uHLL                                                 = make([][]byte, 0, n)
		uFirstRel, uEnvs                                     []string
		uTitle, uCulprit, uLevel, uType, uPlatform, uLastRel []*string
		uStatus, uSubstatus, uResolvedIn                     []string
		uIgnUntil                                            []*time.Time
		uIgnCount, uIgnUsers                                 []*int64
		uIgnBaseCount, uIgnBaseUsers                         []int64
		uIgnWindow                                           []*int64
		uWindowSeen                                          []*string
		pubs                                                 []publication
	)
	for rows.Next() {
		var (
			id                  int64
			firstSeen, lastSeen time.Time
			lastID              [16]byte
			timesSeen           int64
			usersHLL            []byte
			firstRelease        string
			envs                []string
			st                  issueState
		)
		if err := rows.Scan(&id, &firstSeen, &lastSeen, &lastID, &timesSeen, &usersHLL, &firstRelease, &envs,
			&st.status, &st.substatus, &st.statusChangedAt, &st.resolvedInRelease, &st.ignoreUntil, &st.ignoreUntilCount,
			&st.ignoreUntilUsers, &st.ignoreBaseCount, &st.ignoreBaseUsers, &st.ignoreUntilWindow, &st.windowSeen); err != nil {
			rows.Close()
			return nil, fmt.Errorf("lock issues: %w", err)
		}
		a := byID[id]
		l := a.last
		users := hllFrom(usersHLL)
		if a.users != nil {
			users.merge(a.users)
		}
		timesSeen += a.count
		usersN := users.estimate()
		if a.first.ts.Before(firstSeen) {
			// A status nobody has changed dates from the issue's first
			// event, whichever batch brought it.
			if st.substatus == substatusNew && st.statusChangedAt.Equal(firstSeen) {
				st.statusChangedAt = a.first.ts
			}
			firstSeen, firstRelease = a.first.ts, a.first.release
		}
		useLast := l.ts.After(lastSeen) || l.ts.Equal(lastSeen) && bytes.Compare(l.eventID[:], lastID[:]) > 0
		for _, e := range a.envs {
			if !slices.Contains(envs, e) {
				envs = append(envs, e)
			}
		}
		slices.Sort(envs)
		change, trigger := st.transition(a.events, timesSeen, usersHLL)
		if change != "" {
			pubs = append(pubs, issuePublication(a, change, trigger, st.status))
		}
		uIDs = append(uIDs, id)
		uFirstSeen, uFirstRel = append(uFirstSeen, firstSeen), append(uFirstRel, firstRelease)
		// The sketch (1 KB) is written only when the batch's users changed
		// it: once an issue has seen its users, it mostly does not.
		if bytes.Equal(users, usersHLL) {
			users = nil // NULL keeps the stored one
		}
		uCount, uUsers, uHLL = append(uCount, timesSeen), append(uUsers, usersN), append(uHLL, users)
		uEnvs = append(uEnvs, pgTextArray(envs))
		// Fields from the latest event; NULL keeps the stored ones.
		if useLast {
			uLastSeen, uLastID = append(uLastSeen, l.ts), append(uLastID, l.eventID)
			uTitle, uCulprit, uLevel = append(uTitle, &l.title), append(uCulprit, &l.culprit), append(uLevel, &l.level)
			uType, uPlatform, uLastRel = append(uType, &l.typ), append(uPlatform, &l.platform), append(uLastRel, &l.release)
		} else {
			uLastSeen, uLastID = append(uLastSeen, lastSeen), append(uLastID, lastID)
			uTitle, uCulprit, uLevel = append(uTitle, nil), append(uCulprit, nil), append(uLevel, nil)
			uType, uPlatform, uLastRel = append(uType, nil), append(uPlatform, nil), append(uLastRel, nil)
		}
		uStatus, uSubstatus, uChanged, uResolvedIn = append(uStatus, st.status), append(uSubstatus, st.substatus),
			append(uChanged, st.statusChangedAt), append(uResolvedIn, st.resolvedInRelease)
		uIgnUntil, uIgnCount, uIgnUsers = append(uIgnUntil, st.ignoreUntil), append(uIgnCount, st.ignoreUntilCount), append(uIgnUsers, st.ignoreUntilUsers)
		uIgnBaseCount, uIgnBaseUsers = append(uIgnBaseCount, st.ignoreBaseCount), append(uIgnBaseUsers, st.ignoreBaseUsers)
		uIgnWindow, uWindowSeen = append(uIgnWindow, st.ignoreUntilWindow), append(uWindowSeen, pgTimeArray(st.windowSeen))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lock issues: %w", err)
	}
	_, err = tx.Exec(ctx, s.q(`UPDATE grouping.issues i SET
			first_seen = u.fs, first_release = u.fr, times_seen = u.n, users_seen = u.us, users_hll = coalesce(u.hl, i.users_hll),
			environments = u.e::text[], last_seen = u.ls, last_event_id = u.le,
			title = coalesce(u.ti, i.title),
			culprit = coalesce(u.cu, i.culprit),
			level = coalesce(u.lv, i.level),
			type = coalesce(u.ty, i.type),
			platform = coalesce(u.pl, i.platform),
			last_release = coalesce(u.lr, i.last_release),
			status = u.st, substatus = u.ss, status_changed_at = u.sc, resolved_in_release = u.ri,
			ignore_until = u.iu, ignore_until_count = u.ic, ignore_until_users = u.iv,
			ignore_base_count = u.ibc, ignore_base_users = u.ibu, ignore_until_window = u.iw,
			ignore_window_seen = u.ws::timestamptz[], updated_at = now()
		FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::bigint[], $5::bigint[], $6::bytea[], $7::text[],
			$8::timestamptz[], $9::uuid[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
			$16::text[], $17::text[], $18::timestamptz[], $19::text[], $20::timestamptz[], $21::bigint[], $22::bigint[],
			$23::bigint[], $24::bigint[], $25::bigint[], $26::text[])
			AS u (id, fs, fr, n, us, hl, e, ls, le, ti, cu, lv, ty, pl, lr, st, ss, sc, ri, iu, ic, iv, ibc, ibu, iw, ws)
		WHERE i.id = u.id`),
		uIDs, uFirstSeen, uFirstRel, uCount, uUsers, uHLL, uEnvs, uLastSeen, uLastID,
		uTitle, uCulprit, uLevel, uType, uPlatform, uLastRel,
		uStatus, uSubstatus, uChanged, uResolvedIn, uIgnUntil, uIgnCount, uIgnUsers, uIgnBaseCount, uIgnBaseUsers,
		uIgnWindow, uWindowSeen)
	if err != nil {
		return nil, fmt.Errorf("update issues: %w", err)
	}
	return pubs, nil
}

func (a *issueAgg) isNew() bool { return a.primaryHash != "" }

// registerHashes records every hash seen on each issue; a hash another
// issue already owns stays with it.
func (s *Service) registerHashes(ctx context.Context, tx pgx.Tx, aggs []*issueAgg) error {
	var projects, issues []int64
	var hashes, configs []string
	type row struct {
		project int64
		hash    string
		issue   int64
		config  string
	}
	var all []row
	for _, a := range aggs {
		for _, h := range a.hashes {
			all = append(all, row{a.projectID, h, a.id, a.events[0].config})
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].project != all[j].project {
			return all[i].project < all[j].project
		}
		return all[i].hash < all[j].hash
	})
	for _, r := range all {
		projects, hashes, issues, configs = append(projects, r.project), append(hashes, r.hash), append(issues, r.issue), append(configs, r.config)
	}
	_, err := tx.Exec(ctx, s.q(`INSERT INTO grouping.issue_hashes (project_id, hash, issue_id, grouping_config)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[])
		ON CONFLICT (project_id, hash) DO NOTHING`), projects, hashes, issues, configs)
	if err != nil {
		return fmt.Errorf("register hashes: %w", err)
	}
	return nil
}

// countTags adds the batch's tag values to the issues' counts, in key order
// so that concurrent replicas lock rows in the same order.
func (s *Service) countTags(ctx context.Context, tx pgx.Tx, aggs []*issueAgg) error {
	type key struct {
		issue      int64
		key, value string
	}
	type agg struct {
		n           int64
		first, last time.Time
	}
	counts := map[key]*agg{}
	for _, a := range aggs {
		for _, p := range a.events {
			for _, t := range p.tags {
				k := key{a.id, t[0], t[1]}
				c := counts[k]
				if c == nil {
					c = &agg{first: p.ts, last: p.ts}
					counts[k] = c
				}
				c.n++
				if p.ts.Before(c.first) {
					c.first = p.ts
				}
				if p.ts.After(c.last) {
					c.last = p.ts
				}
			}
		}
	}
	keys := make([]key, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.issue != b.issue {
			return a.issue < b.issue
		}
		if a.key != b.key {
			return a.key < b.key
		}
		return a.value < b.value
	})
	n := len(keys)
	issues, ks, vs, ns := make([]int64, n), make([]string, n), make([]string, n), make([]int64, n)
	firsts, lasts := make([]time.Time, n), make([]time.Time, n)
	for i, k := range keys {
		c := counts[k]
		issues[i], ks[i], vs[i], ns[i], firsts[i], lasts[i] = k.issue, k.key, k.value, c.n, c.first, c.last
	}
	_, err := tx.Exec(ctx, s.q(`INSERT INTO grouping.issue_tags AS t (issue_id, key, value, times_seen, first_seen, last_seen)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[], $6::timestamptz[])
		ON CONFLICT (issue_id, key, value) DO UPDATE SET times_seen = t.times_seen + EXCLUDED.times_seen,
			first_seen = least(t.first_seen, EXCLUDED.first_seen), last_seen = greatest(t.last_seen, EXCLUDED.last_seen)`),
		issues, ks, vs, ns, firsts, lasts)
	if err != nil {
		return fmt.Errorf("count tags: %w", err)
	}
	return nil
}

var eventColumns = []string{"project_id", "issue_id", "event_id", "received", "ts", "type", "level", "title",
	"release", "environment", "user_key", "trace_id", "hashes", "data"}

func (s *Service) copyEvents(ctx context.Context, tx pgx.Tx, events []*prepared) error {
	_, err := tx.CopyFrom(ctx, pgx.Identifier{s.schema, "events"}, eventColumns,
		pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
			p := events[i]
			return []any{p.projectID, p.issueID, p.eventID, p.received, p.ts, p.typ, p.level, p.title,
				p.release, p.environment, p.userKey, p.traceID, p.hashes, p.data}, nil
		}))
	if err != nil {
		return fmt.Errorf("copy events: %w", err)
	}
	return nil
}

// Publication payloads.

func groupedPublication(p *prepared) publication {
	id := hex.EncodeToString(p.eventID[:])
	return publication{
		project: p.projectID,
		subject: "events." + strconv.FormatInt(p.projectID, 10) + ".grouped",
		msgID:   "grouped-" + strconv.FormatInt(p.projectID, 10) + "-" + id + "-" + strconv.FormatInt(p.received.UnixMicro(), 36),
		data:    p.data,
		event:   p,
	}
}

// groupedHeader is the header of p's events.<project>.grouped message.
func groupedHeader(p *prepared, msgID string) nats.Header {
	h := streams.GroupedHeader(msgID, p.projectID, hex.EncodeToString(p.eventID[:]), p.issueID, p.hashes, p.received)
	if p.told {
		streams.SetChanges(h, p.changes)
	}
	return h
}

// issuePublication is a's issues.<project>.<change> message, caused by
// trigger, which learns that it caused it.
func issuePublication(a *issueAgg, change string, trigger *prepared, status string) publication {
	trigger.changes = append(trigger.changes, change)
	l := a.last
	b, _ := json.Marshal(streams.IssueMessage{ProjectID: a.projectID, IssueID: a.id, Change: change, Status: status,
		Title: l.title, Culprit: l.culprit, Level: l.level, EventID: hex.EncodeToString(trigger.eventID[:]), At: trigger.received})
	return publication{
		project: a.projectID,
		subject: "issues." + strconv.FormatInt(a.projectID, 10) + "." + change,
		msgID:   change + "-" + strconv.FormatInt(a.id, 10) + "-" + hex.EncodeToString(trigger.eventID[:]),
		data:    b,
	}
}
