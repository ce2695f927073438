package grouping

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/libs/grouping"
	"github.com/faultline/faultline/streams"
)

// prepared is one normalized and grouped event, ready to be stored.
type prepared struct {
	projectID   int64
	eventID     [16]byte
	received    time.Time
	ts          time.Time
	typ         string
	level       string
	title       string
	culprit     string
	platform    string
	release     string
	environment string
	userKey     string
	traceID     string
	tags        [][2]string
	hashes      []string
	config      string
	data        []byte // the normalized event as JSON, zstd-compressed

	issueID int64 // assigned while storing
	// The issue changes this event caused, once its batch decided them
	// (told); a grouped message republished from the outbox does not know.
	changes []string
	told    bool
}

// message is one INGEST message and what became of it.
type message struct {
	msg      jetstream.Msg
	seq      uint64
	delivery uint64
	subject  string
	project  int64
	events   []*prepared
	reject   string // a permanent reason the message cannot be processed
	err      error  // a transient failure (the blob store is unreachable, ...)
}

// permanent marks errors that redelivery cannot fix.
type permanent struct{ reason string }

func (p *permanent) Error() string { return p.reason }

func reject(format string, args ...any) error { return &permanent{fmt.Sprintf(format, args...)} }

// prepare decodes one message: fetches its body, frames the envelope and
// normalizes and groups each event in it.
func (s *Service) prepare(ctx context.Context, m *message) {
	md, err := m.msg.Metadata()
	if err == nil {
		m.seq, m.delivery = md.Sequence.Stream, md.NumDelivered
	}
	m.subject = m.msg.Subject()
	err = s.decodeRecovered(ctx, m)
	var p *permanent
	switch {
	case errors.As(err, &p):
		m.reject, m.events = p.reason, nil
	case err != nil:
		m.err = err
	}
}

// decodeRecovered is decode with a panic (a decoder's, the normalizer's, a
// rule's) turned into a permanent rejection of that message alone: it is
// terminated with the panic as its reason and recorded in grouping.rejected,
// and the consumer goes on.
func (s *Service) decodeRecovered(ctx context.Context, m *message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic while preparing a message; it is rejected", slog.Uint64("stream_seq", m.seq),
				slog.String("subject", m.subject), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			err = reject("panic: %v", v)
		}
	}()
	if h := s.testHookPrepare.Load(); h != nil {
		(*h)(m)
	}
	return s.decode(ctx, m)
}

func (s *Service) decode(ctx context.Context, m *message) error {
	h := m.msg.Headers()
	project, err := strconv.ParseInt(h.Get(streams.HeaderProject), 10, 64)
	if err != nil || project <= 0 {
		// The subject carries it too: ingest.<project>.<kind>.
		parts := strings.Split(m.subject, ".")
		if len(parts) != 3 {
			return reject("no project: header %s is %q", streams.HeaderProject, h.Get(streams.HeaderProject))
		}
		if project, err = strconv.ParseInt(parts[1], 10, 64); err != nil || project <= 0 {
			return reject("no project: subject %q", m.subject)
		}
	}
	m.project = project
	received, err := time.Parse(time.RFC3339Nano, h.Get(streams.HeaderReceived))
	if err != nil {
		return reject("header %s is not an RFC 3339 time: %q", streams.HeaderReceived, h.Get(streams.HeaderReceived))
	}
	received = received.UTC()
	// Nothing decode returns refers to the decompressed envelope (events
	// are normalized into strings of their own and stored compressed anew),
	// so its buffer goes back to the pool on return.
	buf := envelopeBufs.Get().(*[]byte)
	defer envelopeBufs.Put(buf)
	body, err := streams.DecodeEnvelope(h, m.msg.Data(), streams.MaxInlineEnvelope, *buf)
	if err != nil {
		return reject("%v", err)
	}
	if h.Get(streams.HeaderContentEncoding) == streams.EnvelopeEncoding && cap(body) <= maxPooledEnvelope {
		*buf = body[:0] // decoded into buf, or into a larger array that replaces it
	}
	if name := h.Get(streams.HeaderBlob); name != "" {
		body, err = s.blobs.GetBytes(ctx, name)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return reject("envelope blob %q is gone", name)
		}
		if err != nil {
			return fmt.Errorf("fetch envelope blob %q: %w", name, err)
		}
	}
	env, err := envelope.Parse(body, s.opt.Envelope)
	if err != nil {
		return reject("envelope: %v", err)
	}
	meta := event.Meta{ProjectID: project, Received: received, ClientIP: h.Get(streams.HeaderClientIP),
		UserAgent: h.Get(streams.HeaderUserAgent), EventID: env.Header.EventID}
	rules := s.rules.get(project, received)
	n := 0
	for i := range env.Items {
		it := &env.Items[i]
		var e *event.Event
		switch it.Type {
		case "event":
			e, err = event.Normalize(it.Payload, meta)
		case "raw_security":
			e, err = event.NormalizeSecurity(it.Payload, meta)
		default:
			continue // attachments, transactions, sessions: not grouped here
		}
		if err != nil {
			return reject("item %d (%s): %v", i, it.Type, err)
		}
		s.symbolicate(ctx, e)
		p, err := s.group(e, rules, project, received, env.Header.EventID, n)
		if err != nil {
			return reject("item %d (%s): %v", i, it.Type, err)
		}
		m.events = append(m.events, p)
		n++
	}
	return nil
}

