package grouping

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/envelope"
	"github.com/faultline/faultline/libs/monitors"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/streams"
)

// Cron monitors. Check-ins reach grouping on ingest.<project>.check_in and
// are recorded in grouping.monitor_checkins; a check-in with a
// monitor_config creates or updates its monitor. A clock finds the check-ins
// that never came (no check-in within the schedule and its margin) and those
// that never finished (in progress past max_runtime). A failure (error,
// missed, timeout), once failure_issue_threshold of them came in a row, is
// an error event on INGEST fingerprinted by its monitor, so that it makes or
// joins the monitor's issue as any event does; recovery_threshold oks in a
// row then resolve that issue.
//
// Several replicas agree: a check-in locks its monitor's row, the clock
// takes the rows it handles with SKIP LOCKED, and the failure events carry
// ids derived from what failed, so a redelivery or a retried transaction
// makes no second event.

// CheckInsConsumer is the durable consumer of check-ins that grouping
// replicas share.
const CheckInsConsumer = "grouping_checkins"

// monitorActor is who resolves a monitor's issue when it recovers.
var monitorActor = streams.Actor{Name: "monitor"}

// runMonitors records check-ins and runs the monitors' clock until ctx ends.
func (s *Service) runMonitors(ctx context.Context) error {
	cons, err := natsx.CreateConsumer(ctx, s.nats.JS, streams.Ingest, jetstream.ConsumerConfig{
		Durable:       CheckInsConsumer,
		Description:   "grouping: cron monitor check-ins",
		FilterSubject: "ingest.*." + envelope.KindCheckIn,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       natsx.MaxAckWait,
		MaxDeliver:    -1,
		MaxAckPending: 256,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}, s.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	alive := natsx.NewKeepalive(natsx.MaxAckWait)
	defer alive.GiveBack()
	go alive.Run(ctx)
	cc, err := cons.Consume(func(m jetstream.Msg) { s.handleCheckIns(ctx, alive.Hold(m)) },
		jetstream.PullMaxMessages(64), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			s.log.Debug("consume check-ins", slog.Any("error", err))
		}))
	if err != nil {
		return fmt.Errorf("consume %q: %w", CheckInsConsumer, err)
	}
	tick := time.NewTicker(s.opt.MonitorTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			cc.Drain()
			<-cc.Closed()
			return nil
		case <-tick.C:
			if err := s.MonitorClock(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("monitor clock failed; will retry", slog.Any("error", err))
			}
		}
	}
}

// now is the monitors' clock.
func (s *Service) now() time.Time {
	if s.opt.Now != nil {
		return s.opt.Now()
	}
	return time.Now()
}

// handleCheckIns records one INGEST message's check-ins and settles it.
func (s *Service) handleCheckIns(ctx context.Context, m jetstream.Msg) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("check-in handler panicked; message terminated", slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
			m.TermWithReason("panic")
		}
	}()
	h := m.Headers()
	project, perr := strconv.ParseInt(h.Get(streams.HeaderProject), 10, 64)
	received, terr := time.Parse(time.RFC3339Nano, h.Get(streams.HeaderReceived))
	body, err := streams.DecodeEnvelope(h, m.Data(), streams.MaxInlineEnvelope, nil)
	var env *envelope.Envelope
	if err == nil {
		env, err = envelope.Parse(body, s.opt.Envelope)
	}
	if err = errors.Join(err, perr, terr); err != nil || project <= 0 {
		s.log.Warn("check-in message rejected", slog.String("subject", m.Subject()), slog.Any("error", err))
		m.TermWithReason("invalid check-in message")
		return
	}
	msgID := h.Get(jetstream.MsgIDHeader)
	if msgID == "" {
		if md, err := m.Metadata(); err == nil {
			msgID = strconv.FormatUint(md.Sequence.Stream, 10)
		}
	}
	for i := range env.Items {
		it := &env.Items[i]
		if it.Type != "check_in" {
			continue
		}
		ci, err := monitors.ParseCheckIn(it.Payload)
		if err != nil {
			s.log.Info("check-in dropped", slog.Int64("project_id", project), slog.Any("error", err))
			continue
		}
		if err := s.recordCheckIn(ctx, project, ci, derivedID(msgID, strconv.Itoa(i)), received); err != nil {
			var delivered uint64 = 1
			if md, mdErr := m.Metadata(); mdErr == nil {
				delivered = md.NumDelivered
			}
			wait := min(500*time.Millisecond<<min(delivered, 6), 30*time.Second)
			s.log.Warn("check-in failed; will retry", slog.Int64("project_id", project), slog.Any("error", err), slog.Duration("pause", wait))
			m.NakWithDelay(wait)
			return
		}
	}
	m.Ack()
}

