package natsx_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/natsx"
)

func TestEmbeddedTokenAuth(t *testing.T) {
	const token = "0123456789abcdef-test"
	e, err := natsx.StartEmbedded(natsx.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Token: token})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()

	// No token, a wrong one: refused.
	for _, opts := range [][]nats.Option{nil, {nats.Token("wrong-token-0123456")}} {
		nc, err := nats.Connect(e.ClientURL(), opts...)
		if err == nil {
			nc.Close()
			t.Fatal("connected to the embedded server without its token")
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("error %v, want an authorization violation", err)
		}
	}
	// The token, over the network and in-process, works; JetStream too.
	log := slog.New(slog.DiscardHandler)
	for name, emb := range map[string]*natsx.Embedded{"network": nil, "in-process": e} {
		c, err := natsx.Connect(e.ClientURL(), emb, t.Name(), log, natsx.Token(token))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := c.JS.AccountInfo(ctx); err != nil {
			t.Errorf("%s: JetStream: %v", name, err)
		}
		cancel()
		c.NC.Close()
	}
}

func TestEmbeddedRefusesOpenListenerWithoutToken(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		e, err := natsx.StartEmbedded(natsx.EmbeddedOptions{StoreDir: t.TempDir(), Listen: addr})
		if err == nil {
			e.Shutdown()
			t.Errorf("listened on %s without a token", addr)
		} else if !errors.Is(err, natsx.ErrListenWithoutToken) {
			t.Errorf("%s: %v", addr, err)
		}
	}
	e, err := natsx.StartEmbedded(natsx.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("loopback without a token: %v", err)
	}
	e.Shutdown()
}

func TestEmbeddedSyncInterval(t *testing.T) {
	for _, o := range []natsx.EmbeddedOptions{{}, {SyncInterval: 5 * time.Second}, {SyncAlways: true}} {
		o.StoreDir = t.TempDir()
		e, err := natsx.StartEmbedded(o)
		if err != nil {
			t.Fatal(err)
		}
		cfg := e.Server.JetStreamConfig()
		e.Shutdown()
		want := o.SyncInterval
		if want == 0 {
			want = 2 * time.Minute
		}
		if cfg.SyncAlways != o.SyncAlways || cfg.SyncInterval != want {
			t.Errorf("options %+v: server syncs every %v (always %v), want %v (always %v)", o, cfg.SyncInterval, cfg.SyncAlways, want, o.SyncAlways)
		}
	}
}

// TestCreateConsumerWaitsForTheStream: a role that starts before its
// stream exists (or while the cluster cannot find it) gets its consumer
// once the stream is there; an invalid consumer is refused at once; a
// stop ends the waiting.
func TestCreateConsumerWaitsForTheStream(t *testing.T) {
	e, err := natsx.StartEmbedded(natsx.EmbeddedOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	log := slog.New(slog.DiscardHandler)
	c, err := natsx.Connect("", e, t.Name(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer c.NC.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := jetstream.ConsumerConfig{Durable: "late", AckPolicy: jetstream.AckExplicitPolicy}

	stopped, stop := context.WithCancel(ctx)
	stop()
	if _, err := natsx.CreateConsumer(stopped, c.JS, "LATE", cfg, log); err == nil {
		t.Fatal("created a consumer on a stream that does not exist, with a stopped context")
	}

	created := make(chan time.Time, 1)
	go func() {
		time.Sleep(600 * time.Millisecond)
		if _, err := c.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "LATE", Subjects: []string{"late.>"}}); err != nil {
			t.Error(err)
		}
		created <- time.Now()
	}()
	cons, err := natsx.CreateConsumer(ctx, c.JS, "LATE", cfg, log)
	if err != nil {
		t.Fatalf("consumer not created once the stream was: %v", err)
	}
	if at := <-created; cons.CachedInfo().Created.Before(at.Add(-time.Second)) {
		t.Fatalf("consumer created at %v, before its stream (%v)", cons.CachedInfo().Created, at)
	}

	start := time.Now()
	bad := jetstream.ConsumerConfig{Durable: "bad", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverByStartSequencePolicy}
	_, err = natsx.CreateConsumer(ctx, c.JS, "LATE", bad, log)
	var api *jetstream.APIError
	if !errors.As(err, &api) || api.Code != 400 {
		t.Fatalf("want the server's refusal (400), got %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("an invalid consumer was tried for %v: %v", time.Since(start), err)
	}
}
