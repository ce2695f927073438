package grouping

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/streams"
)

// fuzzMsg is an INGEST message as the consumer receives it, without a
// server behind it: only what decode reads.
type fuzzMsg struct {
	jetstream.Msg
	subject string
	header  nats.Header
	data    []byte
}

func (m *fuzzMsg) Subject() string      { return m.subject }
func (m *fuzzMsg) Headers() nats.Header { return m.header }
func (m *fuzzMsg) Data() []byte         { return m.data }
func (m *fuzzMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return nil, errors.New("no metadata")
}

func decodeOnly(t testing.TB) *Service {
	zenc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	return &Service{opt: DefaultOptions(), log: slog.New(slog.DiscardHandler), rules: newRuleCache(nil, slog.New(slog.DiscardHandler), time.Hour), zenc: zenc}
}

// FuzzDecodeMessage feeds untrusted envelopes and headers to decode: it
// must never panic, and either reject the message or produce events with
// hashes.
func FuzzDecodeMessage(f *testing.F) {
	id := "9ec79c33ec9942ab8353589fcb2e04dc"
	f.Add("7", time.Now().UTC().Format(time.RFC3339Nano), envelopeOf(id, "event", testEvent{id: id, excType: "E", excValue: "v", function: "f"}.payload()))
	f.Add("7", "2024-01-01T00:00:00Z", envelopeOf(id, "event", []byte(`{"message":"hello 42","timestamp":"2024-01-01T00:00:00Z"}`)))
	f.Add("7", "2024-01-01T00:00:00Z", envelopeOf(id, "raw_security", []byte(`{"csp-report":{"violated-directive":"img-src","blocked-uri":"https://x.example/a.png"}}`)))
	f.Add("x", "yesterday", []byte("{}\n"))
	f.Add("7", "2024-01-01T00:00:00Z", envelopeOf(id, "event", []byte(`{"exception":{"values":[{"type":null}]}}`)))
	s := decodeOnly(f)
	f.Fuzz(func(t *testing.T, project, received string, body []byte) {
		h := nats.Header{}
		h.Set(streams.HeaderProject, project)
		h.Set(streams.HeaderReceived, received)
		m := &message{msg: &fuzzMsg{subject: "ingest.7.error", header: h, data: body}}
		s.prepare(context.Background(), m)
		if m.err != nil {
			t.Fatalf("a message without a blob cannot fail transiently: %v", m.err)
		}
		if m.reject == "" {
			for _, p := range m.events {
				if len(p.hashes) == 0 || p.projectID <= 0 || len(p.data) == 0 {
					t.Fatalf("accepted event without hashes, project or data: %+v", p)
				}
			}
		}
	})
}

func TestDecodeRejects(t *testing.T) {
	s := decodeOnly(t)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	id := "9ec79c33ec9942ab8353589fcb2e04dc"
	encoded := streams.EncodeEnvelope(nats.Header{}, envelopeOf(id, "event", []byte(`{"message":"x"}`)), nil)
	for _, tc := range []struct {
		name, project, received string
		body                    []byte
		want                    string
		encoding                string
	}{
		{"s2 body", "7", now, encoded, "", streams.EnvelopeEncoding},
		{"corrupt s2 body", "7", now, encoded[:len(encoded)-4], "envelope:", streams.EnvelopeEncoding},
		{"unknown encoding", "7", now, encoded, "unknown content encoding", "lz4"},
		{"bad received", "7", "now", envelopeOf(id, "event", []byte(`{}`)), "Faultline-Received", ""},
		{"not an envelope", "7", now, []byte("\x00\x01"), "envelope", ""},
		{"bad event json", "7", now, envelopeOf(id, "event", []byte(`{"exception": 1`)), "JSON", ""},
		{"ok", "7", now, envelopeOf(id, "event", []byte(`{"message":"x"}`)), "", ""},
		{"project from subject", "", now, envelopeOf(id, "event", []byte(`{"message":"x"}`)), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := nats.Header{}
			h.Set(streams.HeaderProject, tc.project)
			h.Set(streams.HeaderReceived, tc.received)
			if tc.encoding != "" {
				h.Set(streams.HeaderContentEncoding, tc.encoding)
			}
			m := &message{msg: &fuzzMsg{subject: "ingest.7.error", header: h, data: tc.body}}
			s.prepare(context.Background(), m)
			if tc.want == "" {
				if m.reject != "" || len(m.events) != 1 || m.project != 7 {
					t.Fatalf("got reject %q, %d events, project %d; want one event of project 7", m.reject, len(m.events), m.project)
				}
				return
			}
			if !strings.Contains(m.reject, tc.want) {
				t.Errorf("reject %q: want it to mention %q", m.reject, tc.want)
			}
		})
	}

}

func TestRetentionDropsOldPartitions(t *testing.T) {
	e := newEnv(t)
	opt := testOptions()
	opt.RetentionDays = 30
	s, err := New(context.Background(), e.pool, e.nc, opt, nil, testLog)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now()
	old := now.AddDate(0, 0, -40)
	// An event received 40 days ago lands in its own day's partition.
	e.publish(ingestMsg(1, "error", "", envelopeOf(newEventID(), "event", []byte(`{"message":"old"}`)), old),
		ingestMsg(1, "error", "", envelopeOf(newEventID(), "event", []byte(`{"message":"new"}`)), now))
	run, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.Run(run) }()
	e.waitEvents(e.pool, 2)
	cancel()
	<-done
	partitions := func() map[string]bool {
		rows, err := e.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]bool{}
		for rows.Next() {
			var n string
			rows.Scan(&n)
			out[n] = true
		}
		return out
	}
	oldName, todayName, ahead := partitionName("events", dayOf(old)), partitionName("events", dayOf(now)), partitionName("events", dayOf(now).AddDate(0, 0, partitionsAhead))
	if ps := partitions(); !ps[oldName] || !ps[todayName] || !ps[ahead] {
		t.Fatalf("partitions before maintenance: %v; want %s, %s and %s", ps, oldName, todayName, ahead)
	}
	if err := s.maintainPartitions(ctx, now); err != nil {
		t.Fatal(err)
	}
	if ps := partitions(); ps[oldName] || !ps[todayName] {
		t.Errorf("partitions after maintenance: %v; want %s dropped and %s kept", ps, oldName, todayName)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.events`); n != 1 {
		t.Errorf("events after retention: got %d, want 1", n)
	}
	if n := count(t, e.pool, `SELECT count(*) FROM grouping.event_ids`); n != 1 {
		t.Errorf("event ids after retention: got %d, want 1", n)
	}
}
