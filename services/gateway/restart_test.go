package gateway_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/streams"
)

// TestNATSRestartUnderLoad is split-role mode's NATS going away under load
// and coming back: while it is away the gateway answers 503, never 200;
// afterwards it answers 200 again on its own; every envelope answered 200 is
// in the stream once.
func TestNATSRestartUnderLoad(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := func() *natsx.Embedded {
		t.Helper()
		var e *natsx.Embedded
		var err error
		for range 50 { // the port may take a moment to be free again
			if e, err = natsx.StartEmbedded(natsx.EmbeddedOptions{StoreDir: dir, Listen: addr}); err == nil {
				return e
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatal(err)
		return nil
	}
	e := start()
	srv := &natstest.Server{Embedded: e, URL: e.ClientURL()}
	nc := srv.Connect(t)
	ctx := testContext(t)
	if err := streams.Apply(ctx, nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, DuplicateWindow: 2 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	keys, err := nc.JS.KeyValue(ctx, streams.KeysBucket)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := nc.JS.Stream(ctx, streams.Ingest)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, srv: srv, nc: nc, keys: keys, stream: stream}
	standardKeys(c)
	opt := defaultOptions(t)
	opt.PublishTimeout = 2 * time.Second
	g := c.startGateway(opt)

	var (
		away     atomic.Bool // the server is down: set once it has stopped, cleared before it starts
		seq      atomic.Int64
		mu       sync.Mutex
		accepted = map[string]bool{}
		during   = map[int]int{} // statuses answered while the server was away
		other    []string
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := eventID(int(seq.Add(1)))
				req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/api/%d/envelope/", g.url, project), bytes.NewReader(eventEnvelope(id)))
				req.Header.Set("X-Sentry-Auth", authHeader(key))
				wasAway := away.Load()
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					mu.Lock()
					other = append(other, err.Error())
					mu.Unlock()
					continue
				}
				res.Body.Close()
				isAway := away.Load()
				mu.Lock()
				switch {
				case res.StatusCode == http.StatusOK:
					accepted[id] = true
				case res.StatusCode != http.StatusServiceUnavailable:
					other = append(other, res.Status)
				}
				if wasAway && isAway {
					during[res.StatusCode]++
				}
				mu.Unlock()
				if res.StatusCode != http.StatusOK {
					time.Sleep(20 * time.Millisecond) // as an SDK backs off
				}
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(accepted) }
	eventually(t, "envelopes accepted before the restart", func() bool { return count() >= 50 })

	e.Shutdown()
	away.Store(true)
	time.Sleep(time.Second)
	away.Store(false)
	e = start()
	defer e.Shutdown()
	before := count()
	eventually(t, "ingestion resumes after the restart", func() bool { return count() >= before+50 })
	close(stop)
	wg.Wait()

	if len(other) > 0 {
		t.Errorf("answers other than 200 and 503: %v", other[:min(5, len(other))])
	}
	if during[http.StatusOK] > 0 {
		t.Errorf("%d envelopes answered 200 while NATS was away", during[http.StatusOK])
	}
	if during[http.StatusServiceUnavailable] == 0 {
		t.Error("no 503 while NATS was away: the outage was not exercised")
	}
	// Every 200 is stored, once.
	eventually(t, "the test's own connection is back", c.nc.NC.IsConnected)
	stored := map[string]int{}
	cons, err := c.stream.OrderedConsumer(testContext(t), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.stream.Info(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	for range info.State.Msgs {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		stored[m.Headers().Get(streams.HeaderEventID)]++
	}
	for id := range accepted {
		if stored[id] != 1 {
			t.Errorf("event %s answered 200 is stored %d times", id, stored[id])
		}
	}
	t.Logf("%d accepted, %d stored, while away: %v", len(accepted), len(stored), during)
}
