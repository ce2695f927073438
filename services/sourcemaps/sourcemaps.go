// Package sourcemaps is Faultline's sourcemaps role and the owner of the
// Postgres schema "sourcemaps": a durable consumer of the SOURCEMAPS stream
// that assembles the chunks sentry-cli uploaded into artifact bundles,
// stores each bundle file in the faultline_artifacts object store (named by
// the SHA-1 of its content) and indexes it by debug id and by project,
// release, dist and URL.
//
// Assembly is idempotent: a bundle already ok is not assembled again, and a
// redelivered command rewrites the same rows. Deleting (delete.go) drops
// index rows, then the objects no row refers to; bundles older than the
// retention go the same way. A bundle that cannot be
// assembled (a chunk gone, a checksum that does not match, a bad zip) is
// recorded with state "error" and the reason, which sentry-cli shows.
package sourcemaps

import (
	"bytes"
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/libs/sourcemap"
	"github.com/faultline/faultline/streams"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations are the sourcemaps role's schema migrations.
var Migrations = pg.Migrations{Service: "sourcemaps", FS: migrationsFS, Dir: "migrations"}

// Options configure the role.
type Options struct {
	Consumer       string
	MaxBundleBytes int64 // an assembled bundle, at most
	Bundle         sourcemap.BundleLimits
	AckWait        time.Duration
	// Retention: bundles not uploaded again for this long are dropped,
	// with their files; 0 keeps them.
	Retention time.Duration
	// SweepEvery is how often bundles past the retention are looked for.
	SweepEvery time.Duration
}

// DefaultOptions are the production options.
func DefaultOptions() Options {
	return Options{Consumer: "sourcemaps", MaxBundleBytes: 1 << 30, Bundle: sourcemap.DefaultBundleLimits,
		AckWait: natsx.MaxAckWait, Retention: 90 * 24 * time.Hour, SweepEvery: time.Hour}
}

// OptionsFrom derives the options from the process configuration.
func OptionsFrom(c config.Config) Options {
	o := DefaultOptions()
	o.Retention = time.Duration(c.SourcemapRetentionDays) * 24 * time.Hour
	return o
}

// Consumers are the durable consumers a replica reads: SOURCEMAPS'
// (assemble requests).
func (o Options) Consumers() []natsx.ConsumerRef {
	return []natsx.ConsumerRef{{Stream: streams.Sourcemaps, Consumer: o.Consumer}}
}

// Service is one sourcemaps replica.
type Service struct {
	opt       Options
	pool      *pgxpool.Pool
	nats      *natsx.Conn
	chunks    jetstream.ObjectStore
	artifacts jetstream.ObjectStore
	log       *slog.Logger
}

// New prepares a replica. The streams must have been applied and the
// migrations run.
func New(ctx context.Context, pool *pgxpool.Pool, nc *natsx.Conn, opt Options, log *slog.Logger) (*Service, error) {
	chunks, err := nc.JS.ObjectStore(ctx, streams.ChunksBucket)
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", streams.ChunksBucket, err)
	}
	artifacts, err := nc.JS.ObjectStore(ctx, streams.ArtifactsBucket)
	if err != nil {
		return nil, fmt.Errorf("open object store %s: %w", streams.ArtifactsBucket, err)
	}
	if opt.AckWait <= 0 {
		opt.AckWait = natsx.MaxAckWait
	}
	return &Service{opt: opt, pool: pool, nats: nc, chunks: chunks, artifacts: artifacts, log: log}, nil
}

// Run consumes assemble commands until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	cons, err := natsx.CreateConsumer(ctx, s.nats.JS, streams.Sourcemaps, jetstream.ConsumerConfig{
		Durable:        s.opt.Consumer,
		Description:    "sourcemaps: assemble uploaded artifact bundles, delete release files",
		FilterSubjects: []string{"sourcemaps.assemble.>", "sourcemaps.delete.>"},
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        s.opt.AckWait,
		MaxDeliver:     -1,
		MaxAckPending:  16,
	}, s.log)
	if err != nil {
		return err
	}
	// Assembling a large bundle outlasts the short ack wait: the message is
	// kept alive meanwhile. One is fetched at a time, so none waits in the
	// client's buffer behind it, where nothing keeps it alive.
	alive := natsx.NewKeepalive(s.opt.AckWait)
	defer alive.GiveBack() // runs last: what the stopped consumer did not settle goes back now
	go alive.Run(ctx)
	cc, err := cons.Consume(func(m jetstream.Msg) { s.handle(ctx, alive.Hold(m)) }, jetstream.PullMaxMessages(1))
	if err != nil {
		return fmt.Errorf("consume %s: %w", streams.Sourcemaps, err)
	}
	go s.sweepLoop(ctx)
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	return nil
}

func (s *Service) handle(ctx context.Context, m jetstream.Msg) {
	if strings.HasPrefix(m.Subject(), "sourcemaps.delete.") {
		s.handleDelete(ctx, m)
		return
	}
	cmd, err := streams.DecodeAssemble(m.Data())
	if err != nil {
		s.log.Warn("assemble command rejected", slog.Any("error", err))
		m.Term()
		return
	}
	if err := s.Assemble(ctx, cmd); err != nil {
		n := uint64(1)
		if md, merr := m.Metadata(); merr == nil {
			n = md.NumDelivered
		}
		delay := min(time.Duration(n)*time.Second, time.Minute)
		s.log.Warn("assemble failed; will retry", slog.String("checksum", cmd.Checksum), slog.Any("error", err),
			slog.Duration("in", delay))
		m.NakWithDelay(delay)
		return
	}
	m.Ack()
}

