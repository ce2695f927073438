// Package natstest starts a real embedded JetStream server for tests, on a
// random loopback port and a temporary store directory.
package natstest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/faultline/faultline/libs/natsx"
)

// Server is a running test server.
type Server struct {
	*natsx.Embedded
	URL string
}

// Start starts a server that lives until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	e, err := natsx.StartEmbedded(natsx.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return &Server{Embedded: e, URL: e.ClientURL()}
}

// Connect opens a client connection closed when the test ends.
func (s *Server) Connect(t testing.TB) *natsx.Conn {
	t.Helper()
	c, err := natsx.Connect(s.URL, nil, t.Name(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}