// derivedID is a check-in or event id made from what identifies it.
func derivedID(parts ...string) string {
	h := md5.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// monitor is a monitor's row, locked.
type monitor struct {
	id, project int64
	slug        string
	status      string
	cfg         streams.MonitorConfig
	nextDue     *time.Time
	failures    int
	oks         int
	incident    bool
}

const monitorColumns = `id, project_id, slug, status, config, next_due, failures, oks, incident`

func scanMonitor(row pgx.Row) (*monitor, error) {
	var m monitor
	var cfg []byte
	if err := row.Scan(&m.id, &m.project, &m.slug, &m.status, &cfg, &m.nextDue, &m.failures, &m.oks, &m.incident); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(cfg, &m.cfg); err != nil {
		return nil, fmt.Errorf("monitor %d: config: %w", m.id, err)
	}
	return &m, nil
}

// recordCheckIn records one check-in in its own transaction; newID names
// a check-in that came without an id and closes no in-progress one.
func (s *Service) recordCheckIn(ctx context.Context, project int64, ci monitors.CheckIn, newID string, received time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if ci.Config != nil {
			cfg, _ := json.Marshal(ci.Config)
			if _, err := tx.Exec(ctx, s.q(`INSERT INTO grouping.monitors (project_id, slug, name, config, created_at, updated_at)
				VALUES ($1, $2, $2, $3, $4, $4)
				ON CONFLICT (project_id, slug) DO UPDATE SET config = EXCLUDED.config, updated_at = EXCLUDED.updated_at`),
				project, ci.Slug, cfg, received); err != nil {
				return err
			}
		}
		m, err := scanMonitor(tx.QueryRow(ctx, s.q(`SELECT `+monitorColumns+` FROM grouping.monitors
			WHERE project_id = $1 AND slug = $2 FOR UPDATE`), project, ci.Slug))
		if errors.Is(err, pgx.ErrNoRows) {
			s.log.Info("check-in for an unknown monitor dropped (send a monitor_config to create it)",
				slog.Int64("project_id", project), slog.String("monitor", ci.Slug))
			return nil
		}
		if err != nil || m.status != "active" {
			return err
		}
		if ci.ID == "" && ci.Status != monitors.StatusInProgress {
			err := tx.QueryRow(ctx, s.q(`SELECT checkin_id FROM grouping.monitor_checkins
				WHERE monitor_id = $1 AND status = 'in_progress' ORDER BY received DESC LIMIT 1`), m.id).Scan(&ci.ID)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if ci.ID == "" {
			ci.ID = newID
		}
		var dur *int64
		if ci.Duration != nil {
			ms := int64(*ci.Duration * 1000)
			dur = &ms
		}
		var timeout *time.Time
		if ci.Status == monitors.StatusInProgress {
			t := received.Add(time.Duration(m.cfg.MaxRuntime) * time.Minute)
			timeout = &t
		}
		// A closing check-in finishes its in-progress one; a redelivered one
		// changes nothing.
		var inserted bool
		err = tx.QueryRow(ctx, s.q(`INSERT INTO grouping.monitor_checkins AS c
				(monitor_id, project_id, checkin_id, status, environment, duration_ms, received, updated_at, timeout_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
			ON CONFLICT (monitor_id, checkin_id) DO UPDATE SET status = EXCLUDED.status,
				duration_ms = coalesce(EXCLUDED.duration_ms, c.duration_ms), updated_at = EXCLUDED.updated_at, timeout_at = NULL
			WHERE c.status = 'in_progress' AND EXCLUDED.status <> 'in_progress'
			RETURNING xmax = 0`), m.id, project, ci.ID, ci.Status, ci.Environment, dur, received, timeout).Scan(&inserted)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // seen before
		}
		if err != nil {
			return err
		}
		if inserted {
			next := monitors.Next(&m.cfg, received)
			m.nextDue = &next
			if next.IsZero() {
				m.nextDue = nil
			}
		}
		switch ci.Status {
		case monitors.StatusOK:
			err = s.monitorOK(ctx, tx, m)
		case monitors.StatusError:
			err = s.monitorFailed(ctx, tx, m, monitors.StatusError, ci.ID, ci.Environment, received)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, s.q(`UPDATE grouping.monitors SET last_checkin_at = greatest(last_checkin_at, $2), last_status = $3,
			next_due = $4, failures = $5, oks = $6, incident = $7, incidents = incidents + $8::int, updated_at = now() WHERE id = $1`),
			m.id, received, ci.Status, m.nextDue, m.failures, m.oks, m.incident, m.opened())
		return err
	})
}

// opened is 1 when the monitor's incident opened with this check-in.
func (m *monitor) opened() int {
	if m.incident && m.failures == m.cfg.FailureAfter {
		return 1
	}
	return 0
}

