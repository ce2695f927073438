package natsx_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/natsx/natstest"
)

// TestKeepaliveHoldsOffRedelivery: of two messages delivered to a consumer
// with a short ack wait, the one held by a Keepalive is not redelivered
// however long it is held, the other is; once the held one is nak'ed
// through the Keepalive it is let go and redelivered.
func TestKeepaliveHoldsOffRedelivery(t *testing.T) {
	srv := natstest.Start(t)
	c := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "KA", Subjects: []string{"ka.>"}}); err != nil {
		t.Fatal(err)
	}
	const ackWait = 400 * time.Millisecond
	cons, err := c.JS.CreateOrUpdateConsumer(ctx, "KA", jetstream.ConsumerConfig{
		Durable: "ka", AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait, MaxDeliver: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"ka.held", "ka.loose"} {
		if _, err := c.JS.Publish(ctx, subj, []byte(subj)); err != nil {
			t.Fatal(err)
		}
	}
	first := fetch(t, cons, 2)
	if len(first) != 2 {
		t.Fatalf("fetched %d messages, want 2", len(first))
	}
	k := natsx.NewKeepalive(ackWait)
	kctx, stop := context.WithCancel(ctx)
	defer stop()
	go k.Run(kctx)
	var held jetstream.Msg
	for _, m := range first {
		if m.Subject() == "ka.held" {
			held = k.Hold(m)
		}
	}
	if k.Held() != 1 {
		t.Fatalf("holding %d messages, want 1", k.Held())
	}

	// Five ack waits later only the loose message has come back, more than
	// once (it is never acknowledged).
	deadline := time.Now().Add(5 * ackWait)
	loose := 0
	for time.Now().Before(deadline) {
		for _, m := range fetch(t, cons, 10) {
			if m.Subject() == "ka.held" {
				t.Fatal("the held message was redelivered while held")
			}
			loose++
		}
	}
	if loose < 2 {
		t.Errorf("the loose message was redelivered %d times in five ack waits, want at least 2", loose)
	}

	// Nak'ed through the Keepalive, the held message is let go: it comes
	// back at once and is not kept alive any more.
	if err := held.Nak(); err != nil {
		t.Fatal(err)
	}
	if k.Held() != 0 {
		t.Errorf("holding %d messages after the nak, want 0", k.Held())
	}
	back := false
	for _, m := range fetch(t, cons, 10) {
		if m.Subject() == "ka.held" {
			back = true
			if md, err := m.Metadata(); err != nil || md.NumDelivered != 2 {
				t.Errorf("redelivered held message: metadata %+v, %v; want its second delivery", md, err)
			}
		}
	}
	if !back {
		t.Error("the nak'ed message was not redelivered")
	}
}

// TestKeepaliveGivesBack: a consumer that stops gives back what it holds,
// and it is redelivered within seconds, long before its (one-minute) ack
// wait.
func TestKeepaliveGivesBack(t *testing.T) {
	srv := natstest.Start(t)
	c := srv.Connect(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "GB", Subjects: []string{"gb.>"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := c.JS.CreateOrUpdateConsumer(ctx, "GB", jetstream.ConsumerConfig{
		Durable: "gb", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxDeliver: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"gb.a", "gb.b", "gb.done"} {
		if _, err := c.JS.Publish(ctx, subj, nil); err != nil {
			t.Fatal(err)
		}
	}
	k := natsx.NewKeepalive(time.Minute)
	for _, m := range fetch(t, cons, 3) {
		h := k.Hold(m)
		if m.Subject() == "gb.done" {
			h.Ack()
		}
	}
	if n := k.GiveBack(); n != 2 || k.Held() != 0 {
		t.Fatalf("gave back %d, holding %d; want 2 and 0", n, k.Held())
	}
	var back []string
	for deadline := time.Now().Add(10 * time.Second); len(back) < 2 && time.Now().Before(deadline); {
		for _, m := range fetch(t, cons, 10) {
			back = append(back, m.Subject())
			m.Ack()
		}
	}
	if len(back) != 2 || slices.Contains(back, "gb.done") {
		t.Errorf("redelivered at once: %v, want gb.a and gb.b", back)
	}
}

// fetch takes up to n messages, waiting at most an ack wait for them.
func fetch(t *testing.T, cons jetstream.Consumer, n int) []jetstream.Msg {
	t.Helper()
	b, err := cons.Fetch(n, jetstream.FetchMaxWait(400*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	return out
}