// badBundle is a bundle that can never be assembled.
type badBundle struct{ detail string }

func (b *badBundle) Error() string { return b.detail }

// Assemble assembles one bundle and indexes its files, unless it is ok
// already (a bundle some of whose files were deleted is "partial", and
// assembled again). It returns only errors that retrying may fix; a bad
// bundle is recorded as such.
func (s *Service) Assemble(ctx context.Context, cmd *streams.AssembleCommand) error {
	var state string
	err := s.pool.QueryRow(ctx, `INSERT INTO sourcemaps.bundles (org_id, checksum, state) VALUES ($1, $2, 'assembling')
		ON CONFLICT (org_id, checksum) DO UPDATE SET updated = now()
		RETURNING state`, cmd.OrgID, cmd.Checksum).Scan(&state)
	if err != nil {
		return fmt.Errorf("record bundle: %w", err)
	}
	if state == "ok" {
		return nil
	}
	err = s.assemble(ctx, cmd)
	var bad *badBundle
	if errors.As(err, &bad) {
		s.log.Info("bundle rejected", slog.Int64("org_id", cmd.OrgID), slog.String("checksum", cmd.Checksum),
			slog.String("detail", bad.detail))
		_, err = s.pool.Exec(ctx, `UPDATE sourcemaps.bundles SET state = 'error', detail = $3, updated = now()
			WHERE org_id = $1 AND checksum = $2`, cmd.OrgID, cmd.Checksum, bad.detail)
	}
	return err
}

func (s *Service) assemble(ctx context.Context, cmd *streams.AssembleCommand) error {
	var zipped bytes.Buffer
	for _, c := range cmd.Chunks {
		data, err := s.chunks.GetBytes(ctx, c)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return &badBundle{fmt.Sprintf("chunk %s is missing (chunks are kept for a day)", c)}
		}
		if err != nil {
			return fmt.Errorf("fetch chunk %s: %w", c, err)
		}
		if int64(zipped.Len()+len(data)) > s.opt.MaxBundleBytes {
			return &badBundle{fmt.Sprintf("the bundle is over %d bytes", s.opt.MaxBundleBytes)}
		}
		zipped.Write(data)
	}
	sum := sha1.Sum(zipped.Bytes())
	if got := hex.EncodeToString(sum[:]); got != cmd.Checksum {
		return &badBundle{fmt.Sprintf("the chunks' checksum is %s, not %s", got, cmd.Checksum)}
	}
	b, err := sourcemap.OpenBundle(bytes.NewReader(zipped.Bytes()), int64(zipped.Len()), s.opt.Bundle)
	if err != nil {
		return &badBundle{err.Error()}
	}
	release, dist := cmd.Release, cmd.Dist
	if release == "" {
		release, dist = b.Release, b.Dist
	}
	type row struct {
		f      sourcemap.BundleFile
		object string
		size   int
	}
	var rows []row
	for _, f := range b.Files {
		data, err := b.ReadFile(f)
		if err != nil {
			return &badBundle{err.Error()}
		}
		sum := sha1.Sum(data)
		name := hex.EncodeToString(sum[:])
		if _, err := s.artifacts.GetInfo(ctx, name); errors.Is(err, jetstream.ErrObjectNotFound) {
			if _, err := s.artifacts.PutBytes(ctx, name, data); err != nil {
				return fmt.Errorf("store %s: %w", f.Path, err)
			}
		} else if err != nil {
			return fmt.Errorf("look up %s: %w", name, err)
		}
		rows = append(rows, row{f: f, object: name, size: len(data)})
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		if err := tx.QueryRow(ctx, `UPDATE sourcemaps.bundles SET state = 'ok', detail = '', release = $3, dist = $4,
			debug_id = $5, updated = now() WHERE org_id = $1 AND checksum = $2 RETURNING id`,
			cmd.OrgID, cmd.Checksum, release, dist, b.DebugID).Scan(&id); err != nil {
			return fmt.Errorf("mark bundle ok: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM sourcemaps.files WHERE bundle_id = $1`, id); err != nil {
			return err
		}
		var copyRows [][]any
		for _, p := range cmd.ProjectIDs {
			for _, r := range rows {
				copyRows = append(copyRows, []any{id, p, r.f.Path, r.f.URL, r.f.Type, r.f.DebugID, r.f.SourceMap,
					release, dist, r.object, int64(r.size)})
			}
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"sourcemaps", "files"},
			[]string{"bundle_id", "project_id", "path", "url", "type", "debug_id", "sourcemap", "release", "dist", "object", "size"},
			pgx.CopyFromRows(copyRows))
		if err != nil {
			return fmt.Errorf("index files: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// A delete may have swept an object this bundle shares between the
	// look-up above and the commit. The files are indexed now, so a sweep
	// that starts from here on keeps their objects; one that ran before is
	// seen below, under the lock a sweep holds while it checks and deletes,
	// and what it took is put back.
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, objectsLock); err != nil {
			return fmt.Errorf("lock objects: %w", err)
		}
		for _, r := range rows {
			if _, err := s.artifacts.GetInfo(ctx, r.object); errors.Is(err, jetstream.ErrObjectNotFound) {
				data, err := b.ReadFile(r.f)
				if err != nil {
					return fmt.Errorf("read %s again: %w", r.f.Path, err)
				}
				if _, err := s.artifacts.PutBytes(ctx, r.object, data); err != nil {
					return fmt.Errorf("store %s: %w", r.f.Path, err)
				}
			} else if err != nil {
				return fmt.Errorf("look up %s: %w", r.object, err)
			}
		}
		return nil
	})
}
