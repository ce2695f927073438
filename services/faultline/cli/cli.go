// Package cli is the faultline command line: it parses subcommands and flags
// and hands each to the Run function of the role or command it names.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/selfreport"
)

const usage = `usage: faultline <command> [flags]

Roles (long-running):
  serve [--roles R,R] every role (or the roles named) in one process, with an embedded NATS server unless NATS_URL is set
  gateway            the Sentry ingestion endpoints (needs NATS_URL)
  api                projects, keys and the REST API (needs NATS_URL and DATABASE_URL)
  grouping           events into issues, from the INGEST stream (needs NATS_URL and DATABASE_URL)

  analytics          events, transactions, spans, sessions, logs into ClickHouse (needs NATS_URL and CLICKHOUSE_URL;
                     serve runs it when CLICKHOUSE_URL is set)
  alerting           issue-alert rules over EVENTS: mail, webhooks, chat (needs NATS_URL and DATABASE_URL)

Commands:
  migrate                          apply database migrations
  replay grouping [--project ID] [--since TIME]
                                   rebuild issues and events from the stream into a new generation, then switch
  project create --org ORG NAME    create a project (and its organisation) and print its DSN last
  project list                     list projects and their DSNs
  grouping explain FILE.json [--rules FILE]
                                   show how an event groups (hashes, variants), no server needed
  grouping rules get|set --project ORG/PROJECT [--stacktrace FILE] [--fingerprinting FILE]
                                   show or change a project's grouping rules
  user create --email E --password P [--org ORG --role ROLE] [--superuser]
                                   create a user (and make them a member of ORG)
  token create --user EMAIL [--scopes read,write,admin] [--org ORG [--project P]]
                                   create an API token and print it last
  status [--json]                  streams, consumers (lag, ack pending, redeliveries), projection
                                   generations, and whether NATS, Postgres and ClickHouse answer
  healthcheck [URL]                GET URL (default http://127.0.0.1:PORT/healthz), exit 1 unless 2xx
  config                           print the environment variables and their defaults
  version                          print the version

Configuration is read from the environment; see README.md or 'faultline config'.
`

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

// Run runs the command args names. getenv reads configuration; out receives
// the command's output.
func Run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	case "version":
		fmt.Fprintln(out, "faultline", Version)
		return nil
	case "grouping":
		if explainArgs, ok := groupingExplainArgs(rest); ok {
			return groupingExplain(explainArgs, out)
		}
	case "healthcheck":
		return healthcheck(ctx, rest, getenv, out)
	case "config":
		for _, v := range config.Variables {
			fmt.Fprintf(out, "%-34s %-28s %s\n", v.Name, v.Default, v.Help)
		}
		return nil
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n  %s", strings.ReplaceAll(err.Error(), "\n", "\n  "))
	}
	log, rep, err := newLogger(cfg)
	if err != nil {
		return err
	}
	if rep != nil {
		// Whatever ends the command, what it reported is sent first.
		defer rep.Close(selfReportFlush)
	}
	if cmd == "grouping" && len(rest) > 0 && rest[0] == "rules" {
		return groupingRules(ctx, cfg, rest[1:], out)
	}
	switch cmd {
	case "serve":
		roles := rolesAll
		if cfg.ClickHouseURL != "" {
			roles = append(slices.Clone(rolesAll), "analytics")
		}
		return serve(ctx, cfg, log, rep, roles, rest)
	case "gateway", "api", "grouping", "web", "sourcemaps", "alerting", "analytics":
		if cfg.NATSURL == "" {
			return fmt.Errorf("%s: NATS_URL is required when running one role; 'faultline serve' embeds NATS", cmd)
		}
		return serve(ctx, cfg, log, rep, []string{cmd}, rest)
	case "migrate":
		return migrate(ctx, cfg, out)
	case "status":
		return status(ctx, cfg, rest, out)
	case "replay":
		return replay(ctx, cfg, log, rest, out)
	case "project":
		return project(ctx, cfg, rest, out)
	case "user":
		return user(ctx, cfg, rest, out)
	case "token":
		return token(ctx, cfg, rest, out)
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// selfReportFlush bounds how long a command waits at exit for its own
// error reports to reach SELF_DSN.
const selfReportFlush = 5 * time.Second

// newLogger is the process's logger: JSON on stderr at LOG_LEVEL, with
// secrets redacted (selfreport.Redact). With SELF_DSN set it also sends
// every record at error level, and every recovered panic, to SELF_DSN
// through the returned reporter; otherwise the reporter is nil.
func newLogger(cfg config.Config) (*slog.Logger, *selfreport.Reporter, error) {
	var l slog.Level
	l.UnmarshalText([]byte(cfg.LogLevel))
	var h slog.Handler = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l, ReplaceAttr: selfreport.Redact})
	if cfg.SelfDSN == "" {
		return slog.New(h), nil, nil
	}
	rep, err := selfreport.New(selfreport.Options{DSN: cfg.SelfDSN, Release: "faultline@" + Version})
	if err != nil {
		return nil, nil, err
	}
	return slog.New(rep.Handler(h)), rep, nil
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// parseInterspersed parses flags that may come after positional arguments,
// as in "project create NAME --org ORG".
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
