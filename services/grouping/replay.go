package grouping

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/streams"
)

// Replay rebuilds the projection from the INGEST stream into a new
// generation, in the schema grouping_next, while the current one keeps
// serving. When the replay has caught up it switches atomically: in one
// transaction it blocks the live replicas' writes, waits for the replay to
// take in what arrived meanwhile, carries users' decisions over, and moves
// the new generation's tables into the schema "grouping" and the old ones
// into grouping_old_<unix time>_gen<generation>, kept for the operator to drop. Live
// replicas continue on the new tables: their statements name the tables,
// and Postgres resolves the names again after the move.
//
// With a project, only that project's envelopes are replayed, and the
// switch replaces its rows in the live tables (its issues get new ids)
// instead of moving tables.
//
// A replay publishes nothing: history is not announced again as new issues.
// Decisions carry over by events: an old issue's status, ignore conditions
// and resolution pass to the new issue that took most of its events (of the
// old issues whose events a new issue took, the one it took most from).
// Merges carry over by hashes: before decisions are carried, the issues of
// the new generation that own the hashes of each recorded merge are merged
// again. Deletions carry over by hashes too: events received before a
// deletion whose primary hash the deleted issue had are not replayed, and
// the issues owning the hashes of deletions made while the replay ran are
// deleted at the switch.

// ReplayOptions configure a replay.
type ReplayOptions struct {
	// Since replays only envelopes received since then; zero replays the
	// whole stream. Either way the new generation holds only what was
	// replayed: events older than the INGEST stream's retention are not
	// in it.
	Since    time.Time
	Project  int64         // 0: every project
	Progress io.Writer     // progress lines; nil: none
	Interval time.Duration // between progress lines
	Service  Options       // options of the replaying replica (batch size, workers, ...)
}

const nextSchema = "grouping_next"

// liveTables are the projection's tables in the order writers lock them.
var liveTables = []string{"outbox", "rejected", "event_ids", "issue_hashes", "issues", "issue_tags", "events"}

