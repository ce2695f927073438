package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/faultline/faultline/libs/alertrules"
	"github.com/faultline/faultline/libs/natsx"
	"github.com/faultline/faultline/streams"
)

// consumeCommands applies the ALERTING stream's commands in order.
func (s *Service) consumeCommands(ctx context.Context, cons jetstream.Consumer) error {
	alive := natsx.NewKeepalive(natsx.MaxAckWait)
	defer alive.GiveBack() // runs last: what the stopped consumer did not settle goes back now
	go alive.Run(ctx)
	for ctx.Err() == nil {
		batch, err := cons.Fetch(50, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			time.Sleep(time.Second)
			continue
		}
		for m := range batch.Messages() {
			m := alive.Hold(m)
			cmd, err := streams.DecodeAlertCommand(m.Data())
			if err != nil {
				s.log.Warn("alert command rejected", slog.String("subject", m.Subject()), slog.Any("error", err))
				natsx.Reject(m, "alerting_commands", "invalid", err.Error())
				continue
			}
			answer, err := s.apply(ctx, cmd)
			if err != nil {
				s.log.Warn("alert command failed; will retry", slog.String("id", cmd.ID), slog.Any("error", err))
				m.NakWithDelay(2 * time.Second)
				continue
			}
			if b, err := json.Marshal(answer); err == nil {
				s.nats.NC.Publish(streams.AlertingAppliedSubject(cmd.ID), b)
			}
			m.Ack()
		}
	}
	return nil
}

// apply applies one command once: a command applied before answers what it
// answered then.
func (s *Service) apply(ctx context.Context, c streams.AlertCommand) (streams.AlertApplied, error) {
	var ans streams.AlertApplied
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var prev []byte
		err := tx.QueryRow(ctx, `SELECT answer FROM alerting.commands WHERE id = $1`, c.ID).Scan(&prev)
		if err == nil {
			return json.Unmarshal(prev, &ans)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if ans, err = s.applyNew(ctx, tx, c); err != nil {
			return err
		}
		b, _ := json.Marshal(ans)
		_, err = tx.Exec(ctx, `INSERT INTO alerting.commands (id, answer) VALUES ($1, $2)`, c.ID, b)
		return err
	})
	if err == nil && (c.Kind == streams.AlertRuleCreate || c.Kind == streams.AlertRuleUpdate || c.Kind == streams.AlertRuleDelete) {
		s.rules.invalidate()
	}
	return ans, err
}

func (s *Service) applyNew(ctx context.Context, tx pgx.Tx, c streams.AlertCommand) (streams.AlertApplied, error) {
	var ans streams.AlertApplied
	bump := func() error {
		_, err := tx.Exec(ctx, `UPDATE alerting.rules_version SET v = v + 1`)
		return err
	}
	switch c.Kind {
	case streams.AlertRuleCreate, streams.AlertRuleUpdate:
		r, err := alertrules.Parse(c.Rule)
		var ve alertrules.ValidationError
		if errors.As(err, &ve) {
			ans.Errors = ve
			return ans, nil
		}
		if err != nil {
			return ans, err
		}
		spec, _ := json.Marshal(r.Spec)
		if c.Kind == streams.AlertRuleCreate {
			var by *int64
			if c.Actor.UserID != 0 {
				by = &c.Actor.UserID
			}
			err = tx.QueryRow(ctx, `INSERT INTO alerting.rules (project_id, spec, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id`,
				c.ProjectID, spec, by, c.At).Scan(&ans.RuleID)
		} else {
			ans.RuleID = c.RuleID
			var tag interface{ RowsAffected() int64 }
			tag, err = tx.Exec(ctx, `UPDATE alerting.rules SET spec = $3, updated_at = $4 WHERE project_id = $1 AND id = $2`, c.ProjectID, c.RuleID, spec, c.At)
			if err == nil && tag.RowsAffected() == 0 {
				return streams.AlertApplied{Detail: "The requested resource does not exist"}, nil
			}
		}
		if err != nil {
			return ans, fmt.Errorf("store rule: %w", err)
		}
		return ans, bump()
	case streams.AlertRuleDelete:
		tag, err := tx.Exec(ctx, `DELETE FROM alerting.rules WHERE project_id = $1 AND id = $2`, c.ProjectID, c.RuleID)
		if err != nil {
			return ans, err
		}
		if tag.RowsAffected() == 0 {
			return streams.AlertApplied{Detail: "The requested resource does not exist"}, nil
		}
		ans.RuleID = c.RuleID
		return ans, bump()
	case streams.AlertPluginSet:
		if c.Plugin != "webhooks" {
			return streams.AlertApplied{Detail: "unknown plugin " + c.Plugin}, nil
		}
		var cfg struct {
			URLs string `json:"urls"`
		}
		if err := json.Unmarshal(c.Config, &cfg); err != nil {
			return streams.AlertApplied{Errors: map[string][]string{"urls": {"Invalid value."}}}, nil
		}
		if errs := alertrules.CheckWebhookURLs(cfg.URLs); errs != nil {
			return streams.AlertApplied{Errors: map[string][]string{"urls": errs}}, nil
		}
		b, _ := json.Marshal(cfg)
		_, err := tx.Exec(ctx, `INSERT INTO alerting.plugins (project_id, plugin, config, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (project_id, plugin) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at`,
			c.ProjectID, c.Plugin, b, c.At)
		return ans, err
	}
	return streams.AlertApplied{Detail: "unknown command"}, nil
}
