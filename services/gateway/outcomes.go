package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/streams"
)

// What the gateway drops (filtered, rate-limited, invalid) never reaches
// INGEST; it is added up here per project, hour, category, outcome and
// reason, and published on OUTCOMES every OutcomeInterval, for the usage
// stats. A batch whose publish failed is retried with the same
// Nats-Msg-Id, so a publish whose acknowledgement was lost counts once.

type outcomeKey struct {
	project                   int64
	hour                      int64
	category, outcome, reason string
}

// outcomeCounts are the counts not yet published, bounded in keys: past
// maxOutcomeKeys new keys are not counted (their counts are lost, the
// known ones still add up).
type outcomeCounts struct {
	mu       sync.Mutex
	m        map[outcomeKey]uint64
	instance string      // names this process's batches
	seq      uint64      // batches made
	pending  []*nats.Msg // batches whose publish failed, oldest first
	lost     bool        // the key bound was hit since the last flush
}

const (
	maxOutcomeKeys    = 100_000
	maxPendingBatches = 100
)

func newOutcomeCounts() *outcomeCounts {
	b := make([]byte, 8)
	rand.Read(b)
	return &outcomeCounts{m: map[outcomeKey]uint64{}, instance: hex.EncodeToString(b)}
}

// countOutcome adds n items of category to project's outcome for reason.
func (g *Gateway) countOutcome(project int64, category, outcome, reason string, n int) {
	if n <= 0 || category == "" || project <= 0 {
		return
	}
	k := outcomeKey{project: project, hour: time.Now().Unix() / 3600 * 3600, category: category, outcome: outcome, reason: reason}
	o := g.outcomes
	o.mu.Lock()
	if _, ok := o.m[k]; ok || len(o.m) < maxOutcomeKeys {
		o.m[k] += uint64(n)
	} else {
		o.lost = true
	}
	o.mu.Unlock()
}

// countItems counts every item of env as outcome for reason.
func (g *Gateway) countItems(project int64, env *envelope.Envelope, outcome, reason string) {
	for i := range env.Items {
		if cat, n := env.Items[i].Category(); cat != "" {
			g.countOutcome(project, cat, outcome, reason, n)
		}
	}
}

// countInvalid counts a refused request of a known key as invalid: its
// items when the envelope was read, else one of the endpoint's category.
func (g *Gateway) countInvalid(req *request, err error) {
	var ee *envelope.Error
	if req.key == nil || !errors.As(err, &ee) || ee.Status >= 500 {
		return
	}
	if req.env != nil && len(req.env.Items) > 0 {
		g.countItems(req.projectID, req.env, streams.OutcomeInvalid, ee.Reason)
		return
	}
	cat := envelope.CategoryError
	if req.ep == endpointSecurity || req.ep == endpointNEL {
		cat = envelope.CategorySecurity
	}
	g.countOutcome(req.projectID, cat, streams.OutcomeInvalid, ee.Reason, 1)
}

// quotaReason is the reason a quota's denial is counted under.
func quotaReason(scopeKind string) string {
	switch scopeKind {
	case "organization":
		return "org_quota"
	case "project":
		return "project_quota"
	case "key":
		return "key_quota"
	}
	return scopeKind + "_quota"
}

// runOutcomes publishes the counts every interval until ctx ends, then
// once more.
func (g *Gateway) runOutcomes(ctx context.Context) {
	every := g.opt.OutcomeInterval
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := g.FlushOutcomes(fctx); err != nil {
				g.log.Warn("outcomes not published at shutdown; they are lost", slog.Any("error", err))
			}
			cancel()
			return
		case <-t.C:
			if err := g.FlushOutcomes(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("outcomes not published; will retry", slog.Any("error", err))
			}
		}
	}
}

// FlushOutcomes publishes the counts so far, and any batch an earlier
// flush failed to publish.
func (g *Gateway) FlushOutcomes(ctx context.Context) error {
	o := g.outcomes
	o.mu.Lock()
	if o.lost {
		o.lost = false
		g.log.Warn("more outcome keys than the gateway holds between flushes; some drops were not counted", slog.Int("keys", maxOutcomeKeys))
	}
	var batch streams.OutcomeBatch
	for k, n := range o.m {
		batch.Outcomes = append(batch.Outcomes, streams.Outcome{ProjectID: k.project, Hour: time.Unix(k.hour, 0).UTC(),
			Category: k.category, Outcome: k.outcome, Reason: k.reason, Quantity: n})
	}
	clear(o.m)
	for len(batch.Outcomes) > 0 {
		part := batch.Outcomes[:min(len(batch.Outcomes), streams.MaxOutcomeBatch)]
		batch.Outcomes = batch.Outcomes[len(part):]
		body, _ := json.Marshal(streams.OutcomeBatch{Outcomes: part})
		o.seq++
		msg := nats.NewMsg(streams.OutcomesSubject)
		msg.Header.Set(jetstream.MsgIDHeader, "outcomes-"+o.instance+"-"+strconv.FormatUint(o.seq, 10))
		msg.Data = body
		o.pending = append(o.pending, msg)
	}
	if len(o.pending) > maxPendingBatches {
		g.log.Warn("outcome batches could not be published for long; the oldest are dropped", slog.Int("dropped", len(o.pending)-maxPendingBatches))
		o.pending = o.pending[len(o.pending)-maxPendingBatches:]
	}
	pending := o.pending
	o.pending = nil
	o.mu.Unlock()
	for i, msg := range pending {
		if _, err := g.nats.JS.PublishMsg(ctx, msg); err != nil {
			o.mu.Lock()
			o.pending = append(pending[i:len(pending):len(pending)], o.pending...)
			o.mu.Unlock()
			return err
		}
	}
	return nil
}