// Replay runs a replay to its switch. The live replicas may keep running.
func Replay(ctx context.Context, pool *pgxpool.Pool, nc *natsx.Conn, o ReplayOptions, log *slog.Logger) error {
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if err := createGeneration(ctx, pool, nextSchema); err != nil {
		return err
	}
	// New issue ids continue after the old ones, so an old id never names
	// a different issue after the switch.
	if _, err := pool.Exec(ctx, `SELECT setval(pg_get_serial_sequence('grouping_next.issues', 'id'),
		nextval(pg_get_serial_sequence('grouping.issues', 'id')) + 1000000)`); err != nil {
		return fmt.Errorf("number the new generation's issues: %w", err)
	}
	opt := o.Service
	opt.Schema, opt.Quiet = nextSchema, true
	opt.Consumer = fmt.Sprintf("grouping_replay_%d", time.Now().Unix())
	s, err := New(ctx, pool, nc, opt, nil, log)
	if err != nil {
		return err
	}
	tombs, lastTomb, err := loadTombstones(ctx, pool, o.Project)
	if err != nil {
		return err
	}
	s.tombstones = tombs
	decisions, err := loadDecisions(ctx, nc, o.Project, log)
	if err != nil {
		return err
	}
	s.feed = &decisionFeed{ds: decisions}
	// Rules set before decisions were recorded hold from the start; those
	// changed by a decision take effect at its time.
	if _, err := pool.Exec(ctx, `INSERT INTO grouping_next.project_rules SELECT * FROM grouping.project_rules r
		WHERE NOT EXISTS (SELECT 1 FROM grouping.decisions d WHERE d.project_id = r.project_id AND d.kind = 'set_rules')`); err != nil {
		return fmt.Errorf("seed the new generation's rules: %w", err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO grouping_next.rule_versions (project_id, valid_from, stack_rules, fingerprint_rules)
		SELECT project_id, 'epoch', stack_rules, fingerprint_rules FROM grouping_next.project_rules`); err != nil {
		return fmt.Errorf("seed the new generation's rules: %w", err)
	}
	cc := s.ConsumerConfig()
	cc.Durable, cc.Name = "", opt.Consumer
	cc.Description = "grouping replay into a new generation"
	cc.InactiveThreshold = 10 * time.Minute
	if o.Project != 0 {
		cc.FilterSubjects = nil
		for _, subj := range opt.Subjects {
			cc.FilterSubjects = append(cc.FilterSubjects, strings.Replace(subj, "*", strconv.FormatInt(o.Project, 10), 1))
		}
	}
	if !o.Since.IsZero() {
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &o.Since
	}
	cons, err := nc.JS.CreateOrUpdateConsumer(ctx, streams.Ingest, cc)
	if err != nil {
		return fmt.Errorf("create replay consumer: %w", err)
	}
	defer nc.JS.DeleteConsumer(context.WithoutCancel(ctx), streams.Ingest, opt.Consumer)

	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.consume(rctx, cons); err != nil {
			log.Error("replay consumer", slog.Any("error", err))
		}
	}()
	stopReplay := func() { stop(); wg.Wait() }
	defer stopReplay()

	start := time.Now()
	caughtUp := func(ctx context.Context) (bool, error) {
		info, err := cons.Info(ctx)
		if err != nil {
			return false, fmt.Errorf("replay consumer: %w", err)
		}
		done := s.m.eventsDone()
		rate := float64(done) / time.Since(start).Seconds()
		left := info.NumPending + uint64(info.NumAckPending)
		eta := "-"
		if rate > 0 {
			eta = (time.Duration(float64(left) / rate * float64(time.Second))).Round(time.Second).String()
		}
		fmt.Fprintf(o.Progress, "replay: %d events, %.0f/s, %d envelopes left, about %s\n", done, rate, left, eta)
		return left == 0, nil
	}
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		ok, err := caughtUp(ctx)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	// Named by the generation it held, so two replays within a second
	// never collide.
	var gen int64
	if err := pool.QueryRow(ctx, `SELECT number FROM grouping.generation`).Scan(&gen); err != nil {
		return fmt.Errorf("read the live generation: %w", err)
	}
	old := fmt.Sprintf("grouping_old_%d_gen%d", time.Now().Unix(), gen)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Live replicas' writes wait from here; readers keep reading.
		for _, t := range liveTables {
			if _, err := tx.Exec(ctx, "LOCK TABLE grouping."+t+" IN EXCLUSIVE MODE"); err != nil {
				return fmt.Errorf("lock grouping.%s: %w", t, err)
			}
		}
		for {
			ok, err := caughtUp(ctx)
			if err != nil {
				return err
			}
			if ok {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		stopReplay()
		// Decisions made while the replay ran (and any it has not reached)
		// apply now; those applied already are skipped by their ids.
		late, err := loadDecisions(ctx, nc, o.Project, log)
		if err != nil {
			return err
		}
		for i := range late {
			s.applyInOrder(ctx, &late[i])
		}
		fmt.Fprintf(o.Progress, "replay: applied %d decisions in order with the events\n", len(late))
		merged, err := reapplyMerges(ctx, tx, nextSchema, o.Project)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.Progress, "replay: merged issues again by %d recorded merges\n", merged)
		if _, err := applyTombstones(ctx, tx, nextSchema, o.Project, lastTomb); err != nil {
			return err
		}
		if len(late) == 0 {
			// Decisions made before they were recorded on DECISIONS carry
			// over by events, as they did then.
			n, err := carryDecisions(ctx, tx)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.Progress, "replay: carried %d decisions over\n", n)
		}
		if o.Project != 0 {
			old = ""
			return replaceProject(ctx, tx, o.Project)
		}
		return swapGenerations(ctx, tx, old)
	})
	if err != nil {
		return fmt.Errorf("switch to the new generation: %w", err)
	}
	if old == "" {
		fmt.Fprintf(o.Progress, "replay: switched project %d; %d events in %s\n", o.Project, s.m.eventsDone(), time.Since(start).Round(time.Millisecond))
		return nil
	}
	fmt.Fprintf(o.Progress, "replay: switched; %d events in %s; the old generation is in schema %s\n",
		s.m.eventsDone(), time.Since(start).Round(time.Millisecond), old)
	return nil
}

// createGeneration creates schema with the grouping migrations applied to
// it, dropping what an abandoned replay left.
func createGeneration(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
		return fmt.Errorf("drop %s: %w", schema, err)
	}
	names, err := fs.Glob(migrationsFS, path.Join("migrations", "*.sql"))
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := fs.ReadFile(migrationsFS, name)
		if err != nil {
			return err
		}
		sql := strings.ReplaceAll(string(b), "SCHEMA IF NOT EXISTS grouping;", "SCHEMA "+schema+";")
		sql = strings.ReplaceAll(sql, "grouping.", schema+".")
		if _, err := pool.Exec(ctx, sql); err != nil {
			return fmt.Errorf("create generation %s: %s: %w", schema, path.Base(name), err)
		}
	}
	return nil
}

// carryDecisions gives new issues the decisions on the old issues whose
// events they took.
func carryDecisions(ctx context.Context, tx pgx.Tx) (int64, error) {
	tag, err := tx.Exec(ctx, `WITH pairs AS (
			SELECT o.issue_id AS old_id, n.issue_id AS new_id, count(*) AS c
			FROM grouping.events o JOIN grouping_next.events n USING (project_id, event_id, received)
			GROUP BY 1, 2),
		totals AS (SELECT old_id, sum(c) AS total FROM pairs GROUP BY 1),
		best AS (
			SELECT DISTINCT ON (p.old_id) p.old_id, p.new_id, p.c, t.total
			FROM pairs p JOIN totals t USING (old_id) ORDER BY p.old_id, p.c DESC, p.new_id),
		heirs AS (
			SELECT DISTINCT ON (new_id) new_id, old_id FROM best WHERE c * 2 > total ORDER BY new_id, c DESC, old_id)
		UPDATE grouping_next.issues n SET status = o.status, substatus = o.substatus, assignee = o.assignee,
			status_changed_at = o.status_changed_at, resolved_in_release = o.resolved_in_release,
			ignore_until = o.ignore_until, ignore_until_count = o.ignore_until_count, ignore_until_users = o.ignore_until_users,
			ignore_until_window = o.ignore_until_window, ignore_window_seen = o.ignore_window_seen,
			ignore_base_count = n.times_seen - (o.times_seen - o.ignore_base_count),
			ignore_base_users = n.users_seen - (o.users_seen - o.ignore_base_users)
		FROM heirs h JOIN grouping.issues o ON o.id = h.old_id
		WHERE n.id = h.new_id AND (o.status <> 'unresolved' OR o.assignee <> '')`)
	if err != nil {
		return 0, fmt.Errorf("carry decisions over: %w", err)
	}
	return tag.RowsAffected(), nil
}

// replaceProject replaces one project's rows in the live tables with the
// new generation's, giving its issues new ids, and drops the new
// generation's schema.
func replaceProject(ctx context.Context, tx pgx.Tx, project int64) error {
	rows, err := tx.Query(ctx, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = 'grouping' AND table_name = 'issues' AND column_name <> 'id' ORDER BY ordinal_position`)
	if err != nil {
		return err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	issueCols := strings.Join(cols, ", ")
	rows, err = tx.Query(ctx, `SELECT DISTINCT date_trunc('day', received AT TIME ZONE 'UTC') FROM grouping_next.events`)
	if err != nil {
		return err
	}
	days, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return err
	}
	var stmts []string
	for _, d := range days {
		d = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
		for _, table := range partitionedTables {
			stmts = append(stmts, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS grouping.%s PARTITION OF grouping.%s FOR VALUES FROM ('%s') TO ('%s')`,
				pgx.Identifier{partitionName(table, d)}.Sanitize(), table, d.Format(time.RFC3339), d.AddDate(0, 0, 1).Format(time.RFC3339)))
		}
	}
	stmts = append(stmts,
		`DELETE FROM grouping.events WHERE project_id = $1`,
		`DELETE FROM grouping.event_ids WHERE project_id = $1`,
		`DELETE FROM grouping.issues WHERE project_id = $1`, // and its hashes and tags
		`DELETE FROM grouping.rejected WHERE project_id = $1`,
		`INSERT INTO grouping.rejected SELECT * FROM grouping_next.rejected WHERE project_id = $1 ON CONFLICT DO NOTHING`,
		`CREATE TEMP TABLE replay_ids (old_id bigint PRIMARY KEY, new_id bigint NOT NULL) ON COMMIT DROP`,
		`WITH ins AS (INSERT INTO grouping.issues (`+issueCols+`) SELECT `+issueCols+` FROM grouping_next.issues WHERE project_id = $1
			RETURNING id, project_id, primary_hash)
		INSERT INTO replay_ids SELECT n.id, ins.id FROM ins JOIN grouping_next.issues n USING (project_id, primary_hash)`,
		`INSERT INTO grouping.issue_hashes (project_id, hash, issue_id, grouping_config, created_at)
		SELECT h.project_id, h.hash, m.new_id, h.grouping_config, h.created_at
		FROM grouping_next.issue_hashes h JOIN replay_ids m ON m.old_id = h.issue_id WHERE h.project_id = $1`,
		`INSERT INTO grouping.issue_tags (issue_id, key, value, times_seen, first_seen, last_seen)
		SELECT m.new_id, t.key, t.value, t.times_seen, t.first_seen, t.last_seen
		FROM grouping_next.issue_tags t JOIN replay_ids m ON m.old_id = t.issue_id`,
		`INSERT INTO grouping.event_ids SELECT * FROM grouping_next.event_ids WHERE project_id = $1`,
		`INSERT INTO grouping.events (`+strings.Join(eventColumns, ", ")+`)
		SELECT e.project_id, m.new_id, e.event_id, e.received, e.ts, e.type, e.level, e.title, e.release, e.environment,
			e.user_key, e.trace_id, e.hashes, e.data
		FROM grouping_next.events e JOIN replay_ids m ON m.old_id = e.issue_id WHERE e.project_id = $1`,
		`DROP SCHEMA `+nextSchema+` CASCADE`,
	)
	for _, s := range stmts {
		var err error
		if strings.Contains(s, "$1") {
			_, err = tx.Exec(ctx, s, project)
		} else {
			_, err = tx.Exec(ctx, s)
		}
		if err != nil {
			return fmt.Errorf("replace project %d: %.80s: %w", project, strings.Join(strings.Fields(s), " "), err)
		}
	}
	return nil
}

// swapGenerations moves the live tables (partitions included) to old and
// the new generation's into "grouping". Project rules, recorded merges and
// tombstones are the users' and stay as they are.
func swapGenerations(ctx context.Context, tx pgx.Tx, old string) error {
	stmts := []string{
		`DELETE FROM grouping_next.project_rules`,
		`INSERT INTO grouping_next.project_rules SELECT * FROM grouping.project_rules`,
		`DELETE FROM grouping_next.rule_versions`,
		`INSERT INTO grouping_next.rule_versions SELECT * FROM grouping.rule_versions`,
		`DELETE FROM grouping_next.tombstones`,
		`INSERT INTO grouping_next.tombstones OVERRIDING SYSTEM VALUE SELECT * FROM grouping.tombstones`,
		`SELECT setval(pg_get_serial_sequence('grouping_next.tombstones', 'id'),
			nextval(pg_get_serial_sequence('grouping.tombstones', 'id')))`,
		`DELETE FROM grouping_next.merges`,
		`INSERT INTO grouping_next.merges OVERRIDING SYSTEM VALUE SELECT * FROM grouping.merges`,
		`SELECT setval(pg_get_serial_sequence('grouping_next.merges', 'id'),
			nextval(pg_get_serial_sequence('grouping.merges', 'id')))`,
		// Outbox ids continue, so a live replica's pending deletes never hit new rows.
		`SELECT setval(pg_get_serial_sequence('grouping_next.outbox', 'id'),
			nextval(pg_get_serial_sequence('grouping.outbox', 'id')) + 1000000)`,
		// Publications not yet made stay to be made (merges, issue changes;
		// grouped events whose issue ids changed are dropped by the sweeper).
		`INSERT INTO grouping_next.outbox OVERRIDING SYSTEM VALUE SELECT * FROM grouping.outbox`,
		`UPDATE grouping_next.generation SET number = (SELECT number + 1 FROM grouping.generation), started_at = now()`,
		"CREATE SCHEMA " + old,
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return fmt.Errorf("%.60s: %w", s, err)
		}
	}
	move := func(from, to string) error {
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`, from)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, name := range names {
			if _, err := tx.Exec(ctx, "ALTER TABLE "+from+"."+pgx.Identifier{name}.Sanitize()+" SET SCHEMA "+to); err != nil {
				return fmt.Errorf("move %s.%s to %s: %w", from, name, to, err)
			}
		}
		return nil
	}
	if err := move("grouping", old); err != nil {
		return err
	}
	if err := move(nextSchema, "grouping"); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, "DROP SCHEMA "+nextSchema)
	return err
}
