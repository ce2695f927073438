package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/faultline/faultline/libs/accounts"
	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/pg"
	"github.com/faultline/faultline/services/alerting"
	"github.com/faultline/faultline/services/grouping"
	"github.com/faultline/faultline/services/sourcemaps"
)

// migrationSets are every service's migrations, in dependency order.
var migrationSets = []pg.Migrations{accounts.Migrations, grouping.Migrations, sourcemaps.Migrations, alerting.Migrations}

func migrate(ctx context.Context, cfg config.Config, out io.Writer) error {
	pool, err := pg.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	n, err := pg.Migrate(ctx, pool, migrationSets...)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "applied %d migrations\n", n)
	return nil
}

func openStore(ctx context.Context, cfg config.Config) (*accounts.Store, func(), error) {
	pool, err := pg.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	if _, err := pg.Migrate(ctx, pool, migrationSets...); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return accounts.NewStore(pool, cfg.PublicURL), pool.Close, nil
}

func project(ctx context.Context, cfg config.Config, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("project: want 'create' or 'list'")
	}
	switch args[0] {
	case "create":
		fs := newFlags("project create", out)
		org := fs.String("org", "", "organisation slug (created if missing)")
		pos, err := parseInterspersed(fs, args[1:])
		if err != nil {
			return err
		}
		if *org == "" || len(pos) != 1 {
			return errors.New("usage: faultline project create --org ORG NAME")
		}
		store, done, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer done()
		p, err := store.CreateProject(ctx, *org, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "project %s/%s (id %d)\n", p.OrgSlug, p.Slug, p.ID)
		if len(p.Keys) == 0 {
			return fmt.Errorf("project %s has no DSN key", p.Slug)
		}
		fmt.Fprintln(out, p.Keys[0].DSN)
		return nil
	case "list":
		store, done, err := openStore(ctx, cfg)
		if err != nil {
			return err
		}
		defer done()
		ps, err := store.Projects(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tORGANIZATION\tPROJECT\tKEY\tDSN")
		for _, p := range ps {
			for _, k := range p.Keys {
				state := k.Label
				if k.Disabled {
					state += " (disabled)"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", p.ID, p.OrgSlug, p.Slug, state, k.DSN)
			}
			if len(p.Keys) == 0 {
				fmt.Fprintf(tw, "%d\t%s\t%s\t-\t-\n", p.ID, p.OrgSlug, p.Slug)
			}
		}
		return tw.Flush()
	}
	return fmt.Errorf("project: unknown subcommand %q", args[0])
}
