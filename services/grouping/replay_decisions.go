package grouping

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/streams"
)

// A replay applies the DECISIONS in order with the envelopes: a decision
// made at t is applied after every envelope received before t and before
// any received after it, as it was live. Issues are found by the hashes
// the decisions name, so a merge, a resolution or an assignment lands on
// the issue the replay rebuilt.

// decisionFeed is the decisions still to apply, earliest first.
type decisionFeed struct{ ds []streams.Decision }

// dueBefore reports whether the next decision comes before envelope m.
func (f *decisionFeed) dueBefore(m jetstream.Msg) bool {
	if len(f.ds) == 0 {
		return false
	}
	received, err := time.Parse(time.RFC3339Nano, m.Headers().Get(streams.HeaderReceived))
	if err != nil {
		return false // the envelope's own handling rejects it
	}
	return !f.ds[0].At.After(received)
}

// pop takes the next decision.
func (f *decisionFeed) pop() *streams.Decision {
	d := f.ds[0]
	f.ds = f.ds[1:]
	return &d
}

// loadDecisions reads every decision on the stream (of project, or of
// every project when it is 0), earliest first.
func loadDecisions(ctx context.Context, nc *natsx.Conn, project int64, log *slog.Logger) ([]streams.Decision, error) {
	subject := "decisions.>"
	if project != 0 {
		subject = "decisions." + strconv.FormatInt(project, 10) + ".>"
	}
	cons, err := nc.JS.OrderedConsumer(ctx, streams.Decisions, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return nil, fmt.Errorf("read decisions: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read decisions: %w", err)
	}
	var ds []streams.Decision
	for left := info.NumPending; left > 0; {
		batch, err := cons.Fetch(int(min(left, 500)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("read decisions: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			d, err := streams.DecodeDecision(m.Data())
			if err != nil {
				log.Warn("replay: a decision does not decode; skipped", slog.String("subject", m.Subject()), slog.Any("error", err))
				continue
			}
			ds = append(ds, d)
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("read decisions: %w", err)
		}
		if n == 0 {
			break
		}
		left -= uint64(n)
	}
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].At.Before(ds[j].At) })
	return ds, nil
}

// applyInOrder applies a decision during a replay, retrying while Postgres
// fails; a refusal is recorded like any other.
func (s *Service) applyInOrder(ctx context.Context, d *streams.Decision) {
	for attempt := 0; ; attempt++ {
		_, err := s.applyDecision(ctx, d)
		if err == nil || ctx.Err() != nil {
			return
		}
		s.log.Warn("replay: applying a decision failed; will retry", slog.String("decision", d.ID), slog.Any("error", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(min(250*time.Millisecond<<min(attempt, 6), 10*time.Second)):
		}
	}
}
