// Package streams declares Faultline's JetStream streams, KV buckets and
// subjects as Go values, and applies them idempotently at start.
package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the streams and buckets.
const (
	Ingest       = "INGEST"
	Events       = "EVENTS"           // what grouping decided: events.<project>.grouped, issues.<project>.<change>
	KeysBucket   = "faultline_keys"   // project keys and their limits, written by api, read by gateway
	LimitsBucket = "faultline_limits" // rate-limit window counters shared by gateway instances
	BlobsBucket  = "faultline_blobs"  // envelopes too large for one message, named by their Nats-Msg-Id
)

// IngestSubject is the subject an envelope of the given project and kind is
// published on: ingest.<project_id>.<kind>.
func IngestSubject(projectID int64, kind string) string {
	return fmt.Sprintf("ingest.%d.%s", projectID, kind)
}

// Message headers on INGEST messages.
const (
	HeaderProject     = "Faultline-Project"    // project id, decimal
	HeaderKey         = "Faultline-Key"        // the DSN public key that authenticated the envelope
	HeaderReceived    = "Faultline-Received"   // RFC 3339 time with nanoseconds, UTC
	HeaderClientIP    = "Faultline-Client-Ip"  // the client's address
	HeaderUserAgent   = "Faultline-User-Agent" // the client's User-Agent
	HeaderEventID     = "Faultline-Event-Id"   // the envelope's event_id, when it has one
	HeaderEndpoint    = "Faultline-Endpoint"   // envelope, store, security, nel, cron, minidump or unreal
	HeaderBlob        = "Faultline-Blob"       // set when the body is in BlobsBucket under this name; the message body is empty
	HeaderSentryTrace = "Sentry-Trace"         // trace context the client sent, as received
	HeaderBaggage     = "Baggage"
	HeaderTraceparent = "Traceparent"
)

// Headers of events.<project>.grouped messages, besides HeaderProject,
// HeaderEventID and HeaderReceived. Their body is the normalized event as
// JSON, compressed with zstd (HeaderContentEncoding "zstd"). INGEST
// messages carry HeaderContentEncoding too (EnvelopeEncoding).
const (
	HeaderIssueID         = "Faultline-Issue-Id"      // the issue the event joined, decimal
	HeaderHashes          = "Faultline-Hashes"        // the event's grouping hashes, primary first, comma-separated
	HeaderChanges         = "Faultline-Issue-Changes" // the issue changes the event caused, comma-separated, or "none"; absent: not told
	HeaderContentEncoding = "Content-Encoding"
)

// IngestOptions size the INGEST stream.
type IngestOptions struct {
	MaxAge          time.Duration
	MaxBytes        int64
	Replicas        int
	DuplicateWindow time.Duration
}

// IngestConfig is the INGEST stream's definition.
func IngestConfig(o IngestOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        Ingest,
		Description: "Envelopes accepted by the gateway, as received after decompression: the source of truth.",
		Subjects:    []string{"ingest.>"},
		Storage:     jetstream.FileStorage,
		// No stream compression: the gateway stores each body S2-compressed
		// already (EncodeEnvelope). Compressing the closed blocks again
		// saved nothing and cost a block decompression whenever grouping
		// fell behind and read from one: 7 % of the server's CPU at
		// 2,500 events/s, just when it was short of CPU.
		Compression: jetstream.NoCompression,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.MaxAge,
		MaxBytes:    o.MaxBytes,
		MaxMsgSize:  8 << 20,
		Replicas:    max(o.Replicas, 1),
		Duplicates:  o.DuplicateWindow,
	}
}

// EventsConfig is the EVENTS stream's definition: the grouping service's
// decisions, for alerting and analytics. Publishers set Nats-Msg-Id, so a
// decision published again within the duplicate window is stored once.
func EventsConfig(o IngestOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        Events,
		Description: "Grouping decisions: events grouped into issues, issues created, regressed, unignored.",
		Subjects:    []string{"events.>", "issues.>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.MaxAge,
		MaxBytes:    o.MaxBytes,
		MaxMsgSize:  8 << 20,
		Replicas:    max(o.Replicas, 1),
		Duplicates:  2 * time.Minute,
	}
}

// KeysConfig is the definition of the bucket of project keys.
func KeysConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      KeysBucket,
		Description: "DSN public key -> project and limits, for the gateway",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	}
}

