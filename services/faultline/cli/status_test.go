package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/natsx/natstest"
	"github.com/faultline/faultline/libs/pg/pgtest"
	"github.com/faultline/faultline/streams"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Run(context.Background(), args, func(k string) string { return env[k] }, &out)
	return out.String(), err
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestStatus(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Start(t)
	nc := srv.Connect(t)
	if err := streams.Apply(ctx, nc.JS, streams.IngestOptions{MaxAge: time.Hour, MaxBytes: -1, Replicas: 1, DuplicateWindow: time.Minute}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := nc.JS.Publish(ctx, streams.IngestSubject(1, "error"), []byte("envelope")); err != nil {
			t.Fatal(err)
		}
	}
	// A grouping consumer that was given two envelopes, refused them once
	// and holds them again unacknowledged: lag 3, ack pending 2, 2 redelivered.
	cons, err := nc.JS.CreateOrUpdateConsumer(ctx, streams.Ingest, jetstream.ConsumerConfig{
		Durable: "grouping", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Hour,
		MaxAckPending: 2}) // so the second fetch waits for the naks, and then gets the refused envelopes first
	if err != nil {
		t.Fatal(err)
	}
	fetch := func() []jetstream.Msg {
		b, err := cons.Fetch(2, jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var ms []jetstream.Msg
		for m := range b.Messages() {
			ms = append(ms, m)
		}
		if len(ms) != 2 {
			t.Fatalf("fetched %d messages, want 2", len(ms))
		}
		return ms
	}
	for _, m := range fetch() {
		if err := m.Nak(); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range fetch() {
		if md, err := m.Metadata(); err != nil || md.NumDelivered != 2 {
			t.Fatalf("second fetch got a first delivery (%+v, %v), not the refused envelopes", md, err)
		}
	}

	db := pgtest.NewT(t)
	for _, s := range []string{"grouping", "grouping_old_1700000000", "grouping_unrelated"} {
		if _, err := db.Pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+s); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"NATS_URL": srv.URL, "DATABASE_URL": db.URL}

	out, err := runCLI(t, env, "status", "--json")
	if err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	var rep statusReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output is not a report: %v\n%s", err, out)
	}
	if !rep.NATS.OK || !rep.Postgres.OK || rep.ClickHouse.Configured {
		t.Errorf("engines: nats %+v, postgres %+v, clickhouse %+v", rep.NATS, rep.Postgres, rep.ClickHouse)
	}
	var ingest *streamStatus
	for i, s := range rep.Streams {
		if s.Name == streams.Ingest {
			ingest = &rep.Streams[i]
		}
	}
	if ingest == nil || ingest.Messages != 5 || ingest.FirstSeq != 1 || ingest.LastSeq != 5 || ingest.Consumers != 1 ||
		ingest.FirstTime.IsZero() || ingest.LastTime.Before(ingest.FirstTime) || ingest.Bytes == 0 {
		t.Errorf("INGEST = %+v", ingest)
	}
	if len(rep.Streams) < 3 {
		t.Errorf("streams %+v: want INGEST, EVENTS and DECISIONS at least", rep.Streams)
	}
	if len(rep.Consumers) != 1 {
		t.Fatalf("consumers = %+v, want grouping only", rep.Consumers)
	}
	c := rep.Consumers[0]
	if c.Stream != streams.Ingest || c.Name != "grouping" || c.Lag != 3 || c.AckPending != 2 || c.Redelivered != 2 || c.LastDelivered == nil {
		t.Errorf("consumer = %+v, want grouping on INGEST with lag 3, ack pending 2, redelivered 2", c)
	}
	want := []projectionStatus{{Schema: "grouping", State: "live"}, {Schema: "grouping_old_1700000000", State: "old"}}
	if len(rep.Projections) != 2 || rep.Projections[0] != want[0] || rep.Projections[1].Schema != want[1].Schema ||
		rep.Projections[1].Since == nil || !rep.Projections[1].Since.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("projections = %+v, want %+v (the old one since 2023-11-14)", rep.Projections, want)
	}

	out, err = runCLI(t, env, "status")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, re := range []string{`(?m)^grouping\s+INGEST\s+3\s+2\s+2\s`, `(?m)^INGEST\s+5\s+\S+ B\s+#1 \S+\s+#5 `,
		`(?m)^postgres\s+ok `, `(?m)^clickhouse\s+not configured`, `(?m)^grouping_old_1700000000\s+old\s+2023-11-14T`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("table does not match %s:\n%s", re, out)
		}
	}
}

func TestStatusReportsWhatIsDown(t *testing.T) {
	srv := natstest.Start(t)
	env := map[string]string{
		"NATS_URL":       srv.URL,
		"DATABASE_URL":   "postgres://faultline:hunter2@" + closedPort(t) + "/faultline?sslmode=disable&connect_timeout=2",
		"CLICKHOUSE_URL": "http://default:hunter2@" + closedPort(t),
	}
	out, err := runCLI(t, env, "status", "--json")
	if err == nil || !strings.Contains(err.Error(), "postgres, clickhouse unreachable") {
		t.Errorf("err = %v, want postgres and clickhouse named", err)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("a password is in the output:\n%s", out)
	}
	var rep statusReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !rep.NATS.OK || rep.Postgres.OK || rep.Postgres.Error == "" || !rep.ClickHouse.Configured || rep.ClickHouse.OK || rep.ClickHouse.Error == "" {
		t.Errorf("report = %+v", rep)
	}

	// ClickHouse's native port only gets a TCP connection; its HTTP port a /ping.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if r := clickhouseStatus(context.Background(), "clickhouse://"+ln.Addr().String(), time.Second); !r.OK {
		t.Errorf("native port: %+v", r)
	}
	if r := clickhouseStatus(context.Background(), "ftp://"+ln.Addr().String(), time.Second); r.OK || !strings.Contains(r.Error, "scheme") {
		t.Errorf("ftp scheme: %+v", r)
	}

	out, err = runCLI(t, map[string]string{}, "status")
	if err == nil || !strings.Contains(out, "NATS_URL is not set") {
		t.Errorf("without NATS_URL: err %v\n%s", err, out)
	}
}

func TestHealthcheck(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			http.Error(w, "stream INGEST: not found", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer hs.Close()
	if _, err := runCLI(t, nil, "healthcheck", hs.URL+"/healthz"); err != nil {
		t.Errorf("healthy: %v", err)
	}
	if _, err := runCLI(t, nil, "healthcheck", hs.URL+"/readyz"); err == nil || !strings.Contains(err.Error(), "stream INGEST") {
		t.Errorf("not ready: %v", err)
	}
	_, port, _ := net.SplitHostPort(hs.Listener.Addr().String())
	if _, err := runCLI(t, map[string]string{"PORT": port}, "healthcheck"); err != nil {
		t.Errorf("default URL on PORT: %v", err)
	}
	if _, err := runCLI(t, nil, "healthcheck", "http://"+closedPort(t)+"/healthz"); err == nil {
		t.Error("nothing listening, yet healthy")
	}
	if _, err := runCLI(t, nil, "healthcheck", "file:///etc/passwd"); err == nil {
		t.Error("a file URL was fetched")
	}
}
