// Package natsx owns Faultline's connection to NATS: starting the embedded
// JetStream server of the all-in-one binary and connecting to it or to an
// external server or cluster.
package natsx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Embedded is a NATS server with JetStream running inside this process.
type Embedded struct {
	Server *server.Server
}

// EmbeddedOptions configure an embedded server.
type EmbeddedOptions struct {
	StoreDir string // JetStream file storage
	Listen   string // host:port to also accept network clients on; "" for in-process only
	// Token, when set, is required of every client, in-process ones too.
	// Listening beyond loopback needs one.
	Token string
	// SyncInterval is how often JetStream files are flushed to disk (0:
	// the server's default, two minutes); SyncAlways flushes after every
	// write, so an acknowledged publish is on disk.
	SyncInterval time.Duration
	SyncAlways   bool
}

// ErrListenWithoutToken refuses a network listener beyond loopback that any
// host could publish to, read from or delete streams on.
var ErrListenWithoutToken = errors.New("embedded nats: listening beyond loopback needs a token (NATS_TOKEN)")

// Loopback reports whether host (an address or "localhost") is loopback
// only; "" and unspecified addresses listen on every interface.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// StartEmbedded starts a JetStream-enabled NATS server in this process and
// waits until it accepts connections.
func StartEmbedded(o EmbeddedOptions) (*Embedded, error) {
	opts := &server.Options{
		ServerName:         "faultline",
		JetStream:          true,
		StoreDir:           o.StoreDir,
		NoSigs:             true,
		MaxPayload:         8 << 20, // envelopes of up to Sentry's size limits, uncompressed
		JetStreamMaxMemory: 256 << 20,
		DontListen:         o.Listen == "",
	}
	if o.Listen != "" {
		host, port, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats listen address %q: %w", o.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("embedded nats listen port %q: %w", port, err)
		}
		if o.Token == "" && !Loopback(host) {
			return nil, ErrListenWithoutToken
		}
		opts.Host, opts.Port = host, p
		if p == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	opts.Authorization = o.Token
	if o.SyncInterval > 0 {
		opts.SyncInterval = o.SyncInterval
	}
	if o.SyncAlways {
		opts.SyncInterval, opts.SyncAlways = 2*time.Minute, true // as the server's "sync_interval: always"
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("start embedded nats: not ready after 30s")
	}
	return &Embedded{Server: ns}, nil
}

// ClientURL is the URL network clients reach the embedded server at, or ""
// when it listens in-process only.
func (e *Embedded) ClientURL() string {
	if e.Server.Addr() == nil {
		return ""
	}
	return e.Server.ClientURL()
}

// Shutdown stops the server and waits for it.
func (e *Embedded) Shutdown() {
	e.Server.Shutdown()
	e.Server.WaitForShutdown()
}

// Conn is a NATS connection with its JetStream context.
type Conn struct {
	NC *nats.Conn
	JS jetstream.JetStream
}

// Token authenticates a connection with token (NATS_TOKEN); an empty token
// leaves the connection as it is (a token in the URL still applies).
func Token(token string) nats.Option {
	return func(o *nats.Options) error {
		if token != "" {
			o.Token = token
		}
		return nil
	}
}

// PublishAckTimeout is how long an asynchronous publish waits for the
// stream's acknowledgement before the client forgets it. Without one, a
// publish whose acknowledgement is lost (a clustered stream's leader stops
// with the message, while this connection stays up on another node) stays
// pending for as long as the connection lives: it holds its message and one
// of the 8,192 pending slots, and enough failovers stall every publish. It
// is longer than anyone waits for an acknowledgement (the gateway and
// grouping give up after 10 s), so it only ever cleans up.
const PublishAckTimeout = 20 * time.Second

// Connect connects to url, or in-process to embedded when embedded is not
// nil. The connection reconnects forever; lost and regained connections are
// logged. extra options (Token) are applied last.
func Connect(url string, embedded *Embedded, name string, log *slog.Logger, extra ...nats.Option) (*Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1), // never buffer publishes while disconnected: callers answer 503 instead
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", slog.Any("error", err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", slog.String("url", nc.ConnectedUrlRedacted()))
		}),
	}
	if embedded != nil {
		opts = append(opts, nats.InProcessServer(embedded.Server))
	} else {
		opts = append(opts, nats.RetryOnFailedConnect(true))
	}
	opts = append(opts, extra...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %q: %w", url, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(8192), jetstream.WithPublishAsyncTimeout(PublishAckTimeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Conn{NC: nc, JS: js}, nil
}

// Close drains the connection and waits until it has closed or ctx ends.
func (c *Conn) Close(ctx context.Context) {
	closed := make(chan struct{})
	c.NC.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := c.NC.Drain(); err != nil {
		c.NC.Close()
		return
	}
	select {
	case <-closed:
	case <-ctx.Done():
		c.NC.Close()
	}
}

// CreateConsumer creates or updates the consumer cfg of stream, trying
// again until it succeeds or ctx ends: a cluster electing a stream's or a
// consumer's leader (a node restarting, replicas of a role creating the
// same durable consumer at once) answers late or not at all for a while.
// An invalid request is not tried again.
func CreateConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, log *slog.Logger) (jetstream.Consumer, error) {
	wait := 250 * time.Millisecond
	for {
		c, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil || !transient(err) {
			return nil, fmt.Errorf("create consumer %q on %s: %w", cfg.Durable, stream, err)
		}
		log.Warn("creating a consumer failed; trying again", slog.String("stream", stream), slog.String("consumer", cfg.Durable),
			slog.Any("error", err), slog.Duration("in", wait))
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("create consumer %q on %s: %w", cfg.Durable, stream, errors.Join(err, ctx.Err()))
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// transient tells whether a JetStream request may succeed when tried
// again: it went unanswered, or the server was not ready to answer it
// (no leader yet, the stream not yet created or not yet found).
func transient(err error) bool {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, jetstream.ErrStreamNotFound),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return true
	case errors.As(err, &api):
		return api.Code >= 500
	}
	return false
}