// LimitsConfig is the definition of the bucket of rate-limit counters. Old
// windows expire by themselves.
func LimitsConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      LimitsBucket,
		Description: "rate-limit window counters shared by gateway instances",
		History:     1,
		TTL:         2 * time.Hour,
		Storage:     jetstream.FileStorage,
		Replicas:    max(replicas, 1),
	}
}

// BlobsConfig is the definition of the object store of large envelopes; they
// live as long as the INGEST messages that name them.
func BlobsConfig(o IngestOptions) jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      BlobsBucket,
		Description: "envelopes too large for one INGEST message",
		TTL:         o.MaxAge,
		Storage:     jetstream.FileStorage,
		Replicas:    max(o.Replicas, 1),
	}
}

// Apply creates or updates every stream and bucket. It is safe to run from
// many instances at once.
func Apply(ctx context.Context, js jetstream.JetStream, o IngestOptions) error {
	if _, err := js.CreateOrUpdateStream(ctx, IngestConfig(o)); err != nil {
		return fmt.Errorf("apply stream %s: %w", Ingest, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, EventsConfig(o)); err != nil {
		return fmt.Errorf("apply stream %s: %w", Events, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, OutcomesConfig(o)); err != nil {
		return fmt.Errorf("apply stream %s: %w", Outcomes, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, DecisionsConfig(o)); err != nil {
		return fmt.Errorf("apply stream %s: %w", Decisions, err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, AlertingConfig(o)); err != nil {
		return fmt.Errorf("apply stream %s: %w", Alerting, err)
	}
	for _, kv := range []jetstream.KeyValueConfig{KeysConfig(o.Replicas), LimitsConfig(o.Replicas)} {
		if _, err := js.CreateOrUpdateKeyValue(ctx, kv); err != nil {
			return fmt.Errorf("apply bucket %s: %w", kv.Bucket, err)
		}
	}
	if _, err := js.CreateOrUpdateObjectStore(ctx, BlobsConfig(o)); err != nil {
		return fmt.Errorf("apply object store %s: %w", BlobsBucket, err)
	}
	return applySourcemaps(ctx, js, o)
}

// Wait retries Apply until it succeeds or ctx ends: a cluster may still be
// electing leaders when services start.
func Wait(ctx context.Context, js jetstream.JetStream, o IngestOptions) error {
	for {
		err := Apply(ctx, js, o)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// EnvelopeEncoding is the HeaderContentEncoding of an INGEST message whose
// body is the envelope compressed with S2: the gateway compresses what it
// decompressed before publishing, so the stream's write caches and disk hold
// a third of the bytes. A message without the header holds the envelope as
// it is (and an empty body when HeaderBlob names it).
const EnvelopeEncoding = "s2"

// EncodeEnvelope is the INGEST body for env, in dst if it is large enough
// (nil for a new buffer); it sets h's encoding header.
func EncodeEnvelope(h nats.Header, env, dst []byte) []byte {
	h.Set(HeaderContentEncoding, EnvelopeEncoding)
	n := s2.MaxEncodedLen(len(env))
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	return s2.Encode(dst[:n], env)
}

// MaxInlineEnvelope bounds an envelope held in an INGEST message's body,
// decompressed (larger ones go to BlobsBucket).
const MaxInlineEnvelope = 8 << 20

// DecodeEnvelope is the envelope an INGEST message's body holds, at most
// limit bytes once decompressed. A compressed body is decoded into dst when
// it is large enough (dst's contents are overwritten), else into a new
// slice; an uncompressed one is body itself.
func DecodeEnvelope(h nats.Header, body []byte, limit int, dst []byte) ([]byte, error) {
	switch enc := h.Get(HeaderContentEncoding); enc {
	case "":
		return body, nil
	case EnvelopeEncoding:
		n, err := s2.DecodedLen(body)
		if err != nil {
			return nil, fmt.Errorf("envelope: %w", err)
		}
		if n > limit {
			return nil, fmt.Errorf("envelope: %d bytes decompressed, more than %d", n, limit)
		}
		if cap(dst) < n {
			dst = make([]byte, n)
		}
		out, err := s2.Decode(dst[:n], body)
		if err != nil {
			return nil, fmt.Errorf("envelope: %w", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("envelope: unknown content encoding %q", enc)
	}
}
