package streams

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The OUTCOMES stream: what the gateway dropped, counted. Envelopes it
// accepted are on INGEST and count there; the items it filtered (a
// project's inbound filters), rate-limited (a quota) or refused as invalid
// never reach a stream, so the gateway adds them up per project, hour,
// data category, outcome and reason, and publishes the sums every few
// seconds as one OutcomeBatch on outcomes.gateway, with a Nats-Msg-Id unique
// to the batch. The analytics role stores them beside the accepted counts
// and SDKs' client reports: Sentry's usage stats.
const Outcomes = "OUTCOMES"

// OutcomesSubject is the subject of the gateway's batches.
const OutcomesSubject = "outcomes.gateway"

// Outcomes the gateway counts, in Sentry's names.
const (
	OutcomeFiltered    = "filtered"     // an inbound filter matched; Reason is the filter
	OutcomeRateLimited = "rate_limited" // a quota was spent; Reason is the quota's scope
	OutcomeInvalid     = "invalid"      // the request was refused; Reason is why
)

// Outcome is a count of items of one category that met one outcome for
// one reason, in one project, within the hour starting at Hour.
type Outcome struct {
	ProjectID int64     `json:"project_id"`
	Hour      time.Time `json:"hour"`
	Category  string    `json:"category"`
	Outcome   string    `json:"outcome"`
	Reason    string    `json:"reason,omitempty"`
	Quantity  uint64    `json:"quantity"`
}

// OutcomeBatch is one message of OUTCOMES.
type OutcomeBatch struct {
	Outcomes []Outcome `json:"outcomes"`
}

// MaxOutcomeBatch bounds the outcomes of one message.
const MaxOutcomeBatch = 10000

// DecodeOutcomes reads and checks an OUTCOMES message's body.
func DecodeOutcomes(body []byte) (OutcomeBatch, error) {
	var b OutcomeBatch
	if err := json.Unmarshal(body, &b); err != nil {
		return b, fmt.Errorf("outcomes: %w", err)
	}
	if len(b.Outcomes) > MaxOutcomeBatch {
		return b, fmt.Errorf("outcomes: %d in one batch, more than %d", len(b.Outcomes), MaxOutcomeBatch)
	}
	for _, o := range b.Outcomes {
		if o.ProjectID <= 0 || o.Category == "" || o.Outcome == "" || o.Hour.IsZero() {
			return b, errors.New("outcomes: an outcome without project, category, outcome or hour")
		}
	}
	return b, nil
}

// OutcomesConfig is the OUTCOMES stream's definition; it keeps what
// INGEST keeps.
func OutcomesConfig(o IngestOptions) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        Outcomes,
		Description: "The gateway's counts of items it filtered, rate-limited or refused, per project, hour, category and reason.",
		Subjects:    []string{"outcomes.>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      o.MaxAge,
		MaxMsgSize:  4 << 20,
		Replicas:    max(o.Replicas, 1),
		Duplicates:  2 * time.Minute,
	}
}
