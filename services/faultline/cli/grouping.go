package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/faultline/faultline/libs/config"
	"github.com/faultline/faultline/libs/decide"
	"github.com/faultline/faultline/libs/event"
	"github.com/faultline/faultline/libs/grouping"
	"github.com/faultline/faultline/libs/issues"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/streams"
)

const groupingExplainUsage = `usage: faultline grouping explain FILE.json [--rules FILE]

Prints how an event (as an SDK sends it) groups: its hashes, primary first,
and every variant with the tree of components considered.

A rules file holds a project's grouping rules in Sentry's syntax, either as
JSON {"stacktrace": "...", "fingerprinting": "..."} or as text: lines with
"->" are fingerprint rules, other lines stack-trace rules, # starts a comment.
`

// groupingExplainArgs reports whether args ("grouping" removed) ask for
// "explain", which needs no server and no configuration.
func groupingExplainArgs(args []string) ([]string, bool) {
	if len(args) > 0 && args[0] == "explain" {
		return args[1:], true
	}
	return nil, false
}

func groupingExplain(args []string, out io.Writer) error {
	fs := newFlags("grouping explain", out)
	rulesPath := fs.String("rules", "", "file of stack-trace and fingerprint rules")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fmt.Fprint(out, groupingExplainUsage)
		return errors.New("grouping explain: want one event file")
	}
	payload, err := os.ReadFile(pos[0])
	if err != nil {
		return fmt.Errorf("grouping explain: %w", err)
	}
	var rules *grouping.Rules
	if *rulesPath != "" {
		text, err := os.ReadFile(*rulesPath)
		if err != nil {
			return fmt.Errorf("grouping explain: %w", err)
		}
		if rules, err = parseRulesFile(text); err != nil {
			return fmt.Errorf("grouping explain: %s: %w", *rulesPath, err)
		}
	}
	ev, err := event.Normalize(payload, event.Meta{Received: time.Now()})
	if err != nil {
		return fmt.Errorf("grouping explain: %s: %w", pos[0], err)
	}
	_, err = out.Write(grouping.Compute(ev, rules).Explain())
	return err
}

// parseRulesFile reads a rules file: JSON {"stacktrace", "fingerprinting"},
// or text where lines with "->" are fingerprint rules and the others
// stack-trace rules. Line numbers in errors are the file's.
func parseRulesFile(b []byte) (*grouping.Rules, error) {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var f struct {
			Stacktrace     string `json:"stacktrace"`
			Fingerprinting string `json:"fingerprinting"`
		}
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf(`want {"stacktrace": "...", "fingerprinting": "..."}: %w`, err)
		}
		return grouping.ParseRules(f.Stacktrace, f.Fingerprinting)
	}
	lines := strings.Split(string(b), "\n")
	stack := make([]string, len(lines))
	fp := make([]string, len(lines))
	for i, l := range lines {
		if strings.Contains(l, "->") && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			fp[i] = l
		} else {
			stack[i] = l
		}
	}
	return grouping.ParseRules(strings.Join(stack, "\n"), strings.Join(fp, "\n"))
}

const groupingRulesUsage = `usage: faultline grouping rules get --project ORG/PROJECT
       faultline grouping rules set --project ORG/PROJECT [--stacktrace FILE] [--fingerprinting FILE]

get prints a project's grouping rules as JSON {"stacktrace": "...",
"fingerprinting": "..."}, the form 'grouping explain --rules' reads.
set replaces the stack-trace rules, the fingerprint rules or both with a
file's text (the other set stays); rules that do not parse are refused with
their line. The grouping replicas see the change within seconds; events
already grouped move only with 'faultline replay grouping'.
`

// groupingRules runs "grouping rules get|set".
func groupingRules(ctx context.Context, cfg config.Config, args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "get" && args[0] != "set") {
		fmt.Fprint(out, groupingRulesUsage)
		return errors.New("grouping rules: want get or set")
	}
	fs := newFlags("grouping rules "+args[0], out)
	proj := fs.String("project", "", "ORG/PROJECT (slugs)")
	stackFile := fs.String("stacktrace", "", "file of stack-trace rules (set)")
	fpFile := fs.String("fingerprinting", "", "file of fingerprint rules (set)")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	orgSlug, projSlug, ok := strings.Cut(*proj, "/")
	if !ok || orgSlug == "" || projSlug == "" || len(pos) != 0 {
		fmt.Fprint(out, groupingRulesUsage)
		return errors.New("grouping rules: want --project ORG/PROJECT")
	}
	if args[0] == "get" && (*stackFile != "" || *fpFile != "") {
		return errors.New("grouping rules get: --stacktrace and --fingerprinting are for set")
	}
	if args[0] == "set" && *stackFile == "" && *fpFile == "" {
		return errors.New("grouping rules set: give --stacktrace FILE, --fingerprinting FILE or both")
	}
	store, done, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer done()
	ps, err := store.Projects(ctx)
	if err != nil {
		return err
	}
	var id int64
	for _, p := range ps {
		if p.OrgSlug == orgSlug && p.Slug == projSlug {
			id = p.ID
		}
	}
	if id == 0 {
		return fmt.Errorf("grouping rules: no project %s", *proj)
	}
	if args[0] == "set" {
		// A rule change is a decision: published on DECISIONS for the
		// grouping role to apply.
		if cfg.NATSURL == "" {
			return errors.New("grouping rules set: set NATS_URL to the running faultline's NATS (the embedded one listens with NATS_LISTEN)")
		}
		nc, err := natsx.Connect(cfg.NATSURL, nil, "faultline grouping rules", slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		defer nc.Close(context.WithoutCancel(ctx))
		if _, err := nc.JS.Stream(ctx, streams.Decisions); err != nil {
			return fmt.Errorf("grouping rules set: stream %s: %w", streams.Decisions, err)
		}
		store.SetDecisions(decide.New(nc.NC, nc.JS, 5*time.Second))
	}
	iss := issues.New(store.Pool(), store.Decisions())
	cur, err := iss.GroupingRules(ctx, id)
	if err != nil {
		return err
	}
	if args[0] == "set" {
		read := func(path string, into *string) error {
			if path == "" {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("grouping rules set: %w", err)
			}
			*into = string(b)
			return nil
		}
		if err := read(*stackFile, &cur.Stack); err != nil {
			return err
		}
		if err := read(*fpFile, &cur.Fingerprint); err != nil {
			return err
		}
		if cur, err = iss.SetGroupingRules(ctx, id, cur.Stack, cur.Fingerprint); errors.Is(err, issues.ErrNotApplied) {
			fmt.Fprintln(os.Stderr, "grouping rules: stored; grouping applies them when it runs")
		} else if err != nil {
			return fmt.Errorf("grouping rules set %s: %w", *proj, err)
		}
	}
	b, err := json.MarshalIndent(map[string]string{"stacktrace": cur.Stack, "fingerprinting": cur.Fingerprint}, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}