// group computes e's hashes and the columns stored with it. The n-th event
// of an envelope without an id of its own (a batch of security reports) gets
// one derived from the envelope's.
func (s *Service) group(e *event.Event, rules *grouping.Rules, project int64, received time.Time, envID string, n int) (*prepared, error) {
	id := envelope.NormalizeEventID(e.EventID)
	if id == "" || n > 0 && id == envID {
		id = deriveEventID(envID, n, received)
		e.EventID = id
	}
	res := grouping.Compute(e, rules)
	if len(res.Hashes) == 0 {
		return nil, errors.New("grouping produced no hash")
	}
	buf := jsonBuffers.Get().(*bytes.Buffer)
	defer jsonBuffers.Put(buf)
	buf.Reset()
	if err := e.WriteJSON(buf); err != nil {
		return nil, fmt.Errorf("marshal normalized event: %w", err)
	}
	js := buf.Bytes()
	p := &prepared{
		projectID:   project,
		received:    received,
		ts:          e.Timestamp.UTC(),
		typ:         orDefault(e.Type, "default"),
		level:       orDefault(e.Level, "error"),
		title:       clip(orDefault(e.Title(), "<untitled>"), 1024),
		culprit:     clip(e.Culprit(), 512),
		platform:    clip(e.Platform, 64),
		release:     clip(e.Release, 200),
		environment: clip(e.Environment, 64),
		userKey:     clip(e.User.Key(), 200),
		traceID:     clip(e.TraceID, 64),
		hashes:      res.Hashes,
		config:      orDefault(res.Config, grouping.ConfigID),
	}
	if p.ts.IsZero() {
		p.ts = received
	}
	hex.Decode(p.eventID[:], []byte(id))
	p.tags = eventTags(e, p)
	p.data = s.zenc.EncodeAll(js, make([]byte, 0, len(js)/3))
	return p, nil
}

// envelopeBufs hold decompressed envelopes while their events are prepared;
// ones larger than maxPooledEnvelope are left to the collector.
var envelopeBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledEnvelope = 1 << 20

// jsonBuffers hold an event's stored JSON until it is compressed.
var jsonBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// deriveEventID names the n-th event of an envelope that carries several.
func deriveEventID(envID string, n int, received time.Time) string {
	sum := sha256.Sum256([]byte(envID + "/" + strconv.Itoa(n) + "/" + received.Format(time.RFC3339Nano)))
	return hex.EncodeToString(sum[:16])
}

// eventTags are the event's tags, the ones every event has, and the ones
// Sentry derives from its interfaces (browser, os, url, handled, ...; the
// SDK's own tag of the same key wins), bounded as Sentry bounds them (keys
// 32, values 200 characters).
func eventTags(e *event.Event, p *prepared) [][2]string {
	out := make([][2]string, 0, len(e.Tags)+12)
	addTag := func(k, v string) {
		if k == "" || v == "" || len(k) > 32 || len(out) >= maxTags {
			return
		}
		for _, t := range out {
			if t[0] == k {
				return
			}
		}
		out = append(out, [2]string{k, clip(v, 200)})
	}
	addTag("level", p.level)
	addTag("environment", p.environment)
	addTag("release", p.release)
	addTag("user", p.userKey)
	for _, t := range e.Tags {
		if len(out) >= maxTags-maxDerivedTags {
			break
		}
		addTag(t[0], t[1])
	}
	e.DerivedTags(addTag)
	return out
}

const (
	maxTags        = 80 // per event
	maxDerivedTags = 16 // of them kept for the derived ones
)

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
