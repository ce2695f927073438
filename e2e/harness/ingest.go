package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/streams"
)

// Message is one envelope the gateway stored in the INGEST stream.
type Message struct {
	Subject  string
	Kind     string // the subject's last token: error, transaction, log, …
	Header   nats.Header
	Data     []byte // the envelope as stored (read from the blob store when the message names one)
	Envelope *Envelope
}

// Envelope is a Sentry envelope, parsed here independently of the server's
// parser so the tests check what was stored, not what the server thinks.
type Envelope struct {
	Header map[string]any
	Items  []Item
}

// Item is one envelope item.
type Item struct {
	Header  map[string]any
	Type    string
	Payload []byte
}

// Types lists the item types in order.
func (e *Envelope) Types() []string {
	var ts []string
	for _, it := range e.Items {
		ts = append(ts, it.Type)
	}
	return ts
}

// ItemsOf returns the items of type typ.
func (e *Envelope) ItemsOf(typ string) []Item {
	var out []Item
	for _, it := range e.Items {
		if it.Type == typ {
			out = append(out, it)
		}
	}
	return out
}

// EventID is the envelope header's event_id, or "".
func (e *Envelope) EventID() string {
	s, _ := e.Header["event_id"].(string)
	return s
}

// JSON decodes the item's payload as a JSON object.
func (it Item) JSON() (map[string]any, error) {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(it.Payload))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("item %s: %w", it.Type, err)
	}
	return m, nil
}

// ParseEnvelope parses an envelope: a JSON header line, then items, each a
// JSON header line and a payload of the header's length or up to the next
// newline.
func ParseEnvelope(b []byte) (*Envelope, error) {
	line, rest, _ := bytes.Cut(b, []byte("\n"))
	env := &Envelope{}
	if err := json.Unmarshal(line, &env.Header); err != nil {
		return nil, fmt.Errorf("envelope header: %w", err)
	}
	for len(bytes.TrimSpace(rest)) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		var it Item
		if err := json.Unmarshal(line, &it.Header); err != nil {
			return nil, fmt.Errorf("item %d header %q: %w", len(env.Items), line, err)
		}
		it.Type, _ = it.Header["type"].(string)
		if n, ok := it.Header["length"].(float64); ok {
			if int(n) > len(rest) {
				return nil, fmt.Errorf("item %d: length %d beyond the end", len(env.Items), int(n))
			}
			it.Payload, rest = rest[:int(n)], rest[int(n):]
			rest = bytes.TrimPrefix(rest, []byte("\n"))
		} else {
			it.Payload, rest, _ = bytes.Cut(rest, []byte("\n"))
		}
		env.Items = append(env.Items, it)
	}
	return env, nil
}

func projectFilter(projectID int64) string {
	return "ingest." + strconv.FormatInt(projectID, 10) + ".>"
}

// Count is the number of envelopes the INGEST stream holds for a project.
func (s *Server) Count(ctx context.Context, projectID int64) (int, error) {
	st, err := s.js.Stream(ctx, streams.Ingest)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(projectFilter(projectID)))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n, nil
}

// Messages waits until the INGEST stream holds at least n envelopes of the
// project and returns all it holds, oldest first.
func (s *Server) Messages(ctx context.Context, projectID int64, n int) ([]Message, error) {
	have := 0
	for {
		var err error
		if have, err = s.Count(ctx, projectID); err != nil {
			return nil, err
		}
		if have >= n {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("INGEST holds %d envelopes of project %d, want at least %d", have, projectID, n)
		case <-time.After(50 * time.Millisecond):
		}
	}
	c, err := s.js.OrderedConsumer(ctx, streams.Ingest, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{projectFilter(projectID)},
	})
	if err != nil {
		return nil, err
	}
	var out []Message
	for len(out) < have {
		batch, err := c.Fetch(have-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			msg, err := s.message(ctx, m)
			if err != nil {
				return nil, err
			}
			out = append(out, msg)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, err
		}
		if got == 0 {
			return nil, fmt.Errorf("read %d of %d envelopes of project %d", len(out), have, projectID)
		}
	}
	return out, nil
}

func (s *Server) message(ctx context.Context, m jetstream.Msg) (Message, error) {
	msg := Message{Subject: m.Subject(), Header: m.Headers()}
	msg.Kind = msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:]
	var err error
	if msg.Data, err = streams.DecodeEnvelope(msg.Header, m.Data(), streams.MaxInlineEnvelope, nil); err != nil {
		return msg, fmt.Errorf("%s: %w", msg.Subject, err)
	}
	if name := msg.Header.Get(streams.HeaderBlob); name != "" {
		obs, err := s.js.ObjectStore(ctx, streams.BlobsBucket)
		if err != nil {
			return msg, err
		}
		if msg.Data, err = obs.GetBytes(ctx, name); err != nil {
			return msg, fmt.Errorf("blob %s: %w", name, err)
		}
	}
	env, err := ParseEnvelope(msg.Data)
	if err != nil {
		return msg, fmt.Errorf("%s: %w\n%s", msg.Subject, err, msg.Data)
	}
	msg.Envelope = env
	return msg, nil
}

// MessagesT is Messages with a generous deadline, failing t on error.
func (s *Server) MessagesT(t testing.TB, projectID int64, n int) []Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ms, err := s.Messages(ctx, projectID, n)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// CheckHeaders reports what is wrong with the headers the gateway put on m
// for an envelope sent with project p's key.
func CheckHeaders(m Message, p Project) []string {
	var problems []string
	want := map[string]string{
		streams.HeaderProject:  strconv.FormatInt(p.ID, 10),
		streams.HeaderKey:      p.PublicKey,
		streams.HeaderEndpoint: "envelope",
		streams.HeaderClientIP: "127.0.0.1",
	}
	for h, v := range want {
		if got := m.Header.Get(h); got != v {
			problems = append(problems, fmt.Sprintf("header %s = %q, want %q", h, got, v))
		}
	}
	if got, want := m.Header.Get(streams.HeaderEventID), m.Envelope.EventID(); got != want {
		problems = append(problems, fmt.Sprintf("header %s = %q, envelope event_id %q", streams.HeaderEventID, got, want))
	}
	if ts, err := time.Parse(time.RFC3339Nano, m.Header.Get(streams.HeaderReceived)); err != nil || time.Since(ts) > 10*time.Minute {
		problems = append(problems, fmt.Sprintf("header %s = %q, want a recent RFC 3339 time", streams.HeaderReceived, m.Header.Get(streams.HeaderReceived)))
	}
	if m.Header.Get(jetstream.MsgIDHeader) == "" {
		problems = append(problems, "no "+jetstream.MsgIDHeader+" header")
	}
	if m.Header.Get(streams.HeaderUserAgent) == "" {
		problems = append(problems, "no "+streams.HeaderUserAgent+" header")
	}
	return problems
}

// Dig walks a decoded JSON object along keys and returns the value there as
// a T, failing t when the path or the type does not match.
func Dig[T any](t testing.TB, m map[string]any, keys ...string) T {
	t.Helper()
	var cur any = m
	for _, k := range keys {
		obj, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object at %q", strings.Join(keys, "."), k)
		}
		cur = obj[k]
	}
	v, ok := cur.(T)
	if !ok {
		var zero T
		t.Fatalf("%s = %#v, want a %T", strings.Join(keys, "."), cur, zero)
	}
	return v
}