// monitorOK counts an ok check-in; enough of them in a row resolve the
// monitor's issue.
func (s *Service) monitorOK(ctx context.Context, tx pgx.Tx, m *monitor) error {
	m.failures = 0
	if !m.incident {
		m.oks = 0
		return nil
	}
	m.oks++
	if m.oks < m.cfg.RecoverAfter {
		return nil
	}
	m.incident, m.oks = false, 0
	if s.schema != "grouping" {
		return nil
	}
	var issue int64
	err := tx.QueryRow(ctx, `SELECT issue_id FROM grouping.issue_hashes WHERE project_id = $1 AND hash = $2`,
		m.project, MonitorIssueHash(m.slug)).Scan(&issue)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // its failure event is not grouped yet
	}
	if err != nil {
		return err
	}
	err = setStatus(ctx, tx, "grouping", issue, streams.DecideResolve, "", nil, decision{at: s.now().UTC(), actor: &monitorActor})
	if errors.Is(err, ErrNoIssue) {
		return nil
	}
	return err
}

// monitorFailed counts a failure; from failure_issue_threshold in a row on,
// each one is an event of the monitor's issue.
func (s *Service) monitorFailed(ctx context.Context, tx pgx.Tx, m *monitor, kind, checkinID, environment string, at time.Time) error {
	m.oks = 0
	m.failures++
	if m.failures < m.cfg.FailureAfter {
		return nil
	}
	m.incident = true
	if s.opt.Quiet {
		return nil
	}
	return s.publishFailure(ctx, m, kind, checkinID, environment, at)
}

// MonitorIssueHash is the grouping hash of a monitor's failure issue: the
// md5 of its fingerprint's one value, as for any fingerprint.
func MonitorIssueHash(slug string) string {
	sum := md5.Sum([]byte(monitorFingerprint(slug)))
	return hex.EncodeToString(sum[:])
}

func monitorFingerprint(slug string) string { return "cron-monitor:" + slug }

// failureTitles are the failure events' messages, by kind.
var failureTitles = map[string]string{
	monitors.StatusError:   "Cron failure: Monitor %s failed",
	monitors.StatusMissed:  "Cron failure: Monitor %s missed a check-in",
	monitors.StatusTimeout: "Cron failure: Monitor %s timed out",
}

// publishFailure publishes a failure as an error event on INGEST; its id
// is derived from the failed check-in, so a retry is stored once.
func (s *Service) publishFailure(ctx context.Context, m *monitor, kind, checkinID, environment string, at time.Time) error {
	id := derivedID("monitor-failure", strconv.FormatInt(m.id, 10), checkinID, kind)
	ev := map[string]any{
		"event_id":    id,
		"timestamp":   float64(at.UnixMilli()) / 1000,
		"platform":    "other",
		"level":       "error",
		"logger":      "monitors",
		"message":     fmt.Sprintf(failureTitles[kind], m.slug),
		"fingerprint": []string{monitorFingerprint(m.slug)},
		"tags":        map[string]string{"monitor.slug": m.slug, "monitor.status": kind},
		"contexts": map[string]any{"monitor": map[string]any{"slug": m.slug, "status": kind, "check_in_id": checkinID,
			"schedule_type": m.cfg.ScheduleType, "crontab": m.cfg.Crontab, "interval": m.cfg.Interval, "unit": m.cfg.Unit}},
	}
	if environment != "" {
		ev["environment"] = environment
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	header := []byte(`{"event_id":"` + id + `"}`)
	item := []byte(`{"type":"event","length":` + strconv.Itoa(len(payload)) + `}`)
	body := make([]byte, 0, len(header)+len(item)+len(payload)+3)
	body = append(append(append(append(append(body, header...), '\n'), item...), '\n'), payload...)
	h := nats.Header{}
	h.Set(streams.HeaderProject, strconv.FormatInt(m.project, 10))
	h.Set(streams.HeaderReceived, at.UTC().Format(time.RFC3339Nano))
	h.Set(streams.HeaderEventID, id)
	h.Set(streams.HeaderEndpoint, "monitor")
	h.Set(jetstream.MsgIDHeader, strconv.FormatInt(m.project, 10)+"-monitor-"+id)
	msg := &nats.Msg{Subject: streams.IngestSubject(m.project, envelope.KindError), Header: h, Data: body}
	if _, err := s.nats.JS.PublishMsg(ctx, msg, jetstream.WithExpectStream(streams.Ingest)); err != nil {
		return fmt.Errorf("publish monitor failure: %w", err)
	}
	return nil
}

// MonitorClock records the check-ins that are overdue now: a missed one for
// each monitor whose next check-in is later than its margin, a timeout for
// each in-progress one past its max_runtime. Replicas running it at once
// each take other monitors.
func (s *Service) MonitorClock(ctx context.Context) error {
	for round := 0; round < 10; round++ {
		n, err := s.monitorClockRound(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
	return nil
}

// monitorClockRound handles up to 100 overdue monitors, one slot each.
func (s *Service) monitorClockRound(ctx context.Context) (int, error) {
	now := s.now()
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, s.q(`SELECT `+monitorColumns+` FROM grouping.monitors m
			WHERE status = 'active' AND (
				next_due + make_interval(mins => (config->>'checkin_margin')::int) < $1
				OR EXISTS (SELECT 1 FROM grouping.monitor_checkins c WHERE c.monitor_id = m.id AND c.status = 'in_progress' AND c.timeout_at < $1))
			ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED`), now)
		if err != nil {
			return err
		}
		due, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*monitor, error) { return scanMonitor(r) })
		if err != nil {
			return err
		}
		n = len(due)
		for _, m := range due {
			if err := s.overdue(ctx, tx, m, now); err != nil {
				return fmt.Errorf("monitor %d: %w", m.id, err)
			}
		}
		return nil
	})
	return n, err
}

