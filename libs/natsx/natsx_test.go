package natsx_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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
