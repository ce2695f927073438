package alerting

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/faultline/faultline/libs/mailer"
	"github.com/faultline/faultline/libs/notify"
)

// claim is one delivery taken from the queue.
type claim struct {
	id, project, rule, issue int64
	channel, kind, target    string
	body                     []byte
	attempts                 int
}

// deliverLoop takes due deliveries from alerting.deliveries (SKIP LOCKED,
// so replicas share the queue) and sends each in its own goroutine: a slow
// or dead receiver holds up nothing but its own delivery.
func (s *Service) deliverLoop(ctx context.Context) error {
	slots := make(chan struct{}, max(s.opt.MaxSending, 1))
	t := time.NewTicker(s.opt.Poll)
	defer t.Stop()
	for {
		free := cap(slots) - len(slots)
		if free > 0 {
			cs, err := s.claim(ctx, free)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("delivery queue", slog.Any("error", err))
			}
			for _, c := range cs {
				slots <- struct{}{}
				go func() {
					defer func() { <-slots }()
					s.send(ctx, c)
				}()
			}
			if len(cs) == free {
				continue // more may be due
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.poke:
		}
	}
}

// lease is how long a claimed delivery stays invisible to other replicas:
// longer than a send can take.
const lease = 2 * time.Minute

func (s *Service) claim(ctx context.Context, n int) ([]claim, error) {
	rows, err := s.pool.Query(ctx, `UPDATE alerting.deliveries d SET next_at = now() + $2 * interval '1 millisecond', attempts = attempts + 1
		WHERE id IN (SELECT id FROM alerting.deliveries WHERE status = 'pending' AND next_at <= now()
			ORDER BY next_at LIMIT $1 FOR UPDATE SKIP LOCKED)
		RETURNING id, project_id, rule_id, issue_id, channel, kind, target, body, attempts`, n, lease.Milliseconds())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []claim
	for rows.Next() {
		var c claim
		if err := rows.Scan(&c.id, &c.project, &c.rule, &c.issue, &c.channel, &c.kind, &c.target, &c.body, &c.attempts); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// secret is the project's signing secret, made on first use. A secret
// never changes once made, so each replica reads it once per project.
func (s *Service) secret(ctx context.Context, project int64) ([]byte, error) {
	if sec, ok := s.secrets.Load(project); ok {
		return sec.([]byte), nil
	}
	b := make([]byte, 32)
	rand.Read(b)
	var sec string
	err := s.pool.QueryRow(ctx, `WITH ins AS (INSERT INTO alerting.secrets (project_id, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING secret)
		SELECT secret FROM ins UNION ALL SELECT secret FROM alerting.secrets WHERE project_id = $1 LIMIT 1`, project, hex.EncodeToString(b)).Scan(&sec)
	if err != nil {
		return nil, err
	}
	s.secrets.Store(project, []byte(sec))
	return []byte(sec), nil
}

// send makes one attempt and records it.
func (s *Service) send(ctx context.Context, c claim) {
	timeout := s.opt.SendTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	sctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
	defer cancel()
	var err error
	switch c.kind {
	case "http":
		var sec []byte
		if sec, err = s.secret(sctx, c.project); err == nil {
			err = s.sender.Post(sctx, notify.Request{URL: c.target, Body: c.body}, sec)
		}
	case "mail":
		var m mailer.Message
		if err = json.Unmarshal(c.body, &m); err == nil {
			err = s.sender.SendMail(sctx, m)
		}
	default:
		err = &notify.PermanentError{Err: fmt.Errorf("unknown delivery kind %q", c.kind)}
	}
	if ctx.Err() != nil {
		return // shutting down: the lease runs out and the attempt is made again
	}
	status, next := "sent", time.Duration(0)
	errText := ""
	if err != nil {
		errText = clip(err.Error(), 500)
		status = "failed"
		if !notify.Permanent(err) && c.attempts <= len(s.opt.Backoff) {
			status, next = "retrying", s.opt.Backoff[c.attempts-1]
		}
		s.log.Info("notification attempt failed", slog.Int64("delivery", c.id), slog.String("channel", c.channel),
			slog.Int("attempt", c.attempts), slog.String("status", status), slog.String("error", errText))
	}
	final := map[string]string{"sent": "sent", "failed": "failed", "retrying": "pending"}[status]
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer wcancel()
	_, werr := s.pool.Exec(wctx, `WITH a AS (INSERT INTO alerting.attempts (delivery_id, project_id, rule_id, issue_id, channel, target, status, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8))
		UPDATE alerting.deliveries SET status = $9, next_at = now() + $10 * interval '1 millisecond' WHERE id = $1`,
		c.id, c.project, c.rule, c.issue, c.channel, redact(c), status, errText, final, next.Milliseconds())
	if werr != nil {
		s.log.Warn("record notification attempt", slog.Int64("delivery", c.id), slog.Any("error", werr))
	}
}

// redact is the target as listed: a URL without its path and query, which
// often hold the webhook's credentials (Slack, Discord, Teams).
func redact(c claim) string {
	if c.kind != "http" {
		return c.target
	}
	for i := len("https://"); i < len(c.target); i++ {
		if c.target[i] == '/' || c.target[i] == '?' {
			return c.target[:i] + "/…"
		}
	}
	return c.target
}
