package grouping

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/faultline/faultline/libs/telemetry"
	"github.com/faultline/faultline/streams"
)

// Publications go through an outbox: they are written in the batch's
// transaction, published after it commits, and deleted once the EVENTS
// stream has them (in the next batch's transaction, or by the sweeper).
// A crash in between leaves rows the sweeper publishes again with the same
// Nats-Msg-Id, which the stream drops as duplicates. Redelivered envelopes
// never reach this point: their events are not fresh.

func (s *Service) writeOutbox(ctx context.Context, tx pgx.Tx, pubs []publication) (int64, error) {
	var (
		subjects, msgIDs []string
		payloads         [][]byte
		issueIDs         []int64
		ts, received     []time.Time
		eventIDs         [][16]byte
	)
	for _, p := range pubs {
		if e := p.event; e != nil {
			issueIDs, ts, eventIDs, received = append(issueIDs, e.issueID), append(ts, e.ts), append(eventIDs, e.eventID), append(received, e.received)
			continue
		}
		subjects, msgIDs, payloads = append(subjects, p.subject), append(msgIDs, p.msgID), append(payloads, p.data)
	}
	var id int64
	err := tx.QueryRow(ctx, s.q(`INSERT INTO grouping.outbox (subjects, msg_ids, payloads, issue_ids, ts, event_ids, received)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`),
		nonNil(subjects), nonNil(msgIDs), nonNil(payloads), nonNil(issueIDs), nonNil(ts), nonNil(eventIDs), nonNil(received)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("write outbox: %w", err)
	}
	return id, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// publish sends pubs in order and returns the msg ids the stream
// acknowledged. Each message carries sc, the context of the batch span that
// decided it, when sc is valid.
func (s *Service) publish(ctx context.Context, pubs []publication, sc trace.SpanContext) []string {
	futs := make([]jetstream.PubAckFuture, 0, len(pubs))
	for _, p := range pubs {
		m := &nats.Msg{Subject: p.subject, Data: p.data}
		if p.event != nil {
			m.Header = groupedHeader(p.event, p.msgID)
		} else {
			m.Header = nats.Header{jetstream.MsgIDHeader: {p.msgID}}
		}
		telemetry.Inject(sc, m.Header)
		stream := streams.Events
		if strings.HasPrefix(p.subject, "decisions.") {
			stream = streams.Decisions // an auto-assignment (owners.go)
		}
		f, err := s.nats.JS.PublishMsgAsync(m, jetstream.WithExpectStream(stream))
		if err != nil {
			s.log.Warn("publish to EVENTS failed; the outbox keeps it", slog.String("subject", p.subject), slog.Any("error", err))
			break
		}
		futs = append(futs, f)
	}
	done := make([]string, 0, len(futs))
	timeout := time.After(10 * time.Second)
	for i, f := range futs {
		select {
		case <-f.Ok():
			done = append(done, pubs[i].msgID)
		case err := <-f.Err():
			s.log.Warn("publish to EVENTS failed; the outbox keeps it", slog.String("subject", pubs[i].subject), slog.Any("error", err))
		case <-timeout:
			return done
		case <-ctx.Done():
			return done
		}
	}
	return done
}

// sweepOutbox publishes the outbox rows older than age, left by a crash
// or a failed publish, and the rows other processes wrote (merges), and
// deletes each once all of it is acknowledged.
func (s *Service) sweepOutbox(ctx context.Context, age time.Duration) (int, error) {
	total := 0
	for {
		n, full, err := s.sweepOutboxPage(ctx, age)
		total += n
		if err != nil || !full {
			return total, err
		}
	}
}

// outboxPage is how many outbox rows one sweep reads at a time.
const outboxPage = 20

// sweepOutboxPage publishes one page of the outbox; full says whether the
// page was full, so that there may be more.
func (s *Service) sweepOutboxPage(ctx context.Context, age time.Duration) (int, bool, error) {
	// Rows without events (a user's decision or merge, written by the api
	// process) have no batch to publish them: they are taken at once.
	rows, err := s.pool.Query(ctx, s.q(`SELECT id, subjects, msg_ids, payloads FROM grouping.outbox
		WHERE created_at < now() - $1::interval OR cardinality(event_ids) = 0 ORDER BY id LIMIT $2`), age, outboxPage)
	if err != nil {
		return 0, false, fmt.Errorf("read outbox: %w", err)
	}
	type batch struct {
		id       int64
		subjects []string
		msgIDs   []string
		payloads [][]byte
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (batch, error) {
		var b batch
		return b, r.Scan(&b.id, &b.subjects, &b.msgIDs, &b.payloads)
	})
	if err != nil {
		return 0, false, fmt.Errorf("read outbox: %w", err)
	}
	total := 0
	for _, b := range bs {
		var pubs []publication
		for i := range b.subjects {
			pubs = append(pubs, publication{subject: b.subjects[i], msgID: b.msgIDs[i], data: b.payloads[i]})
		}
		// Grouped events whose rows are gone (retention) are not published.
		rows, err := s.pool.Query(ctx, s.q(`SELECT e.project_id, e.event_id, e.issue_id, e.received, e.hashes, e.data
			FROM grouping.outbox o, unnest(o.issue_ids, o.ts, o.event_ids, o.received) WITH ORDINALITY AS r (issue_id, ts, event_id, received, ord)
			JOIN grouping.events e ON e.issue_id = r.issue_id AND e.ts = r.ts AND e.event_id = r.event_id AND e.received = r.received
			WHERE o.id = $1 ORDER BY r.ord`), b.id)
		if err != nil {
			return total, false, fmt.Errorf("read outbox events: %w", err)
		}
		for rows.Next() {
			var p prepared
			if err := rows.Scan(&p.projectID, &p.eventID, &p.issueID, &p.received, &p.hashes, &p.data); err != nil {
				rows.Close()
				return total, false, fmt.Errorf("read outbox events: %w", err)
			}
			pubs = append(pubs, groupedPublication(&p))
		}
		if err := rows.Err(); err != nil {
			return total, false, fmt.Errorf("read outbox events: %w", err)
		}
		// What the sweeper publishes left its batch's trace behind.
		if done := s.publish(ctx, pubs, trace.SpanContext{}); len(done) < len(pubs) {
			return total, false, fmt.Errorf("outbox %d: %d of %d published", b.id, len(done), len(pubs))
		}
		if _, err := s.pool.Exec(ctx, s.q(`DELETE FROM grouping.outbox WHERE id = $1`), b.id); err != nil {
			return total, false, fmt.Errorf("clear outbox: %w", err)
		}
		total += len(pubs)
	}
	return total, len(bs) == outboxPage, nil
}
