package natsx

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MaxAckWait is the longest ack wait Faultline's durable consumers use. A
// message delivered to a process that dies (kill -9, a lost machine) is
// redelivered only once its ack wait has passed since its last delivery or
// progress acknowledgement, so this bounds how long a crash delays it.
// Messages that take longer than this to work on are kept alive by a
// Keepalive, not by a long ack wait.
const MaxAckWait = 10 * time.Second

// Keepalive tells JetStream, with in-progress acknowledgements, that the
// messages a process holds are still being worked on, so that a short ack
// wait redelivers only what a dead process held, never what a live one is
// still busy with (a batch waiting for Postgres, a large bundle being
// assembled).
//
// Hold a message as soon as it is received; it is let go when it is
// settled (acknowledged, nak'ed or terminated) through the returned
// message. Every interval, each message held since before the previous
// tick is acknowledged as in progress: messages settled within a tick,
// the common case, cost nothing.
type Keepalive struct {
	every time.Duration

	mu   sync.Mutex
	tick uint64
	held map[*heldMsg]uint64 // message → the tick it was held at
}

// NewKeepalive keeps messages of a consumer with the given ack wait alive:
// it ticks four times per ack wait, so a held message is acknowledged as
// in progress at most half an ack wait after it was held.
func NewKeepalive(ackWait time.Duration) *Keepalive {
	return &Keepalive{every: max(ackWait/4, 10*time.Millisecond), held: map[*heldMsg]uint64{}}
}

// Hold keeps m alive until it is settled through the message returned.
func (k *Keepalive) Hold(m jetstream.Msg) jetstream.Msg {
	h := &heldMsg{Msg: m, k: k}
	k.mu.Lock()
	k.held[h] = k.tick
	k.mu.Unlock()
	return h
}

// Held is how many messages are held now.
func (k *Keepalive) Held() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.held)
}

// Run acknowledges the held messages as in progress until ctx ends.
func (k *Keepalive) Run(ctx context.Context) {
	t := time.NewTicker(k.every)
	defer t.Stop()
	var due []*heldMsg
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		due = due[:0]
		k.mu.Lock()
		for h, at := range k.held {
			if at < k.tick {
				due = append(due, h)
			}
		}
		k.tick++
		k.mu.Unlock()
		for _, h := range due {
			// A message settled meanwhile refuses this (or the server
			// ignores it): nothing to do either way.
			h.Msg.InProgress()
		}
	}
}

// GiveBack naks every message still held, for redelivery shortly, and
// returns how many it gave back. A consumer calls it once it has stopped:
// what it did not finish goes to another replica (or to itself after a
// restart) now, instead of waiting out the ack wait.
func (k *Keepalive) GiveBack() int {
	k.mu.Lock()
	held := k.held
	k.held = map[*heldMsg]uint64{}
	k.mu.Unlock()
	for h := range held {
		h.Msg.NakWithDelay(giveBackDelay) // one that fails comes back after its ack wait anyway
	}
	return len(held)
}

func (k *Keepalive) release(h *heldMsg) {
	k.mu.Lock()
	delete(k.held, h)
	k.mu.Unlock()
}

// heldMsg is a held message: settling it lets it go.
type heldMsg struct {
	jetstream.Msg
	k *Keepalive
}

func (h *heldMsg) Ack() error { h.k.release(h); return h.Msg.Ack() }

func (h *heldMsg) DoubleAck(ctx context.Context) error {
	h.k.release(h)
	return h.Msg.DoubleAck(ctx)
}

func (h *heldMsg) Nak() error { h.k.release(h); return h.Msg.Nak() }

func (h *heldMsg) NakWithDelay(d time.Duration) error {
	h.k.release(h)
	return h.Msg.NakWithDelay(d)
}

func (h *heldMsg) Term() error { h.k.release(h); return h.Msg.Term() }

func (h *heldMsg) TermWithReason(reason string) error {
	h.k.release(h)
	return h.Msg.TermWithReason(reason)
}

// StopConsuming drains cc: the messages in the client's buffer are handed
// to the handler (which, its context ended, holds them unsettled for
// GiveBack) instead of being dropped unacknowledged, where they would wait
// out the ack wait. It waits at most wait for the drain.
func StopConsuming(cc jetstream.ConsumeContext, wait time.Duration) {
	cc.Drain()
	select {
	case <-cc.Closed():
	case <-time.After(wait):
		cc.Stop()
	}
}

// giveBackDelay holds given-back messages off long enough for the stopping
// process's own pull requests to end: redelivered at once, they would go
// back to it, and be lost to its exit until their ack wait.
const giveBackDelay = 2 * time.Second
