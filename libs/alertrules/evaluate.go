package alertrules

import (
	"strconv"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/faultline/faultline/libs/ownership"
)

// Event is what rules read of a normalized event (the JSON grouping stores
// and publishes).
type Event struct {
	EventID     string      `json:"event_id"`
	Level       string      `json:"level"`
	Platform    string      `json:"platform"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Culprit     string      `json:"culprit"`
	Message     string      `json:"message"`
	Release     string      `json:"release"`
	Environment string      `json:"environment"`
	Tags        [][2]string `json:"tags"`
	User        *struct {
		ID        string `json:"id"`
		Email     string `json:"email"`
		Username  string `json:"username"`
		IPAddress string `json:"ip_address"`
	} `json:"user"`
	Exception *struct {
		Values []struct {
			Type      string `json:"type"`
			Value     string `json:"value"`
			Mechanism *struct {
				Handled *bool `json:"handled"`
			} `json:"mechanism"`
		} `json:"values"`
	} `json:"exception"`
	Timestamp float64 `json:"timestamp"`
	// Owned is what ownership rules match of the event (its frames, URL
	// and tags), set by the caller from the full event with
	// ownership.SubjectOf, and kept with the compact event.
	Owned *ownership.Subject `json:"owned,omitempty"`
}

// DecodeEvent reads the fields rules need from a normalized event.
func DecodeEvent(b []byte) (*Event, error) {
	e := new(Event)
	if err := json.Unmarshal(b, e); err != nil {
		return nil, err
	}
	return e, nil
}

// UserKey identifies the event's user for unique-user counts; "" when the
// event has none.
func (e *Event) UserKey() string {
	if u := e.User; u != nil {
		switch {
		case u.ID != "":
			return "id:" + u.ID
		case u.Email != "":
			return "email:" + u.Email
		case u.Username != "":
			return "username:" + u.Username
		case u.IPAddress != "":
			return "ip:" + u.IPAddress
		}
	}
	return ""
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func (e *Event) attribute(name string) []string {
	switch name {
	case "message":
		if e.Message != "" {
			return []string{e.Message, e.Title}
		}
		return nonEmpty(e.Title)
	case "platform":
		return nonEmpty(e.Platform)
	case "environment":
		return nonEmpty(e.Environment)
	case "type":
		return nonEmpty(e.Type)
	case "release":
		return nonEmpty(e.Release)
	case "level":
		return nonEmpty(e.Level)
	case "culprit":
		return nonEmpty(e.Culprit)
	case "exception.type", "exception.value", "error.handled", "error.unhandled":
		if e.Exception == nil {
			return nil
		}
		var out []string
		for _, x := range e.Exception.Values {
			switch name {
			case "exception.type":
				out = append(out, x.Type)
			case "exception.value":
				out = append(out, x.Value)
			default:
				handled := x.Mechanism == nil || x.Mechanism.Handled == nil || *x.Mechanism.Handled
				out = append(out, strconv.FormatBool(handled == (name == "error.handled")))
			}
		}
		return out
	case "user.id", "user.email", "user.username", "user.ip_address":
		if e.User == nil {
			return nil
		}
		return nonEmpty(map[string]string{"user.id": e.User.ID, "user.email": e.User.Email,
			"user.username": e.User.Username, "user.ip_address": e.User.IPAddress}[name])
	}
	return nil
}

// Issue is what rules read of the issue.
type Issue struct {
	ID        int64
	FirstSeen time.Time
	TimesSeen int64
	Assignee  string // "user:<id>", "team:<id>" or ""
}

// Input is one evaluation.
type Input struct {
	Trigger       Trigger
	Event         *Event // never nil: an issue change carries what is known of its event
	Issue         Issue
	Now           time.Time // the time windows end at: the event's reception
	LatestRelease string    // the project's newest release
	Counts        Counter
}

// Matches reports whether the rule fires for in: the environment, the
// conditions by actionMatch, and the filters by filterMatch. Throttling
// (frequency) is the caller's.
func (r *Rule) Matches(in *Input) bool {
	if in.Trigger != TriggerEvent && !r.state {
		return false // issue changes only concern rules that ask about them
	}
	if r.Environment != nil && in.Event.Environment != *r.Environment {
		return false
	}
	if !combine(r.ActionMatch, len(r.conds), func(i int) bool { return r.conds[i].passes(in) }) {
		return false
	}
	if len(r.filters) == 0 {
		return true
	}
	return combine(r.FilterMatch, len(r.filters), func(i int) bool { return r.filters[i].passes(in) })
}

func combine(match string, n int, pass func(int) bool) bool {
	switch match {
	case "any":
		for i := range n {
			if pass(i) {
				return true
			}
		}
		return false
	case "none":
		for i := range n {
			if pass(i) {
				return false
			}
		}
		return true
	}
	for i := range n {
		if !pass(i) {
			return false
		}
	}
	return true
}
