// Package groupingrules reads a project's grouping rules from grouping's
// tables and previews what candidate rules would change, for the api and
// web roles and the CLI. It only reads: rule changes are decisions on the
// DECISIONS stream, applied by the grouping role.
package groupingrules

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/klauspost/compress/zstd"

	"github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/libs/grouping"
)

// Events already grouped stay where they are when the rules change, until a
// replay.

// ErrInvalidRules wraps the parse error of rules that are refused; its
// message names the rule set and the line.
var ErrInvalidRules = errors.New("invalid grouping rules")

// ProjectRules are a project's grouping rules in Sentry's syntax.
type ProjectRules struct {
	Stack       string    // stack-trace rules ("stack.module:foo.* -app")
	Fingerprint string    // fingerprint rules ("error.type:Timeout -> timeouts")
	UpdatedAt   time.Time // zero when the project never had rules
}

// Rules returns project's grouping rules; empty ones when it has none.
func Rules(ctx context.Context, pool *pgxpool.Pool, project int64) (ProjectRules, error) {
	var r ProjectRules
	err := pool.QueryRow(ctx, `SELECT stack_rules, fingerprint_rules, updated_at FROM grouping.project_rules WHERE project_id = $1`,
		project).Scan(&r.Stack, &r.Fingerprint, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return ProjectRules{}, nil
	}
	if err != nil {
		return r, fmt.Errorf("project %d: read grouping rules: %w", project, err)
	}
	return r, nil
}

// ValidateRules parses rules, wrapping a parse error in ErrInvalidRules.
func ValidateRules(stack, fingerprint string) (*grouping.Rules, error) {
	r, err := grouping.ParseRules(stack, fingerprint)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRules, err)
	}
	return r, nil
}

// RulesPreview is what candidate rules would change for a project's recent
// events.
type RulesPreview struct {
	Events       int             // events looked at (the most recently received)
	Moved        int             // of them, events that would be grouped with different events
	IssuesSplit  int             // issues whose events would go to more than one issue
	IssuesMerged int             // issues that would join events of another issue
	NewIssues    int             // issues the moved events would start
	Sample       []PreviewChange // some of the moved events
}

// PreviewChange is one event that would move.
type PreviewChange struct {
	EventID   string // 32 hex digits
	Title     string
	FromIssue int64
	// ToIssue is the issue it would join, 0 for a new issue.
	ToIssue int64
	Hash    string // its new primary hash
}

// previewDecoder decompresses stored events for previews.
var previewDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64<<20))

// PreviewRules regroups project's last limit events with the candidate
// rules and compares the result with the issues they are in. Events are
// regrouped among themselves: those with a hash in common share an issue,
// as they would after a replay. An event moves unless its issue and its new
// group correspond: the group holds most of the issue's sampled events and
// the issue most of the group's.
func PreviewRules(ctx context.Context, pool *pgxpool.Pool, project int64, stack, fingerprint string, limit, sample int) (RulesPreview, error) {
	var pv RulesPreview
	rules, err := ValidateRules(stack, fingerprint)
	if err != nil {
		return pv, err
	}
	rows, err := pool.Query(ctx, `SELECT event_id, issue_id, received, title, data FROM grouping.events
		WHERE project_id = $1 ORDER BY received DESC LIMIT $2`, project, limit)
	if err != nil {
		return pv, fmt.Errorf("preview: read events: %w", err)
	}
	type ev struct {
		id     [16]byte
		issue  int64
		title  string
		hashes []string
		group  int
	}
	var evs []*ev
	for rows.Next() {
		var e ev
		var received time.Time
		var data []byte
		if err := rows.Scan(&e.id, &e.issue, &received, &e.title, &data); err != nil {
			rows.Close()
			return pv, fmt.Errorf("preview: read events: %w", err)
		}
		js, err := previewDecoder.DecodeAll(data, nil)
		if err != nil {
			continue // a damaged row: not the rules' business
		}
		norm, err := event.Normalize(js, event.Meta{ProjectID: project, Received: received, EventID: hex.EncodeToString(e.id[:])})
		if err != nil {
			continue
		}
		e.hashes = grouping.Compute(norm, rules).Hashes
		if len(e.hashes) == 0 {
			continue
		}
		evs = append(evs, &e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return pv, fmt.Errorf("preview: read events: %w", err)
	}
	pv.Events = len(evs)

	// New groups: union-find over hashes, oldest event first so a group's
	// primary hash is its earliest event's, as the service does.
	slices.Reverse(evs)
	parent := map[string]string{}
	var find func(string) string
	find = func(h string) string {
		for parent[h] != h {
			parent[h] = parent[parent[h]]
			h = parent[h]
		}
		return h
	}
	for _, e := range evs {
		for _, h := range e.hashes {
			if _, ok := parent[h]; !ok {
				parent[h] = h
			}
		}
		for _, h := range e.hashes[1:] {
			if a, b := find(e.hashes[0]), find(h); a != b {
				parent[b] = a
			}
		}
	}
	groupOf := map[string]int{}
	groupHash := []string{}
	for _, e := range evs {
		root := find(e.hashes[0])
		g, ok := groupOf[root]
		if !ok {
			g = len(groupHash)
			groupOf[root] = g
			groupHash = append(groupHash, e.hashes[0])
		}
		e.group = g
	}

	// Counts per (issue, group), and each side's main counterpart.
	type pair struct {
		issue int64
		group int
	}
	counts := map[pair]int{}
	for _, e := range evs {
		counts[pair{e.issue, e.group}]++
	}
	type best struct {
		n   int
		key int64
	}
	mainGroup := map[int64]best{} // issue -> group
	mainIssue := map[int]best{}   // group -> issue
	groupsOf := map[int64]int{}
	issuesOf := map[int]int{}
	for p, n := range counts {
		groupsOf[p.issue]++
		issuesOf[p.group]++
		if b, ok := mainGroup[p.issue]; !ok || n > b.n || n == b.n && int64(p.group) < b.key {
			mainGroup[p.issue] = best{n, int64(p.group)}
		}
		if b, ok := mainIssue[p.group]; !ok || n > b.n || n == b.n && p.issue < b.key {
			mainIssue[p.group] = best{n, p.issue}
		}
	}
	for _, n := range groupsOf {
		if n > 1 {
			pv.IssuesSplit++
		}
	}
	for g, n := range issuesOf {
		if n > 1 {
			pv.IssuesMerged += n - 1
		}
		if mainGroup[mainIssue[g].key].key != int64(g) {
			pv.NewIssues++
		}
	}
	for i := len(evs) - 1; i >= 0; i-- { // newest first
		e := evs[i]
		mg, mi := mainGroup[e.issue].key, mainIssue[e.group].key
		if mg == int64(e.group) && mi == e.issue {
			continue
		}
		pv.Moved++
		if len(pv.Sample) < sample {
			to := mi
			if mainGroup[mi].key != int64(e.group) {
				to = 0 // the group is no old issue's main group: a new issue
			}
			pv.Sample = append(pv.Sample, PreviewChange{EventID: hex.EncodeToString(e.id[:]), Title: e.title,
				FromIssue: e.issue, ToIssue: to, Hash: groupHash[e.group]})
		}
	}
	return pv, nil
}
