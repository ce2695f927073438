package alertrules

import (
	"fmt"
	"time"
)

// Trigger is what an evaluation is about.
type Trigger uint8

const (
	TriggerEvent      Trigger = iota // an event joined an issue
	TriggerCreated                   // the issue was first seen
	TriggerRegressed                 // a resolved issue came back
	TriggerReappeared                // an ignored issue came back
)

// CountKind is what a window counts.
type CountKind uint8

const (
	CountEvents        CountKind = iota // the events
	CountUsers                          // the distinct users
	CountProjectEvents                  // every event of the project
)

// Window is a count a condition needs: Kind over [t-Offset-Length, t-Offset)
// where t is the evaluation's time.
type Window struct {
	Kind   CountKind
	Length time.Duration
	Offset time.Duration
}

// Range is the window's time range ending at t.
func (w Window) Range(t time.Time) (start, end time.Time) {
	end = t.Add(-w.Offset)
	return end.Add(-w.Length), end
}

// Intervals are the windows Sentry offers, by their names.
var Intervals = map[string]time.Duration{
	"1m": time.Minute, "5m": 5 * time.Minute, "10m": 10 * time.Minute, "15m": 15 * time.Minute,
	"30m": 30 * time.Minute, "1h": time.Hour, "1d": 24 * time.Hour, "1w": 7 * 24 * time.Hour,
	"30d": 30 * 24 * time.Hour,
}

// MaxHistory is how far back any condition looks: the longest interval
// compared with the one before it.
const MaxHistory = 60 * 24 * time.Hour

var intervalNames = []string{"1m", "5m", "10m", "15m", "30m", "1h", "1d", "1w", "30d"}

type condition struct {
	state      Trigger // non-zero: passes when the evaluation's trigger is this
	every      bool
	kind       CountKind
	value      float64
	interval   time.Duration
	percent    bool          // comparisonType percent: a rise over the comparison window
	comparison time.Duration // how far back the comparison window is
	share      bool          // EventFrequencyPercent: share of the project's events
}

func compileCondition(n Node) (condition, error) {
	switch n.ID() {
	case CondFirstSeen:
		return condition{state: TriggerCreated}, nil
	case CondRegression:
		return condition{state: TriggerRegressed}, nil
	case CondReappeared:
		return condition{state: TriggerReappeared}, nil
	case CondEveryEvent:
		return condition{every: true}, nil
	case CondEventFrequency, CondUniqueUsers, CondFrequencyPercent:
	case "":
		return condition{}, fmt.Errorf("id: this field is required")
	default:
		return condition{}, fmt.Errorf("unknown condition")
	}
	c := condition{kind: CountEvents}
	if n.ID() == CondUniqueUsers {
		c.kind = CountUsers
	}
	var err error
	if c.value, err = num(n, "value"); err != nil {
		return c, err
	}
	iv, err := choice(n, "interval", "", intervalNames...)
	if err != nil {
		return c, err
	}
	c.interval = Intervals[iv]
	if n.ID() == CondFrequencyPercent {
		c.share = true
		if c.value > 100 {
			return c, fmt.Errorf("value: a percentage of at most 100 is required")
		}
		return c, nil
	}
	ct, err := choice(n, "comparisonType", "count", "count", "percent")
	if err != nil {
		return c, err
	}
	if ct == "percent" {
		c.percent = true
		ci, err := choice(n, "comparisonInterval", "", "5m", "15m", "1h", "1d", "1w", "30d")
		if err != nil {
			return c, err
		}
		c.comparison = Intervals[ci]
	}
	return c, nil
}

func (c condition) windows() []Window {
	switch {
	case c.state != 0 || c.every:
		return nil
	case c.share:
		return []Window{{Kind: CountEvents, Length: c.interval}, {Kind: CountProjectEvents, Length: c.interval}}
	case c.percent:
		return []Window{{Kind: c.kind, Length: c.interval}, {Kind: c.kind, Length: c.interval, Offset: c.comparison}}
	}
	return []Window{{Kind: c.kind, Length: c.interval}}
}

// Counter answers the counts of the evaluation's issue (or project) for a
// window ending at the evaluation's time.
type Counter interface {
	Count(Window) int64
}

func (c condition) passes(in *Input) bool {
	switch {
	case c.every:
		return in.Trigger == TriggerEvent
	case c.state != 0:
		return in.Trigger == c.state
	case in.Counts == nil:
		return false
	case c.share:
		total := in.Counts.Count(Window{Kind: CountProjectEvents, Length: c.interval})
		if total == 0 {
			return false
		}
		n := in.Counts.Count(Window{Kind: CountEvents, Length: c.interval})
		return float64(n)*100/float64(total) > c.value
	case c.percent:
		cur := in.Counts.Count(Window{Kind: c.kind, Length: c.interval})
		prev := in.Counts.Count(Window{Kind: c.kind, Length: c.interval, Offset: c.comparison})
		if prev == 0 {
			return false // no baseline: a rise has no percentage
		}
		return float64(cur)*100/float64(prev)-100 > c.value
	}
	return float64(in.Counts.Count(Window{Kind: c.kind, Length: c.interval})) > c.value
}
