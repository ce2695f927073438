package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/libs/selfreport/selfreporttest"
	"github.com/faultline/faultline/services/faultline/cli"
	"github.com/faultline/faultline/streams"
)

// TestSelfDSNReportsToAFaultline: a Faultline (gateway and api) is the
// SELF_DSN of another one, whose metrics listener cannot start because
// its address is taken. The error that one logs arrives at the first one's
// gateway as an event, with the roles that reported it, and is stored on
// its INGEST stream. The reporter is stopped before the stream is read: its
// shutdown sends what it queued.
func TestSelfDSNReportsToAFaultline(t *testing.T) {
	db := pgtest.NewT(t)
	natsPort := freePort(t)
	receiver := map[string]string{"DATABASE_URL": db.URL, "HOST": "127.0.0.1", "PORT": strconv.Itoa(freePort(t)),
		"NATS_LISTEN": "127.0.0.1:" + strconv.Itoa(natsPort), "DATA_DIR": t.TempDir(), "LOG_LEVEL": "error", "METRICS_LISTEN": "off"}
	runServe(t, receiver, "serve", "--roles", "gateway,api")
	base := "http://127.0.0.1:" + receiver["PORT"]

	ctx := context.Background()
	pool, err := pg.Open(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.Migrate(ctx, pool, accounts.Migrations); err != nil {
		t.Fatal(err)
	}
	p, err := accounts.NewStore(pool, base).CreateProject(ctx, "acme", "faultline itself")
	pool.Close()
	if err != nil {
		t.Fatal(err)
	}
	ingestURL := fmt.Sprintf("%s/api/%d/envelope/?sentry_key=%s", base, p.ID, p.Keys[0].PublicKey)
	warmup := 0
	eventually(t, "the new key is accepted", 20*time.Second, func() bool {
		warmup++
		code, err := send(ingestURL, bytes.NewReader(envelopeOf(-warmup)))
		return err == nil && code == http.StatusOK
	})

	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	reporter := map[string]string{"DATABASE_URL": db.URL, "HOST": "127.0.0.1", "PORT": strconv.Itoa(freePort(t)),
		"DATA_DIR": t.TempDir(), "LOG_LEVEL": "error", "METRICS_LISTEN": taken.Addr().String(), "SELF_DSN": p.Keys[0].DSN}
	stop := runServe(t, reporter, "serve", "--roles", "gateway")
	if err := stop(); err != nil {
		t.Fatalf("the reporter: %v", err)
	}

	nc, err := natsx.Connect(receiver["NATS_LISTEN"], nil, t.Name(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.NC.Close()
	cons, err := nc.JS.OrderedConsumer(ctx, streams.Ingest, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{streams.IngestSubject(p.ID, "error")}})
	if err != nil {
		t.Fatal(err)
	}
	var found *selfreporttest.Event
	var seen []string
	for found == nil {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("no report among the %d events on INGEST (%q): %v", len(seen), seen, err)
		}
		body, err := streams.DecodeEnvelope(m.Headers(), m.Data(), 1<<20, nil)
		if err != nil {
			t.Fatal(err)
		}
		env, err := envelope.Parse(body, envelope.DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range env.Items {
			var ev selfreporttest.Event
			if it.Type != "event" || json.Unmarshal(it.Payload, &ev) != nil {
				continue
			}
			seen = append(seen, ev.Message)
			if ev.Message == "metrics listener not started; /metrics is unavailable" {
				found = &ev
			}
		}
	}
	if found.Level != "error" || found.Release != "faultline@"+cli.Version || found.Tags["roles"] != "gateway" {
		t.Errorf("the report: level %q release %q tags %v", found.Level, found.Release, found.Tags)
	}
	if found.Contexts.Log["addr"] != taken.Addr().String() || found.Contexts.Log["error"] == nil {
		t.Errorf("the report's log context: %v, want the address and the error", found.Contexts.Log)
	}
}