// overdue records m's timeouts and its missed check-in, if any, at now.
func (s *Service) overdue(ctx context.Context, tx pgx.Tx, m *monitor, now time.Time) error {
	last := ""
	rows, err := tx.Query(ctx, s.q(`UPDATE grouping.monitor_checkins SET status = 'timeout', updated_at = $2, timeout_at = NULL
		WHERE monitor_id = $1 AND status = 'in_progress' AND timeout_at < $2 RETURNING checkin_id, environment`), m.id, now)
	if err != nil {
		return err
	}
	type timedOut struct{ id, env string }
	outs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (timedOut, error) {
		var t timedOut
		return t, r.Scan(&t.id, &t.env)
	})
	if err != nil {
		return err
	}
	for _, t := range outs {
		if err := s.monitorFailed(ctx, tx, m, monitors.StatusTimeout, t.id, t.env, now); err != nil {
			return err
		}
		last = monitors.StatusTimeout
	}
	margin := time.Duration(m.cfg.Margin) * time.Minute
	if m.nextDue != nil && m.nextDue.Add(margin).Before(now) {
		due := *m.nextDue
		id := derivedID("missed", strconv.FormatInt(m.id, 10), due.UTC().Format(time.RFC3339Nano))
		if _, err := tx.Exec(ctx, s.q(`INSERT INTO grouping.monitor_checkins (monitor_id, project_id, checkin_id, status, received, updated_at)
			VALUES ($1, $2, $3, 'missed', $4, $5) ON CONFLICT (monitor_id, checkin_id) DO NOTHING`),
			m.id, m.project, id, due, now); err != nil {
			return err
		}
		if err := s.monitorFailed(ctx, tx, m, monitors.StatusMissed, id, "", due); err != nil {
			return err
		}
		next := monitors.Next(&m.cfg, due)
		m.nextDue = &next
		if next.IsZero() {
			m.nextDue = nil
		}
		last = monitors.StatusMissed
	}
	_, err = tx.Exec(ctx, s.q(`UPDATE grouping.monitors SET last_status = CASE WHEN $2 = '' THEN last_status ELSE $2 END,
		next_due = $3, failures = $4, oks = $5, incident = $6, incidents = incidents + $7::int, updated_at = now() WHERE id = $1`),
		m.id, last, m.nextDue, m.failures, m.oks, m.incident, m.opened())
	return err
}

// applyMonitor carries out a monitor decision in tx.
func (s *Service) applyMonitor(ctx context.Context, tx pgx.Tx, d *streams.Decision) error {
	mon := d.Monitor
	switch d.Kind {
	case streams.DecideDeleteMonitor:
		tag, err := tx.Exec(ctx, s.q(`DELETE FROM grouping.monitors WHERE project_id = $1 AND slug = $2`), d.ProjectID, mon.Slug)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return refuse("%s", streams.RefusedNoMonitor)
		}
		return nil
	}
	cfg := mon.Config
	monitors.Defaults(&cfg)
	if err := monitors.Validate(&cfg); err != nil {
		return refuse("invalid monitor: %v", err)
	}
	status := mon.Status
	if status == "" {
		status = "active"
	}
	if status != "active" && status != "disabled" {
		return refuse("invalid monitor: status: %q is neither active nor disabled", status)
	}
	name := mon.Name
	if name == "" {
		name = mon.Slug
	}
	body, _ := json.Marshal(cfg)
	_, err := tx.Exec(ctx, s.q(`INSERT INTO grouping.monitors AS m (project_id, slug, name, status, config, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)
		ON CONFLICT (project_id, slug) DO UPDATE SET name = EXCLUDED.name, status = EXCLUDED.status,
			config = EXCLUDED.config, updated_at = EXCLUDED.updated_at`),
		d.ProjectID, mon.Slug, name, status, body, d.At)
	return err
}
