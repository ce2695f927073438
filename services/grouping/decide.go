package grouping

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/grouping"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/streams"
)

// DecisionsConsumer is the durable consumer of DECISIONS that grouping
// replicas share.
const DecisionsConsumer = "grouping_decisions"

// rulesChangedSubject is the core NATS subject a replica announces a rule
// change on, for the others to reload their rules.
const rulesChangedSubject = "faultline.grouping.rules_changed"

// refusal is a decision that cannot be applied as it stands: recorded as
// refused and acknowledged, never retried.
type refusal struct{ reason string }

func (r *refusal) Error() string { return r.reason }

func refuse(format string, args ...any) error { return &refusal{fmt.Sprintf(format, args...)} }

// runDecisions applies DECISIONS until ctx ends, one decision at a time.
func (s *Service) runDecisions(ctx context.Context) error {
	cons, err := natsx.CreateConsumer(ctx, s.nats.JS, streams.Decisions, jetstream.ConsumerConfig{
		Durable:       DecisionsConsumer,
		Description:   "grouping: people's decisions on issues and projects",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       natsx.MaxAckWait,
		MaxDeliver:    -1,
		MaxAckPending: 64,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}, s.log)
	if err != nil {
		return err
	}
	sub, err := s.nats.NC.Subscribe(rulesChangedSubject, func(*nats.Msg) { s.rules.invalidate() })
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", rulesChangedSubject, err)
	}
	defer sub.Unsubscribe()
	// A decision (deleting a large project) may outlast the short ack wait.
	alive := natsx.NewKeepalive(natsx.MaxAckWait)
	defer alive.GiveBack() // runs last: what the stopped consumer did not settle goes back now
	go alive.Run(ctx)
	cc, err := cons.Consume(func(m jetstream.Msg) { s.handleDecision(ctx, alive.Hold(m)) },
		jetstream.PullMaxMessages(16), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			s.log.Debug("consume decisions", slog.Any("error", err))
		}))
	if err != nil {
		return fmt.Errorf("consume %q: %w", DecisionsConsumer, err)
	}
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	return nil
}

// handleDecision applies one DECISIONS message and settles it: applied or
// refused, it is acknowledged and announced to whoever waits for it; a
// transient failure naks it with a delay that grows with its deliveries.
func (s *Service) handleDecision(ctx context.Context, m jetstream.Msg) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("decision handler panicked; message terminated", slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			m.TermWithReason("panic")
		}
	}()
	d, err := streams.DecodeDecision(m.Data())
	if err != nil {
		s.log.Warn("decision rejected", slog.String("subject", m.Subject()), slog.Any("error", err))
		m.TermWithReason(clip(err.Error(), 200))
		return
	}
	reason, err := s.applyDecision(ctx, &d)
	if err != nil {
		var delivered uint64 = 1
		if md, mdErr := m.Metadata(); mdErr == nil {
			delivered = md.NumDelivered
		}
		wait := min(500*time.Millisecond<<min(delivered, 6), 30*time.Second)
		s.log.Warn("decision failed; will retry", slog.String("decision", d.ID), slog.String("kind", d.Kind), slog.Any("error", err), slog.Duration("pause", wait))
		m.NakWithDelay(wait)
		return
	}
	m.Ack()
	s.nats.NC.Publish(streams.AppliedSubject(d.ID), []byte(reason))
}

// applyDecision applies d once: it returns the refusal's reason, or "" when
// it was applied (now or before).
func (s *Service) applyDecision(ctx context.Context, d *streams.Decision) (string, error) {
	var reason string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var prior string
		err := tx.QueryRow(ctx, s.q(`SELECT refused FROM grouping.decisions WHERE id = $1`), d.ID).Scan(&prior)
		if err == nil {
			reason = prior // applied before: a redelivery
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// A savepoint, so that a refusal keeps nothing of the decision but
		// its record.
		sub, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		err = s.apply(ctx, sub, d)
		var ref *refusal
		switch {
		case errors.Is(err, ErrNoIssue):
			reason = streams.RefusedNoIssue
		case errors.As(err, &ref):
			reason = ref.reason
		case err != nil:
			return err
		}
		if reason != "" {
			if err := sub.Rollback(ctx); err != nil {
				return err
			}
		} else if err := sub.Commit(ctx); err != nil {
			return err
		}
		actor, _ := json.Marshal(d.Actor)
		_, err = tx.Exec(ctx, s.q(`INSERT INTO grouping.decisions (id, project_id, kind, actor, decided_at, refused)
			VALUES ($1, $2, $3, $4, $5, $6)`), d.ID, d.ProjectID, d.Kind, actor, d.At, reason)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("decision %s %s: %w", d.Kind, d.ID, err)
	}
	if d.Kind == streams.DecideSetRules && reason == "" {
		s.rules.invalidate()
		if s.schema == "grouping" {
			// The other replicas read the new version now, not at their next refresh.
			s.nats.NC.Publish(rulesChangedSubject, nil)
		}
	}
	return reason, nil
}

