package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/services/grouping"
	"github.com/faultline/faultline/streams"
)

// replay runs "faultline replay grouping [--project P] [--since TIME]".
func replay(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "grouping" {
		return errors.New("usage: faultline replay grouping [--project ID] [--since TIME]")
	}
	fs := newFlags("replay grouping", out)
	project := fs.Int64("project", 0, "replay only this project; its rows are replaced in place")
	since := fs.String("since", "", "replay envelopes received since this RFC 3339 time or this long ago (72h)")
	if _, err := parseInterspersed(fs, args[1:]); err != nil {
		return err
	}
	o := grouping.ReplayOptions{Project: *project, Progress: out, Service: grouping.OptionsFrom(cfg)}
	if *since != "" {
		if d, err := time.ParseDuration(*since); err == nil {
			o.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, *since); err == nil {
			o.Since = t
		} else {
			return fmt.Errorf("--since %q: want an RFC 3339 time or a duration", *since)
		}
	}
	if cfg.NATSURL == "" {
		return errors.New("replay: NATS_URL is required (a running 'faultline serve' shares its NATS with NATS_LISTEN)")
	}
	nc, err := natsx.Connect(cfg.NATSURL, nil, "faultline replay", log, natsx.Token(cfg.NATSToken))
	if err != nil {
		return err
	}
	defer nc.Close(context.WithoutCancel(ctx))
	if _, err := nc.JS.Stream(ctx, streams.Ingest); err != nil {
		return fmt.Errorf("replay: stream %s: %w", streams.Ingest, err)
	}
	pool, err := pg.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pg.Migrate(ctx, pool, migrationSets...); err != nil {
		return err
	}
	return grouping.Replay(ctx, pool, nc, o, log)
}
