// Package decide publishes people's decisions on the DECISIONS stream and
// waits, briefly, until the grouping role has applied them: the api and web
// roles record decisions through it and never write grouping's tables.
package decide

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/streams"
)

// ErrRefused is a decision the grouping role refused when applying it (an
// issue that no longer exists, issues of two projects); the text says why.
var ErrRefused = errors.New("decision refused")

// ErrNoPublisher is what a nil publisher answers: the process has no NATS
// connection to publish decisions with.
var ErrNoPublisher = errors.New("decisions need the NATS connection of a running faultline (set NATS_URL)")

// Publisher publishes decisions.
type Publisher struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	wait time.Duration
}

// New returns a publisher over a connection with JetStream; wait bounds how
// long Decide waits for a decision's application.
func New(nc *nats.Conn, js jetstream.JetStream, wait time.Duration) *Publisher {
	return &Publisher{nc: nc, js: js, wait: wait}
}

// NewID is a fresh idempotency id.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Publish stores d on the DECISIONS stream without waiting for its
// application (a project's deletion may take a while).
func (p *Publisher) Publish(ctx context.Context, d *streams.Decision) error {
	if p == nil {
		return ErrNoPublisher
	}
	if d.ID == "" {
		d.ID = NewID()
	}
	if d.At.IsZero() {
		d.At = time.Now().UTC()
	}
	if err := d.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: streams.DecisionSubject(d.ProjectID, d.Kind), Data: body,
		Header: nats.Header{jetstream.MsgIDHeader: {d.ID}}}
	if _, err := p.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(streams.Decisions)); err != nil {
		return fmt.Errorf("publish decision %s: %w", d.Kind, err)
	}
	return nil
}

// Decide stores d on the DECISIONS stream (filling its id and time when
// unset) and waits until grouping applied it. applied is false when the
// wait ran out: the decision is stored and will be applied.
func (p *Publisher) Decide(ctx context.Context, d *streams.Decision) (applied bool, err error) {
	if p == nil {
		return false, ErrNoPublisher
	}
	if d.ID == "" {
		d.ID = NewID()
	}
	// Subscribe before publishing, so the announcement cannot be missed.
	sub, err := p.nc.SubscribeSync(streams.AppliedSubject(d.ID))
	if err != nil {
		return false, fmt.Errorf("decision %s: %w", d.Kind, err)
	}
	defer sub.Unsubscribe()
	if err := p.Publish(ctx, d); err != nil {
		return false, err
	}
	wctx, cancel := context.WithTimeout(ctx, p.wait)
	defer cancel()
	m, err := sub.NextMsgWithContext(wctx)
	if err != nil {
		return false, nil
	}
	if len(m.Data) > 0 {
		return true, fmt.Errorf("%w: %s", ErrRefused, m.Data)
	}
	return true, nil
}

type actorKey struct{}

// WithActor records who is deciding, for the decisions made under ctx.
func WithActor(ctx context.Context, a streams.Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom is the actor WithActor recorded; "system" when none was.
func ActorFrom(ctx context.Context) streams.Actor {
	if a, ok := ctx.Value(actorKey{}).(streams.Actor); ok {
		return a
	}
	return streams.Actor{Name: "system"}
}