// apply carries out d in tx.
func (s *Service) apply(ctx context.Context, tx pgx.Tx, d *streams.Decision) error {
	dd := decision{id: d.ID, at: d.At, actor: &d.Actor}
	switch d.Kind {
	case streams.DecideSetRules:
		if _, err := grouping.ParseRules(d.Rules.Stacktrace, d.Rules.Fingerprinting); err != nil {
			return refuse("invalid rules: %v", err)
		}
		// The version holds from the decision's time; the current rules
		// are the latest version, whatever order decisions arrive in.
		if _, err := tx.Exec(ctx, s.q(`INSERT INTO grouping.rule_versions (project_id, valid_from, stack_rules, fingerprint_rules)
			VALUES ($1, $4, $2, $3)
			ON CONFLICT (project_id, valid_from) DO UPDATE SET stack_rules = EXCLUDED.stack_rules,
				fingerprint_rules = EXCLUDED.fingerprint_rules`),
			d.ProjectID, d.Rules.Stacktrace, d.Rules.Fingerprinting, d.At); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, s.q(`INSERT INTO grouping.project_rules AS r (project_id, stack_rules, fingerprint_rules, updated_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (project_id) DO UPDATE SET stack_rules = EXCLUDED.stack_rules,
				fingerprint_rules = EXCLUDED.fingerprint_rules, updated_at = EXCLUDED.updated_at
			WHERE r.updated_at <= EXCLUDED.updated_at`),
			d.ProjectID, d.Rules.Stacktrace, d.Rules.Fingerprinting, d.At)
		return err
	case streams.DecideUpsertMonitor, streams.DecideDeleteMonitor:
		return s.applyMonitor(ctx, tx, d)
	case streams.DecideDeleteProject:
		if err := s.lockProject(ctx, tx, d.ProjectID); err != nil {
			return err
		}
		return deleteProject(ctx, tx, s.schema, d.ProjectID)
	case streams.DecideUnmerge:
		id, err := s.lockedIssue(ctx, tx, d)
		if err != nil {
			return err
		}
		_, err = s.unmergeIssue(ctx, tx, id, d.Hashes, dd)
		return err
	case streams.DecideReprocess:
		id, err := s.lockedIssue(ctx, tx, d)
		if err != nil {
			return err
		}
		_, err = s.reprocessIssue(ctx, tx, id, d.MaxEvents, dd)
		return err
	}
	if d.Kind == streams.DecideMerge || d.Kind == streams.DecideDeleteIssue {
		if err := s.lockProject(ctx, tx, d.ProjectID); err != nil {
			return err
		}
	}
	ids, err := issueIDs(ctx, tx, s.schema, d.ProjectID, d.Issues)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return ErrNoIssue
	}
	switch d.Kind {
	case streams.DecideMerge:
		if len(ids) < 2 {
			return refuse("merge: the issues are one issue now")
		}
		res, err := mergeIssues(ctx, tx, s.schema, slices.Sorted(slices.Values(ids)), true)
		if err != nil {
			if errors.Is(err, ErrMergeProjects) {
				return refuse("%v", err)
			}
			return err
		}
		if s.schema != "grouping" {
			return nil
		}
		return announceMerge(ctx, tx, res, dd)
	case streams.DecideDeleteIssue:
		for _, id := range ids {
			if err := deleteIssue(ctx, tx, s.schema, id, dd); err != nil {
				return err
			}
		}
		return nil
	case streams.DecideAssign:
		for _, id := range ids {
			if err := assign(ctx, tx, s.schema, id, *d.Assignee, dd); err != nil {
				return err
			}
		}
		return nil
	default:
		for _, id := range ids {
			if err := setStatus(ctx, tx, s.schema, id, d.Kind, d.Release, d.Ignore, dd); err != nil {
				return err
			}
		}
		return nil
	}
}

// lockedIssue takes d's project's exclusive lock against batches and finds
// the one issue d is about.
func (s *Service) lockedIssue(ctx context.Context, tx pgx.Tx, d *streams.Decision) (int64, error) {
	if err := s.lockProject(ctx, tx, d.ProjectID); err != nil {
		return 0, err
	}
	ids, err := issueIDs(ctx, tx, s.schema, d.ProjectID, d.Issues)
	if err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, ErrNoIssue
	}
	return ids[0], nil
}

// lockProject takes a project's exclusive lock against batches.
func (s *Service) lockProject(ctx context.Context, tx pgx.Tx, project int64) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, s.changesKey, int32(project)); err != nil {
		return fmt.Errorf("lock issue changes of project %d: %w", project, err)
	}
	return nil
}
